"""benchmarks/gpu_check.py: its CPU stand-in (--tiny) runs end to end, and its arithmetic is right.

The script is meant to run for the first time on a GPU that is lent for minutes; these tests keep every
code path it can take on a CPU working until then.
"""
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from plmkit.data.brackets import BracketWorld
from plmkit.data.packing import OnlineStream
from plmkit.model import GPT, GPTConfig
from plmkit.train import TrainConfig, train

REPO = Path(__file__).resolve().parent.parent
SCRIPT = REPO / "benchmarks" / "gpu_check.py"


@pytest.fixture(scope="module")
def gc():
    spec = importlib.util.spec_from_file_location("gpu_check", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def tiny_report(tmp_path_factory):
    out = tmp_path_factory.mktemp("gpu_check") / "report.json"
    env = {**os.environ, "PLMKIT_THREADS": "1", "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, str(SCRIPT), "--tiny", "--parts", "tour", "--out", str(out)],
                          capture_output=True, text=True, env=env, cwd=REPO, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return json.loads(out.read_text()), done.stdout


def test_tiny_report_has_every_section(tiny_report):
    report, printed = tiny_report
    assert report["kind"] == "plmkit-gpu-check" and report["mode"] == "tiny" and report["profile"] == "ci"
    env = report["environment"]
    assert env["device"] == "cpu" and env["torch"] == torch.__version__
    assert env["precision"] == "fp32" and env["autocast_dtype"] == "fp32"  # the CPU default stays fp32
    assert "12 * n_layer * d_model * seq_len" in report["flops_per_token"]
    assert report["wall_s"] <= report["budget_s"]
    for words in ("training precision here: fp32", "throughput", "tokens/s", "fits T4", "not measured"):
        assert words in printed


def test_tiny_lab_rows_use_the_settings_step_counts(tiny_report):
    from plmkit.experiments.tour import SETTINGS

    (part,) = tiny_report[0]["parts"]
    assert part["part"] == "tour" and part["lab"] == "00_tour" and part["status"] == "complete"
    (run,) = part["runs"]
    ci = SETTINGS["ci"]
    assert run["steps"] == ci.steps and run["truncated"] and run["steps_run"] < ci.steps
    assert run["batch_shape"] == [ci.batch, ci.context] and run["model"]["d_model"] == ci.d_model
    assert run["seconds_per_step"] > 0 and run["estimated_seconds"] >= ci.steps * run["seconds_per_step"]
    assert part["estimated_full_wall_s"] > 0 and not part["estimate_is_lower_bound"]
    # 16 GB check: on a CPU nothing is measured, and the report says so
    assert part["peak_memory_gib"] is None and part["fits_16gb_t4"] is None and "not measured" in part["t4_note"]


def test_tiny_throughput_rows(tiny_report):
    rows = {r["variant"]: r for r in tiny_report[0]["throughput"]}
    assert set(rows) == {"eager", "eager + Canon ABCD", "eager bf16 autocast", "compiled"}
    assert rows["eager + Canon ABCD"]["model"]["canon"] == "ABCD" and rows["eager"]["model"]["canon"] == ""
    assert rows["eager bf16 autocast"]["precision"] == "bf16 autocast"
    for row in rows.values():
        assert row["status"] in ("ok", "failed", "skipped")
        if row["status"] == "ok":
            assert row["tokens_per_s"] > 0 and row["tflops"] > 0
            assert row["mfu"] is None and "no GPU" in row["mfu_note"]
    assert rows["eager"]["status"] == "ok"


def test_tiny_targets_are_not_measured_on_a_cpu(tiny_report):
    targets = tiny_report[0]["targets"]
    assert {t["threshold"] for t in targets} >= {">= 0.4", "<= 3600"}
    assert all(t["met"] is None and "not measured" in t["note"] for t in targets)


def test_unknown_part_names_the_valid_ones(gc, capsys):
    with pytest.raises(SystemExit, match="valid parts: tour, cfg"):
        gc.main(["--tiny", "--parts", "tour,nonsense"])


@pytest.mark.parametrize("name, dtype, peak", [
    ("NVIDIA H200", "bf16", 989.0), ("NVIDIA H200 NVL", "bf16", 835.0), ("NVIDIA H100 80GB HBM3", "bf16", 989.0),
    ("NVIDIA H100 PCIe", "fp16", 756.0), ("NVIDIA A100-SXM4-80GB", "bf16", 312.0), ("NVIDIA L4", "bf16", 121.0),
    ("NVIDIA L40S", "bf16", 362.0), ("Tesla T4", "fp16", 65.0), ("NVIDIA A10G", "bf16", None),
    ("Tesla T4", "bf16", None), ("NVIDIA GeForce RTX 4090", "bf16", None),
])
def test_peak_table(gc, name, dtype, peak):
    found, why = gc.peak_tflops(name, dtype)
    assert found == peak
    if peak is None:
        assert "--peak-tflops" in why or "no native" in why


def test_mfu_is_omitted_with_a_reason_for_an_unknown_gpu(gc):
    env = {"device": "cuda", "device_name": "Mystery GPU"}
    row = gc.add_mfu({"status": "ok", "precision": "bf16 autocast", "tflops": 100.0}, env, None)
    assert row["mfu"] is None and "not in the peak table" in row["mfu_note"]
    row = gc.add_mfu({"status": "ok", "precision": "bf16 autocast", "tflops": 100.0}, env, 400.0)
    assert row["mfu"] == pytest.approx(0.25)
    h200 = gc.add_mfu({"status": "ok", "precision": "bf16 autocast", "tflops": 395.6},
                      {"device": "cuda", "device_name": "NVIDIA H200"}, None)
    assert h200["mfu"] == pytest.approx(0.4)


def test_flops_per_token(gc):
    config = GPTConfig(vocab_size=10, context=16, n_layer=2, n_head=2, d_model=32).to_dict()
    # 12 d^2 + 2 norms per layer, a final norm, the 10 x 32 output layer; attention 12 L d T
    matmul = 2 * (12 * 32 * 32 + 2 * 32) + 32 + 10 * 32
    assert gc.flops_per_token(config, 16) == 6 * matmul + 12 * 2 * 32 * 16
    assert gc.flops_per_token(config, 32) - gc.flops_per_token(config, 16) == 12 * 2 * 32 * 16


def test_t4_fit(gc):
    assert gc.t4_fit(None) == (None, None)
    assert gc.t4_fit(10 * gc.GIB) == (True, 13.0)  # 10 x 1.25 + 0.5
    assert gc.t4_fit(12 * gc.GIB) == (False, 15.5)


def test_eval_steps_match_the_training_loop(gc):
    assert gc._eval_steps(20, 5) == [5, 10, 15, 20]
    assert gc._eval_steps(22, 5) == [5, 10, 15, 20, 22]
    assert gc._eval_steps(7, 0) == [7]


def small_run():
    world = BracketWorld()
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=6, context=32, n_layer=1, n_head=2, d_model=16))
    return model, OnlineStream(world.sample_fn(), context=32, batch_size=4, sep_id=world.bos_id, seed=0)


