"""Part 1 experiments: plmkit.experiments.cfg (the lab's API) and its pretraining part."""
import dataclasses
import json

import numpy as np
import pytest
import torch
import torch.nn as nn

from plmkit.data import cfg
from plmkit.experiments import cfg as part1
from plmkit.experiments import shipped, targets
from plmkit.experiments.cfg import pretrain
from plmkit.experiments.common import RunContext
from plmkit.model import GPTOutput

torch.set_num_threads(1)
G2, G3 = cfg.Grammar.load("cfg3f-d2"), cfg.Grammar.load("cfg3f-d3")


class OracleModel(nn.Module):
    """Next-token logits = log of the exact DP distribution: KL and excess loss must be ~0."""

    def __init__(self, g):
        super().__init__()
        self.g = g
        self.dummy = nn.Parameter(torch.zeros(1))

    @property
    def device(self):
        return self.dummy.device

    def forward(self, idx):
        logits = torch.full((*idx.shape, self.g.vocab_size), -30.0, dtype=torch.float64)
        for row, seq in enumerate(idx.tolist()):
            x = [t for t in seq[1:] if 0 < t <= self.g.num_terminals]
            probs = torch.from_numpy(cfg.next_token_dist(self.g, x))
            legal = [self.g.bos_id, *range(1, self.g.num_terminals + 1)]
            logits[row, : len(x) + 1, legal] = probs.clamp_min(1e-30).log()
        return GPTOutput(logits)


def tiny_model(g, pos="rope"):
    return part1.make_model(g, "tiny", pos, seed=0)


# ----------------------------------------------------------------------------------------------
def test_model_config_follows_the_kit_block_and_uniform_windows_cover_the_context():
    config = part1.model_config(G3, "small", "uniform")
    assert (config.n_layer, config.d_model, config.context, config.mlp, config.norm) == (4, 128, 64, "swiglu", "rmsnorm")
    assert config.uniform_windows == (1, 4, 16, 64)
    assert part1.spread_windows(1, 32) == (32,)


def test_kl_and_excess_loss_vanish_for_the_exact_distribution_and_agree_for_a_random_model():
    oracle = part1.kl_to_truth(OracleModel(G3), G3, 6)
    assert oracle["kl"] < 1e-4 and abs(oracle["excess_loss"]) < 1e-6
    rough = part1.kl_to_truth(tiny_model(G3), G3, 30)
    assert rough["kl"] > 0.05
    assert abs(rough["kl"] - rough["excess_loss"]) < 4 * (rough["kl_se"] + rough["excess_loss_se"])


def test_generation_from_cut_prompts_is_scored_against_the_prompt():
    prompts = part1.cut_prompts(G3, 5, 6, seed=1)
    assert all(len(p) == 7 and p[0] == G3.bos_id for p in prompts)
    result = part1.generation_accuracy(tiny_model(G3), G3, 12, 6, seed=2, workers=1)
    assert result["n"] == 12 and result["cut"] == 6 and len(result["samples"]) == 12
    assert result["n_valid"] + result["n_rejected"] + result["n_no_stop"] + result["n_special"] == 12
    json.dumps(part1.public(result))  # the public part is JSON-ready


def test_diversity_compares_with_the_grammar_and_measures_self_entropy():
    stats = part1.diversity(tiny_model(G2), G2, 40, floor=0.3)
    assert stats["samples"] == 40 and stats["reference_collision_rate"] > 0  # d2 sentences repeat often
    assert stats["self_entropy"] > 0 or stats["valid"] == 0


def test_local_predictability_is_a_probability_and_grows_with_the_window_near_the_leaves():
    table = part1.local_predictability(G3, windows=(1, 4), n=800)
    low = table[max(table)]
    assert all(0 <= v <= 1 for row in table.values() for v in row.values())
    assert low[4] > low[1]


