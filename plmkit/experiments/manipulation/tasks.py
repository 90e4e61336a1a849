"""Classification, comparison and partial retrieval, without and with hints [3.2 §3-4, Res. 2-5].

LoRA fine-tuning on F_train people, tested on F_test people, once "trained without hint" and once "trained
with hint" (p = 0.5, the hint writes the needed attribute first: a chain of thought).
"""
from __future__ import annotations

from typing import Optional, Sequence

from ...data import bios
from ...data.bios import QAPair
from ...data.bios.qa import split_completion
from ...model import GPT
from ...train import History
from ..common import RunContext
from ..shared.bios import BioWorld, finetune_qa, generate_answers
from .groups import SEEDS, ManipulationData
from .settings import settings

HINT_PROBABILITY = 0.5  # "train with hint": half of the examples carry the hint [3.2 §4]


def task_examples(task: str, people: Sequence, *, n_pairs: int, seed: int, mode: Optional[str] = None,
                  hint_prob: float = 0.0) -> list[QAPair]:
    """Examples of one task: one per person, or ``n_pairs`` ordered pairs for comparison tasks."""
    definition = bios.get_task(task)
    has_modes = definition.hint is not None
    kwargs = dict(seed=seed, mode=mode if has_modes else None, hint_prob=hint_prob if has_modes else 0.0)
    if definition.arity == 2:
        n = min(n_pairs, bios.count_valid_pairs(task, people))
        return bios.pair_examples(task, people, n, **kwargs)
    return bios.person_examples(task, people, **kwargs)


