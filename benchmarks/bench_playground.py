"""Speed of the Part 4.1 playground generators on one core (run as a script).

    python benchmarks/bench_playground.py            # every task, about half a minute
    python benchmarks/bench_playground.py --quick    # fewer repeats, a few seconds

For each task and size: instances generated per second, answers checked per second by the
independent checker, and the time to build one training batch (32 packed windows, generation
included) through OnlineStream. Where a CPU training step time has been measured (Depo-micro on a
4L64D model, copy on a 1L-2H-16D model), the batch time is compared with 5% of that step.
Times are CPU seconds of this process (``time.process_time``), medians over repeats, so that other
jobs on a shared machine inflate them less than wall-clock time would.
"""
from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # one core
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

from plmkit.data.playground import brevo, common, copy, depo, mano  # noqa: E402

BATCH = 32
# (label, module, config, context, measured CPU step in seconds or None)
CELLS = [
    ("depo-micro (cpu)", depo, depo.PRESETS["depo-micro"], 128, 0.14),  # 4L64D, context 128, batch 32
    ("copy N=64 (cpu)", copy, copy.PRESETS["copy-mini"], 130, 0.008),   # 1L-2H-16D: 12-21 s per 1,500 steps
    ("copy N=128 (cpu)", copy, copy.CopyConfig(128), 258, None),
    ("copy N=200 (cpu)", copy, copy.CopyConfig(200), 402, None),
    ("depo1-mini (gpu)", depo, depo.PRESETS["depo1-mini"], 512, None),
    ("brevo1-mini (gpu)", brevo, brevo.PRESETS["brevo1-mini"], 256, None),
    ("mano-mini (gpu)", mano, mano.PRESETS["mano-mini"], 256, None),
    ("depo1 N=375", depo, depo.PRESETS["depo1"], 2048, None),
    ("depo2 N=125", depo, depo.PRESETS["depo2"], 2048, None),
    ("brevo1 N=110", brevo, brevo.PRESETS["brevo1"], 1024, None),
    ("brevo2 N=50", brevo, brevo.PRESETS["brevo2"], 1536, None),
    ("mano L=16", mano, mano.PRESETS["mano"], 1024, None),
    ("copy N=500", copy, copy.PRESETS["copy"], 1024, None),
]


def median_seconds(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.process_time()
        fn()
        times.append(time.process_time() - start)
    return float(np.median(times))


def checker(module, cfg):
    """The independent check of one instance, as the command line runs it."""
    if module is depo:
        return lambda inst: depo.check(cfg, inst.tokens, inst.answer_tokens())
    if module is brevo:
        return lambda inst: brevo.validate(cfg, inst.tokens, inst.answer_tokens()[0])
    if module is mano:
        return lambda inst: mano.check(cfg, inst.tokens, inst.answer_tokens()[0])
    return lambda inst: copy.check(inst.tokens, inst.answer_tokens()[0])


def examples_per_window(module, cfg, context: int) -> int:
    rng = np.random.default_rng(0)
    mean = np.mean([len(module.sample_instance(cfg, rng).tokens) for _ in range(200)])
    return max(1, int(context // mean))


def bench_cell(label, module, cfg, context, step, repeats: int) -> None:
    rng = np.random.default_rng(0)
    count = 200
    gen = median_seconds(lambda: [module.sample_instance(cfg, rng) for _ in range(count)], repeats)
    sample = [module.sample_instance(cfg, rng) for _ in range(count)]
    check = checker(module, cfg)
    chk = median_seconds(lambda: [check(inst) for inst in sample], repeats)
    tokens = np.mean([len(i.tokens) for i in sample])
    per_call = BATCH * examples_per_window(module, cfg, context)  # about one call per batch
    stream = common.online_stream(module.sample_fn(cfg), context, BATCH, seed=0, examples_per_call=per_call)
    steps = iter(range(10 ** 6))
    batch_ms = median_seconds(lambda: stream.batch(next(steps)), repeats * 3) * 1e3
    verdict = ""
    if step is not None:
        share = batch_ms / (step * 1e3)
        verdict = f"  {share:6.1%} of a {step * 1e3:.0f} ms step ({'ok' if share < 0.05 else 'OVER 5%'})"
    print(f"{label:<19} {count / gen:>10,.0f} inst/s {count * tokens / gen:>12,.0f} tok/s "
          f"{count / chk:>9,.0f} checks/s  mean {tokens:>6.0f} tok  "
          f"batch {BATCH}x{context}: {batch_ms:7.2f} ms{verdict}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    args = parser.parse_args()
    torch.set_num_threads(1)
    repeats = 3 if args.quick else 7
    print(f"one core; batch {BATCH}; examples per call = batch x instances per window")
    for cell in CELLS:
        bench_cell(*cell, repeats=repeats)


if __name__ == "__main__":
    main()
