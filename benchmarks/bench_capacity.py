"""Part 3.3 capacity data and bit counting throughput on one core.

    python benchmarks/bench_capacity.py            # --quick for smaller sizes

Prints:

* bioD generation (draw the dataset) and one training pass (render every person in a fresh order and
  pack the lines into windows), people/s, for bioD-tiny and bioD-medium;
* online bioS(N) training passes with the full pools and templates (render a fresh entry per person,
  encode, pack), people/s;
* bioS-compact: drawing the data, one training pass (every person in a fresh pair order, packed) and
  random junk windows, people/s, with the tokens per exposure;
* the batched bit count of the ``cpu`` profile's model shape (2 layers, d 32, 2 heads) over bioD-tiny:
  one forward pass over every person plus the loss sums and the bit formulas.

Everything runs on one thread (torch.set_num_threads(1)); Python itself uses one core.
"""
from __future__ import annotations

import argparse
import time

import torch

from plmkit.data import bios
from plmkit.data.capacity import (CompactJunkWindows, bios_compact_dataset, bios_online_dataset, biod_dataset,
                                  generate_bios_compact, generate_biod, measure_biod, preset)
from plmkit.model import GPT, GPTConfig


def timed(fn, repeat: int = 1):
    start = time.perf_counter()
    for _ in range(repeat):
        result = fn()
    return result, (time.perf_counter() - start) / repeat


def seconds_per_pass(stream, passes: int) -> float:
    """Mean seconds to render and pack one pass (epoch) over every person."""
    start = time.perf_counter()
    for epoch in range(passes):
        stream.epoch_windows(epoch)
    return (time.perf_counter() - start) / passes


def bench_biod(name: str, n_people: int, passes: int) -> None:
    config = preset(name, N=n_people)
    data, dt = timed(lambda: generate_biod(config, seed=0))
    print(f"{name:<12} generate        {n_people:>9,} people  {dt:7.3f} s  {n_people / dt:>12,.0f} people/s")
    stream = biod_dataset(data, context=128 if name == "bioD-tiny" else 512, batch_size=8, seed=1)
    dt = seconds_per_pass(stream, passes)
    print(f"{name:<12} one pass        {n_people:>9,} people  {dt:7.3f} s  {n_people / dt:>12,.0f} people/s "
          f"(render in a fresh order + pack)")


def bench_bios_online(n_people: int, passes: int) -> None:
    pools = bios.pools_for_profile("gpu")
    people = bios.sample_people(n_people, pools, seed=0)
    tokenizer = bios.build_tokenizer(pools, "full")
    stream = bios_online_dataset(people, tokenizer, context=512, batch_size=32, seed=1, templates="full")
    dt = seconds_per_pass(stream, passes)
    print(f"{'bioS online':<12} one pass        {n_people:>9,} people  {dt:7.3f} s  {n_people / dt:>12,.0f} people/s "
          f"(full pools and templates: render + encode + pack)")


def bench_bios_compact(n_people: int, passes: int) -> None:
    data, dt = timed(lambda: generate_bios_compact(n_people, seed=0))
    per_exposure = float(data.line_lengths().mean()) + 1
    print(f"{'bioS-compact':<12} generate        {n_people:>9,} people  {dt:7.3f} s  {n_people / dt:>12,.0f} people/s "
          f"({per_exposure:.2f} tokens per exposure)")
    stream = bios_compact_dataset(data, context=512, batch_size=16, seed=1)
    dt = seconds_per_pass(stream, passes)
    print(f"{'bioS-compact':<12} one pass        {n_people:>9,} people  {dt:7.3f} s  {n_people / dt:>12,.0f} people/s "
          f"(render in a fresh order + pack)")
    junk = CompactJunkWindows(data, "random", context=512, seed=2)
    _, dt = timed(lambda: [junk.windows(step, 14) for step in range(20)])
    print(f"{'bioS-compact':<12} junk windows    {20 * 14:>9,} windows {dt:7.3f} s  {20 * 14 / dt:>12,.0f} windows/s "
          f"(fresh junk people, 14 windows a step)")


def bench_bit_count(n_people: int) -> None:
    data = generate_biod(preset("bioD-tiny", N=n_people), seed=0)
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=data.config.vocab_size, context=128, n_layer=2, n_head=2, d_model=32))
    measure_biod(model, data)  # warm-up
    m, dt = timed(lambda: measure_biod(model, data, batch_size=512), repeat=3)
    print(f"{'bit count':<12} one pass        {n_people:>9,} people  {dt * 1e3:7.1f} ms {n_people / dt:>12,.0f} people/s "
          f"(bioD-tiny, 2 layers d 32, P = {m.parameters:,})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes (a few seconds)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    scale = 10 if args.quick else 1
    bench_biod("bioD-tiny", 1500, passes=50)
    bench_biod("bioD-tiny", 50_000, passes=max(1, 5 // scale))
    bench_biod("bioD-medium", 200_000 // scale, passes=2)
    bench_bios_online(20_000 // scale, passes=2)
    bench_bios_compact(20_000 // scale, passes=max(1, 10 // scale))
    bench_bit_count(1500)


if __name__ == "__main__":
    main()
