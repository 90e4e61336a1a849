"""How many CPU threads should training use?

    python benchmarks/bench_threads.py            # quiet machine
    python benchmarks/bench_threads.py --busy     # with one competing busy process per core minus one

Times training steps of the tour model and of the small Part 1 model with 1, 2, ... threads, and
prints tokens/s for each. On a 2-core laptop that is doing nothing else, 2 threads win; when another
process keeps a core busy, 1 thread is often faster (two threads then fight over one core). plmkit
uses every available core unless PLMKIT_THREADS says otherwise.
"""
from __future__ import annotations

import argparse
import multiprocessing as mp
import time

import torch

from plmkit.model import GPT, GPTConfig
from plmkit.profiles import available_cores

MODELS = {
    "tour (2L d64, T128, B32)": (dict(n_layer=2, n_head=4, d_model=64, context=128), 32),
    "part1 small (4L d128, T64, B64)": (dict(n_layer=4, n_head=4, d_model=128, context=64), 64),
}


def _spin(stop):
    x = 0
    while not stop.is_set():
        x += 1


def tokens_per_second(config: dict, batch: int, threads: int, steps: int = 8) -> float:
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=8, **config))
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    x = torch.randint(0, 8, (batch, config["context"]))
    for i in range(steps + 2):
        if i == 2:
            start = time.perf_counter()
        model(x, x).loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    return batch * config["context"] * steps / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--busy", action="store_true", help="keep all but one core busy with another process")
    args = parser.parse_args()
    cores = available_cores()
    stop = mp.Event()
    spinners = [mp.Process(target=_spin, args=(stop,)) for _ in range(max(1, cores - 1))] if args.busy else []
    for p in spinners:
        p.start()
    try:
        print(f"{cores} cores available{', with ' + str(len(spinners)) + ' busy process(es)' if spinners else ''}")
        for name, (config, batch) in MODELS.items():
            rates = {t: tokens_per_second(config, batch, t) for t in range(1, cores + 1)}
            best = max(rates, key=rates.get)
            print(f"{name:<34}" + "  ".join(f"{t} thread(s): {r:>8,.0f} tok/s" for t, r in rates.items())
                  + f"   best: {best}")
    finally:
        stop.set()
        for p in spinners:
            p.join()


if __name__ == "__main__":
    main()
