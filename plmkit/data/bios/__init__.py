"""Synthetic biographies for Physics of Language Models Part 3.1 and 3.2 (bioS, bioP, QA, manipulation).

Typical use::

    from plmkit.data import bios
    pools = bios.pools_for_profile("cpu")
    people = bios.sample_people(300, pools, seed=0)
    entries = bios.render_bios(people, "multi5+permute", templates="short", seed=1)
    split = bios.split_people(people, seed=2)
    tok = bios.build_tokenizer(pools, "short")
    bio_pieces = bios.encode_entries([e for person in entries for e in person], tok)
    qa_pieces = bios.encode_qas(bios.qa_pairs(split.select(people, "train")), tok)

The data files (pools, templates, paraphraser banks) live in ``data/bios/``. The biographies and QAs follow
Part 3.1 [3.1 §2, App. A.1], the manipulation tasks Part 3.2 [3.2 §3-§5].
"""
from plmkit.data.bios.manipulation import (
    DEFAULT_TASKS,
    InverseSearchDesign,
    Task,
    answer_distribution,
    answer_support,
    chance_baseline,
    count_valid_pairs,
    get_task,
    hint_predicted_accuracy,
    inverse_search_design,
    inverse_statement,
    majority_baseline,
    pair_examples,
    person_examples,
    tasks_of_kind,
)
from plmkit.data.bios.paraphrase import Paraphraser
from plmkit.data.bios.people import Person, people_by_id, sample_groups, sample_people
from plmkit.data.bios.pools import (
    ATTRIBUTES,
    MONTHS,
    PROFILES,
    PoolSet,
    company_city_baseline,
    information_bits,
    load_full_pools,
    pools_for_profile,
    subset_pools,
)
from plmkit.data.bios.qa import (
    QA_QUESTIONS,
    CelebrityDesign,
    PersonSplit,
    QAPair,
    QAScores,
    celebrity_design,
    check_no_test_leak,
    cut_at_stop,
    empirical_majority,
    ensure_disjoint,
    exact_match,
    first_token_accuracy,
    first_token_majority,
    generation_budget,
    majority_baselines,
    majority_mean,
    person_qas,
    qa_pairs,
    score_answers,
    split_people,
)
from plmkit.data.bios.render import (
    Augmentation,
    BioEntry,
    BioRenderer,
    TemplateSet,
    load_templates,
    parse_augmentation,
    render_bios,
)
from plmkit.data.bios.vocab import (
    SPECIAL_TOKENS,
    build_tokenizer,
    encode_entries,
    encode_entry,
    encode_name_query,
    encode_prompt,
    encode_qa,
    encode_qas,
    entry_token_spans,
    name_token_span,
    require_same_vocabulary,
)

__all__ = [
    "Paraphraser", "Person", "people_by_id", "sample_groups", "sample_people",
    "DEFAULT_TASKS", "InverseSearchDesign", "Task", "answer_distribution", "answer_support",
    "chance_baseline", "count_valid_pairs", "get_task", "hint_predicted_accuracy", "inverse_search_design",
    "inverse_statement",
    "majority_baseline", "pair_examples", "person_examples", "tasks_of_kind", "ATTRIBUTES", "MONTHS",
    "PROFILES", "PoolSet", "company_city_baseline", "information_bits", "load_full_pools",
    "pools_for_profile", "subset_pools", "QA_QUESTIONS", "CelebrityDesign", "PersonSplit", "QAPair",
    "QAScores", "celebrity_design", "check_no_test_leak", "cut_at_stop", "empirical_majority",
    "ensure_disjoint", "exact_match", "first_token_accuracy", "first_token_majority", "generation_budget",
    "majority_baselines", "majority_mean", "person_qas", "qa_pairs", "score_answers", "split_people",
    "Augmentation", "BioEntry", "BioRenderer", "TemplateSet", "load_templates", "parse_augmentation",
    "render_bios", "SPECIAL_TOKENS", "build_tokenizer", "encode_entries", "encode_entry", "encode_name_query",
    "encode_prompt", "encode_qa", "encode_qas", "entry_token_spans", "name_token_span", "require_same_vocabulary",
]
