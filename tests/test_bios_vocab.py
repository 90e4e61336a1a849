"""The closed vocabulary: fixed id order, coverage of every template x pool x format, encode helpers."""
import numpy as np
import pytest

from plmkit.data.bios import (
    ATTRIBUTES, DEFAULT_TASKS, MONTHS, build_tokenizer, encode_entries, encode_name_query, encode_qa,
    entry_token_spans, get_task, name_token_span, pools_for_profile, qa_pairs, render_bios, require_same_vocabulary,
    sample_people,
)
from plmkit.data.bios.paraphrase import Paraphraser
from plmkit.data.bios.render import SUBJECT_MODES, BioRenderer
from plmkit.data.bios.vocab import SPECIAL_TOKENS, pool_words
from plmkit.tokenizer import WordTokenizer, split_words


def test_specials_come_first_in_the_documented_order():
    tok = build_tokenizer("ci")
    assert tok.id_to_token[:6] == list(SPECIAL_TOKENS)
    assert tok.pad_id == 0 and tok.id_of("<eos>") == 1


def test_pool_words_follow_in_file_order():
    pools = pools_for_profile("ci")
    tok = build_tokenizer(pools)
    n = len(SPECIAL_TOKENS)
    assert tok.id_to_token[n:n + 10] == list(pools.first_names)
    start = n + 10 + 10 + 20
    assert tok.id_to_token[start:start + 12] == list(MONTHS)
    assert tok.id_to_token[start + 12:start + 40] == [str(d) for d in range(1, 29)]
    rest = tok.id_to_token[n + len(pool_words(pools)):]
    assert rest == sorted(rest)  # the format words are sorted


def test_same_config_same_ids_and_save_load(tmp_path):
    a, b = build_tokenizer("cpu", "short"), build_tokenizer("cpu", "short")
    assert a.id_to_token == b.id_to_token
    a.save(tmp_path / "vocab.json")
    assert WordTokenizer.load(tmp_path / "vocab.json") == a
    assert build_tokenizer("cpu", "short", pronouns=("he", "she", "they")) != a


def test_vocab_sizes_grow_with_the_profile():
    sizes = [build_tokenizer(p).vocab_size for p in ("ci", "cpu", "gpu")]
    assert sizes[0] < sizes[1] < sizes[2]
    assert 3000 < sizes[2] < 4000  # about 3,500 words with the full (gpu) pools


@pytest.mark.parametrize("profile,templates", [("ci", "short"), ("cpu", "short"), ("gpu", "full"), ("gpu", "short")])
def test_every_template_and_every_value_encodes(profile, templates):
    pools = pools_for_profile(profile)
    pronouns = ("he", "she", "they")
    tok = build_tokenizer(pools, templates, pronouns)
    renderer = BioRenderer(templates)
    person = sample_people(1, pools, seed=0)[0]
    name = person.full_name
    for p in pronouns:
        for a, attribute in enumerate(ATTRIBUTES):
            values = pools.values(attribute) if attribute != "birth_date" else [person.birth_date]
            compiled = renderer.compiled[p][a]
            for t, forms in enumerate(compiled):
                for mode, (head, mid, tail, name_first) in zip(SUBJECT_MODES, forms):
                    subject = name if mode == "name" else ""
                    # every template in every form with one value, and every value in one template
                    for value in (values if t == 0 else values[:1]):
                        if name_first:
                            sentence = head + subject + mid + value + tail
                        else:
                            sentence = head + value + mid + subject + tail
                        tok.encode(sentence)
    for year in pools.years:
        tok.encode(f"{MONTHS[0]} 28, {year}")


@pytest.mark.parametrize("augmentation", ["multi5+permute+fullname", "couple2", "multi2+permute+reverse6",
                                          "multi2+reverse1", "multi2+reverse2"])
def test_rendered_datasets_encode(augmentation):
    pools = pools_for_profile("cpu")
    tok = build_tokenizer(pools, "short")
    people = sample_people(100, pools, seed=1)
    pieces = encode_entries([e for es in render_bios(people, augmentation, "short", seed=2) for e in es], tok)
    assert all(ids.dtype == np.int64 and w.dtype == np.float32 and np.all(w == 1) for ids, w in pieces)