def test_corrupted_prompts_flip_at_least_one_token_of_a_valid_prefix():
    clean, noisy, flips = part1.corrupted_prompts(G3, 20, 6, seed=3)
    assert (flips >= 1).all()
    for c, b, f in zip(clean, noisy, flips):
        assert c[0] == b[0] == G3.bos_id and (c != b).sum() == f


def test_robustness_reports_both_temperatures_for_each_model():
    result = part1.robustness({"a": tiny_model(G3)}, G3, 6, temperatures=(1.0, 0.2), workers=1)
    assert set(result["models"]["a"]) == {"1.0", "0.2"}
    assert result["models"]["a"]["0.2"]["repair_valid"]["n"] == 6


# ----------------------------------------------------------------------------------------------
def test_probes_read_labels_that_are_linearly_present_and_not_from_noise():
    data = part1.probe_data(G3, 120, seed=4)
    levels = data.levels
    onehots = [np.eye(3)[data.cls(lv)] for lv in levels] + [data.end(lv)[:, None] for lv in levels]
    exact = torch.tensor(np.concatenate(onehots, axis=1), dtype=torch.float32)
    good = part1.probe_scores(exact + 0.01 * torch.randn_like(exact), data, 80, G3)
    noise = part1.probe_scores(torch.randn(len(exact), 8), data, 80, G3)
    for lv in levels:
        assert good[lv]["ancestor"] > 0.98 and good[lv]["boundary"] > 0.97
        assert good[lv]["ancestor_at_end"] > 0.97
        assert noise[lv]["boundary"] < 0.62 and noise[lv]["ancestor"] < good[lv]["ancestor_majority"] + 0.1


def _probe_report(scores):
    """A probe report from {level: (trained, random, local)} for both targets, boundary-placed ancestors."""
    def row(value):
        return {"ancestor": value, "ancestor_majority": 0.3, "ancestor_at_end": value + 0.05,
                "ancestor_not_end": value - 0.01, "boundary": value, "boundary_rate": 0.1}
    return {"levels": list(scores), **{name: {str(lv): row(v[i]) for lv, v in scores.items()}
                                       for i, name in enumerate(("trained", "random_init", "local"))}}


def test_probe_prose_follows_the_numbers_level_by_level():
    # the deep-level case of a weak checkpoint: trained 0.515, local 0.511, random-init 0.477
    report = _probe_report({3: (0.515, 0.477, 0.511), 4: (0.60, 0.50, 0.58), 5: (0.80, 0.55, 0.60)})
    text = part1.describe_probes(report, 6, part1.PROBE_MARGIN).splitlines()
    level3 = next(line for line in text if line.startswith("level 3 (h=3), NT ancestor"))
    assert "0.515" in level3 and "0.511" in level3 and "not a clear result" in level3
    level4 = next(line for line in text if line.startswith("level 4 (h=2), NT ancestor"))
    assert "+0.020 over the local baseline" in level4
    assert "clearly above both controls" in next(line for line in text if line.startswith("level 5 (h=1), NT ancestor"))
    assert text[-1] == "Levels where both probes clearly beat both controls: 5. Levels where at least one probe does not: 3, 4."
    beaten = part1.describe_probes(_probe_report({3: (0.50, 0.49, 0.52)}), 6, 0.05)
    assert "the local baseline matches or beats the trained model (-0.020)" in beaten
    assert "cannot match" not in "\n".join(text)
    rows = part1.check_targets({**_minimal_metrics(report)}, "cpu")
    level3_row = next(r for r in rows if r.name.startswith("probe level 3 (h=3), NT ancestor: trained minus"))
    assert level3_row.met is False and level3_row.measured == pytest.approx(0.004)


