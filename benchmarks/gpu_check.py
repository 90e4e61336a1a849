"""The ``gpu`` profile, checked on the GPU in front of you in at most eight minutes, with one JSON report.

    pip install -e .
    python benchmarks/gpu_check.py                # on a CUDA GPU: report in benchmarks/results/
    python benchmarks/gpu_check.py --tiny         # CPU stand-in at the ci sizes (about a minute; the tests run
                                                  # it with --parts tour, in seconds)

    options: --out PATH, --budget S (total wall seconds, default 480), --seconds-per-part S,
             --parts tour,canon,... (default: every lab's part), --peak-tflops X (a GPU missing from PEAK_TFLOPS)

What it measures, in this order:

1. The machine: device, torch and CUDA versions, and the precision the training loop picks there
   (bf16 autocast on GPUs with native bf16, fp16 autocast with a grad scaler on older ones such as the T4).
2. Every lab's part, run headless at the ``gpu`` profile exactly as ``python -m plmkit reproduce PART`` runs it,
   except that each training run stops after a few timed steps and its evaluation runs once. From the timed steps
   and the step counts in the part's settings it extrapolates the lab's full ``gpu`` wall time:
   everything else the run did (data, probes, evaluations, figures) is counted as measured, each training run as
   ``steps x seconds per step + evaluations x seconds per evaluation``. The evaluation is timed on a barely
   trained model, which may generate up to its length limit: generous for generation-heavy evaluations. A part
   that does not finish within its share of the budget gives a lower bound (the runs it reached). The model
   sizes come from the runs themselves, so they are the settings' own, never copies.
3. Training throughput of each part's largest model (the run with the most FLOPs per step, at that run's batch):
   tokens/s, achieved TFLOP/s, MFU against the GPU's dense bf16/fp16 peak, and peak memory, eagerly, under
   ``torch.compile`` (a failure is reported, not fatal) and with Canon layers (ABCD) on; on a bf16 GPU the
   largest model also once in fp16 with the grad scaler, the path a T4 takes.
4. Whether each part fits a 16 GB T4: its peak allocated memory (training and evaluation) with a margin (see
   T4_USABLE_GIB), and the targets: MFU of the largest model, every lab's extrapolated time, the T4 fit.

Each part and each throughput measurement runs in its own process with a time limit, so a hang or an
out-of-memory error costs that part, never the report.

FLOPs per token of training (forward + backward): 6 x (non-embedding parameters + the output layer's
vocab x d_model matrix, a real matmul even when tied) + 12 x n_layer x d_model x T for attention's two
T x T products (T: the batch's sequence length; causal masking is not discounted, the usual convention).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from datetime import datetime, timezone
from pathlib import Path
from typing import Optional

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # runs from a plain checkout too
    sys.path.insert(0, str(REPO))

REPORT_KIND = "plmkit-gpu-check"
REPORT_VERSION = 1
RESULTS = REPO / "benchmarks" / "results"
GIB = 1024 ** 3

# Dense (no sparsity) tensor-core peaks in TFLOP/s from the vendors' datasheets, per autocast dtype.
# Patterns are tried in order against torch.cuda.get_device_name(); None: the GPU lacks that dtype natively.
PEAK_TFLOPS: list[tuple[str, dict]] = [
    (r"H200.*NVL", {"bf16": 835.0, "fp16": 835.0}),
    (r"H200", {"bf16": 989.0, "fp16": 989.0}),
    (r"H100.*NVL", {"bf16": 835.0, "fp16": 835.0}),
    (r"H100.*PCIe", {"bf16": 756.0, "fp16": 756.0}),
    (r"H100", {"bf16": 989.0, "fp16": 989.0}),  # SXM
    (r"A100", {"bf16": 312.0, "fp16": 312.0}),
    (r"L40S", {"bf16": 362.0, "fp16": 362.0}),
    (r"\bL4\b", {"bf16": 121.0, "fp16": 121.0}),
    (r"\bA10\b", {"bf16": 125.0, "fp16": 125.0}),
    (r"V100", {"bf16": None, "fp16": 125.0}),
    (r"\bT4\b", {"bf16": None, "fp16": 65.0}),
]

# A T4 offers about 15.0 GiB to torch. Measured peak *allocated* memory leaves out the CUDA context (~0.5 GiB)
# and the caching allocator's fragmentation (taken as 25%); the same run needs the same tensors on a T4
# (fp16 and bf16 weigh the same).
T4_USABLE_GIB, T4_CONTEXT_GIB, T4_FRAGMENTATION = 15.0, 0.5, 1.25
TARGET_MFU, TARGET_LAB_SECONDS = 0.40, 3600.0

GPU_DEFAULTS = dict(budget=480.0, steps=10, window=2.0, throughput_cap=100.0, experiment_share=0.6,
                    compile_backend="inductor", warmup=3)
TINY_DEFAULTS = dict(budget=300.0, steps=4, window=0.2, throughput_cap=40.0, experiment_share=0.85,
                     compile_backend="eager", warmup=2)  # eager backend: traces with dynamo, no C++ build


# ----------------------------------------------------------------------------------------------
# Small helpers shared by the parent and the workers
# ----------------------------------------------------------------------------------------------
class EventLog:
    """JSON lines appended and flushed one by one: what a worker measured survives its being killed."""

    def __init__(self, path):
        self.path = Path(path)
        self.start = time.perf_counter()

    def write(self, event: str, **fields) -> None:
        with self.path.open("a") as f:
            f.write(json.dumps({"event": event, "t": round(time.perf_counter() - self.start, 4), **fields}) + "\n")


def read_events(path) -> list[dict]:
    path = Path(path)
    if not path.exists():
        return []
    events = []
    for line in path.read_text().splitlines():
        try:
            events.append(json.loads(line))
        except json.JSONDecodeError:  # a line cut by the kill
            pass
    return events


def flops_per_token(model_config: dict, seq_len: int) -> float:
    """Training FLOPs per token of a GPT: see the module docstring for the formula."""
    import torch

    from plmkit.model import GPT, GPTConfig

    config = GPTConfig(**model_config)
    try:
        with torch.device("meta"):  # counts only: no memory, no init time
            counts = GPT(config).param_counts()
    except Exception:  # an op without a meta kernel: count on the CPU
        counts = GPT(config).param_counts()
    matmul_params = counts["non_embedding"] + config.vocab_size * config.d_model
    return 6.0 * matmul_params + 12.0 * config.n_layer * config.d_model * seq_len


def peak_tflops(device_name: str, dtype: str) -> tuple[Optional[float], str]:
    """(peak, why) for a GPU name and 'bf16'/'fp16'; peak None when unknown."""
    for pattern, peaks in PEAK_TFLOPS:
        if re.search(pattern, device_name):
            peak = peaks.get(dtype)
            if peak is None:
                return None, f"{device_name} has no native {dtype} tensor cores"
            return peak, f"dense {dtype} datasheet peak of {pattern.replace(chr(92) + 'b', '')}"
    return None, f"{device_name!r} is not in the peak table (pass --peak-tflops)"


def synchronize(device) -> None:
    import torch

    if getattr(device, "type", str(device)) == "cuda":
        torch.cuda.synchronize()


_WORKER_PEAK = [0]  # the highest peak seen before any reset: the whole process's peak survives the resets


def reset_peak_memory(device) -> None:
    import torch

    if device.type == "cuda":
        _WORKER_PEAK[0] = max(_WORKER_PEAK[0], int(torch.cuda.max_memory_allocated(device)))
        torch.cuda.reset_peak_memory_stats(device)


def peak_memory(device, whole_process: bool = False) -> Optional[int]:
    """Peak allocated bytes since the last reset (or of the whole process); None off CUDA."""
    import torch

    if device.type != "cuda":
        return None
    now = int(torch.cuda.max_memory_allocated(device))
    return max(now, _WORKER_PEAK[0]) if whole_process else now


def _short_error(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}".strip()
    return text.splitlines()[0][:300] if text else type(exc).__name__


# ----------------------------------------------------------------------------------------------
# Worker 1: one part's reproduction with every training run cut short
# ----------------------------------------------------------------------------------------------
class _TimedSource:
    """Wraps a data source: synchronises the device and notes the time when steps ``marks`` begin, and
    the shape of the batches. The time between two marks is whole steps, data included."""

    def __init__(self, data, marks: tuple[int, ...], device_of):
        self.__dict__.update(data=data, marks=set(marks), device_of=device_of, times={}, shape=None, tokens=None)

    def batch(self, step: int):
        if step in self.marks:
            synchronize(self.device_of())
            self.times[step] = time.perf_counter()
        b = self.data.batch(step)
        if self.shape is None:
            self.shape, self.tokens = tuple(b.inputs.shape), int(b.num_tokens)
        return b

    def __getattr__(self, name):  # describe() and anything else the loop asks the source
        return getattr(self.__dict__["data"], name)


def _eval_steps(steps: int, eval_every: int) -> list[int]:
    """The steps at which the training loop evaluates (every ``eval_every`` and at the end)."""
    points = list(range(eval_every, steps + 1, eval_every)) if eval_every else []
    return points if points and points[-1] == steps else points + [steps]


def _truncated_train(real_train, events: EventLog, keep_steps: int):
    """A stand-in for plmkit.train.train that trains ``keep_steps`` steps, times them, runs the
    evaluation once, and returns a history shaped like the full run's (the last loss repeated)."""
    from plmkit.train import describe_precision, lr_at

    def train(model, data, config, eval_fn=None, callbacks=(), stop_after=None):
        # Prefetch here, outside the timing wrapper, as the real loop would: the marks must be set in this process.
        from dataclasses import replace

        from plmkit.data.prefetch import Prefetcher
        from plmkit.train import data_workers_for

        workers = data_workers_for(config, _device_for(config))
        if workers:
            with Prefetcher(data, workers) as prefetched:
                return timed_train(model, prefetched, replace(config, data_workers=0), eval_fn, callbacks, stop_after)
        return timed_train(model, data, config, eval_fn, callbacks, stop_after)

    def timed_train(model, data, config, eval_fn, callbacks, stop_after):
        steps = config.steps if stop_after is None else min(config.steps, stop_after)
        device_of = lambda: next(model.parameters()).device  # noqa: E731
        name = config.desc
        model_config = model.config.to_dict() if hasattr(model, "config") else None
        if steps <= keep_steps:  # short runs run whole: nothing to extrapolate
            source = _TimedSource(data, (), device_of)
            reset_peak_memory(_device_for(config))
            start = time.perf_counter()
            history = real_train(model, source, config, eval_fn=eval_fn, callbacks=callbacks, stop_after=stop_after)
            synchronize(device_of())
            seconds = time.perf_counter() - start
            events.write("run", name=name, steps=config.steps, steps_run=steps, truncated=False,
                         measured_seconds=seconds, estimated_seconds=seconds, batch_shape=source.shape,
                         tokens_per_step=source.tokens, model=model_config,
                         precision=describe_precision(device_of(), config.precision),
                         peak_memory_bytes=peak_memory(device_of()))
            return history

        first, last = 1, keep_steps - 1  # step 0 warms up (allocations, kernels); steps first..last-1 are timed
        source = _TimedSource(data, (first, last), device_of)
        start = time.perf_counter()
        reset_peak_memory(_device_for(config))
        history = real_train(model, source, config, callbacks=callbacks, stop_after=keep_steps)
        synchronize(device_of())
        train_seconds = time.perf_counter() - start
        if first in source.times and last in source.times:
            per_step = (source.times[last] - source.times[first]) / (last - first)
        else:  # resumed past the marks: the whole call, warm-up included (an overestimate)
            per_step = train_seconds / max(1, len(history.loss))
        peak = peak_memory(device_of())
        eval_points = _eval_steps(config.steps, config.eval_every) if eval_fn is not None else []
        eval_seconds, metrics = 0.0, {}
        if eval_fn is not None:
            t = time.perf_counter()
            model.eval()
            metrics = eval_fn(model, config.steps)
            synchronize(device_of())
            eval_seconds = time.perf_counter() - t
        estimated = config.steps * per_step + len(eval_points) * eval_seconds
        events.write("run", name=name, steps=config.steps, steps_run=keep_steps, steps_timed=last - first,
                     truncated=True, seconds_per_step=per_step, measured_seconds=train_seconds + eval_seconds,
                     evals=len(eval_points), eval_seconds=eval_seconds, estimated_seconds=estimated,
                     batch_shape=source.shape, tokens_per_step=source.tokens, model=model_config,
                     precision=describe_precision(device_of(), config.precision), peak_memory_bytes=peak)
        # the history the full run would return, so the part's later steps run unchanged
        history.loss.extend([history.loss[-1]] * (config.steps - len(history.loss)))
        history.lr = [lr_at(s, config) for s in range(config.steps)]
        history.tokens = (source.tokens or 0) * config.steps
        history.seconds = config.steps * per_step
        history.evals = [{"step": s, **metrics} for s in eval_points]
        model.eval()
        return history

    return train


