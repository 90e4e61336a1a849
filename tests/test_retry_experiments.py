"""Part 2.2 experiments (lab 03): decoding with rollback, the detector, retry upon regret, the pretraining
comparison, the LoRA fine-tune, the targets and the figures. Everything runs in the ``ci`` profile."""
import dataclasses
import math
import sys

import numpy as np
import pytest
import torch

from plmkit.data import igsm
from plmkit.experiments import CHECKPOINT_TRAINERS, PARTS, load_part, shipped
from plmkit.experiments import retry as part
from plmkit.experiments.common import RunContext
from plmkit.experiments.retry import comparison, decoding, detection, finetune, plots, regret
from plmkit.experiments.retry.pretrain import PRETRAIN
from plmkit.experiments.shared import igsm as shared
from plmkit.results import load_reference

S = sys.modules["plmkit.experiments.retry.settings"]
NANO = igsm.load_world("nano")
TINY = shared.ModelSize(2, 2, 32)


@pytest.fixture(scope="module")
def ctx():
    return RunContext(profile="ci", threads=1, progress=False)


@pytest.fixture(scope="module")
def tiny_model():
    return shared.make_model(NANO, TINY, 256, seed=0).eval()


@pytest.fixture(scope="module")
def nano_model():
    model, sidecar = shared.load_checkpoint("igsm-cpu", "nano")
    assert model is not None, sidecar
    return model


def problems(op, n, seed=3):
    return shared.eval_problems(NANO, op, n, seed)


# ---- registration and settings ----------------------------------------------------------------------------------
def test_part_is_registered_and_not_a_checkpoint_trainer():
    assert PARTS["retry"][0] == "plmkit.experiments.retry"
    assert load_part("retry") is part
    assert "retry" not in CHECKPOINT_TRAINERS and "retry-pretrain" in CHECKPOINT_TRAINERS


def test_every_profile_has_frozen_settings_with_known_arms():
    assert set(S.SETTINGS) == {"ci", "cpu", "gpu"}
    for s in S.SETTINGS.values():
        assert set(s.arms) <= set(S.ARMS) and s.arms[0] == "error_free"
        with pytest.raises(dataclasses.FrozenInstanceError):
            s.__setattr__("world", "x")


def test_cpu_compares_the_shipped_arms_at_the_error_free_models_tokens():
    s, trainer = S.SETTINGS["cpu"], PRETRAIN["cpu"]
    assert s.shipped_group == trainer.group and s.error_free == trainer.error_free_from
    assert s.pretrain == trainer.train and set(trainer.arms) <= set(s.arms)
    assert s.regret.max_retries == 10


# ---- decoding -----------------------------------------------------------------------------------------------------
def test_plain_decode_is_greedy_generation(tiny_model):
    ps = problems(2, 4)
    reference = shared.generate_solutions(tiny_model, ps)
    for p, ref in zip(ps, reference):
        mine = decoding.decode(tiny_model, p).tokens
        assert mine == ref[:len(mine)]


def test_cutting_the_cache_back_gives_the_same_next_token_distribution(tiny_model):
    p = problems(2, 1)[0]
    run = decoding._Runner(tiny_model, p.prompt().tolist())
    start, logits = run.length, run.logits.clone()
    for token in NANO.vocab.ids(["Define", "Aspen_Elementary", "'s"]):
        run.push(token)
    run.cut(start, logits)
    run.push(NANO.vocab.id_of("Define"))
    fresh = decoding._Runner(tiny_model, p.prompt().tolist() + [NANO.vocab.id_of("Define")])
    assert run.length == fresh.length
    assert torch.allclose(run.logits, fresh.logits, atol=1e-5)


def test_oracle_knows_can_next_exactly():
    p = problems(3, 1)[0]
    vocab = NANO.vocab
    prompt = p.prompt().tolist()
    done = []
    for j, sentence in enumerate(p.solution_sentences):
        ready = set(igsm.ready_params(p, p.order[:j]))
        for q in p.universe:
            head = vocab.ids(["Define", *p.name_tokens(q), "as"])
            assert decoding.oracle_ready(p, prompt, done + head) == (q in ready)
        done += vocab.ids(sentence)
    unknown = vocab.ids(["Define", "Pen", "'s", "Pen", "as"])
    assert not decoding.oracle_ready(p, prompt, unknown)


