"""Part 3.2 experiment steps: the F/R design, the task mixes, evaluation keys, the binomial tail."""
import math

import pytest
import torch

from plmkit.data import bios
from plmkit.experiments import manipulation as M
from plmkit.experiments.common import RunContext
from plmkit.experiments.shared.bios import BIO_SIZES

CI = RunContext(profile="ci", progress=False, threads=1)


@pytest.fixture(scope="module")
def world():
    return M.make_world(CI)


@pytest.fixture(scope="module")
def data(world):
    return M.make_data(world, 20, 20, seed=0)


def test_forward_and_reversed_groups_are_disjoint_and_written_differently(data):
    forward_ids = {p.pid for p in data.design.forward}
    reverse_ids = {p.pid for p in data.design.reverse}
    assert forward_ids.isdisjoint(reverse_ids) and len(forward_ids) == len(reverse_ids) == 20
    by_id = {p.pid: es for p, es in zip(data.bio.people, data.bio.entries)}
    for person in data.design.reverse:
        for entry in by_id[person.pid]:
            assert entry.text.startswith("The person") and entry.text.endswith(f"name is {person.full_name}.")
    for person in data.design.forward:
        assert all(e.text.startswith(person.full_name) for e in by_id[person.pid])
    assert set(data.bio.split.train) | set(data.bio.split.test) == forward_ids


def test_training_mix_has_hints_only_when_asked_and_no_test_people(data):
    tasks = ("month_mod2", "month_rank", "birth_year")
    people = data.forward("train")
    plain = M.training_mix(tasks, people, n_pairs=100, hint_prob=0.0, seed=0)
    hinted = M.training_mix(tasks, people, n_pairs=100, hint_prob=0.5, seed=0)
    assert {q.mode for q in plain} == {"direct", None}
    modes = [q.mode for q in hinted if q.mode is not None]
    assert 0.4 < modes.count("hint") / len(modes) < 0.6
    counts = {t: sum(q.task == t for q in plain) for t in tasks}
    assert counts["month_rank"] == min(100, bios.count_valid_pairs("month_rank", people))  # ties excluded
    assert counts["month_mod2"] == 100  # 10 people x 10 draws
    bios.check_no_test_leak(plain + hinted, data.forward("test"))
    assert M.training_mix(tasks, people, 100, 0.5, seed=0)[5].text == hinted[5].text  # seeded


def test_evaluation_reports_both_modes_and_the_hint_prediction(world, data):
    torch.manual_seed(0)
    model = M.make_model(world, M.settings(CI).sizes)
    out = M.evaluate_tasks(CI, model, world, data, ("month_mod2", "month_rank", "birth_year"), n_pairs=20)
    parity = out["month_mod2"]
    assert {"accuracy_direct", "accuracy_hint", "hint_accuracy", "hint_accuracy_per_value", "predicted_with_hint",
            "chance"} <= set(parity)
    assert parity["chance"] == 0.5
    assert parity["predicted_with_hint"] == pytest.approx(parity["hint_accuracy"] + (1 - parity["hint_accuracy"]) * 0.5)
    rank = out["month_rank"]  # the whole-pair hint accuracy, used once
    assert rank["predicted_with_hint"] == pytest.approx(rank["hint_accuracy"] + (1 - rank["hint_accuracy"]) * 0.5)
    assert "accuracy" in out["birth_year"] and out["month_rank"]["examples"] == 20


def _pair(hint, answer):
    return bios.QAPair("month_rank", (0, 1), "q", answer, hint, "hint")


def test_pair_hint_accuracy_counts_both_months_once():
    """By hand: 4 pairs; the hints of 3 are exactly right, one has its second month wrong.

    Whole-pair hint accuracy 3/4, per-value accuracy 7/8. With chance 1/2 the prediction is
    3/4 + 1/4 * 1/2 = 7/8; squaring the whole-pair accuracy again would give 9/16 + 7/16 * 1/2 = 25/32.
    """
    qas = [_pair("October; September", "Yes"), _pair("May; June", "No"), _pair("March; January", "Yes"),
           _pair("April; July", "No")]
    said = [["October", ";", "September", ".", "Yes", "."], ["May", ";", "June", ".", "No", "."],
            ["March", ";", "January", ".", "No", "."], ["April", ";", "May", ".", "Yes", ".", "<eos>"]]
    row = M.hint_scores(qas, said, chance=0.5)
    assert row["hint_accuracy"] == pytest.approx(3 / 4)
    assert row["hint_accuracy_per_value"] == pytest.approx(7 / 8)
    assert row["predicted_with_hint"] == pytest.approx(7 / 8)
    assert row["predicted_with_hint"] != pytest.approx(25 / 32)
    assert row["accuracy_after_right_hint"] == pytest.approx(2 / 3)  # the third right hint is followed by "No"
    # the paper's pair formula takes the per-value accuracy: (7/8)^2 + (1 - (7/8)^2) / 2 = 113/128
    assert bios.hint_predicted_accuracy(row["hint_accuracy_per_value"], 0.5, pair=True) == pytest.approx(113 / 128)


