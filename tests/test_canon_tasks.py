"""Part 4.1's Brevo and Lano cells: the ci run end to end, fair arms, the order-aware Brevo metric, a fixed
evaluation set, the target rows' counting on hand-made results, and the gpu settings dry-run on CPU."""
import dataclasses
import json

import numpy as np
import pytest
import torch

from plmkit.data import cfg as cfg_data
from plmkit.data.playground import brevo
from plmkit.data.playground.vocab import QUERY
from plmkit.experiments.canon import arms, tasks
from plmkit.experiments.canon.settings import NOPE, NOPE_CANON, ROPE, ROPE_CANON
from plmkit.experiments.common import RunContext

CI = tasks.TASKS["ci"]


def ci_context(**kwargs):
    return RunContext(profile="ci", device="cpu", threads=1, progress=False, **kwargs)


# --- the ci profile end to end -----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def ci_result():
    return tasks.run_tasks(ci_context())


def test_ci_run_has_every_arm_and_seed_with_finite_metrics(ci_result):
    b = ci_result["brevo"]
    assert set(b["arms"]) == {"RoPE", "RoPE + Canon", "NoPE", "NoPE + Canon"} and b["seeds"] == [0, 1]
    for arm in b["arms"].values():
        for key in ("token", "token_exact", "answers", "final_loss", "curve"):
            assert len(arm[key]) == len(b["seeds"])
        assert np.all(np.isfinite(arm["token"] + arm["token_exact"] + arm["answers"] + arm["final_loss"]))
        assert all(0 <= v <= 1 for v in arm["token"] + arm["answers"])
        assert all(len(curve) == len(b["eval_steps"]) for curve in arm["curve"])
    assert 0 < b["chance"] < 1 and b["chance_exact"] == 1 / CI.brevo.N and b["decoding"] == "greedy"
    lano = ci_result["lano"]
    assert set(lano["arms"]) == {"NoPE", "NoPE + Canon"} and lano["samples"] == CI.lano.samples
    for arm in lano["arms"].values():
        assert len(arm["valid"]) == len(lano["seeds"]) and np.all(np.isfinite(arm["valid"] + arm["final_loss"]))
        assert all(lo <= v <= hi for v, (lo, hi) in zip(arm["valid"], arm["ci95"]))
    json.dumps(ci_result)  # plain data, ready for metrics.json


def test_ci_summary_figure_and_rows(ci_result):
    lines = tasks.summary_lines(ci_result)
    assert lines[0].startswith("Brevo1-mini N=8") and any(line.startswith("Lano cfg3f-d3") for line in lines)
    fig = tasks.plot_tasks(ci_result)
    assert len(fig.axes) == 4 and "Fig. 7" in fig.texts[-1].get_text()
    rows = tasks.task_rows(ci_result)
    assert len(rows) == 6 and all(r.met is not None for r in rows)
    without_lano = {"brevo": ci_result["brevo"]}
    assert len(tasks.task_rows(without_lano)) == 4
    fig = tasks.plot_tasks(without_lano)
    assert any("not run in this profile" in t.get_text() for t in fig.axes[2].texts)


def test_profiles_and_bad_profile():
    assert set(tasks.TASKS) == {"ci", "cpu", "gpu"} and tasks.TASKS["cpu"] is None
    gpu = tasks.TASKS["gpu"]
    assert [a.name for a in gpu.brevo.arms] == ["RoPE", "RoPE + Canon", "NoPE", "NoPE + Canon"]
    assert 16 <= gpu.brevo.N <= 24 and gpu.brevo.sizes.context == 256 and gpu.brevo.seeds == 3
    assert [a.name for a in gpu.lano.arms] == ["NoPE", "NoPE + Canon"] and 1 <= gpu.lano.seeds <= 2
    assert gpu.lano.samples >= 500 and (0.25 / gpu.lano.samples) ** 0.5 <= 0.023  # binomial SE <= 2.3 points
    g = cfg_data.Grammar.load(gpu.lano.grammar)
    assert int(g.maxlen[g.root]) + 1 < gpu.lano.sizes.context  # the longest sentence fits a generation
    with pytest.raises(ValueError, match="profiles that do: ci, gpu"):
        tasks.run_tasks(RunContext(profile="cpu", device="cpu", threads=1, progress=False))
    with pytest.raises(dataclasses.FrozenInstanceError):
        gpu.brevo.N = 3