def _minimal_metrics(probes):
    run = {"accuracy": 0.5, "ci95": [0.4, 0.6]}
    kl = {"kl": 0.01, "kl_se": 0.001, "excess_loss": 0.011, "excess_loss_se": 0.002}
    layer = {"contrast_diag": [0.1], "contrast_diag_ci": [[0.05], [0.2]], "adjacent_diag": [0.1],
             "adjacent_diag_ci": [[0.05], [0.2]]}
    temps = {"0.2": {"clean": run, "repair_valid": run}}
    return {
        "from_scratch": {"grammar": "cfg3f-d3", "references": {"best_ngram": 0.9, "best_ngram_context": 6, "floor": 0.654},
                         "kl": kl, "diversity": {"collision_rate": 0.0, "reference_ci": [0.0, 0.01]},
                         "cut0": run, "train": {"final_loss_last_50": 0.7, "tokens": 1e6}},
        "shipped": {"name": "x", "depth": 6, "train_tokens": 2e7, "cut0": run, "kl": kl, "probes": probes,
                    "attention": {"per_layer": {"layer1": layer}}, "attention_control": {"per_layer": {"layer1": layer}}},
        "positions": {}, "robustness": {"models": {part1.CLEAN: temps, part1.NOISY: temps}},
    }


def test_local_features_code_the_last_tokens_and_the_position():
    data = part1.probe_data(G3, 3, seed=5)
    feats = part1.local_features(G3, data, window=2)
    vocab = G3.vocab_size
    first = data.sentences[0]
    assert feats[0, first[0]] == 1 and feats[0, vocab + G3.bos_id] == 1  # token 0, then <bos> before it
    assert feats[1, first[1]] == 1 and feats[1, vocab + first[0]] == 1
    assert feats[0, 2 * vocab + 1] == 1  # position 1


def test_excess_attention_leaves_keys_after_the_query_at_zero():
    A = torch.rand(2, 3, 6, 6).tril()
    E, baseline = part1.excess_attention(A.numpy(), [5, 5])
    assert np.allclose(E[0, 1, 1:, 1:][np.triu_indices(5, 1)], 0)
    assert baseline.shape == (3, 6)


def test_boundary_statistics_detect_attention_to_boundaries_and_ignore_pure_distance():
    sentences, labels = cfg.sample(G3, 40, 6, labels=True)
    levels = part1.probe_levels(G3)
    T = max(len(s) for s in sentences) + 1
    lowest = levels[-1]
    distance_only = np.zeros((40, 1, 1, T, T))
    boundary_seeking = np.zeros((40, 1, 1, T, T))
    for s, lab in enumerate(labels):
        n = len(sentences[s])
        ends = np.zeros(T)
        ends[1:n + 1] = lab.end[lab.row(lowest)]
        for i in range(T):
            distance_only[s, 0, 0, i, : i + 1] = 0.5 ** np.arange(i + 1, 0, -1)  # a function of i - j only
            v = 1 + 4 * ends[: i + 1]
            boundary_seeking[s, 0, 0, i, : i + 1] = v / v.sum()
    flat = part1.boundary_statistics(distance_only, labels, levels)
    seeking = part1.boundary_statistics(boundary_seeking, labels, levels)
    assert np.nanmax(np.abs(flat.contrast)) < 1e-6
    assert (seeking.contrast[0, 0, :, -1] > 0.01).all()  # every query level prefers keys that end the lowest level
    intervals = part1.bootstrap(seeking, resamples=20)
    assert (intervals["contrast"][0, 0, :, -1] > 0).all()


# ----------------------------------------------------------------------------------------------
def test_exported_checkpoints_are_fp16_and_reload_as_the_rounded_model(tmp_path):
    model = tiny_model(G3)
    pretrain.export(model, "d3/tiny/x", {"name": "x"}, tmp_path, made_by="test")
    state = torch.load(tmp_path / "cfg" / "d3" / "tiny" / "x.pt", weights_only=False)
    assert all(v.dtype == torch.float16 for v in state["model"].values() if v.is_floating_point())
    reloaded, sidecar = shipped.load("cfg", "d3/tiny/x", folder=tmp_path)
    assert sidecar == {"name": "x"} and shipped.read_manifest("cfg", tmp_path)["made_by"] == "test"
    inputs = torch.tensor([[G3.bos_id, 1, 2, 3]])
    expected = pretrain.fp16_roundtrip(model)(inputs).logits
    assert torch.allclose(reloaded(inputs).logits, expected, atol=1e-5)