def _device_for(config):
    from plmkit.profiles import pick_device

    return pick_device(config.device)


def experiment_worker(part: str, profile: str, keep_steps: int, events_path: str, run_dir: str) -> int:
    import plmkit.train as train_module

    events = EventLog(events_path)
    real = train_module.train
    stand_in = _truncated_train(real, events, max(3, keep_steps))
    train_module.train = stand_in  # modules imported from here on bind the stand-in
    from plmkit.experiments import load_part
    from plmkit.experiments.common import RunContext
    from plmkit.profiles import pick_device
    from plmkit.results import RunDir

    module = load_part(part)
    for name, mod in list(sys.modules.items()):  # and those imported already
        if name.startswith("plmkit") and getattr(mod, "train", None) is real:
            setattr(mod, "train", stand_in)
    device = pick_device(None)
    reset_peak_memory(device)
    events.write("start", part=part, profile=profile, device=str(device))
    ctx = RunContext(profile=profile, run_dir=RunDir(run_dir, mode="new"), progress=False)
    try:
        module.reproduce(ctx)
    except Exception as exc:  # reported by the parent, with the traceback's tail
        events.write("error", error=_short_error(exc), traceback=traceback.format_exc()[-3000:])
        return 1
    events.write("done", peak_memory_bytes=peak_memory(device, whole_process=True))  # evaluations included
    return 0