# --- fair arms ---------------------------------------------------------------------------------------------
def test_arms_share_initial_weights_and_data():
    s = CI.brevo
    vocab = tasks.brevo_task(s).layout.vocab_size
    plain = arms.build_model(ROPE, s.sizes, vocab, 1).state_dict()
    for arm in (ROPE_CANON, NOPE, NOPE_CANON):
        state = arms.build_model(arm, s.sizes, vocab, 1).state_dict()
        assert all(torch.equal(value, state[name]) for name, value in plain.items())
    held_out = tasks.brevo_eval_instances(s)
    a, b = tasks.brevo_data(s, 0, held_out), tasks.brevo_data(s, 0, held_out)
    assert torch.equal(a.batch(3).inputs, b.batch(3).inputs) and torch.equal(a.batch(3).weights, b.batch(3).weights)
    assert not torch.equal(a.batch(3).inputs, tasks.brevo_data(s, 1, held_out).batch(3).inputs)
    la, lb = tasks.lano_data(CI.lano, 0), tasks.lano_data(CI.lano, 0)
    assert torch.equal(la.batch(2).inputs, lb.batch(2).inputs)
    assert not torch.equal(la.batch(2).inputs, tasks.lano_data(CI.lano, 1).batch(2).inputs)
    g = cfg_data.Grammar.load(CI.lano.grammar)
    lano_plain = arms.build_model(NOPE, CI.lano.sizes, g.vocab_size, 0).state_dict()
    lano_canon = arms.build_model(NOPE_CANON, CI.lano.sizes, g.vocab_size, 0).state_dict()
    assert all(torch.equal(v, lano_canon[k]) for k, v in lano_plain.items())


# --- the evaluation set and the Brevo metric --------------------------------------------------------------
def test_the_evaluation_set_is_fixed_and_held_out():
    s = CI.brevo
    first, second = tasks.brevo_eval_instances(s), tasks.brevo_eval_instances(s)
    assert [i.tokens.tolist() for i in first] == [i.tokens.tolist() for i in second]
    assert all(inst.info["n"] == s.N for inst in first)
    e1, e2 = tasks.BrevoEval(s), tasks.BrevoEval(s)
    assert np.array_equal(e1.windows.tokens, e2.windows.tokens) and e1.chance == e2.chance


def test_lano_evaluation_is_deterministic():
    g = cfg_data.Grammar.load(CI.lano.grammar)
    model = arms.build_model(NOPE_CANON, CI.lano.sizes, g.vocab_size, 0)
    assert tasks.lano_validity(model, g, 6) == tasks.lano_validity(model, g, 6)


def test_order_aware_accuracy_credits_every_valid_order():
    s = dataclasses.replace(CI.brevo, eval_instances=12)
    evaluation = tasks.BrevoEval(s)
    for inst, allowed in zip(evaluation.instances, evaluation.allowed):
        a = inst.answers[0]
        assert all(int(t) in c for t, c in zip(inst.tokens[a.start:a.stop], allowed))  # the reference is valid
    reference = evaluation.windows.targets.copy()
    assert evaluation.token_scores(reference) == {"token": 1.0, "token_exact": 1.0}
    other = reference.copy()
    for (w, t), choices in zip(evaluation.where, evaluation.choices):
        other[w, t] = max(choices)  # another valid next vertex, where there is a choice
    scores = evaluation.token_scores(other)
    assert scores["token"] == 1.0 and scores["token_exact"] < 1.0  # some instance offers a choice
    wrong = reference.copy()
    wrong[evaluation.windows.answer_mask] = 0  # <pad> is never a vertex
    assert evaluation.token_scores(wrong)["token"] == 0.0
    # the validator agrees: building a whole answer from the largest allowed choice gives a correct answer
    inst = next(i for i, allowed in zip(evaluation.instances, evaluation.allowed) if any(len(c) > 1 for c in allowed))
    toks = inst.tokens.tolist()
    q_at = toks.index(QUERY)
    parents = {}
    for u, v in zip(toks[1:q_at:2], toks[2:q_at:2]):
        parents.setdefault(v, set()).add(u)
    a = inst.answers[0]
    rest, done, order = set(toks[a.start:a.stop]), set(), []
    while rest:
        pick = max(v for v in rest if parents.get(v, set()) <= done)
        order.append(pick)
        done.add(pick)
        rest.discard(pick)
    assert brevo.validate(tasks.brevo_task(s), inst.tokens, order).correct


def test_the_order_aware_metric_refuses_multi_token_names(monkeypatch):
    monkeypatch.setattr(tasks, "brevo_task", lambda _: brevo.BrevoConfig(N=8, V=4, name_len=(2, 3)))
    with pytest.raises(ValueError, match="one-token names"):
        tasks.BrevoEval(CI.brevo)


