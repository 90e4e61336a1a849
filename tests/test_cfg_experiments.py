"""Part 1 experiments (plmkit.experiments.cfg, cfg_analysis, cfg_pretrain) and the lab 01 checkers."""
import json

import numpy as np
import pytest
import torch
import torch.nn as nn

from plmkit import checks
from plmkit.data import cfg
from plmkit.experiments import cfg as part1
from plmkit.experiments import cfg_analysis as inside
from plmkit.experiments.common import RunContext
from plmkit.model import GPTOutput
from plmkit.train import load_model

torch.set_num_threads(1)
G2, G3 = cfg.Grammar.load("cfg3f-d2"), cfg.Grammar.load("cfg3f-d3")


class OracleModel(nn.Module):
    """Next-token logits = log of the exact DP distribution: KL and excess loss must be ~0."""

    def __init__(self, g):
        super().__init__()
        self.g = g
        self.dummy = nn.Parameter(torch.zeros(1))

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
    data = inside.probe_data(G3, 120, seed=4)
    levels = data.levels
    onehots = [np.eye(3)[data.cls(lv)] for lv in levels] + [data.end(lv)[:, None] for lv in levels]
    exact = torch.tensor(np.concatenate(onehots, axis=1), dtype=torch.float32)
    good = inside.probe_scores(exact + 0.01 * torch.randn_like(exact), data, 80, G3)
    noise = inside.probe_scores(torch.randn(len(exact), 8), data, 80, G3)
    for lv in levels:
        assert good[lv]["ancestor"] > 0.98 and good[lv]["boundary"] > 0.97
        assert good[lv]["ancestor_at_end"] > 0.97
        assert noise[lv]["boundary"] < 0.62 and noise[lv]["ancestor"] < good[lv]["ancestor_majority"] + 0.1


def test_local_features_code_the_last_tokens_and_the_position():
    data = inside.probe_data(G3, 3, seed=5)
    feats = inside.local_features(G3, data, window=2)
    vocab = G3.vocab_size
    first = data.sentences[0]
    assert feats[0, first[0]] == 1 and feats[0, vocab + G3.bos_id] == 1  # token 0, then <bos> before it
    assert feats[1, first[1]] == 1 and feats[1, vocab + first[0]] == 1
    assert feats[0, 2 * vocab + 1] == 1  # position 1


def test_excess_attention_removes_distance_and_matches_the_exercise_reference():
    A = torch.rand(2, 3, 6, 6).tril()
    E, baseline = inside.excess_attention(A.numpy(), [5, 5])
    assert np.allclose(E[0, 1, 1:, 1:][np.triu_indices(5, 1)], 0)
    # with <bos> excluded, token rows/cols 1..5 of each head match the single-matrix reference averaged over sentences
    one = torch.rand(1, 1, 6, 6).tril()
    E1, _ = inside.excess_attention(one.numpy(), [5])
    reference = checks.cfg._reference_excess(one[0, 0, 1:, 1:])
    assert np.allclose(E1[0, 0, 1:, 1:], reference.numpy(), atol=1e-6)


def test_boundary_statistics_detect_attention_to_boundaries_and_ignore_pure_distance():
    sentences, labels = cfg.sample(G3, 40, 6, labels=True)
    levels = inside.probe_levels(G3)
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
    flat = inside.boundary_statistics(distance_only, labels, levels)
    seeking = inside.boundary_statistics(boundary_seeking, labels, levels)
    assert np.nanmax(np.abs(flat.contrast)) < 1e-6
    assert (seeking.contrast[0, 0, :, -1] > 0.01).all()  # every query level prefers keys that end the lowest level
    intervals = inside.bootstrap(seeking, resamples=20)
    assert (intervals["contrast"][0, 0, :, -1] > 0).all()


# ----------------------------------------------------------------------------------------------
def test_exported_checkpoints_are_fp16_and_reload_as_the_same_model(tmp_path):
    model = tiny_model(G3)
    part1.export_checkpoint(model, tmp_path / "x", {"name": "x"})
    state = torch.load(tmp_path / "x" / "model.pt", weights_only=False)
    assert all(v.dtype == torch.float16 for v in state["model"].values() if v.is_floating_point())
    reloaded = load_model(tmp_path / "x" / "model.pt").float()
    inputs = torch.tensor([[G3.bos_id, 1, 2, 3]])
    expected = part1.fp16_roundtrip(model)(inputs).logits
    assert torch.allclose(reloaded(inputs).logits, expected, atol=1e-5)


@pytest.mark.parametrize("arm", ["rope", "rope-noisy"])
def test_shipped_checkpoints_load_and_carry_an_honest_sidecar(arm):
    model, card = part1.load_shipped(f"cfg3f-d4/small/{arm}")
    assert model.config.n_layer == 4 and model.config.d_model == 128 and model.config.pos == "rope"
    for key in ("label", "how", "grammar", "model_config", "data", "train", "eval", "environment"):
        assert key in card
    assert "cfg-pretrain" in card["how"] and card["train"]["tokens"] > 1e7
    assert 0 <= card["eval"]["cut0"]["accuracy"] <= 1 and card["eval"]["kl"]["kl"] > 0
    assert (card["data"]["corrupt"] is not None) == (arm == "rope-noisy")


def test_unknown_shipped_checkpoint_lists_the_available_ones():
    with pytest.raises(ValueError, match="cfg3f-d4/small/rope"):
        part1.load_shipped("cfg3f-d9/huge/rope")