def test_the_stand_in_trains_a_few_steps_and_returns_a_full_length_history(gc, tmp_path):
    events = gc.EventLog(tmp_path / "events")
    stand_in = gc._truncated_train(train, events, keep_steps=4)
    calls = []
    model, stream = small_run()
    config = TrainConfig(steps=20, lr=3e-3, eval_every=5, progress=False, device="cpu", threads=1, desc="demo")
    history = stand_in(model, stream, config, eval_fn=lambda m, step: calls.append(step) or {"acc": 0.5})
    assert calls == [20]  # the evaluation runs once, and counts four times
    assert history.steps == 20 and len(history.lr) == 20 and history.tokens == 20 * 4 * 32
    assert [e["step"] for e in history.evals] == [5, 10, 15, 20] and history.evals[0]["acc"] == 0.5
    assert history.loss[4:] == [history.loss[3]] * 16
    (run,) = [e for e in gc.read_events(tmp_path / "events") if e["event"] == "run"]
    assert run["truncated"] and run["steps"] == 20 and run["steps_run"] == 4 and run["steps_timed"] == 2
    assert run["evals"] == 4 and run["batch_shape"] == [4, 32] and run["model"]["d_model"] == 16
    assert run["estimated_seconds"] == pytest.approx(20 * run["seconds_per_step"] + 4 * run["eval_seconds"])


