"""Speed of the iGSM tools on one core: generator problems/s and checker time per solution.

    python benchmarks/bench_igsm.py            # about half a minute
    python benchmarks/bench_igsm.py --quick    # a few seconds

Targets (Part 2.1 data on the fly): nano >= 2,000 problems/s, med training mix >= 200 problems/s, each
problem rendered as a pq training sequence (token ids and loss weights). Also prints the checker's
time per generated solution, and per op the share of abstract parameters and the structure draws per
accepted problem (the generator steers op directly; it only redraws when an algorithm step fails).
Also the share of a training step of the shipped cpu checkpoint's run (``igsm-pretrain --profile cpu``)
spent drawing and packing its problems (target under 5%: the data must not slow training down), and the
batches per second lab 02's GPU recipe (nano-xl) can draw with and without prefetching workers.
Timings on a shared machine are noisy: the best of a few repeats is reported.
"""
from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # one core, as the targets assume
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

from plmkit.data import igsm  # noqa: E402
from plmkit.data.igsm.stats import op_table, template_overlap  # noqa: E402


def best_rate(fn, count: int, repeats: int) -> float:
    """Items per second: the best of ``repeats`` runs of ``fn(count)``."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn(count)
        best = min(best, time.perf_counter() - start)
    return count / best


def bench_generator(world_name: str, count: int, repeats: int, target: float) -> None:
    world = igsm.load_world(world_name)
    draws = igsm.Draws(np.random.default_rng(0))

    def make(n):
        for _ in range(n):
            igsm.sample_problem(world, draws=draws).sequence("pq")

    rate = best_rate(make, count, repeats)
    status = "ok" if rate >= target else "BELOW TARGET"
    print(f"generator {world_name:<5} training mix, pq: {rate:>8,.0f} problems/s  (target >= {target:,.0f}: {status})")


def bench_checker(world_name: str, count: int, repeats: int) -> None:
    world = igsm.load_world(world_name)
    draws = igsm.Draws(np.random.default_rng(1))
    problems = [igsm.sample_problem(world, draws=draws) for _ in range(count)]
    ids = [p.sequence("pq")[0] for p in problems]
    texts = [p.solution_text + f" <ans> {p.answer}" for p in problems]

    def check_ids(n):
        assert all(igsm.check_solution(p, x).correct for p, x in zip(problems[:n], ids))

    def check_text(n):
        assert all(igsm.check_solution(p, x).correct for p, x in zip(problems[:n], texts))

    per_id = 1e3 / best_rate(check_ids, count, repeats)
    per_text = 1e3 / best_rate(check_text, count, repeats)
    print(f"checker   {world_name:<5} {per_id:.3f} ms per solution (token ids), {per_text:.3f} ms (text)")


def print_op_table(world_name: str, n_per_op: int) -> None:
    print(f"\n{world_name}: per op (fixed-op draws, {n_per_op} each)")
    print("   op     ip  tokens  abstract share (necessary / G_d)  draws per problem")
    for row in op_table(world_name, n_per_op):
        print(f"  {row['op']:>3} {row['ip']:>6.1f} {row['tokens']:>7.0f}      {row['abstract_share_necessary']:.2f} / "
              f"{row['abstract_share_graph']:.2f}                  {row['draws_per_problem']:.2f}")


def print_overlap(world_name: str, n_per_op: int) -> None:
    print(f"\n{world_name}: solution templates per op ({n_per_op} train and test problems each)")
    for row in template_overlap(world_name, n_per_op):
        print(f"  op {row['op']:>2}: {row['train_templates']:>4} train templates, test share seen in train "
              f"{row['test_share_seen_in_train']:.2f}")


def bench_data_share(steps: int) -> None:
    """Seconds per batch of the cpu pretraining stream against seconds per full training step on it."""
    from plmkit.experiments.igsm.settings import PRETRAIN
    from plmkit.experiments.shared.igsm import load_world, make_model, make_stream

    s = PRETRAIN["cpu"].train
    world = load_world(s.world)
    stream = make_stream(world, s.window or s.context, s.batch, layout=s.layout, loss=s.loss, one_per_row=s.one_per_row)
    model = make_model(world, s.size, s.context)
    optimizer = torch.optim.AdamW(model.parameters(), lr=s.lr)
    data = step = float("inf")
    for i in range(steps):
        start = time.perf_counter()
        batch = stream.batch(i)
        drawn = time.perf_counter()
        model(batch.inputs, batch.targets, batch.weights).loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        data, step = min(data, drawn - start), min(step, time.perf_counter() - start)
    share = data / step
    status = "ok" if share < 0.05 else "ABOVE TARGET"
    print(f"training data share, igsm-pretrain cpu ({s.size.label}, {s.batch} x {s.window or s.context}): {data * 1e3:.0f} ms of "
          f"{step * 1e3:.0f} ms per step = {share:.1%}  (target < 5%: {status})")


def bench_prefetch(steps: int, workers: int, step_ms: float = 10.0) -> None:
    """Steps per second of a loop that draws lab 02's GPU recipe (nano-xl, 96 problems per step) and then spends
    ``step_ms`` of its own process's time per step (a stand-in for launching a small model's kernels on a GPU),
    alone and with ``workers`` prefetching processes, which draw the next batches while the loop is busy."""
    from plmkit.data.prefetch import Prefetcher, fork_available
    from plmkit.experiments.igsm.settings import PRETRAIN_RUNS
    from plmkit.experiments.shared.igsm import load_world, make_stream

    s = next(run for run in PRETRAIN_RUNS["cpu"] if run.name == "nano-xl").train
    stream = make_stream(load_world(s.world), s.window or s.context, s.batch, layout=s.layout, loss=s.loss,
                         one_per_row=s.one_per_row)

    def rate(source) -> float:
        source.batch(0)  # warm-up (and the workers' first batches)
        start = time.perf_counter()
        for step in range(1, steps + 1):
            source.batch(step)
            busy_until = time.perf_counter() + step_ms / 1e3
            while time.perf_counter() < busy_until:
                pass
        return steps / (time.perf_counter() - start)

    line = (f"loop on nano-xl data ({s.batch} problems per step) with a {step_ms:.0f} ms stand-in step: "
            f"{rate(stream):.0f} steps/s alone")
    if fork_available() and workers > 0:
        with Prefetcher(stream, workers) as prefetched:
            line += f", {rate(prefetched):.0f} with {workers} prefetching worker{'s' if workers > 1 else ''}"
    print(line + "  (nano-xl trained at 53 steps/s on an H200 with 4 workers)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smaller counts")
    args = parser.parse_args()
    torch.set_num_threads(1)
    scale = 0.2 if args.quick else 1.0
    repeats = 2 if args.quick else 3
    bench_generator("nano", int(4000 * scale), repeats, 2000)
    bench_generator("med", int(600 * scale), repeats, 200)
    bench_checker("nano", int(2000 * scale), repeats)
    bench_checker("med", int(300 * scale), repeats)
    print_op_table("nano", int(300 * scale))
    print_op_table("med", int(60 * scale))
    print_overlap("nano", int(300 * scale))
    bench_data_share(4 if args.quick else 10)
    from plmkit.data.prefetch import auto_workers

    bench_prefetch(10 if args.quick else 40, max(1, auto_workers("cuda")))  # as many as a GPU run would get


if __name__ == "__main__":
    main()
