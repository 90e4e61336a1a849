"""Biography data throughput on one core.

    python benchmarks/bench_bios.py            # --people N (default 100000), --quick

Prints, for the full (gpu) pools and templates:

* people sampling rate;
* bioS generation rate for ``single`` and ``multi5+permute`` (target: >= 20,000 bios/s);
* encoding rate (entry text -> token ids + loss weights) and the bioP paraphraser's rate;
* the time to evaluate 1,000 QA answers: scoring given predictions (the model-agnostic metrics) and
  end to end, greedy generation with the ``cpu`` profile's model shape (2 layers, d 128, 4 heads)
  batched per attribute (target: seconds).

Everything runs on one thread (torch.set_num_threads(1)); Python itself uses one core.
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from plmkit.data import bios
from plmkit.data.bios.paraphrase import Paraphraser
from plmkit.model import GPT, GPTConfig

TARGET_BIOS_PER_S = 20_000


def timed(fn):
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


def bench_generation(n_people: int) -> None:
    pools = bios.pools_for_profile("gpu")
    people, dt = timed(lambda: bios.sample_people(n_people, pools, seed=0))
    print(f"sample_people            {n_people:>8,} people  {dt:6.2f} s  {n_people / dt:>10,.0f} people/s")
    renderer = bios.BioRenderer("full")
    for augmentation, share in (("single", 1.0), ("multi5+permute", 0.2)):
        subset = people[:max(1, int(n_people * share))]
        entries, dt = timed(lambda: renderer.render(subset, augmentation, seed=1))
        count = sum(len(e) for e in entries)
        verdict = "ok" if count / dt >= TARGET_BIOS_PER_S else "BELOW TARGET"
        print(f"render {augmentation:<17} {count:>8,} bios    {dt:6.2f} s  {count / dt:>10,.0f} bios/s "
              f"(target >= {TARGET_BIOS_PER_S:,}: {verdict})")
    tokenizer = bios.build_tokenizer(pools, "full", paraphrase=True)
    flat = [e for es in entries for e in es][:20_000]
    _, dt = timed(lambda: bios.encode_entries(flat, tokenizer))
    print(f"encode_entries           {len(flat):>8,} bios    {dt:6.2f} s  {len(flat) / dt:>10,.0f} bios/s")
    para = Paraphraser(pools, "full")
    subset = people[:5_000]
    _, dt = timed(lambda: para.render(subset, seed=2))
    print(f"bioP render              {len(subset):>8,} bios    {dt:6.2f} s  {len(subset) / dt:>10,.0f} bios/s")


def bench_qa_evaluation(n_answers: int = 1000) -> None:
    pools = bios.pools_for_profile("cpu")
    tokenizer = bios.build_tokenizer(pools, "short")
    people = bios.sample_people(n_answers // 6 + 1, pools, seed=3)
    qas = bios.qa_pairs(people)[:n_answers]
    # 1) metrics alone, on given predicted words (half right, half wrong)
    predictions = [qa.answer_words + ["."] if i % 2 else ["Nowhere", "."] for i, qa in enumerate(qas)]
    scores, dt = timed(lambda: bios.score_answers(qas, predictions))
    print(f"score_answers            {n_answers:>8,} answers {dt * 1e3:6.1f} ms  (mean accuracy {scores.mean:.2f})")
    # 2) end to end: greedy generation with an untrained cpu-profile model (never stops early: worst case)
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=tokenizer.vocab_size, context=128, n_layer=2, n_head=4, d_model=128)).eval()
    budget = bios.generation_budget(qas)
    stop = tokenizer.id_of(".")

    def evaluate():
        generated = [None] * len(qas)
        by_task: dict[str, list[int]] = {}
        for i, qa in enumerate(qas):
            by_task.setdefault(qa.task, []).append(i)
        for indices in by_task.values():  # prompts of one attribute have equal length (names are 3 words)
            prompts = torch.tensor(np.stack([bios.encode_prompt(qas[i], tokenizer) for i in indices]))
            out = model.generate(prompts, budget, temperature=0.0, stop_token=stop)
            for row, i in enumerate(indices):
                generated[i] = tokenizer.tokens(out[row, prompts.shape[1]:].tolist())
        return bios.score_answers(qas, generated)

    _, dt = timed(evaluate)
    print(f"generate + score         {n_answers:>8,} answers {dt:6.2f} s  (greedy, {budget} new tokens, "
          f"2-layer d128 model, 1 thread)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--people", type=int, default=100_000)
    parser.add_argument("--quick", action="store_true", help="10,000 people instead of --people")
    args = parser.parse_args()
    torch.set_num_threads(1)
    bench_generation(10_000 if args.quick else args.people)
    bench_qa_evaluation()


if __name__ == "__main__":
    main()