# ----------------------------------------------------------------------------------------------
# Worker 2: throughput of one model, several variants
# ----------------------------------------------------------------------------------------------
class _Measured(Exception):
    pass


class _SyntheticSource:
    """One fixed batch of random tokens, already on the device: the model's cost alone."""

    def __init__(self, vocab: int, rows: int, seq: int, device, warmup: int, window: float, max_steps: int):
        import torch

        from plmkit.data.packing import Batch

        g = torch.Generator().manual_seed(0)
        tokens = torch.randint(0, vocab, (rows, seq + 1), generator=g)
        self.fixed = Batch(tokens[:, :-1].contiguous(), tokens[:, 1:].contiguous(), torch.ones(rows, seq)).to(device)
        self.device, self.warmup, self.window, self.max_steps = device, warmup, window, max_steps
        self.t0, self.result = None, None

    def describe(self) -> dict:
        return {"kind": "synthetic"}

    def batch(self, step: int):
        if step == self.warmup:
            synchronize(self.device)
            self.t0 = time.perf_counter()
        elif step > self.warmup and (time.perf_counter() - self.t0 >= self.window or step - self.warmup >= self.max_steps):
            synchronize(self.device)
            self.result = (step - self.warmup, time.perf_counter() - self.t0)
            raise _Measured
        return self.fixed