@pytest.mark.parametrize("arm", ["rope", "rope-noisy"])
def test_shipped_checkpoints_load_and_carry_an_honest_sidecar(arm):
    model, card = part1.load_shipped(RunContext(profile="ci"), arm)
    assert model.config.n_layer == 4 and model.config.d_model == 64 and model.config.pos == "rope"
    for key in ("label", "how", "grammar", "model_config", "data", "train", "eval", "environment"):
        assert key in card
    assert "cfg-pretrain" in card["how"] and card["train"]["tokens"] > 1e7
    assert 0 <= card["eval"]["cut0"]["accuracy"] <= 1 and card["eval"]["kl"]["kl"] > 0
    assert (card["data"]["corrupt"] is not None) == (arm == "rope-noisy")


def test_unknown_shipped_checkpoint_lists_the_available_ones():
    with pytest.raises(ValueError, match="cfg3f-d4/mini/rope"):
        shipped.load("cfg", "cfg3f-d9/huge/rope")


def test_cfg_pretrain_ci_exports_into_the_run_folder_and_resumes(tmp_path):
    from plmkit.cli import main

    out = tmp_path / "run"
    args = ["reproduce", "cfg-pretrain", "--profile", "ci", "--out", str(out), "--no-progress", "--threads", "1"]
    assert main(args) == 0
    export = out / "export"
    card = json.loads((export / "cfg" / "cfg3f-d3" / "tiny" / "rope-noisy.json").read_text())
    assert card["train"]["steps"] == 12 and card["data"]["corrupt"] == {"p": 0.3, "gamma": 0.15, "kind": "flip"}
    model, _ = shipped.load("cfg", "cfg3f-d3/tiny/rope-noisy", folder=export)  # checksums in the export's manifest
    assert model.config.n_layer == 2 and (out / "manifest.json").exists()
    metrics = json.loads((out / "metrics.json").read_text())
    assert [t["name"] for t in metrics["targets"]] == ["cfg-pretrain targets"]
    assert main(args[:-2] + ["--resume", "--threads", "1"]) == 0  # a finished run resumes without training again
    again = json.loads((export / "cfg" / "cfg3f-d3" / "tiny" / "rope-noisy.json").read_text())
    assert again["train"]["tokens"] == card["train"]["tokens"]


def test_pretrain_arms_can_be_restricted_by_environment(monkeypatch):
    ctx = RunContext(profile="ci")
    monkeypatch.setenv("PLMKIT_CFG_ARMS", "rope")
    assert pretrain.settings(ctx).arms == ("rope",)
    monkeypatch.setenv("PLMKIT_CFG_ARMS", "rope,bogus")
    with pytest.raises(ValueError, match="bogus"):
        pretrain.settings(ctx)


def test_pretrain_targets_judge_each_arm_outside_ci():
    card = {"train": {"final_loss_mean_last_100_steps": 0.78, "tokens": 22_528_000}, "eval": {"cut0": {"accuracy": 0.17}}}
    metrics = {"references": {"best_ngram": 0.858}, "arms": {"rope": card}}
    rows = pretrain.check_targets(metrics, "cpu")
    assert [t.met for t in rows] == [True, False]
    assert pretrain.check_targets(metrics, "ci")[0].met is None


def test_settings_are_frozen_and_come_from_the_context():
    s = part1.settings(RunContext(profile="cpu"))
    assert s is part1.SETTINGS["cpu"] and s.model == "mini" and s.probe == (500, 200)
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.steps = 1
    assert "steps=1500" in s.describe()


def test_reference_numbers_carry_citations():
    ref = part1.reference()
    assert ref["accuracy_cfg3f"]["Llama(RoPE)"]["8L512D"] == 91.1
    assert ref["kl_cfg3f"]["Llama(RoPE)"]["8L512D"] == 0.00095
    assert all("citation" in v for k, v in ref.items() if isinstance(v, dict) and k not in ("papers", "claims"))