def test_single_person_hint_scores_with_multi_word_values():
    qas = [bios.QAPair("major_mod5", (0,), "q", "3", "Electrical Engineering", "hint"),
           bios.QAPair("major_mod5", (1,), "q", "1", "Music", "hint")]
    said = [["Electrical", "Engineering", ".", "3", "."], ["Art", ".", "1", "."]]
    row = M.hint_scores(qas, said, chance=0.2)
    assert row["hint_accuracy"] == row["hint_accuracy_per_value"] == pytest.approx(0.5)
    assert row["predicted_with_hint"] == pytest.approx(0.5 + 0.5 * 0.2)


def test_retrieval_control_scores_month_year_and_major(world, data):
    class Echo:
        """Answers every question with a fixed completion."""
        device = torch.device("cpu")

    people = data.forward("test")
    words = {"birth_date": people[0].birth_date.replace(",", " ,").split() + ["."],
             "major": people[0].major.split() + ["."]}
    import plmkit.experiments.manipulation.tasks as tasks_module
    original = tasks_module.generate_answers
    tasks_module.generate_answers = lambda model, world, qas: [words[qa.task] for qa in qas]
    try:
        out = M.evaluate_retrieval(Echo(), world, data)
    finally:
        tasks_module.generate_answers = original
    share = lambda same: sum(same(p) for p in people) / len(people)  # noqa: E731
    assert out["birth_date"]["accuracy"] == pytest.approx(share(lambda p: p.birth_date == people[0].birth_date))
    assert out["birth_month"]["accuracy"] == pytest.approx(share(lambda p: p.birth_month == people[0].birth_month))
    assert out["year_in_date"]["accuracy"] == pytest.approx(share(lambda p: p.birth_year == people[0].birth_year))
    assert out["major"]["accuracy"] == pytest.approx(share(lambda p: p.major == people[0].major))
    assert out["birth_month"]["chance"] == pytest.approx(1 / 12)
    assert out["major"]["chance"] == pytest.approx(1 / len(world.pools.majors))


def test_inverse_search_finetune_and_evaluation_run(world, data):
    model, _ = M.pretrain(CI, world, data, exposures=3)
    assert model.config.context == M.settings(CI).sizes.context
    tuned, histories = M.finetune_inverse(CI, world, model, data)
    assert set(tuned) == set(histories) == {"forward", "reverse"}
    assert tuned["forward"] is not tuned["reverse"]
    assert all(h.steps == M.settings(CI).inverse.ft_steps for h in histories.values())
    assert tuned["forward"].tok_emb.rank == M.settings(CI).inverse.lora_emb_rank
    result = M.evaluate_inverse(tuned, world, data)
    for group in ("forward_train", "forward_test", "reverse_train", "reverse_test"):
        assert set(result[group]) == set(M.INVERSE_TASKS)
    assert result["chance"]["all_to_first"] == pytest.approx(1 / len(world.pools.first_names))
    assert 0.0 <= result["p_value_reverse_above_forward"] <= 1.0 + 1e-9
    probe = M.completion_probe(model, world, data)
    assert set(probe) == {"forward_test", "reverse_test"} and all(0.0 <= v <= 1.0 for v in probe.values())


def test_inverse_training_people_are_equal_groups_from_the_training_halves(data):
    people = M.inverse_train_people(data)
    assert len(people["forward"]) == len(people["reverse"]) == len(data.reverse("train"))
    assert {p.pid for p in people["forward"]} <= {p.pid for p in data.forward("train")}


def test_inverse_statement_ends_where_the_reversed_bios_name_the_person(world):
    person = bios.sample_people(1, world.pools, seed=3)[0]
    text = bios.inverse_statement(person)
    assert text.startswith("The person studied ") and text.endswith(". The person 's name is")
    for value in (person.major, person.university, person.birth_date, person.birth_city, person.company,
                  person.company_city):
        assert value in text
    assert person.first not in text.split()
    assert bios.inverse_statement(person, "bdate") == f"The person was born on {person.birth_date}. The person 's name is"
    with pytest.raises(ValueError, match="valid: bdate"):
        bios.inverse_statement(person, "name")


