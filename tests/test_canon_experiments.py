"""Part 4.1's experiments: the Canon layer's exact properties, fair arms, the ci run end to end, the gpu
profile dry-run on CPU (one step per arm at the gpu sizes), and the targets table's logic."""
import dataclasses
import json

import numpy as np
import pytest
import torch

from plmkit.experiments import canon, load_part
from plmkit.experiments.canon import arms, cost, mechanics
from plmkit.experiments.canon.settings import (COPY_ARMS, NOPE, NOPE_CANON, ROPE, ROPE_CANON, SETTINGS, ModelSizes,
                                               Optimiser)
from plmkit.experiments.common import RunContext
from plmkit.model import GPT, Canon, GPTConfig
from plmkit.results import RunDir


# --- the Canon layer itself ------------------------------------------------------------------------
@pytest.mark.parametrize("form", ["ShiftSum", "ChannelsLastConv"])
@pytest.mark.parametrize("residual", [True, False])
@pytest.mark.parametrize("T", [1, 2, 3, 4, 9])
def test_both_canon_forms_match_the_conv_form_and_its_gradients(form, residual, T):
    from plmkit import canon_ops

    function = getattr(canon_ops, form).apply
    x = torch.randn(2, T, 5, dtype=torch.float64, requires_grad=True)
    w = (torch.rand(5, 1, 4, dtype=torch.float64) - 0.5).requires_grad_()
    assert torch.autograd.gradcheck(lambda x, w: function(x, w, residual), (x, w))
    assert torch.allclose(function(x, w, residual), mechanics.conv_reference(x, w, residual), atol=1e-12)
    layer = Canon(5, residual=residual).double()
    assert torch.allclose(layer(x)[0], mechanics.conv_reference(x, layer.weight, residual), atol=1e-12)


@pytest.mark.parametrize("residual", [True, False])
def test_the_float32_cpu_path_agrees_with_the_shift_sum(residual):
    """The model's float32 CPU path (the convolution form) against the shift-and-sum, values and gradients."""
    from plmkit import canon_ops

    x = torch.randn(3, 17, 40)
    w = torch.rand(40, 1, 4) - 0.5
    grad = torch.randn(3, 17, 40)
    results = []
    for function in (canon_ops.ChannelsLastConv.apply, canon_ops.ShiftSum.apply):
        xi, wi = x.clone().requires_grad_(), w.clone().requires_grad_()
        out = function(xi, wi, residual)
        out.backward(grad)
        results.append((out, xi.grad, wi.grad))
    for a, b in zip(*results):
        assert torch.allclose(a, b, atol=1e-4)
    frozen = w.clone()  # constant Canon: no weight gradient asked for, none computed
    xi = x.clone().requires_grad_()
    canon_ops.ChannelsLastConv.apply(xi, frozen, residual).sum().backward()
    assert frozen.grad is None and xi.grad is not None


def test_canon_returns_the_last_three_inputs_zero_padded():
    layer = Canon(3)
    x = torch.randn(1, 2, 3)
    last = layer(x)[1]
    assert last.shape == (1, 3, 3) and torch.equal(last[:, 0], torch.zeros(1, 3)) and torch.equal(last[:, 1:], x)


def test_constant_canon_gets_no_gradient_and_stays_put():
    model = arms.build_model(COPY_ARMS[2], ModelSizes(1, 2, 16, 20), 30, seed=0)
    before = [layer.weight.clone() for layer in mechanics.canon_layers(model)]
    x = torch.randint(0, 30, (2, 20))
    model(x, x).loss.backward()
    assert all(layer.weight.grad is None for layer in mechanics.canon_layers(model))
    assert all(torch.equal(a, layer.weight) for a, layer in zip(before, mechanics.canon_layers(model)))