def throughput_worker(spec_path: str, events_path: str) -> int:
    import torch

    from plmkit.model import GPT, GPTConfig
    from plmkit.profiles import pick_device
    from plmkit.train import TrainConfig, describe_precision, train

    spec = json.loads(Path(spec_path).read_text())
    events = EventLog(events_path)
    device = pick_device(None)
    rows, seq = spec["rows"], spec["seq"]
    for variant in spec["variants"]:
        config = dict(spec["model"], dropout=0.0)
        if variant.get("canon"):
            config["canon"] = variant["canon"]
        base = dict(part=spec["part"], run=spec["run"], variant=variant["name"], rows=rows, seq=seq,
                    model=config, precision=describe_precision(device, variant["precision"]))
        try:
            torch.manual_seed(0)
            model = GPT(GPTConfig(**config)).to(device)
            net = torch.compile(model, backend=spec["compile_backend"]) if variant.get("compile") else model
            source = _SyntheticSource(config["vocab_size"], rows, seq, device, spec["warmup"], spec["window"], 2000)
            reset_peak_memory(device)
            # data_workers=0: the synthetic batches live on the GPU already, and a forked worker cannot touch CUDA
            tc = TrainConfig(steps=10 ** 7, lr=1e-4, schedule="constant", precision=variant["precision"],
                             device=str(device), progress=False, log_every=50, data_workers=0)
            start = time.perf_counter()
            try:
                train(net, source, tc)
            except _Measured:
                pass
            steps, seconds = source.result
            fpt = flops_per_token(config, seq)
            tokens_per_s = steps * rows * seq / seconds
            events.write("throughput", **base, status="ok", steps_timed=steps, step_ms=1000 * seconds / steps,
                         tokens_per_s=tokens_per_s, tflops=tokens_per_s * fpt / 1e12, flops_per_token=fpt,
                         warmup_seconds=source.t0 - start, peak_memory_bytes=peak_memory(device))
        except Exception as exc:  # a compile failure (or any other) is a finding, not the end of the check
            events.write("throughput", **base, status="failed", error=_short_error(exc))
        finally:
            model = net = source = None
            if device.type == "cuda":
                torch.cuda.empty_cache()
    return 0


# ----------------------------------------------------------------------------------------------
# The parent: environment, the two phases, the report
# ----------------------------------------------------------------------------------------------
def environment() -> dict:
    import torch

    from plmkit.profiles import available_cores, pick_device
    from plmkit.train import autocast_dtype, describe_precision, native_bf16

    device = pick_device(None)
    env = {"device": str(device), "device_name": platform.processor() or platform.machine(), "torch": torch.__version__,
           "cuda": torch.version.cuda, "cudnn": None, "python": platform.python_version(),
           "cpu_cores": available_cores(), "precision": describe_precision(device),
           "autocast_dtype": {None: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}[autocast_dtype(device)]}
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        env.update(device_name=torch.cuda.get_device_name(device), capability=f"{props.major}.{props.minor}",
                   memory_gib=round(props.total_memory / GIB, 1), native_bf16=native_bf16(device),
                   cudnn=torch.backends.cudnn.version(), gpus=torch.cuda.device_count())
    return env