def test_the_stand_in_runs_short_runs_whole(gc, tmp_path):
    events = gc.EventLog(tmp_path / "events")
    stand_in = gc._truncated_train(train, events, keep_steps=8)
    calls = []
    model, stream = small_run()
    config = TrainConfig(steps=6, lr=3e-3, eval_every=3, progress=False, device="cpu", threads=1)
    history = stand_in(model, stream, config, eval_fn=lambda m, step: calls.append(step) or {})
    assert calls == [3, 6] and history.steps == 6
    (run,) = [e for e in gc.read_events(tmp_path / "events") if e["event"] == "run"]
    assert not run["truncated"] and run["estimated_seconds"] == run["measured_seconds"]


def test_a_part_cut_off_by_its_time_limit_gives_a_lower_bound(gc):
    events = [{"event": "start", "t": 1.0},
              {"event": "run", "t": 5.0, "name": "a", "measured_seconds": 2.0, "estimated_seconds": 100.0,
               "peak_memory_bytes": 2 * gc.GIB},
              {"event": "run", "t": 9.0, "name": "b", "measured_seconds": 1.0, "estimated_seconds": 50.0,
               "peak_memory_bytes": gc.GIB}]
    part = gc.summarise_part("x", None, "timed out", events, "")
    assert part["status"] == "timed out" and part["estimate_is_lower_bound"]
    assert part["estimated_full_wall_s"] == pytest.approx(8.0 - 3.0 + 150.0)
    assert part["peak_memory_gib"] == 2.0 and part["fits_16gb_t4"] is True
    failed = gc.summarise_part("x", None, "failed", events[:1] + [{"event": "error", "t": 2.0, "error": "boom",
                                                                      "traceback": "tb"}], "")
    assert failed["status"] == "failed" and failed["error"] == "boom"


def test_throughput_takes_each_parts_largest_run_largest_first(gc):
    small = GPTConfig(vocab_size=10, n_layer=1, d_model=16, n_head=2, context=32).to_dict()
    big = GPTConfig(vocab_size=10, n_layer=2, d_model=64, n_head=2, context=32).to_dict()
    parts = [{"part": "p", "runs": [{"name": "s", "model": small, "batch_shape": [64, 32]},
                                    {"name": "b", "model": big, "batch_shape": [8, 32]}]},
             {"part": "q", "runs": [{"name": "s", "model": small, "batch_shape": [2, 32]},
                                    {"name": "lora", "model": None, "batch_shape": [2, 32]}]}]
    chosen = gc.pick_throughput_models(parts)
    assert [(c["part"], c["run"]) for c in chosen] == [("p", "b"), ("q", "s")]
    assert chosen[0]["rows"] == 8 and chosen[0]["seq"] == 32


def test_targets_on_a_gpu_treat_lower_bounds_and_failures_honestly(gc):
    env = {"device": "cuda", "device_name": "NVIDIA H200"}

    def part(name, status, seconds, peak_gib):
        fits, need = gc.t4_fit(int(peak_gib * gc.GIB))
        return {"part": name, "lab": None, "status": status, "estimated_full_wall_s": seconds,
                "estimate_is_lower_bound": status != "complete", "fits_16gb_t4": fits, "t4_need_gib": need,
                "t4_note": "rule", "error": "boom" if status == "failed" else None}

    parts = [part("done", "complete", 3000.0, 2.0), part("short", "timed out", 1000.0, 2.0),
             part("long", "timed out", 5000.0, 14.0), part("broken", "failed", 10.0, 1.0)]
    throughput = [{"part": "done", "variant": "eager", "mfu": 0.31}, {"part": "done", "variant": "compiled", "mfu": 0.45},
                  {"part": "done", "variant": "eager + Canon ABCD", "mfu": 0.9}]
    rows = {t["name"]: t for t in gc.build_targets(env, parts, throughput, "gpu")}
    mfu = rows["MFU of the largest gpu model (done), best of eager and compiled"]
    assert mfu["measured"] == 0.45 and mfu["met"] is True  # Canon's row is another model
    time = {name: rows[f"{name}: extrapolated gpu wall time (s)"] for name in ("done", "short", "long", "broken")}
    assert time["done"]["met"] is True and time["long"]["met"] is False
    assert time["short"]["met"] is None and "lower bound" in time["short"]["note"]  # 1000 s so far decides nothing
    assert time["broken"]["met"] is None and "failed: boom" in time["broken"]["note"]
    fits = {name: rows[f"{name}: fits a 16 GB T4"] for name in ("done", "short", "long")}
    assert fits["done"]["met"] is True and fits["short"]["met"] is None and fits["long"]["met"] is False