def test_exact_checks_all_hold():
    exact = mechanics.exact_checks()
    assert exact["init"]["worst_gap"] < 0.02 and exact["init"]["max_abs"] <= 0.5
    assert exact["conv_equivalence"] < 1e-9
    assert set(exact["future_leak"]) >= {"A", "B", "C", "D", "ABCD"} and max(exact["future_leak"].values()) == 0
    assert min(exact["kv_cache_agreement"].values()) == 1.0
    assert exact["parameters"] == {"formula_12L768D": 380_928, "mismatches_with_built_models": []}


def test_the_leak_detector_catches_a_bidirectional_model():
    assert mechanics.future_leak(mechanics.tiny_model(canon="ABCD", causal=False)) > 1e-4


def test_parameter_formula_and_the_plain_count():
    assert cost.canon_parameter_formula(12, 768, "ABCD") == 380_928
    assert cost.canon_parameter_formula(12, 768, "AC") == 73_728
    for n_layer, d, mlp in ((2, 48, "swiglu"), (3, 40, "gelu")):
        built = GPT(GPTConfig(vocab_size=8, n_layer=n_layer, d_model=d, n_head=4, mlp=mlp, norm="rmsnorm"))
        assert cost.plain_parameters(n_layer, d, mlp) == built.param_counts()["non_embedding"]
    share = cost.parameter_table(12, 768, ("ABCD",), count=False)[0]["share"]
    assert 0.0040 < share < 0.0046  # "fewer than 0.45%" [P4.1 fn 11]
    with pytest.raises(ValueError, match="valid: A, B, C, D"):
        cost.canon_parameter_formula(1, 8, "AE")


# --- fair arms ---------------------------------------------------------------------------------------------
def test_arms_share_every_weight_but_the_canon_kernels():
    sizes = ModelSizes(2, 2, 16, 32)
    plain, with_canon = arms.build_model(ROPE, sizes, 40, 3), arms.build_model(ROPE_CANON, sizes, 40, 3)
    nope = arms.build_model(NOPE, sizes, 40, 3)
    canon_state = with_canon.state_dict()
    for name, value in plain.state_dict().items():
        assert torch.equal(value, canon_state[name]), name
        assert torch.equal(value, nope.state_dict()[name]), name
    extra = set(canon_state) - set(plain.state_dict())
    assert extra and all(".canon_" in name for name in extra)
    assert not torch.equal(arms.build_model(ROPE, sizes, 40, 4).tok_emb.weight, plain.tok_emb.weight)
    assert arms.build_model(NOPE_CANON, sizes, 40, 3).config.pos == "nope"


def test_every_arm_sees_the_same_batches():
    from plmkit.data.playground import depo

    s = SETTINGS["ci"].depo
    sample = depo.sample_fn(depo.PRESETS[s.preset])
    a, b = arms.stream(sample, s.sizes, s.optimiser, 0), arms.stream(sample, s.sizes, s.optimiser, 0)
    assert torch.equal(a.batch(5).inputs, b.batch(5).inputs)
    assert not torch.equal(a.batch(5).inputs, arms.stream(sample, s.sizes, s.optimiser, 1).batch(5).inputs)


def test_every_profile_has_settings_and_the_cpu_copy_is_the_calibrated_recipe():
    assert set(SETTINGS) == {"ci", "cpu", "gpu"}
    copy = SETTINGS["cpu"].copy
    assert (copy.N, copy.optimiser.batch, copy.optimiser.lr, copy.optimiser.warmup) == (64, 32, 5e-3, 100)
    assert copy.optimiser.schedule == "constant" and copy.seeds == 3
    assert [a.name for a in copy.arms] == ["1L", "1L + Canon", "1L + cst-Canon", "2L"]
    depo_arms = {a.name for a in SETTINGS["gpu"].depo.arms}
    assert depo_arms == {"RoPE", "RoPE + Canon", "NoPE", "NoPE + Canon"}
    with pytest.raises(dataclasses.FrozenInstanceError):
        SETTINGS["cpu"].copy.N = 3