def test_a_detector_that_never_regrets_changes_nothing_and_one_that_always_does_spends_the_budget(tiny_model):
    p = problems(2, 1)[0]
    plain = decoding.decode(tiny_model, p, temperature=1.0, seed=5)
    never = decoding.decode(tiny_model, p, lambda *a: True, 10, seed=5, temperature=1.0)
    assert never.tokens == plain.tokens and never.regrets == 0
    always = decoding.decode(tiny_model, p, lambda *a: False, 4, seed=5, temperature=1.0)
    assert always.regrets <= 4 and len(always.flagged) == always.regrets


def test_the_perfect_detector_never_loses_a_solution_the_same_sampling_solved(nano_model):
    ps = problems(1, 4) + problems(2, 4)
    for i, p in enumerate(ps):
        plain = decoding.decode(nano_model, p, seed=i, temperature=1.0)
        fixed = decoding.decode(nano_model, p, decoding.oracle_ready, seed=i, temperature=1.0)
        if igsm.check_solution(p, plain.tokens).correct:
            assert fixed.tokens == plain.tokens and fixed.regrets == 0


def test_beam_search_of_width_one_is_greedy(tiny_model):
    for p in problems(2, 3):
        greedy = decoding.decode(tiny_model, p).tokens
        assert decoding.beam_search(tiny_model, p, beam=1).tokens == greedy


# ---- detection ----------------------------------------------------------------------------------------------------
def test_detector_items_are_balanced_and_end_at_as():
    data = detection.detector_set(NANO, 6, "train", 2, seed=1)
    assert len(data) == 24 and sum(data.labels) == 12
    as_id = NANO.vocab.id_of("as")
    assert all(int(x[-1]) == as_id for x in data.inputs)
    again = detection.detector_set(NANO, 6, "train", 2, seed=1)
    assert all(np.array_equal(a, b) for a, b in zip(data.inputs, again.inputs))


def test_own_steps_of_a_true_solution_are_all_ready():
    p = problems(3, 1)[0]
    generated = NANO.vocab.ids(p.solution_tokens + ["<ans>", str(p.answer), "<eos>"])
    result = igsm.check_solution(p, generated)
    steps = list(detection.own_steps(p, generated, result))
    assert len(steps) == len(p.order) and all(ready and not first for _, ready, first in steps)


def test_detector_trains_and_reports_against_its_control(ctx, tiny_model):
    run = detection.train_detector(ctx, tiny_model, NANO, S.SETTINGS["ci"].probe, log=None)
    r = run.report
    assert {"trained", "random_init", "gap", "majority"} <= set(r)
    assert math.isclose(r["gap"], r["trained"]["accuracy"] - r["random_init"]["accuracy"])


# ---- retry upon regret ---------------------------------------------------------------------------------------------
def test_paired_gain():
    gain, se = regret.paired_gain([0, 0, 1, 1], [1, 0, 1, 1])
    assert gain == 0.25 and math.isclose(se, 0.25)
    assert math.isnan(regret.paired_gain([1], [1])[1])


def test_regret_runs_every_method_on_the_same_problems(ctx, nano_model):
    s = S.SETTINGS["ci"]
    run = detection.train_detector(ctx, nano_model, NANO, s.probe, log=None)
    report, columns = regret.run_regret(ctx, nano_model, NANO, s.regret, run.probe, log=None)
    assert list(report["methods"]) == list(regret.METHODS)
    for method, base in regret.BASELINE.items():
        assert report["methods"][method]["baseline"] == base and "gain_se" in report["methods"][method]
    first = [p.tokens() for p in columns["greedy"][1].problems]
    assert all([p.tokens() for p in columns[m][1].problems] == first for m in regret.METHODS)
    own = detection.on_own_steps(run.probe, columns["sample"])
    assert {"mistakes", "detected", "ready_steps", "ready_passed"} <= set(own)
    with pytest.raises(ValueError, match="valid"):
        regret.run_method(nano_model, [], "nucleus", s.regret)


# ---- the pretraining comparison --------------------------------------------------------------------------------------
def summary(acc, n=100, retries=0.1):
    return {"accuracy": acc, "n": n, "correct": round(acc * n), "retries": retries, "reasons": {}}