def test_every_reference_file_names_the_figure_of_each_approximate_value():
    from plmkit.paths import data_path
    from plmkit.results import approximate_values, load_reference

    names = sorted(p.stem for p in data_path("reference").glob("*.json"))
    assert {"cfg", "knowledge", "manipulation", "canon", "capacity", "igsm"} <= set(names)
    marked = {name: approximate_values(load_reference(name)) for name in names}
    assert marked["cfg"] == []  # Part 4.1 prints every cfg number in its figures' cells
    assert all(figure.startswith("Fig.") for values in marked.values() for _, figure in values)
    knowledge = load_reference("knowledge")["qa_by_augmentation"]["values"]
    # printed in the text: single (both), the pretrain/fine-tune values of permute1/permute5/multi5/multi5+permute
    approx = {path for path, _ in marked["knowledge"]}
    assert not any(path.startswith("qa_by_augmentation.values.single.") or path == "qa_by_augmentation.values.single"
                   for path in approx)
    assert "qa_by_augmentation.values.single+permute1.mixed" in approx
    assert "qa_by_augmentation.values.multi2" in approx and knowledge["multi2"]["figure"] == "Fig. 3"
    assert ("single_birth_date", "Fig. 3") in marked["knowledge"] and ("inverse_search", "Fig. 6") in marked["manipulation"]


def test_a_malformed_approximate_mark_is_refused():
    from plmkit.results import _approximate_problems

    assert list(_approximate_problems({"a": {"approximate": True, "v": 1}}, "x"))  # no figure
    assert list(_approximate_problems({"a": {"approximate": ["w"], "figure": "Fig. 2", "v": 1}}, "x"))  # no key w
    assert list(_approximate_problems({"a": {"fig": True, "v": 1}}, "x"))  # the old mark alone
    assert not list(_approximate_problems({"a": {"approximate": ["v"], "figure": "Fig. 2", "v": 1}}, "x"))


def test_approximate_reference_values_are_labelled_in_figures():
    import matplotlib

    matplotlib.use("Agg")
    from plmkit.plots import approximate_note, ours_vs_paper, reference_label
    from plmkit.results import approximate_figure, load_reference

    values = load_reference("knowledge")["qa_by_augmentation"]["values"]
    assert reference_label(values["single"]["mixed"], values["single"], "mixed", unit="%") == "86.6%"
    assert reference_label(values["multi2"]["mixed"], values["multi2"], "mixed", unit="%") == "≈ 89.2% (read off Fig. 3)"
    assert reference_label(4.4, values["single+permute1"], "pretrain_finetune") == "4.4"
    assert approximate_note(values["single+permute1"], "mixed") == " (≈, read off Fig. 3)"
    rows = ["single", "multi2"]
    fig = ours_vs_paper(rows, [10.0, 20.0], [values[r]["pretrain_finetune"] for r in rows], "acc", "cite",
                        paper_approx=[approximate_figure(values[r], "pretrain_finetune") for r in rows])
    ax = fig.axes[0]
    texts = [t.get_text() for t in ax.texts]
    assert "9.7" in texts and "≈ 41.1\n(read off Fig. 3)" in texts
    paper_bars = ax.patches[2:4]
    assert paper_bars[0].get_hatch() in (None, "") and paper_bars[1].get_hatch() == "//"
    assert "paper, ≈ read off a figure" in [t.get_text() for t in ax.get_legend().get_texts()]


def test_training_uses_the_part_4_1_recipe_from_the_context(monkeypatch):
    ctx = RunContext(profile="ci", seed=3, progress=False)
    seen = {}
    monkeypatch.setattr(part1.training, "train", lambda model, stream, config, callbacks=(): seen.update(
        config=config, stream=stream))
    part1.train_model(ctx, G3, tiny_model(G3), 7, 2e-3, 4, "x")
    c = seen["config"]
    assert (c.steps, c.lr, c.seed, c.schedule, c.warmup_steps, c.weight_decay, c.betas, c.eps, c.grad_clip) == \
        (7, 2e-3, 3, "linear", 0, 0.1, (0.9, 0.98), 1e-6, 1.0)
    assert c.checkpoint_dir is None and c.checkpoint_every == 0 and c.desc == "x"
    assert seen["stream"].seed == part1.training.TRAIN_SEED + 3