def test_example_instances_are_deterministic_and_readable():
    first, second = canon.example_instances(0), canon.example_instances(0)
    assert first == second and set(first) == {"Depo (n = 4, k in {1, 2})", "Brevo (n = 6)", "Mano (l = 3)", "copy (N = 8)"}
    assert "<query>" in first["copy (N = 8)"] and "<ans>" in first["Mano (l = 3)"]


# --- the ci profile end to end -----------------------------------------------------------------------
@pytest.fixture(scope="module")
def ci_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("canon-ci")
    ctx = RunContext(profile="ci", device="cpu", threads=1, progress=False, run_dir=RunDir(folder / "run"))
    return load_part("canon").reproduce(ctx), folder / "run"


def test_ci_run_measures_every_experiment_and_saves_figures(ci_run):
    metrics, folder = ci_run
    assert {"exact", "copy", "jump", "depo", "placement", "mano", "overhead", "targets", "tasks"} <= set(metrics)
    copy = metrics["copy"]
    assert set(copy["arms"]) == {a.name for a in SETTINGS["ci"].copy.arms}
    assert all(len(arm["curves"]) == len(copy["seeds"]) for arm in copy["arms"].values())
    assert len(metrics["depo"]["arms"]["RoPE"]["final"][0]) == metrics["depo"]["K"]
    assert np.all(np.isfinite(metrics["mano"]["arms"]["RoPE"]["final"]))
    figures = {p.stem for p in (folder / "figures").glob("*.png")}
    assert figures == {"cost", "copy", "copy_jump", "depo", "depo_shipped", "placement", "mano", "tasks"}
    json.dumps(metrics)  # metrics.json can hold it


def test_ci_targets_are_the_exact_rows_all_met(ci_run):
    rows = ci_run[0]["targets"]
    exact = [r for r in rows if r["met"] is not None]
    assert len(exact) == 6 and all(r["met"] for r in exact)
    assert rows[-1]["met"] is None and "ci" in rows[-1]["note"]


def test_cpu_and_gpu_target_rows_can_be_computed_from_a_ci_run(ci_run):
    metrics = ci_run[0]
    cpu = canon.check_targets(metrics, "cpu")
    names = [t.name for t in cpu]
    one_layer = next(i for i, n in enumerate(names) if "1 layer at most" in n)
    assert "controls" in cpu[one_layer].note and "2L at least" in names[one_layer + 3]  # the control rows beside it
    gpu = canon.check_targets(metrics, "gpu")
    assert any("NoPE" in t.name for t in gpu) and any("placements" in t.name for t in gpu)
    assert any("Mano" in t.name for t in gpu)


# --- the targets' logic -------------------------------------------------------------------------------
def fake_copy(finals: dict, seeds=(0, 1, 2)):
    return {"N": 64, "steps": 600, "seeds": list(seeds), "eval_steps": [600],
            "arms": {name: {"final": values, "curves": [[v] for v in values]} for name, values in finals.items()}}


def test_copy_rows_count_seeds_and_report_misses():
    good = fake_copy({"1L": [0.08, 0.09, 0.2], "1L + Canon": [1, 1, 0.5], "1L + cst-Canon": [1, 1, 1], "2L": [1, 0.9, 0.9]})
    rows = {t.name.split(": ", 1)[1]: t for t in canon.copy_rows(good, ceiling=0.15)}
    assert rows["1 layer at most 15%"].met and rows["1 layer at most 15%"].measured == 2
    assert rows["1L + Canon at least 95%"].met and not rows["2L at least 95%"].met


def test_depo_cpu_row_counts_the_seeds_in_which_canon_wins():
    result = {"N": 8, "K": 4, "ks": [1, 2, 3, 4], "chance": 0.125, "seeds": [0, 1, 2],
              "arms": {"RoPE": {"final": [[0.12] * 4, [0.3] * 4, [0.13] * 4]},
                       "RoPE + Canon": {"final": [[0.6] * 4, [0.2] * 4, [0.5] * 4]}}}
    row = canon.depo_cpu_rows(result)[0]
    assert row.met and row.measured == 2
    result["arms"]["RoPE + Canon"]["final"][2] = [0.1] * 4
    assert not canon.depo_cpu_rows(result)[0].met


