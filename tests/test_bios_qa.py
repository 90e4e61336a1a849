"""QA pairs, exact-match and first-token metrics, baselines, people splits, celebrity design."""
import pytest

from plmkit.data.bios import (
    Person, QAPair, celebrity_design, check_no_test_leak, exact_match, first_token_accuracy, first_token_majority,
    generation_budget, majority_baselines, majority_mean, person_qas, pools_for_profile, qa_pairs, sample_people,
    score_answers, split_people,
)
from plmkit.data.bios.qa import PersonSplit, cut_at_stop
from plmkit.tokenizer import split_words

ANYA = Person(pid=0, first="Anya", middle="Briar", last="Forger", pronoun="she", birth_year=1996, birth_month=10,
              birth_day=2, birth_city="Princeton, NJ", university="Massachusetts Institute of Technology",
              major="Communications", major_luckiness=28, company="Meta Platforms", company_city="Menlo Park, CA")


def test_six_questions_match_the_spec():
    texts = [qa.text for qa in person_qas(ANYA)]
    assert texts == [
        "What is the birth date of Anya Briar Forger? Answer: October 2, 1996.",
        "What is the birth city of Anya Briar Forger? Answer: Princeton, NJ.",
        "Which university did Anya Briar Forger study? Answer: Massachusetts Institute of Technology.",
        "What major did Anya Briar Forger study? Answer: Communications.",
        "Which company did Anya Briar Forger work for? Answer: Meta Platforms.",
        "Where did Anya Briar Forger work? Answer: Menlo Park, CA.",
    ]
    assert person_qas(ANYA)[0].prompt == "What is the birth date of Anya Briar Forger? Answer:"


def test_prompt_never_contains_the_answer_or_a_biography():
    for qa in qa_pairs(sample_people(50, pools_for_profile("cpu"), seed=0)):
        assert qa.answer not in qa.prompt
        assert qa.prompt.endswith("? Answer:")


def test_exact_match_requires_the_whole_answer():
    target = "Massachusetts Institute of Technology"
    assert exact_match(split_words("Massachusetts Institute of Technology."), target)
    assert exact_match(split_words("Massachusetts Institute of Technology") + ["<eos>", "junk"], target)
    assert not exact_match(split_words("Massachusetts Institute."), target)  # partial
    assert not exact_match(split_words("MIT."), target)  # synonym
    assert not exact_match(split_words("Massachusetts Institute of Technology Boston."), target)
    assert cut_at_stop(["a", "b", ".", "c"]) == ["a", "b"]


def test_score_answers_per_attribute_and_mean():
    qas = person_qas(ANYA)
    predictions = [split_words(qa.answer) + ["."] for qa in qas]
    predictions[2] = split_words("University of Michigan.")
    predictions[1] = split_words("Princeton, NY.")  # right first token, wrong answer
    scores = score_answers(qas, predictions)
    assert scores.per_task["university"] == 0.0 and scores.per_task["birth_city"] == 0.0
    assert scores.per_task["birth_date"] == 1.0
    assert scores.mean == pytest.approx(4 / 6)
    with pytest.raises(ValueError):
        score_answers(qas, predictions[:3])


def test_hint_mode_scores_answer_and_hint_separately():
    qa = QAPair("month_rank", (0, 1), "Was A B C born in a month in a year later than D E F?", "Yes",
                hint="October; September", mode="hint")
    assert qa.text.endswith("<hint> Answer: October; September. Yes.")
    good = split_words(" October; September. Yes.")
    wrong_hint = split_words(" October; May. Yes.")
    scores = score_answers([qa, qa], [good, wrong_hint])
    assert scores.per_task["month_rank"] == 1.0
    assert scores.hint_per_task["month_rank"] == 0.5


def test_first_token_accuracy():
    qas = person_qas(ANYA)
    firsts = [split_words(qa.answer)[0] for qa in qas]
    firsts[5] = "New"
    scores = first_token_accuracy(qas, firsts)
    assert scores.per_task["company_city"] == 0.0 and scores.per_task["major"] == 1.0


def test_majority_baseline_mean_is_2_65_percent_for_full_pools():
    full = pools_for_profile("gpu")
    base = majority_baselines(full)
    assert base["company_city"] == pytest.approx(36 / 263)
    assert base["birth_date"] == pytest.approx(1 / 67_200)
    expected = (1 / 67_200 + 1 / 200 + 1 / 300 + 1 / 100 + 1 / 263 + 36 / 263) / 6
    assert majority_mean(full) == pytest.approx(expected)
    assert round(majority_mean(full) * 100, 2) == 2.65


def test_first_token_baselines_show_inflation():
    full = pools_for_profile("gpu")
    first = first_token_majority(full)
    assert first["birth_date"] == pytest.approx(1 / 12)
    assert first["university"] > 10 * majority_baselines(full)["university"]  # "University ..."
    assert first["company_city"] >= 36 / 263


def test_split_is_half_disjoint_deterministic():
    people = sample_people(301, pools_for_profile("cpu"), seed=1)
    split = split_people(people, seed=5)
    assert len(split.train) == 150 and len(split.test) == 151  # round(0.5 * 301) = 150
    assert not set(split.train) & set(split.test)
    assert set(split.train) | set(split.test) == {p.pid for p in people}
    assert split_people(people, seed=5) == split and split_people(people, seed=6) != split
    assert [p.pid for p in split.select(people, "test")] == list(split.test)


def test_overlapping_split_is_refused():
    with pytest.raises(AssertionError, match="overlap"):
        PersonSplit(train=(1, 2, 3), test=(3, 4))


def test_leak_check_on_text():
    people = sample_people(20, pools_for_profile("cpu"), seed=2)
    split = split_people(people, seed=0)
    train, test = split.select(people, "train"), split.select(people, "test")
    check_no_test_leak(qa_pairs(train), test)  # clean: no error
    leaky = qa_pairs(train) + [qa_pairs(test)[0]]
    with pytest.raises(AssertionError):
        check_no_test_leak(leaky, test)
    # A QA whose ids were mislabelled is still caught by the name in its text.
    disguised = QAPair("major", (train[0].pid,), f"What major did {test[0].full_name} study?", test[0].major)
    with pytest.raises(AssertionError):
        check_no_test_leak([disguised], test)
    inverse = QAPair("all_to_full", (train[0].pid,), "Give me the full name of the person born on May 1, 1990?",
                     test[0].full_name)  # the name only in the answer
    with pytest.raises(AssertionError):
        check_no_test_leak([inverse], test)


def test_celebrity_design_groups_are_disjoint():
    design = celebrity_design(30, 60, pools_for_profile("cpu"), seed=3)
    minority_ids = {p.pid for p in design.minority}
    celebrity_ids = {p.pid for p in design.celebrities}
    assert not minority_ids & celebrity_ids
    assert not {p.full_name for p in design.minority} & {p.full_name for p in design.celebrities}
    assert set(design.qa_test) == minority_ids
    assert set(design.qa_train) | set(design.celebrity_test) == celebrity_ids
    assert len(design.celebrity_test) == 20
    assert design.minority_augmentation == "single+permute1" and design.celebrity_augmentation == "multi5+permute"


def test_generation_budget_is_longest_completion_plus_two():
    qas = person_qas(ANYA)
    longest = max(len(split_words(qa.completion)) for qa in qas)  # "Massachusetts Institute of Technology ."
    assert longest == 5 and generation_budget(qas) == 7
