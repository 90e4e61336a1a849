"""The pieces every part shares: run context, targets tables, shipped checkpoints, padding, grouped generation."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from plmkit.data.packing import pad_rows
from plmkit.experiments import shipped, targets
from plmkit.experiments.common import RunContext, history_summary
from plmkit.model import GPT, GPTConfig
from plmkit.results import RunDir
from plmkit.train import History


def tiny_model(seed: int = 0, **overrides) -> GPT:
    torch.manual_seed(seed)
    return GPT(GPTConfig(**{**dict(vocab_size=11, context=24, n_layer=1, n_head=2, d_model=16), **overrides}))


# --- run context -------------------------------------------------------------------------------
def test_pick_reads_the_profile_of_the_context():
    table = {"ci": 1, "cpu": 2, "gpu": 3}
    assert RunContext(profile="cpu").pick(table) == 2
    with pytest.raises(KeyError, match="gpu"):
        RunContext(profile="ci").pick({"ci": 1, "cpu": 2})


def test_unknown_profile_names_the_valid_ones():
    with pytest.raises(ValueError, match="ci, cpu, gpu"):
        RunContext(profile="laptop")


def test_train_config_carries_the_context_and_checkpoints_only_with_a_run_folder(tmp_path):
    notebook = RunContext(profile="ci", seed=7, threads=1, progress=False)
    config = notebook.train_config("pretrain", steps=10, lr=1e-3, schedule="linear", weight_decay=0.0)
    assert (config.seed, config.threads, config.progress, config.desc) == (7, 1, False, "pretrain")
    assert config.checkpoint_every == 0 and config.checkpoint_dir is None
    assert (config.schedule, config.weight_decay) == ("linear", 0.0)
    cli = RunContext(profile="ci", run_dir=RunDir(tmp_path / "run"))
    config = cli.train_config("pretrain", steps=10, lr=1e-3, checkpoint_every=3)
    assert config.checkpoint_every == 3 and config.checkpoint_dir.endswith("checkpoints/pretrain")


def test_history_summary_keeps_the_few_numbers():
    history = History(loss=[2.0, 1.5], tokens=64, seconds=1.234)
    assert history_summary(history) == {"steps": 2, "tokens": 64, "final_loss": 1.5, "seconds": 1.2}


# --- targets -----------------------------------------------------------------------------------
def test_target_rows_decide_met_and_missed():
    rows = [targets.at_least("a", 0.8, 0.7), targets.at_most("b", 0.3, 0.2), targets.between("c", 1.0, 0.8, 1.3),
            targets.holds("d", None), targets.at_least("e", None, 1.0)]
    assert [r.met for r in rows] == [True, False, True, None, None]
    assert rows[0].threshold == ">= 0.7" and rows[1].threshold == "<= 0.2"
    text = targets.format_table(rows)
    assert "MISSED" in text and text.splitlines()[-1] == "2 met, 1 missed, 2 not measured"
    assert targets.as_dicts(rows)[0] == {"name": "a", "measured": 0.8, "threshold": ">= 0.7", "met": True, "note": ""}
    assert json.loads(json.dumps(targets.as_dicts(rows)))  # JSON-ready for metrics.json


# --- shipped checkpoints -----------------------------------------------------------------------
def test_shipped_round_trip_with_sidecar_and_manifest(tmp_path):
    model = tiny_model()
    shipped.save(model, "demo", "arm/one", {"note": "made in a test"}, made_by="pytest", folder=tmp_path)
    loaded, card = shipped.load("demo", "arm/one", device="cpu", folder=tmp_path)
    assert card == {"note": "made in a test"}
    for a, b in zip(model.state_dict().values(), loaded.state_dict().values()):
        assert torch.equal(a, b)
    manifest = json.loads((tmp_path / "demo" / "manifest.json").read_text())
    assert manifest["made_by"] == "pytest" and set(manifest["files"]) == {"arm/one.pt", "arm/one.json"}
    assert shipped.names("demo", folder=tmp_path) == ["arm/one"]


def test_shipped_half_precision_rounds_weights(tmp_path):
    model = tiny_model()
    shipped.save(model, "demo", "half", {}, made_by="pytest", half=True, folder=tmp_path)
    loaded, _ = shipped.load("demo", "half", device="cpu", folder=tmp_path)
    weight = loaded.tok_emb.weight
    assert weight.dtype == torch.float32 and torch.equal(weight, model.tok_emb.weight.half().float())


def test_a_changed_shipped_file_is_refused(tmp_path):
    shipped.save(tiny_model(), "demo", "x", {"a": 1}, made_by="pytest", folder=tmp_path)
    card = tmp_path / "demo" / "x.json"
    card.write_text(card.read_text().replace("1", "2"))
    with pytest.raises(ValueError, match="checksum"):
        shipped.load("demo", "x", folder=tmp_path)


def test_unknown_shipped_name_lists_the_available_ones(tmp_path):
    shipped.save(tiny_model(), "demo", "x", {}, made_by="pytest", folder=tmp_path)
    with pytest.raises(ValueError, match="available: x"):
        shipped.load("demo", "y", folder=tmp_path)


@pytest.mark.parametrize("group", ["cfg", "knowledge-cpu"])
def test_every_shipped_checkpoint_of_the_kit_matches_its_manifest(group):
    found = shipped.names(group)
    assert found, f"no shipped checkpoints in {group}"
    for name in found:
        shipped.verify(group, name)


# --- padding and grouped generation ------------------------------------------------------------
def test_pad_rows_left_aligns_and_pads_on_the_right():
    out = pad_rows([[3, 4, 5], [6], np.array([7, 8])], pad_id=9)
    assert out.dtype == torch.long
    assert out.tolist() == [[3, 4, 5], [6, 9, 9], [7, 8, 9]]
    with pytest.raises(ValueError):
        pad_rows([])


def test_generate_grouped_equals_one_prompt_at_a_time():
    model = tiny_model(1).eval()
    prompts = [[1, 2, 3], [4], [5, 6, 7], [8, 9]]
    grouped = model.generate_grouped(prompts, 6, temperature=0.0, batch_size=2)
    for prompt, got in zip(prompts, grouped):
        alone = model.generate(torch.tensor([prompt]), 6, temperature=0.0)[0, len(prompt):].tolist()
        assert got == alone


def test_generate_grouped_budget_may_depend_on_the_length_and_is_capped_by_the_context():
    model = tiny_model(2)
    out = model.generate_grouped([[1] * 20, [2, 3]], lambda length: 30 - length, temperature=0.0)
    assert [len(o) for o in out] == [4, 22]  # context 24 caps both
    assert model.device == torch.device("cpu")