# --- the gpu profile, dry-run on CPU ----------------------------------------------------------------
def one_step(opt: Optimiser) -> Optimiser:
    return dataclasses.replace(opt, steps=1, batch=2, warmup=0)


def test_gpu_profile_dry_run_one_step_per_arm_at_gpu_sizes():
    """Every gpu experiment at its real model sizes and contexts, one step of batch 2 per arm."""
    s = SETTINGS["gpu"]
    dry = dataclasses.replace(
        s,
        copy=dataclasses.replace(s.copy, optimiser=one_step(s.copy.optimiser), seeds=1, eval_every=1, eval_sequences=2),
        jump=dataclasses.replace(s.jump, optimiser=one_step(s.jump.optimiser), eval_every=1, eval_sequences=2),
        depo=dataclasses.replace(s.depo, optimiser=one_step(s.depo.optimiser), seeds=1, eval_every=1, eval_instances=2),
        mano=dataclasses.replace(s.mano, optimiser=one_step(s.mano.optimiser), seeds=1, eval_instances=1),
        cost=dataclasses.replace(s.cost, batch=1, repeats=1, placements=("", "ABCD")),
    )
    ctx = RunContext(profile="gpu", device="cpu", threads=1, progress=False)
    metrics = canon.reproduce(ctx, dry)
    assert metrics["depo"]["N"] == 32 and metrics["mano"]["L"] == 8 and metrics["copy"]["N"] == 500
    assert set(metrics["depo"]["arms"]) == {"RoPE", "RoPE + Canon", "NoPE", "NoPE + Canon"}
    assert set(metrics["placement"]["arms"]) == {a.name for a in s.placement.arms}
    assert "1L-16H-128D" in metrics["copy"]["arms"]
    names = [row["name"] for row in metrics["targets"]]
    assert any("NoPE near chance" in n for n in names) and any("Mano l=8" in n for n in names)


# --- the linear-attention arms (gpu) -----------------------------------------------------------------------
def test_gpu_profile_adds_the_gla_pair_on_the_depo_setting_only():
    from plmkit.experiments.canon.settings import GLA, GLA_CANON
    from plmkit.model import GatedLinearAttention

    linear = SETTINGS["gpu"].linear
    assert [a.name for a in linear.arms] == ["GLA", "GLA + Canon-ABCD"] and linear.seeds == SETTINGS["gpu"].depo.seeds
    assert all(a.attention == "gla" and a.pos == "nope" for a in linear.arms) and GLA_CANON.canon == "ABCD"
    assert SETTINGS["ci"].linear is None and SETTINGS["cpu"].linear is None
    sizes = dataclasses.replace(SETTINGS["gpu"].depo.sizes, context=16)  # the gpu width and depth, a short context
    plain, with_canon = arms.build_model(GLA, sizes, 40, 3), arms.build_model(GLA_CANON, sizes, 40, 3)
    assert isinstance(plain.blocks[0].attn, GatedLinearAttention) and plain.config.d_model == 256
    canon_state = with_canon.state_dict()
    for name, value in plain.state_dict().items():
        assert torch.equal(value, canon_state[name]), name
    assert all(".canon_" in name for name in set(canon_state) - set(plain.state_dict()))


def test_a_gla_arm_trains_at_ci_size():
    from plmkit.experiments.canon.settings import GLA_CANON, LinearSettings

    ctx = RunContext(profile="ci", device="cpu", threads=1, progress=False)
    result = canon.run_linear(ctx, LinearSettings(arms=(GLA_CANON,), seeds=1), SETTINGS["ci"].depo)
    arm = result["arms"]["GLA + Canon-ABCD"]
    assert result["steps"] == SETTINGS["ci"].depo.optimiser.steps and len(arm["final"][0]) == result["K"]
    assert np.all(np.isfinite(arm["final"])) and np.isfinite(arm["final_loss"][0])
    assert canon.plot_linear(result) is not None
    with pytest.raises(ValueError, match="gpu profile"):
        canon.run_linear(ctx)


