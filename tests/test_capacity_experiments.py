"""Part 3.3's experiments (plmkit.experiments.capacity): settings, training by exposures, the law's numbers,
quantisation, gated vs GELU, junk batches, the targets table, and a dry run of the gpu profile on CPU."""
import dataclasses
import math

import numpy as np
import pytest
import torch

from plmkit.data import capacity as data
from plmkit.experiments import PARTS, capacity, shipped
from plmkit.experiments.capacity import junk as junk_module
from plmkit.experiments.capacity import pretrain
from plmkit.experiments.common import RunContext


@pytest.fixture(scope="module")
def ci():
    return RunContext(profile="ci", progress=False, threads=1)


@pytest.fixture(scope="module")
def ci_law(ci):
    return capacity.run_law(ci)


def counted(world, shape, mlp="gelu"):
    model = capacity.make_model(world.vocab_size, shape, mlp)
    return data.counted_parameters(model, world.used_token_ids())


# ---- settings ------------------------------------------------------------------------------------
def test_every_profile_has_frozen_settings_and_the_part_is_registered():
    assert set(capacity.SETTINGS) == {"ci", "cpu", "gpu"}
    with pytest.raises(dataclasses.FrozenInstanceError):
        capacity.SETTINGS["cpu"].law.exposures = 1
    assert PARTS["capacity"][0] == "plmkit.experiments.capacity"
    assert PARTS["capacity-pretrain"][0] == "plmkit.experiments.capacity.pretrain"


def test_cpu_sweep_has_an_under_filled_and_an_over_filled_point():
    law = capacity.SETTINGS["cpu"].law
    assert law.exposures == 300 and law.data == "bioD-tiny"
    r_max = []
    for n in law.people:
        world = capacity.make_world(law.data, n)
        r_max.append(world.max_bits().total / counted(world, law.model))
    assert r_max[0] < 0.9 and r_max[-1] >= 2.5  # the over-filled point must over-fill [P3.3 §5]
    grow = capacity.make_world(law.data, law.people[-1]).max_bits().total / capacity.make_world(law.data, law.people[-2]).max_bits().total
    assert grow >= 2.8


def test_gated_and_gelu_models_have_equal_parameters():
    s = capacity.SETTINGS["cpu"].mlp
    world = capacity.make_world(s.data, s.people)
    assert counted(world, s.model, "gelu") == counted(world, s.model, "swiglu")


def test_unknown_dataset_names_the_valid_ones():
    with pytest.raises(ValueError, match="bioD-tiny"):
        capacity.make_world("bioX", 10)


