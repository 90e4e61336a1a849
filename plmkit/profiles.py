"""Run profiles, device choice and CPU threads.

(torch is imported inside the functions that need it, so the command line starts fast for data tools.)

One setting, ``PLMKIT_PROFILE``, picks the size of every experiment:

* ``ci``  : seconds per experiment; checks the mechanics, shows no phenomenon;
* ``cpu`` : at most ~10 minutes per notebook on a 2-core laptop, still shows the paper's effect;
* ``gpu`` : at most ~1 hour on one Colab-class GPU, closer to the paper's scale.

Experiments keep a small table ``{"ci": ..., "cpu": ..., "gpu": ...}`` and call :func:`pick`.
"""
from __future__ import annotations

import os
from typing import Mapping, Optional, TypeVar

PROFILES = ("ci", "cpu", "gpu")
DEVICES = ("cuda", "mps", "cpu")
T = TypeVar("T")


def get_profile(name: Optional[str] = None) -> str:
    """The active profile: ``name`` if given, else ``$PLMKIT_PROFILE``, else gpu/cpu by hardware."""
    chosen = name if name is not None else os.environ.get("PLMKIT_PROFILE")
    if chosen is None or chosen == "":
        import torch

        return "gpu" if torch.cuda.is_available() else "cpu"
    chosen = chosen.strip().lower()
    if chosen not in PROFILES:
        raise ValueError(f"unknown profile {chosen!r}; valid profiles: {', '.join(PROFILES)} (set PLMKIT_PROFILE or pass --profile)")
    return chosen


def pick(table: Mapping[str, T], profile: Optional[str] = None) -> T:
    """The entry of a per-profile table for the active profile."""
    profile = get_profile(profile)
    missing = [p for p in PROFILES if p not in table]
    if missing:
        raise KeyError(f"profile table lacks entries for {missing}")
    return table[profile]


def pick_device(preferred: Optional[str] = None) -> torch.device:
    """cuda > mps > cpu, unless ``preferred`` or ``$PLMKIT_DEVICE`` names one."""
    import torch

    chosen = preferred or os.environ.get("PLMKIT_DEVICE") or "auto"
    chosen = str(chosen).lower()
    if chosen == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    kind = chosen.split(":")[0]
    if kind not in DEVICES:
        raise ValueError(f"unknown device {chosen!r}; valid choices: auto, {', '.join(DEVICES)} (optionally with an index, e.g. cuda:1)")
    if kind == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' was requested but no CUDA GPU is available; use 'auto' or 'cpu'")
    if kind == "mps" and not (getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()):
        raise ValueError("device 'mps' was requested but this machine has no Apple GPU; use 'auto' or 'cpu'")
    return torch.device(chosen)


def available_cores() -> int:
    """CPU cores this process may use (respects affinity masks and container limits)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # macOS, Windows
        return max(1, os.cpu_count() or 1)


def _probe_seconds(threads: int) -> float:
    """Best time of a small forward/backward workload with ``threads`` threads."""
    import time

    import torch

    torch.set_num_threads(threads)
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(4096, 64, generator=generator, requires_grad=True)
    w = torch.randn(64, 256, generator=generator, requires_grad=True)
    best = float("inf")
    for _ in range(2):
        start = time.perf_counter()
        for _ in range(3):
            torch.nn.functional.gelu(x @ w).sum().backward()
        best = min(best, time.perf_counter() - start)
    return best


_measured: dict = {}


def measure_best_threads(max_age_s: float = 120.0) -> int:
    """Time a small workload with 1..N threads and return the fastest (cached for a while).

    On a 2-core machine where another process keeps one core busy, 2 threads can be several
    times slower than 1 (they wait for each other); on an idle machine 2 are faster. Measuring
    takes a fraction of a second and avoids both traps.
    """
    import time

    import torch

    cores = available_cores()
    if cores == 1:
        return 1
    if _measured and time.monotonic() - _measured["when"] < max_age_s:
        return _measured["threads"]
    before = torch.get_num_threads()
    candidates = sorted({1, cores // 2 or 1, cores})
    times = {t: _probe_seconds(t) for t in candidates}
    torch.set_num_threads(before)
    fastest = min(times.values())
    # prefer more threads unless fewer are clearly (10%) faster
    best = max(t for t, sec in times.items() if sec <= fastest * 1.1)
    _measured.update(threads=best, when=time.monotonic(), seconds=times)
    return best


def set_threads(threads: Optional[int] = None) -> int:
    """Set torch's CPU threads on purpose and return the number used.

    Default: ``$PLMKIT_THREADS`` if set, else the count :func:`measure_best_threads` finds fastest
    right now. See benchmarks/bench_threads.py for why this matters on small machines.
    """
    import torch

    if threads is None:
        env = os.environ.get("PLMKIT_THREADS")
        threads = int(env) if env else measure_best_threads()
    threads = max(1, int(threads))
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    return threads


def describe(profile: Optional[str] = None, device: Optional[str] = None) -> str:
    """One line for notebooks and logs: profile, device and threads."""
    import torch

    dev = pick_device(device)
    threads = f", {torch.get_num_threads()} CPU threads" if dev.type == "cpu" else ""
    return f"plmkit profile: {get_profile(profile)} | device: {dev}{threads}"
