"""Speed of the grammar tools against the kit's own targets, printed beside each number (run as a script, one core).

    python benchmarks/bench_cfg.py            # full run, about a minute
    python benchmarks/bench_cfg.py --quick    # smaller counts, a few seconds

Measures: the share of a Part 1 training step spent generating its data, sampler throughput (cfg3f and cfg3f-d3) and the cost of one training step's worth of data,
parser time per full cfg3f sentence (median, p95), time to score 1000 generations (fresh cfg3f sentences,
about half corrupted by a flip), next_token_dist time per cfg3f sentence, and the n-gram ladder.
Timings on a shared machine are noisy: medians over repeats are reported.
"""
from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # one core, as the targets assume
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

from plmkit.data.cfg import (  # noqa: E402
    Grammar,
    accepts,
    corrupt_prefix,
    next_token_dist,
    ngram_ladder,
    sample,
    sample_stream,
    score_generations,
)


def timed(fn, repeats: int) -> float:
    """Median seconds of one call over ``repeats`` calls."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def bench_sampler(name: str, batch: int, repeats: int) -> None:
    g = Grammar.load(name)
    rng = np.random.default_rng(0)
    tokens = sum(len(s) for s in sample(g, batch, rng))
    seconds = timed(lambda: sample(g, batch, rng), repeats)
    print(f"sampler {name:<9} {batch / seconds:>12,.0f} sentences/s {tokens / seconds:>12,.0f} tokens/s "
          f"(target >= 200,000 tokens/s)")
    # One training step of a small model reads about 64 x 64 tokens: how long does that much data take?
    per_sentence = tokens / batch
    step_batch = max(1, int(np.ceil(4096 / per_sentence)))
    step = timed(lambda: sample(g, step_batch, rng), repeats * 5)
    print(f"        {name:<9} {step * 1e3:>8.2f} ms for ~4k tokens ({step_batch} sentences; target < 10 ms, 5% of a 0.2 s step)")


def bench_parser(count: int) -> None:
    g = Grammar.load("cfg3f")
    sentences = sample(g, count, np.random.default_rng(1))
    times = []
    for x in sentences:
        start = time.perf_counter()
        assert accepts(g, x)
        times.append(time.perf_counter() - start)
    times = np.array(times) * 1e3
    lengths = np.array([len(x) for x in sentences])
    print(f"parser  cfg3f     median {np.median(times):.2f} ms, p95 {np.percentile(times, 95):.2f} ms, max {times.max():.2f} ms "
          f"per sentence (lengths {lengths.min()}-{lengths.max()}, mean {lengths.mean():.0f}; target median <= 10 ms)")


def bench_scoring(count: int) -> None:
    g = Grammar.load("cfg3f")
    rng = np.random.default_rng(2)
    clean = sample(g, count, rng)
    # About half the sentences get exactly one flip anywhere (gamma 0 plus the forced flip).
    noisy = [corrupt_prefix(x, len(x), 0.0, rng, g)[0] if rng.random() < 0.5 else x for x in clean]
    generations = [s.tolist() + [g.bos_id] for s in noisy]
    for workers in (1, None):
        start = time.perf_counter()
        scores = score_generations(g, [g.bos_id], generations, workers=workers)
        seconds = time.perf_counter() - start
        label = "1 process" if workers == 1 else "default workers (free cores)"
        print(f"scoring {count} cfg3f generations: {seconds:.2f} s with {label}, accuracy {scores.accuracy:.3f} "
              f"(target < 240 s)")


def bench_dp(count: int) -> None:
    g = Grammar.load("cfg3f")
    sentences = sample(g, count, np.random.default_rng(3))
    times = []
    for x in sentences:
        start = time.perf_counter()
        next_token_dist(g, x)
        times.append(time.perf_counter() - start)
    lengths = [len(x) for x in sentences]
    print(f"dp      cfg3f     next_token_dist median {np.median(times):.3f} s, max {max(times):.3f} s per sentence "
          f"(lengths {min(lengths)}-{max(lengths)}; target <= 1 s)")


def bench_ngram(sentences: int) -> None:
    g = Grammar.load("cfg3f-d3")
    train = sample_stream(g, sentences, 4)
    heldout = sample_stream(g, max(1000, sentences // 10), 5)
    start = time.perf_counter()
    ladder = ngram_ladder(train, heldout, max_context=11, num_outcomes=g.num_terminals + 1)
    seconds = time.perf_counter() - start
    print(f"ngram   cfg3f-d3  {len(train):,} training tokens, contexts 0..11 in {seconds:.1f} s; "
          f"held-out nats/token: {', '.join(f'{v:.3f}' for v in ladder)}")


def bench_training_share(steps: int) -> None:
    """Share of a training step spent generating its data (issue: at most 5%), for Part 1's real configs."""
    import torch

    from plmkit.experiments import cfg as part1

    torch.set_num_threads(1)
    configs = (("cfg3f-d3", "mini", 32, None, "cpu lab, from scratch"),
               ("cfg3f-d4", "small", 16, None, "shipped checkpoint"),
               ("cfg3f-d4", "small", 16, (0.3, 0.15, "flip"), "shipped noisy checkpoint"))
    for name, size, batch, corrupt, what in configs:
        g = Grammar.load(name)
        model = part1.make_model(g, size)
        stream = part1.make_stream(g, model.config.context, batch, corrupt=corrupt)
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
        data_seconds, total = 0.0, 0.0
        for step in range(steps + 2):
            start = time.perf_counter()
            batch_data = stream.batch(step)
            made = time.perf_counter()
            loss = model(batch_data.inputs, batch_data.targets).loss
            loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            if step >= 2:  # the first steps warm up allocators
                data_seconds += made - start
                total += time.perf_counter() - start
        print(f"train   {name:<9} {size:<5} batch {batch:>2} x {model.config.context}: data generation "
              f"{100 * data_seconds / total:.1f}% of a {1e3 * total / steps:.0f} ms step ({what}; target <= 5%)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller counts (a few seconds)")
    args = parser.parse_args()
    scale = 0.1 if args.quick else 1.0
    bench_sampler("cfg3f", 1000, 5)
    bench_sampler("cfg3f-d3", 10000, 5)
    bench_parser(int(300 * scale) or 20)
    bench_scoring(int(1000 * scale))
    bench_dp(int(20 * scale) or 3)
    bench_ngram(int(250_000 * scale))
    bench_training_share(int(40 * scale) or 5)


if __name__ == "__main__":
    main()
