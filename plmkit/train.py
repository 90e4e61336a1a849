"""The one training loop every experiment uses.

AdamW with weight-decay groups, warmup then cosine / linear / constant schedule, gradient
clipping, per-token loss weights, mixed precision, a progress bar with the live loss, evaluation
callbacks and atomic checkpoints from which a killed run resumes exactly where it stopped.

Precision (``TrainConfig.precision``): ``auto`` trains in bf16 autocast on CUDA GPUs with native
bf16 (A100, H100, L4), in fp16 autocast with a grad scaler on older ones (the T4 of Colab), and in
plain fp32 on CPU and Apple GPUs. ``bf16`` and ``fp16`` ask for that autocast on any device whose
torch supports it, the CPU included (slower there, but it runs the same mixed-precision code);
``fp32`` turns autocast off. The grad scaler's state travels with the checkpoints.

Data sources only need ``batch(step) -> Batch`` (see :mod:`plmkit.data.packing`); because a batch
is a pure function of the step, resuming needs no data state beyond the step itself.

Multi-GPU: launch the same script with ``torchrun --nproc_per_node N``; each process takes its
share of every batch's rows and DistributedDataParallel averages the gradients.
"""
from __future__ import annotations

import atexit
import math
import os
import random
import time
import warnings
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Callable, Optional, Protocol, Sequence

import numpy as np
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from .data.packing import Batch
from .data.prefetch import Prefetcher, auto_workers
from .profiles import pick_device, set_threads

SCHEDULES = ("cosine", "linear", "constant")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
CHECKPOINT_FORMAT = "plmkit-checkpoint-v1"


class DataSource(Protocol):
    def batch(self, step: int) -> Batch: ...


@dataclass
class TrainConfig:
    steps: int
    lr: float = 1e-3
    schedule: str = "cosine"
    warmup_steps: int = 0
    min_lr_ratio: float = 0.0  # the schedule decays to lr * min_lr_ratio
    weight_decay: float = 0.1
    betas: tuple[float, float] = (0.9, 0.98)
    eps: float = 1e-6
    grad_clip: Optional[float] = 1.0
    seed: int = 0  # dropout and any other randomness inside the model
    precision: str = "auto"
    device: Optional[str] = None  # None: cuda > mps > cpu
    threads: Optional[int] = None  # CPU threads; None: see profiles.set_threads
    data_workers: Optional[int] = None  # processes computing batches ahead; None: see data.prefetch.auto_workers
    log_every: int = 10
    eval_every: int = 0  # 0: evaluate only at the end (if an eval_fn is given)
    checkpoint_every: int = 0  # 0: no checkpoints
    checkpoint_dir: Optional[str] = None
    progress: bool = True
    desc: str = "training"

    # Fields that may change between a run and its resumption without changing the result.
    RESUMABLE_CHANGES = ("device", "threads", "data_workers", "log_every", "eval_every", "checkpoint_every",
                         "checkpoint_dir", "progress", "desc")

    def __post_init__(self):
        if self.schedule not in SCHEDULES:
            raise ValueError(f"unknown schedule {self.schedule!r}; valid choices: {', '.join(SCHEDULES)}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"unknown precision {self.precision!r}; valid choices: {', '.join(PRECISIONS)}")
        if self.steps < 1:
            raise ValueError(f"steps must be at least 1, got {self.steps}")
        if not 0 <= self.warmup_steps <= self.steps:
            raise ValueError(f"warmup_steps must lie in [0, steps={self.steps}], got {self.warmup_steps}")
        if self.checkpoint_every and not self.checkpoint_dir:
            raise ValueError("checkpoint_every needs a checkpoint_dir")
        if self.data_workers is not None and self.data_workers < 0:
            raise ValueError(f"data_workers must be 0 or more, got {self.data_workers}")
        self.betas = tuple(self.betas)

    def to_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}


def lr_at(step: int, config: TrainConfig) -> float:
    """Learning rate for optimizer step ``step`` (0-based)."""
    if step < config.warmup_steps:
        return config.lr * (step + 1) / config.warmup_steps
    decay_steps = max(1, config.steps - config.warmup_steps)
    progress = min(1.0, (step - config.warmup_steps) / decay_steps)
    floor = config.min_lr_ratio
    if config.schedule == "cosine":
        factor = floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress))
    elif config.schedule == "linear":
        factor = 1 - (1 - floor) * progress
    else:
        factor = 1.0
    return config.lr * factor