# ---- training and the law --------------------------------------------------------------------------
def test_runs_are_counted_in_exposures_and_deterministic(ci):
    world = capacity.make_world("bioD-ci", 30)
    shape, recipe = capacity.SETTINGS["ci"].law.model, capacity.SETTINGS["ci"].law.recipe
    a = capacity.train_world(ci, "a", world, shape, 3, recipe)
    b = capacity.train_world(ci, "b", world, shape, 3, recipe)
    windows = math.ceil(30 / (shape.context // (world.data.config.line_length + 1)))
    assert a.steps == math.ceil(3 * windows / recipe.batch) == b.steps
    assert a.history.loss == b.history.loss  # same seed, same data, same numbers


def test_law_metrics_and_quantisation_on_the_ci_sweep(ci_law):
    law = capacity.law_metrics(ci_law)
    assert [p["people"] for p in law["points"]] == list(capacity.SETTINGS["ci"].law.people)
    for p in law["points"]:
        assert p["learned_bits"] <= 1.05 * p["data_bits"]
        assert math.isclose(p["R_max"] * p["parameters"], p["data_bits"], rel_tol=1e-9)
    assert law["data_growth"] > 2
    quant = capacity.quantize_points(ci_law)
    for q in quant.values():
        rows = q["by_precision"]
        assert set(rows) == {"float32", "int8", "int4"}
        assert abs(rows["int8"]["R"] - rows["float32"]["R"]) < 0.05 * q["R_max"]
    assert capacity.fill_label({"R_max": 0.5}, 1.0) == "under-filled"
    assert capacity.fill_label({"R_max": 1.1}, 1.0) == "near capacity"
    assert capacity.fill_label({"R_max": 3.0}, 1.0) == "over-filled"


def test_a_perfect_measurement_fills_r_max(ci_law):
    point = ci_law[0]
    cfg = point.world.data.config
    rows, positions = data.measurement_lines(point.world.data)

    def perfect(inputs):  # probability 1 on every next token (the rows fit one batch)
        logits = torch.full((*inputs.shape, cfg.vocab_size), -1e4)
        return logits.scatter_(2, torch.as_tensor(rows[:, 1:])[:, :, None], 0.0)

    m = data.measure_biod(perfect, point.world.data, parameters=1000)
    assert m.learned.value == pytest.approx(data.biod_max_bits(cfg).value)
    assert m.learned.diversity == pytest.approx(data.biod_max_bits(cfg).diversity)


# ---- gated vs GELU ----------------------------------------------------------------------------------
def test_mlp_arms_take_the_same_steps_and_report_a_ratio(ci):
    mlp = capacity.run_mlp(ci)
    steps = {a["train"]["steps"] for a in mlp["arms"].values()}
    assert len(steps) == 1 and mlp["best_gelu"] in mlp["arms"] and mlp["best_gated"] in mlp["arms"]
    assert {a["mlp"] for a in mlp["arms"].values()} == {"gelu", "swiglu"}
    assert capacity.mlp.ratio(1.0, 0.0) is None and capacity.mlp.ratio(1.0, 2.0) == 0.5


# ---- junk ----------------------------------------------------------------------------------------------
def test_junk_people_never_share_a_useful_name():
    world = capacity.make_world("bioD-ci", 200)
    junk = capacity.draw_junk_people(world.data, 5000, np.random.default_rng(0))
    pools = world.data.config.name_pools
    useful = set(junk_module.name_codes(world.data.names, pools).tolist())
    assert not useful & set(junk_module.name_codes(junk.names, pools).tolist())
    assert junk.pools is world.data.pools and junk.config.N == 5000


def test_junk_batches_mix_useful_and_junk_windows_deterministically():
    world = capacity.make_world("bioD-ci", 30)
    s = capacity.SETTINGS["ci"].junk
    stream = junk_module.arm_stream(world, s, "random+tag", seed=0)
    batch = stream.batch(0)
    useful_rows = junk_module.useful_rows(s)
    assert batch.inputs.shape == (s.recipe.batch, s.model.context)
    tag = data.biod.TAG_ID
    assert (batch.inputs[:useful_rows] == tag).any() and not (batch.inputs[useful_rows:] == tag).any()
    again = junk_module.arm_stream(world, s, "random+tag", seed=0).batch(0)
    assert torch.equal(batch.inputs, again.inputs)
    assert not torch.equal(stream.batch(1).inputs[useful_rows:], batch.inputs[useful_rows:])  # fresh junk each step
    none = junk_module.arm_stream(world, s, "none", seed=0)
    assert none.steps_for(s.exposures) == stream.steps_for(s.exposures)
    assert torch.equal(none.batch(0).inputs[:useful_rows], junk_module.arm_stream(world, s, "random", seed=0).batch(0).inputs[:useful_rows])


def test_repetitive_junk_repeats_a_small_set_of_people():
    world = capacity.make_world("bioD-ci", 30)
    windows = capacity.JunkWindows(world.data, "repetitive", context=64, seed=3, pool_people=4)
    tokens = np.concatenate([windows.windows(step, 4)[0] for step in range(5)])
    names = {tuple(row[i + 1:i + 3]) for row in tokens for i in np.nonzero(row == data.EOS_ID)[0] if row[i + 1] != 0}
    assert 1 < len(names) <= 4
    with pytest.raises(ValueError, match="random, repetitive"):
        capacity.JunkWindows(world.data, "noisy", context=64, seed=0)


def test_junk_summary_handles_a_run_that_stores_nothing():
    arms = {"none": {"R": 0.8}, "random": {"R": -0.1}, "random+tag": {"R": 0.5}, "repetitive": {"R": 0.8}}
    out = junk_module.junk_summary(arms)
    assert out["random_cut"] is None and out["random_leaves_nothing"]
    assert out["tag_recovery"] == pytest.approx(0.6 / 0.9)
    rows = capacity.check_targets({"law": FAKE_LAW, "quantization": FAKE_QUANT, "junk": {"arms": arms, **out}}, "gpu")
    by_name = {r.name: r for r in rows}
    assert by_name["random junk cuts useful R at least 3x"].met is True
    assert by_name["the tag wins back this share of the loss"].met is True


# ---- targets --------------------------------------------------------------------------------------------
FAKE_LAW = {"points": [], "under_filled": {"people": 500, "R": 0.9, "R_max": 1.1, "stored_fraction": 0.82},
            "over_filled": {"people": 1500, "R": 1.05, "R_max": 3.1, "stored_fraction": 0.34},
            "growth_from": 500, "learned_growth": 1.2, "data_growth": 2.85, "exposures": 300}
FAKE_QUANT = {"1500": {"R_max": 3.1, "by_precision": {"float32": {"R": 1.05}, "int8": {"R": 1.05, "relative_change": 0.001},
                                                      "int4": {"R": 0.3, "relative_change": -0.7}}}}


def test_cpu_targets_are_met_by_good_numbers_and_missed_by_bad_ones():
    good = capacity.check_targets({"law": FAKE_LAW, "quantization": FAKE_QUANT,
                                   "long": {"R": 1.3}}, "cpu")
    assert len(good) == 7 and all(r.met for r in good)
    bad_law = {**FAKE_LAW, "learned_growth": 2.0, "over_filled": {**FAKE_LAW["over_filled"], "R": 1.4},
               "under_filled": {**FAKE_LAW["under_filled"], "stored_fraction": 0.5}}
    bad_quant = {"1500": {"R_max": 3.1, "by_precision": {"float32": {"R": 1.0}, "int8": {"R": 0.9, "relative_change": -0.1},
                                                         "int4": {"R": 0.9, "relative_change": -0.1}}}}
    bad = capacity.check_targets({"law": bad_law, "quantization": bad_quant, "long": {"R": 1.0}}, "cpu")
    missed = {r.name for r in bad if r.met is False}
    assert len(missed) == 6 and not any("data bits grow" in name for name in missed)


def test_ci_targets_only_check_sanity(ci_law):
    law = capacity.law_metrics(ci_law)
    rows = capacity.check_targets({"law": law, "quantization": capacity.quantize_points(ci_law)}, "ci")
    assert rows and all(r.met for r in rows)


def test_gpu_targets_cover_the_long_run_the_mlp_and_junk():
    mlp = {"gated_over_gelu": 0.8}
    rows = capacity.check_targets({"law": FAKE_LAW, "quantization": FAKE_QUANT, "long": {"R": 1.5}, "mlp": mlp,
                                   "junk": {"random_cut": 4.0, "tag_recovery": 0.4}}, "gpu")
    by_name = {r.name: r.met for r in rows}
    assert by_name["R after 1,000 exposures"] is True
    assert by_name["gated / GELU R at 100 exposures (best rate of each)"] is True
    assert by_name["the tag wins back this share of the loss"] is False


# ---- the shipped long run ------------------------------------------------------------------------------
def test_the_shipped_long_run_loads_and_matches_its_sidecar():
    s = capacity.SETTINGS["cpu"].long
    model, world, card = capacity.load_long(s)
    assert world.n_people == s.people and card["exposures"] == s.exposures
    assert model.config.to_dict() == card["model_config"]
    m = world.measure(model)
    assert m["R"] == pytest.approx(card["measurement"]["R"], rel=1e-4)


def test_capacity_pretrain_ci_trains_and_exports(tmp_path):
    from plmkit.results import RunDir

    ctx = RunContext(profile="ci", progress=False, threads=1, run_dir=RunDir(tmp_path / "run"))
    metrics = pretrain.reproduce(ctx)
    assert metrics["targets"][0]["met"] is True
    name = capacity.long_name(pretrain.pretrain_settings(ctx))
    model, card = shipped.load("capacity-ci", name, folder=tmp_path / "run" / "export")
    assert card["data"]["people"] == 60 and card["exposures"] == 20


# ---- the gpu profile, dry-run on CPU --------------------------------------------------------------------
@pytest.fixture(scope="module")
def gpu():
    return RunContext(profile="gpu", device="cpu", progress=False, threads=1)


def test_gpu_law_on_online_bios_takes_a_step_and_over_fills_at_the_largest_n(gpu):
    s = capacity.SETTINGS["gpu"].law
    point = capacity.run_point(gpu, s.people[0], steps=1, sample=32)
    assert point.world.kind == "bioS" and point.run.steps == 1 and point.measurement["people_measured"] == 32
    assert point.run.model.config.context == 512 and 0.6 < point.measurement["R_max"] < 0.9
    largest = capacity.make_world("bioS", s.people[-1])
    assert largest.max_bits().total / counted(largest, s.model) > 2.5