def test_name_completion_probe_counts_first_name_hits(world, data):
    class Oracle(torch.nn.Module):  # predicts a fixed token: the first name of one chosen person
        def __init__(self, token):
            super().__init__()
            self.token, self.weight = token, torch.nn.Parameter(torch.zeros(1))
            self.device = torch.device("cpu")

        def forward(self, x):
            logits = torch.zeros(*x.shape, len(world.tokenizer))
            logits[..., self.token] = 1.0
            return type("Out", (), {"logits": logits})()

    people = data.reverse("test")[:4]
    target = world.tokenizer.encode(people[0].first)[0]
    expected = sum(world.tokenizer.encode(p.first)[0] == target for p in people) / len(people)
    assert M.name_completion_accuracy(Oracle(target), world, people) == pytest.approx(expected)
    assert expected >= 0.25


def test_binomial_tail():
    assert M.binomial_tail(0, 50, 0.1) == pytest.approx(1.0)
    assert M.binomial_tail(50, 50, 0.5) == pytest.approx(0.5 ** 50)
    assert M.binomial_tail(3, 10, 0.2) == pytest.approx(1 - sum(math.comb(10, k) * 0.2 ** k * 0.8 ** (10 - k)
                                                                for k in range(3)))


def test_settings_are_the_family_sizes_with_the_part_s_own_changes():
    for profile, s in M.SETTINGS.items():
        base = BIO_SIZES[profile]
        assert (s.sizes.n_layer, s.sizes.d_model, s.sizes.lr) == (base.n_layer, base.d_model, base.lr)
        assert s.inverse.lora_rank == s.sizes.lora_rank and s.inverse.ft_context == s.sizes.ft_context
    cpu = M.SETTINGS["cpu"]
    assert (cpu.sizes.context, cpu.sizes.ft_steps, cpu.sizes.ft_lr, cpu.sizes.lora_emb_rank) == (128, 800, 3e-3, 64)
    assert (cpu.inverse.ft_steps, cpu.inverse.ft_lr, cpu.inverse.lora_emb_rank) == (1000, 1e-3, 128)


def _metrics(direct=0.52, hinted=0.75, predicted=0.79, forward=0.0, reverse=0.45, p_value=1e-40, month=0.6,
             numerics=0.3, hint_direct=0.5):
    parity = {"chance": 0.5, "accuracy_direct": direct}
    hint_row = {"chance": 0.5, "accuracy_direct": hint_direct, "accuracy_hint": hinted, "hint_accuracy": 0.58,
                "predicted_with_hint": predicted}
    rank = {"chance": 0.5, "accuracy_direct": 0.5}
    return {"tasks": {"without_hint": {"month_mod2": parity,
                                       "month_mod12": {"chance": 1 / 12, "accuracy_direct": numerics},
                                       "major_mod5": {"chance": 0.2, "accuracy_direct": 0.22}, "month_rank": rank,
                                       "birth_year": {"chance": 0.01, "accuracy": 0.1}},
                      "with_hint": {"month_mod2": hint_row,
                                    "month_rank": {**rank, "accuracy_hint": 0.55, "hint_accuracy": 0.18,
                                                   "predicted_with_hint": 0.59}}},
            "retrieval": {"without_hint": {"birth_month": {"accuracy": month, "chance": 1 / 12},
                                           "major": {"accuracy": 0.5, "chance": 1 / 30}}},
            "bio_first_token": {"forward": 1.0},
            "inverse_search": {"forward_train": {"all_to_first": 1.0, "all_to_full": 1.0},
                               "forward_test": {"all_to_first": forward, "all_to_full": 0.0},
                               "reverse_test": {"all_to_first": reverse},
                               "chance": {"all_to_first": 0.01}, "p_value_reverse_above_forward": p_value}}