@dataclass
class History:
    """What a run did, as plain data: one loss per step, evaluations, timing."""

    loss: list[float] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    evals: list[dict] = field(default_factory=list)  # each {"step": s, **metrics}
    tokens: int = 0
    seconds: float = 0.0

    @property
    def steps(self) -> int:
        return len(self.loss)

    @property
    def final_loss(self) -> float:
        return self.loss[-1] if self.loss else float("nan")

    def smoothed_loss(self, window: int = 20) -> np.ndarray:
        losses = np.asarray(self.loss, dtype=float)
        if len(losses) < 2:
            return losses
        window = max(1, min(window, len(losses)))
        kernel = np.ones(window) / window
        head = np.cumsum(losses[: window - 1]) / np.arange(1, window)
        return np.concatenate([head, np.convolve(losses, kernel, mode="valid")])

    @property
    def tokens_per_second(self) -> float:
        return self.tokens / self.seconds if self.seconds > 0 else float("nan")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, state: dict) -> "History":
        return cls(**state)


# ----------------------------------------------------------------------------------------------
def param_groups(model: torch.nn.Module, weight_decay: float) -> list[dict]:
    """Decay matrices (linear, embedding and Canon kernels); never norms or biases; skip frozen weights."""
    decay, no_decay = [], []
    for p in model.parameters():
        if not p.requires_grad:
            continue
        (decay if p.dim() >= 2 else no_decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def native_bf16(device: torch.device) -> bool:
    """Whether this CUDA GPU computes in bf16 natively (compute capability 8.0 or later, or ROCm).

    ``torch.cuda.is_bf16_supported()`` alone also says yes where bf16 is only emulated (a T4), where
    fp16 with a grad scaler is several times faster.
    """
    if device.type != "cuda" or not torch.cuda.is_available():
        return False
    if torch.version.hip:
        return True
    return torch.cuda.get_device_capability(device) >= (8, 0)


def autocast_dtype(device: torch.device, precision: str = "auto") -> Optional[torch.dtype]:
    """The autocast dtype a run on ``device`` uses; None means plain fp32 (no autocast)."""
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; valid choices: {', '.join(PRECISIONS)}")
    device = torch.device(device)
    if precision == "fp32":
        return None
    if precision == "auto":
        if device.type != "cuda":
            return None  # CPU and Apple GPUs: fp32, the numbers every lab's cpu profile was measured with
        return torch.bfloat16 if native_bf16(device) else torch.float16
    if not torch.amp.is_autocast_available(device.type):
        raise ValueError(f"precision {precision!r} needs autocast, which this torch lacks on {device.type}; "
                         "valid choices here: auto, fp32")
    return torch.bfloat16 if precision == "bf16" else torch.float16


def describe_precision(device: torch.device, precision: str = "auto") -> str:
    """What a run on ``device`` trains in, in words: 'bf16 autocast', 'fp16 autocast + grad scaler' or 'fp32'."""
    dtype = autocast_dtype(device, precision)
    if dtype is None:
        return "fp32"
    return "bf16 autocast" if dtype == torch.bfloat16 else "fp16 autocast + grad scaler"


def _dtype_name(dtype: Optional[torch.dtype]) -> str:
    return {None: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}[dtype]


def _distributed() -> tuple[int, int]:
    """(rank, world size); initialises the process group under torchrun."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return 0, 1
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if torch.cuda.is_available() else "gloo")
        # Left to interpreter shutdown, gloo's threads can abort a rank that finished its work ("terminate
        # called without an active exception"), and torchrun then reports the whole run failed.
        atexit.register(_close_gloo_group)
    return dist.get_rank(), dist.get_world_size()


def _close_gloo_group() -> None:
    # Local for gloo (no collective, so a rank that crashed cannot hang here waiting for the others); NCCL's
    # teardown can block on outstanding work and is left to torch.
    if dist.is_initialized() and dist.get_backend() == "gloo":
        dist.destroy_process_group()


def data_workers_for(config: TrainConfig, device: torch.device) -> int:
    """The worker processes that draw a run's batches ahead (config.data_workers, or the default for
    ``device``: none on a CPU, a few beside a GPU)."""
    return auto_workers(device.type) if config.data_workers is None else config.data_workers


# ----------------------------------------------------------------------------------------------
def train(
    model: torch.nn.Module,
    data: DataSource,
    config: TrainConfig,
    eval_fn: Optional[Callable[[torch.nn.Module, int], dict]] = None,
    callbacks: Sequence[Callable[[int, History], None]] = (),
    stop_after: Optional[int] = None,
) -> History:
    """Train ``model`` on ``data`` for ``config.steps`` steps and return the history.

    With ``checkpoint_dir`` set, an existing checkpoint of the same run is resumed from; one of a
    different run is an error (never overwritten). ``eval_fn(model, step) -> dict`` runs every
    ``eval_every`` steps and at the end. ``callbacks(step, history)`` run at every log point (live
    plots). ``stop_after`` halts after that many steps, as if the run had been killed (tests).
    """
    rank, world = _distributed()
    device = torch.device(f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}") if world > 1 and torch.cuda.is_available() else pick_device(config.device)
    if device.type == "cpu":
        set_threads(config.threads)
    model.to(device)
    torch.manual_seed(config.seed)
    optimizer = torch.optim.AdamW(param_groups(model, config.weight_decay), lr=config.lr, betas=config.betas,
                                  eps=config.eps, **({"fused": True} if device.type == "cuda" else {}))
    amp_dtype = autocast_dtype(device, config.precision)
    # fp16's narrow range makes small gradients underflow: scale the loss up, unscale before clipping
    scaler = torch.amp.GradScaler(device.type) if amp_dtype == torch.float16 else None
    history = History()
    start = 0
    ckpt = Path(config.checkpoint_dir) / "last.pt" if config.checkpoint_dir else None
    if ckpt is not None and ckpt.exists():
        start, history = _resume(ckpt, model, optimizer, scaler, config, data, amp_dtype)
    net = DistributedDataParallel(model) if world > 1 else model
    is_main = rank == 0

    from tqdm.auto import tqdm  # imported here: importing tqdm.auto is slow and only needed to train

    bar = tqdm(total=config.steps, initial=start, desc=config.desc, disable=not (config.progress and is_main),
               mininterval=0.5, dynamic_ncols=True)
    pending: list[torch.Tensor] = []
    t0 = time.perf_counter()
    seconds_before = history.seconds
    end = config.steps if stop_after is None else min(config.steps, start + stop_after)
    # Batches depend only on the step, so workers can draw them ahead: same data, less waiting.
    workers = data_workers_for(config, device) if end > start else 0
    source = Prefetcher(data, workers) if workers else data
    try:
        model.train()
        for step in range(start, end):
            lr = lr_at(step, config)
            for group in optimizer.param_groups:
                group["lr"] = lr
            batch = source.batch(step)
            if world > 1:
                batch = batch.rows(slice(rank, None, world))
            batch = batch.to(device)
            with torch.autocast(device.type, dtype=amp_dtype) if amp_dtype else nullcontext():
                loss = net(batch.inputs, batch.targets, batch.weights).loss
            if scaler is not None:
                scaler.scale(loss).backward()
                scaler.unscale_(optimizer)
            else:
                loss.backward()
            if config.grad_clip:
                torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
            if scaler is not None:
                scaler.step(optimizer)
                scaler.update()
            else:
                optimizer.step()
            optimizer.zero_grad(set_to_none=True)

            pending.append(loss.detach())
            history.lr.append(lr)
            history.tokens += batch.num_tokens * world
            done = step + 1
            last = done == config.steps
            if done % max(1, config.log_every) == 0 or last or done == end:
                _flush_losses(pending, history, world)
                bar.set_postfix(loss=f"{history.final_loss:.4f}", refresh=False)
                for callback in callbacks:
                    callback(done, history)
            bar.update(1)
            if eval_fn is not None and ((config.eval_every and done % config.eval_every == 0) or last):
                _flush_losses(pending, history, world)
                model.eval()
                metrics = eval_fn(model, done)
                model.train()
                history.evals.append({"step": done, **metrics})
            if ckpt is not None and is_main and config.checkpoint_every and done % config.checkpoint_every == 0 and not last:
                _flush_losses(pending, history, world)
                history.seconds = seconds_before + time.perf_counter() - t0
                save_checkpoint(ckpt, model, optimizer, scaler, config, data, done, history, amp_dtype)
    finally:
        if workers:
            source.close()
    _flush_losses(pending, history, world)
    bar.close()
    if end > start:  # resuming a finished run trains nothing and adds no time
        history.seconds = seconds_before + time.perf_counter() - t0
        if ckpt is not None and is_main and end == config.steps:
            save_checkpoint(ckpt, model, optimizer, scaler, config, data, end, history, amp_dtype)
    model.eval()
    return history


def _flush_losses(pending: list, history: History, world: int) -> None:
    if not pending:
        return
    losses = torch.stack(pending).float()
    if world > 1:
        dist.all_reduce(losses)
        losses /= world
    history.loss.extend(losses.cpu().tolist())
    pending.clear()


# ----------------------------------------------------------------------------------------------
# Checkpoints
# ----------------------------------------------------------------------------------------------
def _rng_state() -> dict:
    state = {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _describe_data(data) -> dict:
    return data.describe() if hasattr(data, "describe") else {"kind": type(data).__name__}


def save_checkpoint(path, model, optimizer, scaler, config: TrainConfig, data, step: int, history: History,
                    amp_dtype: Optional[torch.dtype] = None) -> None:
    """Write atomically: a crash mid-write leaves the previous checkpoint intact.

    ``scaler`` (fp16 runs) is saved with its current loss scale and growth counter: a resumed run that
    started from a fresh scale would skip or scale steps differently from the run it continues.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {
        "format": CHECKPOINT_FORMAT,
        "model_config": model.config.to_dict() if hasattr(model, "config") else None,
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scaler": scaler.state_dict() if scaler is not None else None,
        "amp": _dtype_name(amp_dtype),
        "train_config": config.to_dict(),
        "data": _describe_data(data),
        "step": step,
        "rng": _rng_state(),
        "history": history.to_dict(),
    }
    tmp = path.with_name(path.name + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def _resume(path: Path, model, optimizer, scaler, config: TrainConfig, data,
            amp_dtype: Optional[torch.dtype] = None) -> tuple[int, History]:
    state = torch.load(path, map_location="cpu", weights_only=False)
    if state.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path} is not a plmkit training checkpoint")
    mismatches = []
    if hasattr(model, "config") and state["model_config"] != model.config.to_dict():
        mismatches.append("model config")
    saved = state["train_config"]
    for key, value in config.to_dict().items():
        if key not in TrainConfig.RESUMABLE_CHANGES and _normalise(saved.get(key)) != _normalise(value):
            mismatches.append(f"{key} ({saved.get(key)!r} there, {value!r} now)")
    if state["data"] != _describe_data(data):
        mismatches.append("data source")
    if mismatches:
        raise ValueError(
            f"{path} holds a checkpoint of a different run (differs in: {', '.join(mismatches)}). "
            "It was left untouched: choose another checkpoint_dir, or delete that file to start over."
        )
    saved_amp, amp_now = state.get("amp"), _dtype_name(amp_dtype)
    if saved_amp is not None and saved_amp != amp_now:
        # precision 'auto' resolves per device, and the device may change between a run and its resumption
        warnings.warn(f"{path} was trained in {saved_amp} and resumes in {amp_now} (precision "
                      f"{config.precision!r} on this device): the rest of the run will not match an "
                      "uninterrupted one bit for bit", stacklevel=3)
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    if scaler is not None and state.get("scaler") is not None:
        scaler.load_state_dict(state["scaler"])
    _set_rng_state(state["rng"])
    return state["step"], History.from_dict(state["history"])


def _normalise(value):
    return list(value) if isinstance(value, tuple) else value


def load_model(path, device: Optional[str] = None):
    """Rebuild a GPT from a training checkpoint (or a shipped ``model.pt``) for analysis."""
    from .model import GPT, GPTConfig

    state = torch.load(path, map_location="cpu", weights_only=False)
    if not state.get("model_config"):
        raise ValueError(f"{path} has no model config; it is not a plmkit checkpoint")
    model = GPT(GPTConfig(**state["model_config"]))
    model.load_state_dict(state["model"])
    return model.to(pick_device(device)).eval()