def test_arm_row_weights_retries_by_correct_solutions_and_ops_by_the_training_law():
    by_op = {"1": summary(0.6, retries=0.0), "2": summary(0.2, retries=1.0), "3": summary(0.0), "4": summary(0.0),
             "5": summary(0.0)}
    row = comparison.arm_row(by_op, NANO, label="x")
    assert math.isclose(row["retries_per_correct"], 20 / 80)
    assert math.isclose(row["in_distribution"], shared.law_weighted({1: by_op["1"], 2: by_op["2"], 3: by_op["3"]}, 3))
    assert math.isclose(row["by_op"]["1"]["se"], math.sqrt(0.6 * 0.4 / 100))
    empty = comparison.arm_row({op: summary(0.0) for op in "12345"}, NANO)
    assert empty["retries_per_correct"] is None


def test_missing_shipped_arms_are_reported_not_replaced(ctx, tmp_path):
    s = dataclasses.replace(S.SETTINGS["ci"], shipped_group="retry-nowhere")
    rows, models = comparison.shipped_arms(ctx, NANO, s, folder=tmp_path, log=None)
    assert "missing" in rows["retry"] and "missing" in rows["retry_weak"] and "error_free" in models
    assert comparison.gains(rows, NANO) == {}


def test_shipped_arms_read_their_sidecar_measurements(ctx, tmp_path, tiny_model):
    by_op = {str(op): {**summary(0.5 if op < 3 else 0.0), "unnecessary_params": 0.0} for op in range(1, 6)}
    for arm in ("retry", "retry_weak"):
        sidecar = {"name": arm, "eval": {"by_op": by_op, "problems_per_column": 100}, "made_by": "test",
                   "train": {"steps": 10, "tokens": 1000, "seconds": 60},
                   "data": {"batch": 4, "packing": "one problem per window"}}
        shipped.save(tiny_model, "retry-test", arm, sidecar, made_by="test", half=True, folder=tmp_path)
    s = dataclasses.replace(S.SETTINGS["ci"], shipped_group="retry-test")
    rows, models = comparison.shipped_arms(ctx, NANO, s, folder=tmp_path, log=None)
    assert set(models) == {"error_free", "retry", "retry_weak"}
    assert rows["retry"]["problems_seen"] == 40 and rows["retry"]["by_op"]["1"]["accuracy"] == 0.5
    g = comparison.gains(rows, NANO)
    assert set(g) == {"retry", "retry_weak"} and set(g["retry"]) == {"1", "2", "3", "4", "5"}


def test_retry_streams_spend_tokens_on_retries():
    t = comparison.training_data(NANO, S.SETTINGS["ci"], n=200)
    assert t["error_free"]["retries_per_problem"] == 0
    assert t["retry"]["retries_per_problem"] > t["retry_weak"]["retries_per_problem"] > 0
    assert t["retry"]["tokens_per_problem"] > t["error_free"]["tokens_per_problem"]
    assert t["retry"]["packed_problems"] < t["error_free"]["packed_problems"]


# ---- the LoRA fine-tune ----------------------------------------------------------------------------------------------
def test_lora_finetune_and_its_control_on_the_same_problems(ctx, nano_model):
    s = S.SETTINGS["ci"]
    tuned, history = finetune.lora_finetune(ctx, nano_model, NANO, s, 0.2, log=None)
    control, _ = finetune.lora_finetune(ctx, nano_model, NANO, s, 0.0, log=None)
    assert history.steps == s.finetune.steps
    assert all(not p.requires_grad for n, p in tuned.named_parameters() if "lora_" not in n)
    models = {"error_free": nano_model, "lora_retry": tuned, "lora_error_free": control}
    out = finetune.compare_finetune(ctx, models, NANO, s, history)
    assert set(out["gains"]) == {"lora_retry-error_free", "lora_retry-lora_error_free", "lora_error_free-error_free"}
    assert set(out["lora_retry"]["by_op"]) == {"1", "2", "3", "4"}


