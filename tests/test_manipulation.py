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
    assert {"accuracy_direct", "accuracy_hint", "hint_accuracy", "predicted_with_hint", "chance"} <= set(parity)
    assert parity["chance"] == 0.5
    assert parity["predicted_with_hint"] == pytest.approx(parity["hint_accuracy"] + (1 - parity["hint_accuracy"]) * 0.5)
    rank = out["month_rank"]
    assert rank["predicted_with_hint"] == pytest.approx(rank["hint_accuracy"] ** 2 + (1 - rank["hint_accuracy"] ** 2) * 0.5)
    assert "accuracy" in out["birth_year"] and out["month_rank"]["examples"] == 20


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


def _metrics(direct=0.52, hinted=0.75, predicted=0.79, forward=0.0, reverse=0.45, p_value=1e-40):
    row = {"chance": 0.5, "accuracy_direct": direct}
    return {"tasks": {"without_hint": {"month_mod2": row, "birth_year": {"chance": 0.01, "accuracy": 0.1}},
                      "with_hint": {"month_mod2": {**row, "accuracy_hint": hinted, "hint_accuracy": 0.58,
                                                   "predicted_with_hint": predicted}}},
            "inverse_search": {"forward_test": {"all_to_first": forward}, "reverse_test": {"all_to_first": reverse},
                               "chance": {"all_to_first": 0.01}, "p_value_reverse_above_forward": p_value}}


def test_targets_rows_carry_the_measured_value_and_the_threshold():
    rows = {t.name: t for t in M.check_targets(_metrics(), "cpu")}
    assert set(rows) == {"month_mod2_without_hint_within_10_points_of_chance",
                         "month_mod2_with_hint_within_10_points_of_prediction", "forward_test_first_name_at_most_2pct",
                         "reverse_test_above_forward_test", "reverse_test_far_above_forward_test"}
    assert all(t.met for t in rows.values())
    assert rows["month_mod2_without_hint_within_10_points_of_chance"].measured == pytest.approx(0.02)
    assert rows["reverse_test_far_above_forward_test"].measured == pytest.approx(45.0)
    missed = {t.name: t.met for t in M.check_targets(_metrics(direct=0.7, hinted=0.5, forward=0.05, reverse=0.3,
                                                              p_value=0.01), "cpu")}
    assert not any(missed[n] for n in missed if n != "reverse_test_above_forward_test")
    assert missed["reverse_test_above_forward_test"] is True