# --- the shipped Depo checkpoints (canon-pretrain) -----------------------------------------------------
@pytest.fixture(scope="module")
def pretrain_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("canon-pretrain-ci")
    ctx = RunContext(profile="ci", device="cpu", threads=1, progress=False, run_dir=RunDir(folder / "run"))
    return load_part("canon-pretrain").reproduce(ctx), folder / "run", ctx


def test_canon_pretrain_exports_every_arm_and_seed_and_they_load_to_the_same_numbers(pretrain_run, tmp_path):
    from plmkit.experiments.canon import pretrain

    metrics, run_folder, ctx = pretrain_run
    s = pretrain.PRETRAIN["ci"]
    assert set(metrics["depo"]["arms"]) == {a.name for a in s.arms} and metrics["depo"]["seeds"] == [0, 1]
    shipped_folder = tmp_path / "checkpoints"
    pretrain.ship(run_folder, folder=shipped_folder, profile="ci")
    again = pretrain.evaluate_shipped(ctx, "canon-ci", folder=shipped_folder)
    for name, arm in metrics["depo"]["arms"].items():  # measured at export (fp16) == measured after loading
        assert again["arms"][name]["final"] == arm["final"]
        assert again["arms"][name]["curves"] == arm["curves"]
    manifest = json.loads((shipped_folder / "canon-ci" / "manifest.json").read_text())
    assert manifest["made_by"] == "python -m plmkit reproduce canon-pretrain --profile ci"
    assert len([f for f in manifest["files"] if f.endswith(".pt")]) == len(s.arms) * s.seeds


def test_canon_pretrain_ship_refuses_an_unfinished_run(tmp_path):
    from plmkit.experiments.canon import pretrain

    with pytest.raises(ValueError, match="lacks depo/RoPE/seed0"):
        pretrain.ship(tmp_path, folder=tmp_path / "out", profile="ci")


def test_the_shipped_cpu_depo_models_meet_their_rows():
    """The shipped models, measured now, on the cpu lab's test instances (what lab 07 shows)."""
    from plmkit.experiments.canon import pretrain

    ctx = RunContext(profile="cpu", device="cpu", threads=1, progress=False)
    result = pretrain.evaluate_shipped(ctx, "canon-cpu")
    assert result["seeds"] == [0, 1, 2] and set(result["arms"]) == {"RoPE", "RoPE + Canon", "NoPE", "NoPE + Canon"}
    assert all(row.met for row in canon.shipped_depo_rows(result))
    card = json.loads(pretrain.shipped.paths("canon-cpu", "depo/RoPE-Canon/seed0")[1].read_text())
    assert result["arms"]["RoPE + Canon"]["final"][0] == card["history"]["final_fp16"]  # as measured when exported


def test_shipped_depo_rows_include_the_nope_rescue_when_nope_shipped():
    def arm(values):
        return {"final": [[v, v / 2, 0.1, 0.1] for v in values]}

    result = {"N": 8, "K": 4, "ks": [1, 2, 3, 4], "chance": 0.125, "seeds": [0, 1, 2], "steps": 4000,
              "arms": {"RoPE": arm([0.2, 0.5, 0.2]), "RoPE + Canon": arm([0.9, 0.4, 0.8])}}
    rows = canon.shipped_depo_rows(result)
    assert [r.met for r in rows] == [True, True] and rows[0].measured == 2
    result["arms"] |= {"NoPE": arm([0.1, 0.12, 0.13]), "NoPE + Canon": arm([0.7, 0.3, 0.15])}
    rows = canon.shipped_depo_rows(result)
    assert len(rows) == 4 and rows[2].met and rows[2].measured == 3
    assert not rows[3].met and rows[3].measured == 1  # NoPE + Canon at least RoPE: seed 0 only