def test_cfg_pretrain_ci_writes_checkpoint_and_sidecar_and_resumes(tmp_path):
    from plmkit.cli import main

    out = tmp_path / "run"
    args = ["reproduce", "cfg-pretrain", "--profile", "ci", "--out", str(out), "--no-progress", "--threads", "1"]
    assert main(args) == 0
    folder = out / "export" / "cfg3f-d3" / "tiny" / "rope-noisy"
    card = json.loads((folder / "model.json").read_text())
    assert card["train"]["steps"] == 12 and card["data"]["corrupt"] == {"p": 0.3, "gamma": 0.15, "kind": "flip"}
    assert (out / "manifest.json").exists() and (folder / "model.pt").exists()
    assert main(args[:-2] + ["--resume", "--threads", "1"]) == 0  # a finished run resumes without training again
    again = json.loads((folder / "model.json").read_text())
    assert again["train"]["tokens"] == card["train"]["tokens"]


def test_pretrain_arms_can_be_restricted_by_environment(monkeypatch):
    from plmkit.experiments import cfg_pretrain

    monkeypatch.setenv("PLMKIT_CFG_ARMS", "rope")
    assert cfg_pretrain.settings("ci")["arms"] == ("rope",)
    monkeypatch.setenv("PLMKIT_CFG_ARMS", "rope,bogus")
    with pytest.raises(ValueError, match="bogus"):
        cfg_pretrain.settings("ci")


def test_reference_numbers_carry_citations():
    ref = part1.reference()
    assert ref["accuracy_cfg3f"]["Llama(RoPE)"]["8L512D"] == 91.1
    assert ref["kl_cfg3f"]["Llama(RoPE)"]["8L512D"] == 0.00095
    assert all("citation" in v for k, v in ref.items() if isinstance(v, dict) and k not in ("papers", "claims"))


def test_context_for_the_run_without_a_folder_saves_nothing():
    ctx = RunContext(profile="ci")
    assert ctx.checkpoint_dir("x") is None


# ----------------------------------------------------------------------------------------------
# Checkers: they must catch the typical mistakes
# ----------------------------------------------------------------------------------------------
def _plmkit_sampler(rules, root, rng):
    options = rules[root]
    rule = options[rng.integers(len(options))]
    return [t for child in rule for t in (_plmkit_sampler(rules, child, rng) if child in rules else [child])]


def test_sampler_checker_tolerance_is_calibrated():
    from collections import Counter

    support = cfg.enumerate_sentences(G2)
    rules = {a: list(r) for a, r in G2.rules.items()}
    rng = np.random.default_rng(11)
    counts = Counter(tuple(_plmkit_sampler(rules, G2.root, rng)) for _ in range(checks.cfg.SAMPLER_DRAWS))
    tv = 0.5 * sum(abs(counts.get(s, 0) / checks.cfg.SAMPLER_DRAWS - float(p)) for s, (p, _) in support.items())
    assert tv < 0.08 < checks.cfg.SAMPLER_MAX_TV


def test_sampler_checker_catches_biased_and_invalid_samplers():
    def first_rule(rules, root, rng):
        rule = rules[root][0 if rng.random() < 0.7 else rng.integers(len(rules[root]))]
        return [t for c in rule for t in (first_rule(rules, c, rng) if c in rules else [c])]

    with pytest.raises(AssertionError, match="frequencies"):
        checks.cfg_sampler(first_rule)
    with pytest.raises(AssertionError, match="cannot derive"):
        checks.cfg_sampler(lambda rules, root, rng: _plmkit_sampler(rules, root, rng)[::-1] + [1])


def test_membership_checker_catches_partial_parsers():
    def length_only(rules, root, x):
        return 8 <= len(x) <= 27

    with pytest.raises(AssertionError, match="cannot derive"):
        checks.cfg_membership(length_only)
    with pytest.raises(AssertionError, match="rejects"):
        checks.cfg_membership(lambda rules, root, x: cfg.accepts(G3, x) and len(x) % 2 == 0)


def test_boundary_probe_checker_catches_plain_accuracy():
    def plain_accuracy(train_x, train_y, test_x, test_y):
        return float((test_y == 0).float().mean())  # "always no" scores 90%

    with pytest.raises(AssertionError, match="balanced"):
        checks.boundary_probe(plain_accuracy)


def test_excess_attention_checker_catches_the_wrong_mean_and_upper_entries():
    def over_all_rows(A):
        T = A.shape[0]
        out = torch.zeros_like(A)
        for d in range(T):
            rows = torch.arange(d, T)
            out[rows, rows - d] = A[rows, rows - d] - A[rows, rows - d].sum() / T
        return out

    with pytest.raises(AssertionError, match="T - d queries"):
        checks.excess_attention(over_all_rows)
    with pytest.raises(AssertionError, match="j > i"):
        checks.excess_attention(lambda A: A - A.mean())


def test_reproduce_runs_every_experiment_and_saves_every_figure(tmp_path, monkeypatch):
    from plmkit.results import RunDir

    small = dict(part1.SIZES["ci"], steps=4, cut0=4, cutk=4, kl=3, diversity=6, floor=8, ngram_sentences=300,
                 probe=(12, 6), attention=6, pos_steps=2, robust=3)
    monkeypatch.setitem(part1.SIZES, "ci", small)
    figures = set()
    monkeypatch.setattr(RunDir, "save_figure", lambda self, fig, name: figures.add(name))  # drawing, not PNG encoding
    ctx = RunContext(profile="ci", run_dir=RunDir(tmp_path / "run"), progress=False)
    metrics = part1.reproduce(ctx)
    json.dumps(metrics)
    assert figures == {"loss", "accuracy", "kl", "kl_by_position", "probes", "attention", "positions", "robustness"}
    assert set(metrics["positions"]) == {"rope", "nope"}
    assert metrics["shipped"]["probes"]["levels"] == [3, 4, 5]
    assert set(metrics["robustness"]["models"]) == {"clean pretraining", "noisy pretraining (p=0.3)"}