# --- the target rows ---------------------------------------------------------------------------------------
def fake(brevo_tokens: dict, nope_answers=(0.0, 0.0, 0.01), lano=None):
    arms_ = {name: {"token": list(v), "answers": [0.5] * len(v), "token_exact": list(v)}
             for name, v in brevo_tokens.items()}
    arms_["NoPE"]["answers"] = list(nope_answers)
    result = {"brevo": {"N": 16, "chance": 0.1, "seeds": list(range(len(nope_answers))), "arms": arms_}}
    if lano is not None:
        result["lano"] = {"grammar": "cfg3f-d4", "samples": 500,
                          "arms": {name: {"valid": [c / 500 for c in counts], "count": list(counts)}
                                   for name, counts in lano.items()}}
    return result


GOOD = {"RoPE": (0.30, 0.40, 0.50), "RoPE + Canon": (0.60, 0.35, 0.70),
        "NoPE": (0.05, 0.06, 0.05), "NoPE + Canon": (0.55, 0.50, 0.60)}


def test_brevo_rows_count_seeds():
    rows = {r.name.split(": ", 1)[1]: r for r in tasks.task_rows(fake(GOOD))}
    canon = rows["RoPE + Canon above RoPE (answer tokens)"]
    assert canon.met and canon.measured == 2 and canon.threshold == ">= 2 of 3 seeds"
    assert rows["NoPE + Canon above NoPE (answer tokens)"].met and rows["NoPE + Canon above NoPE (answer tokens)"].measured == 3
    near_zero = rows["NoPE whole answers near 0 (median)"]
    assert near_zero.met and "control" in near_zero.note and "NoPE + Canon" in near_zero.note
    assert rows["NoPE + Canon at least plain RoPE (answer tokens)"].measured == 3
    assert rows["NoPE + Canon at least plain RoPE (answer tokens)"].met


def test_brevo_rows_report_misses():
    bad = dict(GOOD, **{"RoPE + Canon": (0.20, 0.35, 0.70), "NoPE + Canon": (0.25, 0.04, 0.60)})
    rows = {r.name.split(": ", 1)[1]: r for r in tasks.task_rows(fake(bad, nope_answers=(0.2, 0.0, 0.3)))}
    assert not rows["RoPE + Canon above RoPE (answer tokens)"].met  # 1 of 3 seeds
    assert not rows["NoPE + Canon above NoPE (answer tokens)"].met  # every seed is needed
    assert not rows["NoPE whole answers near 0 (median)"].met and rows["NoPE whole answers near 0 (median)"].measured == 0.2
    assert not rows["NoPE + Canon at least plain RoPE (answer tokens)"].met


def test_lano_rows_every_seed_and_the_pooled_gap():
    met = {r.name: r for r in tasks.task_rows(fake(GOOD, lano={"NoPE": (50, 100), "NoPE + Canon": (200, 150)}))}
    above = met["Lano cfg3f-d4: NoPE + Canon above NoPE in valid samples"]
    gap = met["Lano cfg3f-d4: NoPE + Canon minus NoPE, pooled over seeds (points)"]
    assert above.met and above.measured == 2 and gap.met and gap.measured == pytest.approx(20.0)
    missed = {r.name: r for r in tasks.task_rows(fake(GOOD, lano={"NoPE": (50, 160), "NoPE + Canon": (120, 150)}))}
    assert not missed["Lano cfg3f-d4: NoPE + Canon above NoPE in valid samples"].met
    assert not missed["Lano cfg3f-d4: NoPE + Canon minus NoPE, pooled over seeds (points)"].met  # 6 points
    assert "control" in gap.note


# --- the gpu profile, dry-run on CPU ------------------------------------------------------------------------
def test_gpu_profile_dry_run_one_step_per_arm_at_gpu_sizes():
    """Both gpu cells at their real model sizes and contexts: one step of batch 2 per arm, tiny evaluations."""
    s = tasks.TASKS["gpu"]
    one = lambda opt: dataclasses.replace(opt, steps=1, batch=2, warmup=0)  # noqa: E731
    dry = dataclasses.replace(
        s,
        brevo=dataclasses.replace(s.brevo, optimiser=one(s.brevo.optimiser), seeds=1, eval_every=1, eval_instances=2),
        lano=dataclasses.replace(s.lano, optimiser=one(s.lano.optimiser), seeds=1, samples=2),
    )
    result = tasks.run_tasks(RunContext(profile="gpu", device="cpu", threads=1, progress=False), dry)
    b, lano = result["brevo"], result["lano"]
    assert b["N"] == s.brevo.N and b["context"] == 256 and b["steps"] == 1
    assert set(b["arms"]) == {a.name for a in s.brevo.arms} and set(lano["arms"]) == {"NoPE", "NoPE + Canon"}
    assert b["arms"]["RoPE"]["parameters"] > 3_000_000  # 4L256D
    assert lano["grammar"] == "cfg3f-d4" and lano["context"] == s.lano.sizes.context
    names = [row.name for row in tasks.task_rows(result)]
    assert any("NoPE whole answers near 0" in n for n in names) and any(n.startswith("Lano") for n in names)