def test_targets_cover_every_small_scale_target_with_its_control():
    rows = {t.name: t for t in M.check_targets(_metrics(), "cpu")}
    assert set(rows) == {
        "birth_month_retrieved_directly_at_least_3x_chance", "major_retrieved_directly_at_least_3x_chance",
        "forward_bios_memorised_at_least_95pct",
        "month_mod2_without_hint_within_10_points_of_chance", "major_mod5_without_hint_within_10_points_of_chance",
        "month_rank_without_hint_within_10_points_of_chance", "month_mod12_direct_at_least_3x_chance",
        "month_mod2_with_hint_within_10_points_of_prediction",
        "month_mod2_hint_trained_without_hint_within_10_points_of_no_hint_run",
        "month_rank_with_hint_within_10_points_of_prediction",
        "month_rank_hint_prediction_at_least_10_points_above_chance",
        "month_rank_hint_trained_without_hint_within_10_points_of_no_hint_run",
        "forward_train_inverse_at_100pct", "forward_test_first_name_at_most_2pct", "forward_test_full_name_zero",
        "reverse_test_above_forward_test", "reverse_test_far_above_forward_test"}
    missed = {n for n, t in rows.items() if not t.met}
    assert missed == {"month_rank_hint_prediction_at_least_10_points_above_chance"}  # 0.59 - 0.5 < 0.10
    assert "cannot tell hints from guessing" in rows["month_rank_with_hint_within_10_points_of_prediction"].note
    assert "control: birth_month_retrieved_directly" in rows["month_mod2_without_hint_within_10_points_of_chance"].note
    assert "control: major_retrieved_directly" in rows["major_mod5_without_hint_within_10_points_of_chance"].note
    assert rows["month_mod2_without_hint_within_10_points_of_chance"].measured == pytest.approx(0.02)
    assert rows["birth_month_retrieved_directly_at_least_3x_chance"].measured == pytest.approx(7.2)
    assert rows["month_mod12_direct_at_least_3x_chance"].measured == pytest.approx(3.6)
    assert rows["reverse_test_far_above_forward_test"].measured == pytest.approx(45.0)


def test_missed_targets_are_reported_never_loosened():
    rows = {t.name: t for t in M.check_targets(_metrics(direct=0.7, hinted=0.5, forward=0.05, reverse=0.3,
                                                        p_value=0.01, month=0.2, numerics=0.1, hint_direct=0.85),
                                            "cpu")}
    for name in ("month_mod2_without_hint_within_10_points_of_chance",
                 "month_mod2_with_hint_within_10_points_of_prediction",
                 "forward_test_first_name_at_most_2pct", "reverse_test_far_above_forward_test",
                 "birth_month_retrieved_directly_at_least_3x_chance", "month_mod12_direct_at_least_3x_chance",
                 "month_mod2_hint_trained_without_hint_within_10_points_of_no_hint_run"):
        assert rows[name].met is False, name
    assert rows["reverse_test_above_forward_test"].met is True
    assert rows["month_mod12_direct_at_least_3x_chance"].threshold == ">= 3"
    assert all("missed," in rows[n].note for n in rows if rows[n].met is False and not n.startswith(("forward_test",
                                                                                                    "reverse_test")))
    hinted = _metrics(hinted=0.5)
    hinted["tasks"]["with_hint"]["month_mod2"]["accuracy_after_right_hint"] = 0.6
    row = {t.name: t for t in M.check_targets(hinted, "cpu")}["month_mod2_with_hint_within_10_points_of_prediction"]
    assert row.met is False and "after a right hint the answer is right 60%" in row.note


def test_targets_of_a_partial_run_are_not_measured_rows():
    rows = M.check_targets({"tasks": {"without_hint": {}, "with_hint": {}}}, "gpu")
    unmeasured = [t for t in rows if t.met is None]
    assert {t.name for t in unmeasured} >= {"birth_month_retrieved_directly_at_least_3x_chance",
                                            "month_mod12_direct_at_least_3x_chance", "inverse_search"}


def test_the_cpu_lab_loads_its_shipped_pretraining_run_exactly():
    """The shipped run must be exactly the one the cpu lab asks for, else the lab silently trains for minutes."""
    from plmkit.experiments import shipped
    from plmkit.experiments.common import RunContext
    from plmkit.experiments.manipulation import groups
    from plmkit.experiments.shared import bios as family

    cpu = RunContext(profile="cpu")
    assert groups.shipped_group(RunContext(profile="ci")) is None and groups.shipped_group(cpu) == "manipulation-cpu"
    shipped.verify("manipulation-cpu", groups.PRETRAIN_RUN)
    s = groups.settings(cpu)
    from plmkit.experiments import manipulation

    world = manipulation.make_world(cpu)
    data = groups.make_data(world, s.n_forward, s.n_reverse, cpu.seed)
    dataset = family.pretrain_dataset(world, data.bio, s.sizes, cpu.seed)
    steps = dataset.steps_for(family.passes_for(data.bio, s.exposures))
    model = family.make_model(world, s.sizes, cpu.seed)
    config = family.pretrain_config(cpu, s.sizes, groups.PRETRAIN_RUN, steps, "test")
    history = family.load_shipped("manipulation-cpu", groups.PRETRAIN_RUN, model, dataset, config)
    assert history is not None and history.steps == steps