def _git_commit() -> Optional[str]:
    try:
        from plmkit.results import git_commit

        return git_commit()
    except Exception:
        return None


def _run_worker(args: list[str], timeout: float, log_path: Path) -> tuple[str, float]:
    """Run this script as a worker in its own process group; ('ok' | 'failed' | 'timed out', seconds)."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "MPLBACKEND": "Agg"}
    start = time.perf_counter()
    with log_path.open("w") as log:
        proc = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), *args], stdout=log,
                                stderr=subprocess.STDOUT, env=env, cwd=str(REPO), start_new_session=True)
        try:
            rc = proc.wait(timeout=max(1.0, timeout))
            status = "ok" if rc == 0 else "failed"
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)  # the worker's own group, started above
            proc.wait()
            status = "timed out"
    return status, time.perf_counter() - start


def _log_tail(path: Path, chars: int = 1500) -> str:
    try:
        return path.read_text(errors="replace")[-chars:]
    except OSError:
        return ""


def lab_parts() -> list[tuple[str, Optional[str]]]:
    """(part, lab) for every part that is not a checkpoint trainer; lab: its notebook source, if any."""
    from plmkit.experiments import CHECKPOINT_TRAINERS, PARTS

    labs = sorted(p.stem for p in (REPO / "notebooks" / "src").glob("[0-9][0-9]_*.py"))
    out = []
    for part in PARTS:
        if part in CHECKPOINT_TRAINERS:
            continue
        lab = next((lab for lab in labs if lab.split("_", 1)[1] == part), None)
        out.append((part, lab))
    return out


def t4_fit(peak_bytes: Optional[int]) -> tuple[Optional[bool], Optional[float]]:
    if peak_bytes is None:
        return None, None
    need = peak_bytes / GIB * T4_FRAGMENTATION + T4_CONTEXT_GIB
    return need <= T4_USABLE_GIB, round(need, 2)


def summarise_part(part: str, lab: Optional[str], status: str, events: list[dict], log: str) -> dict:
    runs = [{k: v for k, v in e.items() if k != "event"} for e in events if e["event"] == "run"]
    done = next((e for e in events if e["event"] == "done"), None)
    error = next((e for e in events if e["event"] == "error"), None)
    start = next((e for e in events if e["event"] == "start"), None)
    if done:
        status = "complete"
    elif error:
        status = "failed"
    elif status == "ok":
        status = "failed"  # exited cleanly without saying done: should not happen
    t_end = events[-1]["t"] if events else 0.0
    t_start = start["t"] if start else 0.0
    measured = sum(r["measured_seconds"] for r in runs)
    estimated = sum(r["estimated_seconds"] for r in runs)
    wall = max(0.0, t_end - t_start)
    peaks = [r["peak_memory_bytes"] for r in runs if r.get("peak_memory_bytes") is not None]
    if done and done.get("peak_memory_bytes") is not None:
        peaks.append(done["peak_memory_bytes"])
    peak = max(peaks) if peaks else None
    fits, need = t4_fit(peak)
    summary = {
        "part": part, "lab": lab, "status": status, "runs": runs,
        "training_runs": len(runs),
        "measured_wall_s": round(wall, 2),
        "estimated_full_wall_s": round(wall - measured + estimated, 1) if events else None,
        "estimate_is_lower_bound": status != "complete",
        "other_s": round(wall - measured, 2),
        "peak_memory_gib": None if peak is None else round(peak / GIB, 3),
        "fits_16gb_t4": fits,
        "t4_need_gib": need,
        "t4_note": ("peak allocated x %.2f + %.1f GiB context <= %.1f GiB" % (T4_FRAGMENTATION, T4_CONTEXT_GIB, T4_USABLE_GIB))
        if peak is not None else "not measured: no CUDA device",
    }
    if status == "failed":
        summary["error"] = error["error"] if error else "worker exited without a report"
        summary["log_tail"] = (error or {}).get("traceback") or log
    if status == "timed out":
        summary["note"] = f"stopped at its time limit after {len(runs)} training runs: the estimate is a lower bound"
    return summary


def pick_throughput_models(parts: list[dict]) -> list[dict]:
    """Per part the training run with the most FLOPs per step (ties: the first), largest first."""
    chosen = []
    for p in parts:
        best = None
        for r in p["runs"]:
            if not r.get("model") or not r.get("batch_shape"):
                continue
            rows, seq = r["batch_shape"]
            flops = flops_per_token(r["model"], seq) * rows * seq
            if best is None or flops > best[0]:
                best = (flops, r)
        if best:
            rows, seq = best[1]["batch_shape"]
            chosen.append({"part": p["part"], "run": best[1]["name"], "model": best[1]["model"], "rows": rows,
                           "seq": seq, "flops_per_step": best[0]})
    return sorted(chosen, key=lambda c: -c["flops_per_step"])


def variants_for(env: dict, largest: bool) -> list[dict]:
    out = [{"name": "eager", "precision": "auto"}, {"name": "eager + Canon ABCD", "precision": "auto", "canon": "ABCD"}]
    if largest:
        if env["device"].startswith("cuda") and env.get("native_bf16"):
            out.append({"name": "eager fp16 + scaler (the T4 path)", "precision": "fp16"})
        elif not env["device"].startswith("cuda"):
            out.append({"name": "eager bf16 autocast", "precision": "bf16"})
    out.append({"name": "compiled", "precision": "auto", "compile": True})  # last: the slowest to start
    return out


def add_mfu(row: dict, env: dict, override: Optional[float]) -> dict:
    if row.get("status") != "ok":
        return row
    if not env["device"].startswith("cuda"):
        row.update(mfu=None, mfu_note="not measured: no GPU (a CPU has no tensor-core peak to compare with)")
        return row
    dtype = {"bf16 autocast": "bf16", "fp16 autocast + grad scaler": "fp16"}.get(row["precision"])
    if override:
        peak, why = override, "--peak-tflops"
    elif dtype is None:
        peak, why = None, f"MFU is defined here for bf16/fp16 training, this ran in {row['precision']}"
    else:
        peak, why = peak_tflops(env["device_name"], dtype)
    row.update(peak_tflops=peak, mfu=None if peak is None else row["tflops"] / peak, mfu_note=why)
    return row


def build_targets(env: dict, parts: list[dict], throughput: list[dict], profile: str) -> list[dict]:
    from plmkit.experiments.targets import Target, at_least, at_most, holds

    on_gpu = env["device"].startswith("cuda")
    not_here = "not measured: needs a CUDA GPU and the gpu profile" if not (on_gpu and profile == "gpu") else ""
    out = []
    largest = throughput[0]["part"] if throughput else None
    mfus = [r["mfu"] for r in throughput if r.get("part") == largest and r.get("mfu") is not None
            and "Canon" not in r["variant"] and "fp16" not in r["variant"]]
    out.append(at_least(f"MFU of the largest gpu model ({largest}), best of eager and compiled",
                        max(mfus) if mfus and not not_here else None, TARGET_MFU,
                        not_here or "H100/H200-class bf16 target; other GPUs: informative"))
    def caveat(p: dict) -> str:
        if p["status"] == "failed":
            return f"the part failed: {p.get('error', '')}"
        return f"lower bound ({p.get('note', p['status'])})" if p["estimate_is_lower_bound"] else ""

    for p in parts:
        # a failed part's time is unknown; a lower bound decides the target only when it is already too long
        value = p["estimated_full_wall_s"] if not not_here and p["status"] != "failed" else None
        row = at_most(f"{p['lab'] or p['part']}: extrapolated gpu wall time (s)", value, TARGET_LAB_SECONDS,
                      not_here or caveat(p))
        if row.met and p["estimate_is_lower_bound"]:
            row = Target(row.name, row.measured, row.threshold, None, row.note)
        out.append(row)
    for p in parts:
        # likewise the memory of the runs reached: a miss is a miss, a fit says nothing of the runs not reached
        fits = p["fits_16gb_t4"] if not not_here else None
        if fits and p["estimate_is_lower_bound"]:
            fits = None
        note = not_here or "; ".join(x for x in (p["t4_note"], caveat(p) and "runs reached only") if x)
        out.append(holds(f"{p['lab'] or p['part']}: fits a 16 GB T4", fits, p["t4_need_gib"],
                         f"needs <= {T4_USABLE_GIB} GiB", note))
    return [t.to_dict() for t in out]


def fmt_s(seconds: Optional[float]) -> str:
    if seconds is None:
        return "-"
    return f"{seconds / 60:.1f} min" if seconds >= 120 else f"{seconds:.1f} s"


def print_report(report: dict) -> None:
    from plmkit.experiments.targets import Target, format_table

    env = report["environment"]
    print(f"\n== plmkit gpu check ({report['mode']}, profile {report['profile']}) ==")
    print(f"device {env['device']} ({env['device_name']}), torch {env['torch']}, CUDA {env['cuda']}, "
          f"precision: {env['precision']}")
    print("\nthroughput (synthetic batch of each part's largest training run):")
    print(f"  {'part':<13}{'variant':<36}{'model':<16}{'tokens/s':>11}{'TFLOP/s':>9}{'MFU':>7}{'peak GiB':>9}")
    for r in report["throughput"]:
        m = r["model"]
        shape = f"{m['n_layer']}L{m['d_model']}D b{r['rows']}x{r['seq']}"
        if r["status"] != "ok":
            print(f"  {r['part']:<13}{r['variant']:<36}{shape:<16}  {r['status']}: {r.get('error', '')[:60]}")
            continue
        mfu = "-" if r.get("mfu") is None else f"{100 * r['mfu']:.1f}%"
        mem = "-" if r.get("peak_memory_bytes") is None else f"{r['peak_memory_bytes'] / GIB:.2f}"
        print(f"  {r['part']:<13}{r['variant']:<36}{shape:<16}{r['tokens_per_s']:>11,.0f}{r['tflops']:>9.3f}{mfu:>7}{mem:>9}")
    print("\nlabs (every training run cut to a few timed steps, the rest run as is):")
    print(f"  {'part':<13}{'status':<11}{'runs':>5}{'measured':>11}{'full (est.)':>13}{'peak GiB':>9}  fits T4")
    for p in report["parts"]:
        est = fmt_s(p["estimated_full_wall_s"]) + ("+" if p["estimate_is_lower_bound"] else "")
        mem = "-" if p["peak_memory_gib"] is None else f"{p['peak_memory_gib']:.2f}"
        fits = {True: "yes", False: "NO", None: "not measured"}[p["fits_16gb_t4"]]
        print(f"  {p['part']:<13}{p['status']:<11}{p['training_runs']:>5}{fmt_s(p['measured_wall_s']):>11}{est:>13}{mem:>9}  {fits}")
        if p.get("error"):
            print(f"      error: {p['error']}")
    print("\n" + format_table([Target(**t) for t in report["targets"]]))
    print(f"\nwall time {fmt_s(report['wall_s'])} of a {fmt_s(report['budget_s'])} budget; report: {report['path']}")


def default_out(env: dict, tiny: bool) -> Path:
    if tiny:
        return Path(tempfile.gettempdir()) / "plmkit_gpu_check_tiny.json"
    slug = re.sub(r"[^a-z0-9]+", "-", env["device_name"].lower()).strip("-") or "device"
    return RESULTS / f"gpu_check_{slug}_{datetime.now(timezone.utc):%Y-%m-%d}.json"


def run_check(args) -> dict:
    d = dict(TINY_DEFAULTS if args.tiny else GPU_DEFAULTS)
    budget = args.budget or d["budget"]
    t0 = time.perf_counter()
    deadline = t0 + budget
    env = environment()
    profile = "ci" if args.tiny else "gpu"
    if not args.tiny and not env["device"].startswith("cuda"):
        print("no CUDA GPU here: the gpu profile on this machine would take hours; "
              "running anyway, but the targets will say 'not measured' (use --tiny for the quick CPU stand-in)")
    print(f"device {env['device']} ({env['device_name']}) | torch {env['torch']} | CUDA {env['cuda']} | "
          f"training precision here: {env['precision']} (autocast dtype {env['autocast_dtype']})", flush=True)

    available = lab_parts()
    names = [p for p, _ in available]
    if args.parts:
        wanted = [p.strip() for p in args.parts.split(",") if p.strip()]
        bad = [p for p in wanted if p not in names]
        if bad:
            raise SystemExit(f"unknown part(s) {', '.join(bad)}; valid parts: {', '.join(names)}")
        available = [(p, lab) for p, lab in available if p in wanted]

    work = Path(tempfile.mkdtemp(prefix="plmkit_gpu_check_"))
    # Phase 1: the labs, each in its own process with an even share of what is left of the phase's time
    phase1_end = t0 + budget * d["experiment_share"]
    parts = []
    for i, (part, lab) in enumerate(available):
        share = (phase1_end - time.perf_counter()) / (len(available) - i)
        timeout = min(args.seconds_per_part or share, deadline - time.perf_counter() - 5)
        events_path, log_path = work / f"{part}.events", work / f"{part}.log"
        if timeout < 5:
            parts.append(summarise_part(part, lab, "timed out", [], "") | {"status": "skipped", "note": "no time left"})
            continue
        print(f"[lab] {part} at the {profile} profile (limit {timeout:.0f} s) ...", end=" ", flush=True)
        status, seconds = _run_worker(["--worker", "experiment", "--part", part, "--profile", profile,
                                       "--keep-steps", str(d["steps"]), "--events", str(events_path),
                                       "--run-dir", str(work / f"{part}-run")], timeout, log_path)
        summary = summarise_part(part, lab, status, read_events(events_path), _log_tail(log_path))
        summary["worker_seconds"] = round(seconds, 1)
        parts.append(summary)
        print(f"{summary['status']}, {summary['training_runs']} training runs, "
              f"full lab ~{fmt_s(summary['estimated_full_wall_s'])}", flush=True)

    # Phase 2: throughput of each part's largest model, largest first (the MFU target's model always runs)
    throughput = []
    models = pick_throughput_models(parts)
    if args.tiny:  # the CPU stand-in checks the code path once, on the largest model
        models = models[:1]
    for i, spec in enumerate(models):
        left = deadline - time.perf_counter()
        variants = variants_for(env, largest=i == 0)
        base = {"part": spec["part"], "run": spec["run"], "model": spec["model"], "rows": spec["rows"], "seq": spec["seq"]}
        if left < 10:
            throughput += [{**base, "variant": v["name"], "status": "skipped", "error": "time budget spent"} for v in variants]
            continue
        spec_path, events_path, log_path = (work / f"tp_{spec['part']}.json", work / f"tp_{spec['part']}.events",
                                            work / f"tp_{spec['part']}.log")
        spec_path.write_text(json.dumps({**spec, "variants": variants, "window": d["window"], "warmup": d["warmup"],
                                         "compile_backend": args.compile_backend or d["compile_backend"]}))
        print(f"[throughput] {spec['part']}: {spec['run']} ...", end=" ", flush=True)
        status, _ = _run_worker(["--worker", "throughput", "--spec", str(spec_path), "--events", str(events_path)],
                                min(d["throughput_cap"], left - 5), log_path)
        rows = [e for e in read_events(events_path) if e["event"] == "throughput"]
        for e in rows:
            e.pop("event"), e.pop("t")
        seen = {r["variant"] for r in rows}
        for v in variants:
            if v["name"] not in seen:
                why = "time limit reached" if status == "timed out" else "worker crashed: " + _log_tail(log_path, 300)
                rows.append({**base, "variant": v["name"], "status": "failed" if status != "timed out" else "skipped",
                             "error": why})
        throughput += [add_mfu(r, env, args.peak_tflops) for r in rows]
        print(", ".join(f"{r['variant']}: " + (f"{r['tokens_per_s']:,.0f} tok/s" if r["status"] == "ok" else r["status"])
                        for r in rows), flush=True)

    report = {
        "kind": REPORT_KIND, "version": REPORT_VERSION, "mode": "tiny" if args.tiny else "full", "profile": profile,
        "created_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"), "git_commit": _git_commit(),
        "command": " ".join(["python benchmarks/gpu_check.py", *sys.argv[1:]]),
        "environment": env,
        "flops_per_token": "6 * (non_embedding_params + vocab * d_model) + 12 * n_layer * d_model * seq_len",
        "t4_fit_rule": f"peak_allocated_gib * {T4_FRAGMENTATION} + {T4_CONTEXT_GIB} <= {T4_USABLE_GIB}",
        "parts": parts,
        "throughput": throughput,
        "targets": build_targets(env, parts, throughput, profile),
        "budget_s": budget,
        "wall_s": round(time.perf_counter() - t0, 1),
    }
    out = Path(args.out) if args.out else default_out(env, args.tiny)
    out.parent.mkdir(parents=True, exist_ok=True)
    report["path"] = str(out)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(json.dumps(report, indent=1, default=str))
    os.replace(tmp, out)
    shutil.rmtree(work, ignore_errors=True)  # the workers' logs: what matters of them is in the report
    print_report(report)
    return report


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Check the gpu profile on this GPU: throughput, MFU, memory, "
                                     "each lab's extrapolated wall time; one JSON report.")
    parser.add_argument("--tiny", action="store_true", help="CPU stand-in at the ci sizes (under a minute)")
    parser.add_argument("--out", help="report path (default: benchmarks/results/gpu_check_<gpu>_<date>.json)")
    parser.add_argument("--budget", type=float, help="total wall seconds (default 480; --tiny 300)")
    parser.add_argument("--seconds-per-part", type=float,
                        help="time limit of each lab's run (default: an even share of 60%% of the budget)")
    parser.add_argument("--parts", help="comma-separated parts (default: every lab's part)")
    parser.add_argument("--peak-tflops", type=float, help="the GPU's dense bf16/fp16 peak, if not in the table")
    parser.add_argument("--compile-backend", help="torch.compile backend (default inductor; --tiny: eager)")
    # the workers: this script again, in a child process
    parser.add_argument("--worker", choices=("experiment", "throughput"), help=argparse.SUPPRESS)
    for hidden in ("--part", "--profile", "--events", "--run-dir", "--spec"):
        parser.add_argument(hidden, help=argparse.SUPPRESS)
    parser.add_argument("--keep-steps", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker == "experiment":
        return experiment_worker(args.part, args.profile, args.keep_steps, args.events, args.run_dir)
    if args.worker == "throughput":
        return throughput_worker(args.spec, args.events)
    report = run_check(args)
    return 0 if all(p["status"] == "complete" for p in report["parts"]) or not args.tiny else 1


if __name__ == "__main__":
    sys.exit(main())
