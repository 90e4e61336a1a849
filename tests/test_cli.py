import json
import subprocess
import sys

import pytest

from plmkit.cli import main
from plmkit.experiments import PARTS
from plmkit.profiles import get_profile, pick, pick_device
from plmkit.results import RunDir


def run(*args):
    return subprocess.run([sys.executable, "-m", "plmkit", *args], capture_output=True, text=True)


def test_help_lists_the_parts():
    out = run("--help")
    assert out.returncode == 0
    for part in PARTS:
        assert part in out.stdout


def test_unknown_part_and_profile_name_the_valid_ones():
    out = run("reproduce", "nonsense")
    assert out.returncode == 2 and "tour" in out.stderr
    out = run("reproduce", "tour", "--profile", "huge")
    assert out.returncode == 2 and "'ci', 'cpu', 'gpu'" in out.stderr
    with pytest.raises(ValueError, match="valid profiles: ci, cpu, gpu"):
        get_profile("fast")
    with pytest.raises(ValueError, match="cuda, mps, cpu"):
        pick_device("tpu")
    with pytest.raises(KeyError, match="lacks entries"):
        pick({"ci": 1}, "ci")


def test_env_profile_is_validated(monkeypatch, capsys):
    monkeypatch.setenv("PLMKIT_PROFILE", "big")
    assert main(["reproduce", "tour"]) == 2
    assert "valid profiles: ci, cpu, gpu" in capsys.readouterr().err


def test_reproduce_tour_writes_results_and_protects_them(tmp_path, capsys):
    out = tmp_path / "tour"
    assert main(["reproduce", "tour", "--profile", "ci", "--out", str(out), "--no-progress", "--threads", "1"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    manifest = json.loads((out / "manifest.json").read_text())
    assert metrics["train"]["steps"] == 40 and metrics["profile"] == "ci"
    assert 0 <= metrics["probes"]["depth"]["trained"][-1] <= 1
    assert manifest["seed"] == 0 and manifest["profile"] == "ci" and "torch" in manifest["versions"]
    assert manifest["wall_seconds"] > 0 and manifest["device"] == "cpu"
    assert {p.name for p in (out / "figures").iterdir()} == {"loss.png", "probe_depth.png", "probe_to_close.png"}
    before = (out / "metrics.json").read_bytes()

    # a second run into the same folder is refused, and leaves it untouched
    assert main(["reproduce", "tour", "--profile", "ci", "--out", str(out), "--no-progress"]) == 2
    assert "not empty" in capsys.readouterr().err
    assert (out / "metrics.json").read_bytes() == before

    # --resume picks up the finished checkpoint: no retraining, the same numbers
    assert main(["reproduce", "tour", "--profile", "ci", "--out", str(out), "--resume", "--no-progress", "--threads", "1"]) == 0
    assert json.loads((out / "metrics.json").read_text())["train"] == metrics["train"]


def test_overwrite_only_removes_plmkit_run_folders(tmp_path):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "thesis.tex").write_text("precious")
    with pytest.raises(FileExistsError, match="not a plmkit run folder"):
        RunDir(mine, mode="overwrite")
    assert (mine / "thesis.tex").read_text() == "precious"
    with pytest.raises(ValueError, match="new, resume, overwrite"):
        RunDir(tmp_path / "x", mode="append")


def test_threads_are_set_on_purpose(monkeypatch):
    import torch

    from plmkit import profiles

    monkeypatch.setenv("PLMKIT_THREADS", "1")
    assert profiles.set_threads() == 1 and torch.get_num_threads() == 1
    monkeypatch.delenv("PLMKIT_THREADS")
    best = profiles.measure_best_threads(max_age_s=0)
    assert 1 <= best <= profiles.available_cores()
    assert set(profiles._measured["seconds"]) >= {1}
    torch.set_num_threads(1)


def test_start_lab_sets_threads_prints_the_summary_and_returns_the_run_context(monkeypatch, capsys):
    import warnings

    import torch

    from plmkit import profiles
    from plmkit.experiments.common import RunContext, start_lab

    monkeypatch.setenv("PLMKIT_PROFILE", "ci")
    monkeypatch.setenv("PLMKIT_THREADS", "1")
    with warnings.catch_warnings():
        ctx = start_lab(seed=3)
        assert isinstance(ctx, RunContext) and (ctx.profile, ctx.seed, ctx.run_dir) == ("ci", 3, None)
        assert torch.get_num_threads() == 1
        assert capsys.readouterr().out.strip() == profiles.describe()
        with warnings.catch_warnings(record=True) as seen:
            warnings.warn("noise from a library", UserWarning)
        assert not seen


def test_reproduce_all_runs_each_part_once_and_skips_finished_runs(tmp_path, monkeypatch, capsys):
    from plmkit import cli

    monkeypatch.setattr(cli, "PARTS", {"tour": cli.PARTS["tour"]})
    args = ["reproduce", "all", "--profile", "ci", "--out", str(tmp_path), "--no-progress", "--threads", "1"]
    assert main(args) == 0
    assert (tmp_path / "tour-ci" / "manifest.json").exists()
    first = (tmp_path / "tour-ci" / "metrics.json").read_text()
    assert main(args) == 0
    assert "skipping part 'tour'" in capsys.readouterr().out
    assert (tmp_path / "tour-ci" / "metrics.json").read_text() == first
    (tmp_path / "tour-ci" / "manifest.json").unlink()  # as if killed before the end: resumed, not refused
    assert main(args) == 0
    assert (tmp_path / "tour-ci" / "manifest.json").exists()