def test_padded_inputs_put_every_sentence_at_position_one():
    rows = part1.padded_inputs(G3, [np.array([1, 2]), np.array([3, 1, 2])])
    assert rows.tolist() == [[G3.bos_id, 1, 2, 0], [G3.bos_id, 3, 1, 2]]


def test_complete_groups_prompts_by_length_and_cuts_at_the_stop():
    model = tiny_model(G3)
    prompts = [np.array([G3.bos_id, 1, 2]), np.array([G3.bos_id]), np.array([G3.bos_id, 3, 1, 1])]
    out = part1.complete(model, G3, prompts, seed=5)
    again = part1.complete(model, G3, prompts, seed=5)
    assert all(np.array_equal(a, b) for a, b in zip(out, again))
    for row in out:
        stops = np.flatnonzero(row == G3.bos_id)
        assert len(stops) == 0 or stops[0] == len(row) - 1
    # the same generator draws as one hand-made loop over the lengths in increasing order
    generator = torch.Generator().manual_seed(5)
    first = model.generate(torch.tensor([[G3.bos_id]]), int(G3.maxlen[G3.root]) + 1, stop_token=G3.bos_id,
                           generator=generator)[0, 1:].numpy()
    stops = np.flatnonzero(first == G3.bos_id)
    assert np.array_equal(out[1], first[: stops[0] + 1] if len(stops) else first)


def test_reproduce_runs_every_experiment_saves_every_figure_and_checks_targets(tmp_path, monkeypatch):
    from plmkit.results import RunDir

    small = dataclasses.replace(part1.SETTINGS["ci"], steps=4, cut0=4, cutk=4, kl=3, diversity=6, floor=8,
                                ngram_sentences=300, probe=(12, 6), attention=6, pos_steps=2, robust=3)
    monkeypatch.setitem(part1.SETTINGS, "ci", small)
    figures = set()
    monkeypatch.setattr(RunDir, "save_figure", lambda self, fig, name: figures.add(name))  # drawing, not PNG encoding
    ctx = RunContext(profile="ci", run_dir=RunDir(tmp_path / "run"), progress=False)
    metrics = part1.reproduce(ctx)
    json.dumps(metrics)
    assert figures == {"loss", "accuracy", "kl", "kl_by_position", "probes", "attention", "positions", "robustness"}
    assert set(metrics["positions"]) == {"rope", "nope"}
    assert metrics["shipped"]["probes"]["levels"] == [3, 4, 5]
    assert set(metrics["robustness"]["models"]) == {part1.CLEAN, part1.NOISY}
    assert [t["met"] for t in metrics["targets"]] == [None]  # ci only shows that the code runs
    judged = part1.check_targets(json.loads(json.dumps(metrics)), "cpu")  # the same rows from metrics.json
    measured = [t for t in judged if not t.note.startswith("not measured")]
    assert len(measured) >= 20 and all(t.measured is not None and t.met is not None for t in measured)
    assert len(judged) - len(measured) == 2  # the encoder and the depth ladder, said so
    names = " | ".join(t.name for t in judged)
    for level in (3, 4, 5):  # every probed level has its own rows, ancestor and boundary, each against its controls
        assert f"probe level {level} (h={6 - level}), NT ancestor: trained minus" in names
        assert f"probe level {level} (h={6 - level}), NT boundary (balanced)" in names
        assert f"probe level {level} (h={6 - level}), NT ancestor: at boundaries" in names
    for fragment in ("cut0 accuracy", "KL(true || model)", "|excess loss - KL|", "collision rate", "attention B - N",
                     "position encodings", "repair-valid gain", "control: the noisy model", "entropy floor"):
        assert fragment in names, fragment
    print(targets.format_table(judged))