def test_all_qa_and_task_texts_encode():
    pools = pools_for_profile("ci")
    tok = build_tokenizer(pools)
    people = sample_people(200, pools, seed=3)
    for qa in qa_pairs(people):
        tok.encode(qa.text)
    for name in DEFAULT_TASKS:
        task = get_task(name)
        modes = ("direct", "hint") if task.hint else (None,)
        for mode in modes:
            for i in range(0, 198, 2):
                tok.encode(task.example(people[i:i + task.arity], mode).text)


def test_manipulation_words_can_be_left_out():
    small = build_tokenizer("ci", manipulation=False)
    with pytest.raises(KeyError):
        small.encode("How luckier")
    assert small.vocab_size < build_tokenizer("ci").vocab_size


def test_biop_texts_encode_with_the_paraphrase_vocabulary():
    pools = pools_for_profile("cpu")
    tok = build_tokenizer(pools, "short", paraphrase=True)
    people = sample_people(150, pools, seed=4)
    for entries in Paraphraser(pools, "short").render(people, copies=2, seed=5):
        for entry in entries:
            tok.encode(entry.text)
    with pytest.raises(KeyError):
        build_tokenizer(pools, "short").encode("the 2nd of October")


def test_qa_weights_cover_exactly_the_answer():
    tok = build_tokenizer("cpu")
    qa = qa_pairs(sample_people(1, pools_for_profile("cpu"), seed=6))[2]
    ids, weights = encode_qa(qa, tok)
    assert ids.dtype == np.int64 and weights.dtype == np.float32
    trained = [tok.id_to_token[i] for i, w in zip(ids, weights) if w == 1]
    assert trained == split_words(qa.answer) + ["."]
    assert tok.decode(ids[weights == 0]) == qa.prompt


def test_entry_token_spans_point_at_the_values():
    pools = pools_for_profile("gpu")
    tok = build_tokenizer(pools)
    people = sample_people(30, pools, seed=7)
    for person, entries in zip(people, render_bios(people, "multi2+permute", "full", seed=8)):
        for entry in entries:
            words = tok.tokens(tok.encode(entry.text))
            spans = entry_token_spans(entry)
            assert [a for a, _, _ in spans] == list(entry.order)
            for attribute, start, end in spans:
                assert words[start:end] == split_words(person.value(attribute))
            start, end = name_token_span(entry)
            assert words[start:end] == split_words(person.full_name)


def test_vocabulary_mismatch_names_both_sides():
    a, b = build_tokenizer("cpu", "short"), build_tokenizer("cpu", "full")
    require_same_vocabulary(a, build_tokenizer("cpu", "short"))  # same config: fine
    with pytest.raises(ValueError) as err:
        require_same_vocabulary(a, b, "bios.jsonl", "run_A.pt")
    assert "bios.jsonl" in str(err.value) and "run_A.pt" in str(err.value)


def test_name_query_is_the_name_between_eos_and_q():
    tok = build_tokenizer("ci")
    person = sample_people(1, pools_for_profile("ci"), seed=9)[0]
    assert tok.tokens(encode_name_query(person, tok)) == ["<eos>", person.first, person.middle, person.last, "<q>"]


def test_name_words_never_double_as_format_words():
    from plmkit.data.bios.vocab import format_words

    pools = pools_for_profile("gpu")
    words = set()
    for templates in ("full", "short"):
        words |= format_words(pools, templates, ("he", "she", "they"), manipulation=True, paraphrase=True)
    names = set(pools.first_names) | set(pools.middle_names) | set(pools.last_names)
    assert not words & names


def test_evaluation_prompt_starts_like_a_training_qa_line_does():
    """Packed QA windows put <eos> before every question; an evaluation prompt must too."""
    from plmkit.data import bios
    from plmkit.data.packing import pack_windows
    from plmkit.experiments.common import RunContext
    from plmkit.experiments.shared import bios as family

    world = family.make_world(RunContext(profile="ci"))
    qa = bios.qa_pairs(bios.sample_people(1, world.pools, seed=0))[0]
    prompt = bios.encode_prompt(qa, world.tokenizer)
    assert prompt[0] == world.eos and world.tokenizer.tokens(prompt[-2:].tolist()) == ["Answer", ":"]
    tokens, _, _ = pack_windows([bios.encode_qa(qa, world.tokenizer)], context=40, sep_id=world.eos, truncate=False)
    assert tokens[0][:len(prompt)].tolist() == prompt.tolist()