def training_mix(tasks: Sequence[str], people: Sequence, n_pairs: int, hint_prob: float, seed: int,
                 extraction_copies: int = 0) -> list[QAPair]:
    """The multi-task training set: every task on F_train, each example with a hint with prob. ``hint_prob``.

    Single-person tasks are drawn several times (each draw picks the hint modes anew) so that each task
    has about as many examples as a comparison task; otherwise the many pairs would drown the few people.
    ``extraction_copies``: copies of the same people's six plain extraction questions to mix in (see
    :func:`finetune_tasks`).
    """
    mix = list(bios.qa_pairs(people)) * extraction_copies
    for i, task in enumerate(tasks):
        if bios.get_task(task).arity == 2:
            mix += task_examples(task, people, n_pairs=n_pairs, seed=seed + i, hint_prob=hint_prob)
            continue
        for r in range(max(1, n_pairs // max(1, len(people)))):
            mix += task_examples(task, people, n_pairs=0, seed=seed + 97 * (r + 1) + i, hint_prob=hint_prob)
    return mix


def finetune_tasks(ctx: RunContext, world: BioWorld, model: GPT, data: ManipulationData, with_hints: bool,
                   tasks: Optional[Sequence[str]] = None) -> tuple[GPT, History]:
    """One multi-task LoRA run on F_train ("train w/o hint" or "train with hint", p = 0.5).

    The mix also holds the six plain extraction questions of the same F_train people (``extraction_copies``).
    The paper starts from a model that already extracts at ~100% and trains on thousands of people [3.2 §4];
    at small scale a LoRA on a task alone memorises its few training people instead of learning to extract,
    and the extraction questions keep it extracting. They never show a task's answer.
    """
    s = settings(ctx)
    mix = training_mix(tasks or s.tasks, data.forward("train"), s.train_pairs,
                       HINT_PROBABILITY if with_hints else 0.0, 1000 * ctx.seed + SEEDS["examples"],
                       s.extraction_copies)
    bios.check_no_test_leak(mix, data.forward("test"))
    name = "tasks_with_hint" if with_hints else "tasks_without_hint"
    return finetune_qa(ctx, world, model, mix, name, s.sizes, output_rows=unseen_answer_words(world, data, mix))


def unseen_answer_words(world: BioWorld, data: ManipulationData, qas: Sequence[QAPair]) -> tuple:
    """Ids of answer words that no biography contains ("Yes", "No", most numbers).

    Pretraining never made them targets, so their (tied) output rows are untrained: a LoRA that cannot
    train those rows never answers "Yes" or "No", even for its training people.
    """
    seen = {i for entries in data.bio.entries for e in entries for i in world.tokenizer.encode(e.text)}
    answers = {i for qa in qas for i in world.tokenizer.encode(qa.completion)}
    return tuple(sorted(answers - seen))


def evaluate_tasks(ctx: RunContext, model: GPT, world: BioWorld, data: ManipulationData,
                   tasks: Optional[Sequence[str]] = None, n_pairs: Optional[int] = None,
                   modes: Sequence[str] = ("direct", "hint")) -> dict:
    """Per task on F_test: accuracy answering directly, accuracy with a hint, hint accuracy, chance, and
    the prediction of the with-hint accuracy from the hint accuracy [3.2 fn 15]."""
    s = settings(ctx)
    people = data.forward("test")
    out = {}
    for i, task in enumerate(tasks or s.tasks):
        definition = bios.get_task(task)
        row = {"kind": definition.kind, "chance": bios.chance_baseline(task, world.pools),
               "majority": bios.majority_baseline(task, world.pools)}
        task_modes = modes if definition.hint is not None else (None,)
        for mode in task_modes:
            qas = task_examples(task, people, n_pairs=n_pairs or s.test_pairs,
                                seed=1000 * ctx.seed + SEEDS["test"] + i, mode=mode)
            said = generate_answers(model, world, qas)
            key = "accuracy" if mode is None else f"accuracy_{mode}"
            row[key] = bios.score_answers(qas, said).per_task[task]
            if mode == "hint":
                row.update(hint_scores(qas, said, row["chance"]))
            row["examples"] = len(qas)
        out[task] = row
    return out


def hint_scores(qas: Sequence[QAPair], said: Sequence[Sequence[str]], chance: float) -> dict:
    """Hint accuracy of hint-mode answers and the with-hint accuracy it predicts [3.2 fn 15].

    ``hint_accuracy``: the whole hint exactly right, so for a pair ``October; September`` it already counts
    "both months right"; the prediction uses it once, ``h + (1 - h) c``. ``hint_accuracy_per_value``: the
    share of single hint values right (for one person the same number). ``accuracy_after_right_hint``: how
    often a right hint is followed by the right answer, which the prediction takes to be 1. The paper's pair formula
    ``h^2 + (1 - h^2) c`` squares this per-value accuracy, assuming the two people's values are right
    independently; squaring the whole-hint accuracy would count "both right" twice.
    """
    whole = values = n_values = answered = 0
    for qa, words in zip(qas, said):
        hint, answer = split_completion(words, hint_mode=True)
        whole += hint == qa.hint_words
        answered += hint == qa.hint_words and answer == qa.answer_words
        target = " ".join(qa.hint_words).split(" ; ")
        got = " ".join(hint).split(" ; ")
        values += sum(g == t for g, t in zip(got, target))
        n_values += len(target)
    h = whole / max(1, len(qas))
    return {"hint_accuracy": h, "hint_accuracy_per_value": values / max(1, n_values),
            "predicted_with_hint": bios.hint_predicted_accuracy(h, chance),
            "accuracy_after_right_hint": answered / whole if whole else float("nan")}


RETRIEVAL_ATTRIBUTES = ("birth_date", "major")  # the facts the classification and comparison tasks read


def evaluate_retrieval(model: GPT, world: BioWorld, data: ManipulationData) -> dict:
    """The positive control: the same LoRA asked plainly for the facts the tasks use, on F_test.

    Plain retrieval is in every task mix (the six extraction questions of F_train, never of F_test), so it
    had the same model and the same fine-tuning budget as the tasks [3.2 §3]. Per fact: accuracy and the
    uniform-guess chance. ``birth_month`` is the first word of the generated birth date (the month a task
    needs), ``year_in_date`` its last word: the year written as part of the full date, to set beside the
    ``birth_year`` task that asks for the year alone [3.2 Res. 2].
    """
    people = data.forward("test")
    qas = bios.qa_pairs(people, RETRIEVAL_ATTRIBUTES)
    said = [bios.cut_at_stop(words) for words in generate_answers(model, world, qas)]
    hits = {"birth_date": 0, "birth_month": 0, "year_in_date": 0, "major": 0}
    for qa, words in zip(qas, said):
        target = qa.answer_words
        hits[qa.task] += words == target
        if qa.task == "birth_date":
            hits["birth_month"] += words[:1] == target[:1]
            hits["year_in_date"] += words[-1:] == target[-1:]
    pools = world.pools
    chance = {"birth_date": 1 / (12 * 28 * len(pools.years)), "birth_month": 1 / 12,
              "year_in_date": 1 / len(pools.years),
              "major": 1 / len(pools.majors)}
    return {fact: {"accuracy": hits[fact] / len(people), "chance": chance[fact]} for fact in hits}