# ---- targets and figures ----------------------------------------------------------------------------------------------
def fake_metrics(retry_missing=False, gain=0.1, se=0.02):
    arm = lambda acc, r: {"label": "x", "by_op": {op: {**summary(acc), "se": 0.02, "retries": r} for op in "12345"},  # noqa: E731
                          "retries_per_correct": r, "correct_solutions": 50, "in_distribution": acc}
    arms = {"error_free": arm(0.1, None), "retry": arm(0.3, 0.2), "retry_weak": arm(0.2, 1.5)}
    if retry_missing:
        arms["retry"] = {"label": "retry r=0.2", "missing": "no shipped checkpoint 'retry'"}
    gains = {"retry_weak": {op: {"gain": 0.1, "se": 0.02} for op in "12345"}}
    if not retry_missing:
        gains["retry"] = {op: {"gain": gain, "se": se} for op in "12345"}
    methods = {m: {"by_op": {"1": {**summary(0.3), "rollbacks": 0.5}}, "pooled": 0.3, "seconds": 1} for m in regret.METHODS}
    methods["regret_oracle"].update(gain=0.1, gain_se=0.02, baseline="sample", lost=0)
    lora = {"by_op": {op: {**summary(0.2), "se": 0.04} for op in "1234"}, "in_distribution": 0.2}
    return {
        "detection": {"gap": 0.3, "trained": {"accuracy": 0.8}, "random_init": {"accuracy": 0.5}, "majority": 0.5,
                      "test_items": 100},
        "own_steps": {"mistakes": 20, "ready_steps": 40, "detected": 0.6, "ready_passed": 0.9},
        "regret": {"ops": [1], "problems_per_op": 100, "methods": methods},
        "arms": arms, "gains": gains, "op_max": 3, "first_ood": 4,
        "finetune": {"steps": 3, "tokens": 100, "rank": 8, "embedding_rank": 16, "error_free": lora, "lora_retry": lora,
                     "lora_error_free": lora,
                     "gains": {k: {"gain": 0.0, "se": 0.01} for k in ("lora_retry-error_free", "lora_retry-lora_error_free",
                                                                       "lora_error_free-error_free")}},
    }


def test_ci_judges_nothing():
    rows = part.check_targets(fake_metrics(), "ci")
    assert len(rows) == 1 and rows[0].met is None


def test_targets_are_judged_at_cpu():
    rows = {t.name: t for t in part.check_targets(fake_metrics(), "cpu")}
    assert all(t.met is True for t in rows.values()), [t for t in rows.values() if not t.met]
    small = {t.name: t for t in part.check_targets(fake_metrics(gain=0.01, se=0.02), "cpu")}
    beat = [t for name, t in small.items() if name.startswith("retry r=0.2 beats")]
    assert len(beat) == 2 and all(t.met is False and "op 23" in t.note for t in beat)


def test_missing_checkpoints_make_rows_not_measured():
    rows = part.check_targets(fake_metrics(retry_missing=True), "cpu")
    missing = [t for t in rows if "retry r=0.2" in t.name]
    assert len(missing) == 3 and all(t.met is None for t in missing)
    assert all("no shipped checkpoint" in t.note for t in missing)
    weak = [t for t in rows if t.name.startswith("retry_weak")]
    assert len(weak) == 1 and weak[0].met is True  # judged on its own arms


def test_retry_weak_row_is_not_measured_without_its_arm():
    m = fake_metrics()
    m["arms"]["retry_weak"] = {"label": "retry_weak r=0.1", "missing": "no shipped checkpoint 'retry_weak'"}
    del m["gains"]["retry_weak"]
    weak = [t for t in part.check_targets(m, "cpu") if t.name.startswith("retry_weak")]
    assert len(weak) == 1 and weak[0].met is None and "no shipped checkpoint" in weak[0].note


def test_figures_draw_with_missing_arms():
    ref = load_reference("retry")
    m = fake_metrics(retry_missing=True)
    figures = [plots.detection_figure(m["detection"], m["own_steps"], ref),
               plots.regret_figure(m["regret"], ref), plots.comparison_figure(m["arms"], ref, 3),
               plots.retries_figure(m["arms"], ref), plots.finetune_figure(m["finetune"], m["arms"], ref)]
    import matplotlib.pyplot as plt

    for fig in figures:
        assert fig.axes
        plt.close(fig)


def test_reference_numbers_hold_the_papers_rows():
    ref = load_reference("retry")
    assert ref["pretraining"]["rows"]["retry_0.2"][-1] == 96.2 and ref["pretraining"]["rows"]["error_free"][0] == 77.7
    assert ref["regret"]["rows"]["regret_vP_beam1"][0] == 84.1
    for key, value in ref.items():
        if isinstance(value, dict):
            assert "citation" in value, key
