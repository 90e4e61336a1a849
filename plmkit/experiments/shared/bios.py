"""The biographies family (Parts 3.1, 3.2, 3.3): world, data, pretraining, LoRA QA fine-tuning, evaluation.

Every Part 3 experiment runs the same pipeline: people drawn from pools, biographies rendered from templates,
a small GPT pretrained on them, then LoRA fine-tuning on question-answer lines [3.1 §2, App. D]. The model,
optimiser and fine-tuning sizes of a profile are one :class:`BioSizes`; a part that needs other sizes builds
them from :data:`BIO_SIZES` with ``dataclasses.replace``.

Evaluation is three measurements [3.1 §2-3]: exact-match accuracy of greedy answers to QA prompts; the teacher-forced
argmax at the first answer token (cheap enough for learning curves); and, inside the training biographies
themselves, whether the model predicts each attribute value (memorisation, required before extraction can be
asked about). Plus the majority baselines every accuracy is read against.

Long pretraining runs can be loaded from the kit's shipped checkpoints (:mod:`..shipped`) instead of
trained, but only when the shipped run is exactly the one asked for: same model, data and optimiser settings.
"""
from __future__ import annotations

import copy
import html
import json
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
import torch

from ...data import bios
from ...data.bios import ATTRIBUTES, BioEntry, Person, PersonSplit, QAPair
from ...data.packing import FixedDataset, pad_rows
from ...lora import LoRAConfig, add_lora
from ...model import GPT, GPTConfig
from ...plots import LiveLoss
from ...results import write_json_atomic
from ...tokenizer import WordTokenizer
from ...train import History, TrainConfig, train
from .. import shipped
from ..common import RunContext

ATTRIBUTE_LABELS = {"birth_date": "birth date", "birth_city": "birth city", "university": "university",
                    "major": "major", "company": "company", "company_city": "company city"}

# Independent random streams of one run, offset by 1000 * the run's seed.
SEEDS = dict(people=0, render=1, split=2, pretrain=3, finetune=4, probe=5)


# ----------------------------------------------------------------------------------------------
# Sizes of a profile
# ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class BioSizes:
    """Model, pretraining and LoRA fine-tuning sizes of one profile (docs/notes/part3_tuning.md: why)."""

    n_layer: int
    n_head: int
    d_model: int
    context: int
    rope_fraction: float
    batch: int
    lr: float
    warmup_frac: float
    ft_steps: int
    ft_batch: int
    ft_context: int
    ft_lr: float
    lora_rank: int
    lora_emb_rank: int
    lora_alpha: float
    lora_emb_alpha: float  # a small embedding scale keeps the LoRA from memorising the training names


BIO_SIZES = {
    "ci": BioSizes(n_layer=1, n_head=2, d_model=32, context=64, rope_fraction=1.0, batch=8, lr=3e-3,
                   warmup_frac=0.1, ft_steps=50, ft_batch=16, ft_context=48, ft_lr=3e-3, lora_rank=4,
                   lora_emb_rank=16, lora_alpha=1.0, lora_emb_alpha=0.25),
    "cpu": BioSizes(n_layer=2, n_head=4, d_model=128, context=96, rope_fraction=1.0, batch=16, lr=3e-3,
                    warmup_frac=0.1, ft_steps=600, ft_batch=16, ft_context=48, ft_lr=1e-3, lora_rank=8,
                    lora_emb_rank=64, lora_alpha=1.0, lora_emb_alpha=0.25),
    # The paper's rotary fraction 1/4 [3.1 App. B]; sized by arithmetic, not yet measured on a GPU.
    "gpu": BioSizes(n_layer=4, n_head=4, d_model=256, context=512, rope_fraction=0.25, batch=32, lr=2e-3,
                    warmup_frac=0.1, ft_steps=3000, ft_batch=48, ft_context=64, ft_lr=1e-3, lora_rank=16,
                    lora_emb_rank=128, lora_alpha=1.0, lora_emb_alpha=0.25),
}


def bio_sizes(ctx: RunContext) -> BioSizes:
    return ctx.pick(BIO_SIZES)


# ----------------------------------------------------------------------------------------------
# The world: pools, templates and vocabulary of a profile
# ----------------------------------------------------------------------------------------------
@dataclass
class BioWorld:
    profile: str
    pools: bios.PoolSet
    templates: str
    tokenizer: WordTokenizer

    @property
    def eos(self) -> int:
        return self.tokenizer.id_of("<eos>")


def make_world(ctx: RunContext) -> BioWorld:
    """The pools and templates of ``ctx.profile``: the paper's full pools and templates on gpu, smaller ones
    elsewhere. One vocabulary for Parts 3.1 and 3.2 (``manipulation=True``), so one checkpoint serves both."""
    pools = bios.pools_for_profile(ctx.profile)
    templates = "full" if ctx.profile == "gpu" else "short"
    return BioWorld(ctx.profile, pools, templates, bios.build_tokenizer(pools, templates, manipulation=True))


@dataclass
class BioData:
    """People, their biographies in one augmentation, and the P_train / P_test split."""

    people: list
    entries: list  # entries[i] = the BioEntry list of people[i]
    split: PersonSplit
    augmentation: str
    exposure_copies: list = field(default_factory=list)  # how often each person's entry list is repeated per pass

    def group(self, part: str) -> list:
        return self.split.select(self.people, part)

    def entries_of(self, ids) -> list:
        """All biography entries of the given people, in the order of ``ids``."""
        by_id = {person.pid: es for person, es in zip(self.people, self.entries)}
        return [e for pid in ids for e in by_id[pid]]

    def entries_with_owners(self, people: Sequence[Person]) -> tuple[list, list]:
        """(entries, the person of each entry) for the given people."""
        by_id = {person.pid: es for person, es in zip(self.people, self.entries)}
        pairs = [(e, p) for p in people for e in by_id[p.pid]]
        return [e for e, _ in pairs], [p for _, p in pairs]


def make_bio_data(world: BioWorld, n_people: int, augmentation: str, seed: int = 0) -> BioData:
    """Seeded people, biographies and a 50/50 split; the same seed gives the same text bit for bit."""
    people = bios.sample_people(n_people, world.pools, seed=1000 * seed + SEEDS["people"])
    entries = bios.render_bios(people, augmentation, world.templates, seed=1000 * seed + SEEDS["render"])
    split = bios.split_people(people, seed=1000 * seed + SEEDS["split"])
    return BioData(people, entries, split, bios.parse_augmentation(augmentation).name, [1] * len(people))


def entry_html(entry: BioEntry) -> str:
    """A biography as HTML with its six values highlighted (for the notebooks' browsers)."""
    out, cursor = [], 0
    for attribute, start, end in sorted(entry.spans, key=lambda s: s[1]):
        out.append(html.escape(entry.text[cursor:start]))
        out.append(f"<span style='background:#ffe9a8' title='{ATTRIBUTE_LABELS[attribute]}'>"
                   f"{html.escape(entry.text[start:end])}</span>")
        cursor = end
    return "".join(out) + html.escape(entry.text[cursor:])


# ----------------------------------------------------------------------------------------------
# Pretraining
# ----------------------------------------------------------------------------------------------
def make_model(world: BioWorld, sizes: BioSizes, seed: int = 0) -> GPT:
    torch.manual_seed(1000 * seed + SEEDS["pretrain"])
    config = GPTConfig(vocab_size=world.tokenizer.vocab_size, context=sizes.context, n_layer=sizes.n_layer,
                       n_head=sizes.n_head, d_model=sizes.d_model, rope_fraction=sizes.rope_fraction,
                       tie_embeddings=True)
    return GPT(config)


def bio_examples(world: BioWorld, data: BioData) -> tuple[list, list]:
    """Encoded entries for one pass, each person's entries repeated ``exposure_copies`` times, and the
    number of entries (exposures) each person gets per pass."""
    examples, per_person = [], []
    for person_entries, copies in zip(data.entries, data.exposure_copies or [1] * len(data.entries)):
        encoded = bios.encode_entries(person_entries, world.tokenizer)
        examples.extend(encoded * copies)
        per_person.append(len(person_entries) * copies)
    return examples, per_person


def pretrain_dataset(world: BioWorld, data: BioData, sizes: BioSizes, seed: int = 0) -> FixedDataset:
    examples, _ = bio_examples(world, data)
    return FixedDataset(examples, context=sizes.context, batch_size=sizes.batch, sep_id=world.eos,
                        seed=1000 * seed + SEEDS["pretrain"])


def passes_for(data: BioData, exposures: int) -> float:
    """Passes over the example list that give each person ``exposures`` exposures (the group with the
    fewest entries per pass decides; celebrity designs balance their groups with exposure_copies).
    Exposures count occurrences of a person's biography, not passes [3.1 §2]."""
    per_pass = [len(es) * c for es, c in zip(data.entries, data.exposure_copies or [1] * len(data.entries))]
    return exposures / min(per_pass)


def pretrain_config(ctx: RunContext, sizes: BioSizes, name: str, steps: int, desc: str, **extra) -> TrainConfig:
    """AdamW with weight decay 0.1 and eps 1e-6 as in [3.1 App. C]; learning rate and warm-up share set per profile,
    cosine decay to 10%."""
    return ctx.train_config(name, steps=steps, lr=sizes.lr, warmup_steps=int(sizes.warmup_frac * steps),
                            schedule="cosine", min_lr_ratio=0.1, weight_decay=0.1, eps=1e-6, desc=desc, **extra)


def pretrain(ctx: RunContext, world: BioWorld, data: BioData, exposures: int, name: str, sizes: BioSizes, *,
             live_plot: bool = False, steps: Optional[int] = None,
             shipped_group: Optional[str] = None) -> tuple[GPT, History]:
    """Train a fresh model on the biographies until each person had ``exposures`` exposures.

    ``shipped_group``: load run ``name`` from that group of shipped checkpoints instead, when it is exactly
    this run (:func:`load_shipped`); otherwise train.
    """
    dataset = pretrain_dataset(world, data, sizes, ctx.seed)
    steps = steps or dataset.steps_for(passes_for(data, exposures))
    model = make_model(world, sizes, ctx.seed)
    config = pretrain_config(ctx, sizes, name, steps, f"pretrain {name}")
    callbacks = [LiveLoss(title=f"pretraining on {data.augmentation}", every=10)] if live_plot else []
    history = (load_shipped(shipped_group, name, model, dataset, config) if shipped_group else None) \
        or train(model, dataset, config, callbacks=callbacks)
    return model, history


# ----------------------------------------------------------------------------------------------
# Shipped pretraining runs
# ----------------------------------------------------------------------------------------------
# The optimiser settings that decide the weights; device, threads, logging and checkpointing do not.
_TRAINING_KEYS = ("steps", "lr", "schedule", "warmup_steps", "min_lr_ratio", "weight_decay", "betas", "eps",
                  "grad_clip", "seed")


def _training_settings(train_config: dict) -> dict:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in
            ((k, train_config.get(k)) for k in _TRAINING_KEYS)}


def load_shipped(group: str, name: str, model: GPT, source, config: TrainConfig) -> Optional[History]:
    """Load the shipped weights of run ``name`` into ``model`` if they come from exactly this run (same model
    config, data description and optimiser settings); return its History, or None to train instead."""
    if name not in shipped.names(group):
        return None
    trained, sidecar = shipped.load(group, name, device="cpu")
    same = (trained.config.to_dict() == model.config.to_dict() and sidecar["data"] == source.describe()
            and _training_settings(sidecar["train_config"]) == _training_settings(config.to_dict()))
    if not same:
        print(f"shipped checkpoint {group}/{name} is from a different configuration: training instead")
        return None
    model.load_state_dict(trained.state_dict())
    model.eval()
    print(f"loaded the shipped checkpoint '{name}': trained by `{sidecar['made_by']}`, see {group}/manifest.json")
    return History.from_dict(sidecar["history"])


def export_shipped(run_dir, group: str, names: Sequence[str], made_by: str,
                   folder: Optional[Path] = None) -> list[str]:
    """Ship runs ``names`` of a finished command-line run (its last checkpoints, without optimiser state)
    as ``group``: weights, sidecars with training and data settings and history, and the run's manifest."""
    run_dir = Path(run_dir)
    for name in names:
        state = torch.load(run_dir / "checkpoints" / name / "last.pt", map_location="cpu", weights_only=False)
        model = GPT(GPTConfig(**state["model_config"]))
        model.load_state_dict(state["model"])
        sidecar = {"name": name, "made_by": made_by, **{k: state[k] for k in ("train_config", "data", "step",
                                                                               "history")}}
        shipped.save(model, group, name, sidecar, made_by=made_by, folder=folder)
    manifest_path = (folder or shipped.root()) / group / "manifest.json"
    manifest = shipped.read_manifest(group, folder)
    manifest["reproduce_manifest"] = json.loads((run_dir / "manifest.json").read_text())
    write_json_atomic(manifest_path, manifest)
    return list(names)


# ----------------------------------------------------------------------------------------------
# QA fine-tuning with LoRA
# ----------------------------------------------------------------------------------------------
def qa_dataset(world: BioWorld, qas: Sequence[QAPair], context: int, batch: int, seed: int) -> FixedDataset:
    return FixedDataset(bios.encode_qas(qas, world.tokenizer), context=context, batch_size=batch, sep_id=world.eos,
                        seed=seed)


def lora_config(sizes: BioSizes, output_rows: Sequence[int] = ()) -> LoRAConfig:
    """Low-rank updates of the attention queries and values and of the token embeddings [3.1 App. D]."""
    return LoRAConfig(rank=sizes.lora_rank, embedding_rank=sizes.lora_emb_rank, alpha=sizes.lora_alpha,
                      embedding_alpha=sizes.lora_emb_alpha, attention=("q", "v"), output_rows=tuple(output_rows))


def finetune_qa(ctx: RunContext, world: BioWorld, model: GPT, qas: Sequence[QAPair], name: str, sizes: BioSizes, *,
                steps: Optional[int] = None, full: bool = False,
                output_rows: Sequence[int] = ()) -> tuple[GPT, History]:
    """LoRA (q/v + embedding) fine-tuning on QA lines; the loss is on the answers only.

    Returns a new model (the pretrained one is not modified). ``full=True`` fine-tunes every weight
    instead (the paper reports LoRA as the better of the two [3.1 App. D]). ``output_rows``: token ids
    whose output rows are trained too (answer words the pretraining never predicted, Part 3.2).
    """
    seed = 1000 * ctx.seed + SEEDS["finetune"]
    tuned = copy.deepcopy(model) if full else add_lora(model, lora_config(sizes, output_rows), seed=seed)
    dataset = qa_dataset(world, qas, sizes.ft_context, sizes.ft_batch, seed)
    # No warm-up, cosine decay to 10%, weight decay 0.01 [3.1 App. D].
    config = ctx.train_config(name, steps=steps or sizes.ft_steps, lr=sizes.ft_lr, warmup_steps=0, schedule="cosine",
                              min_lr_ratio=0.1, weight_decay=0.01, eps=1e-6, desc=f"QA fine-tune {name}")
    history = train(tuned, dataset, config)
    return tuned, history


# ----------------------------------------------------------------------------------------------
# Evaluation: generated answers, teacher-forced first tokens, biography accuracy, baselines
# ----------------------------------------------------------------------------------------------
EVAL_BATCH = 512  # prompts per forward pass when answering questions


@torch.no_grad()
def generate_answers(model: GPT, world: BioWorld, qas: Sequence[QAPair], batch_size: int = EVAL_BATCH,
                     max_new: Optional[int] = None) -> list[list[str]]:
    """Greedy completions (words after ``Answer:``) for every QA [3.1 §2.1 fn 8: greedy is close to beam 4].

    Generation stops at ``<eos>`` (training puts it after every QA line), so hint-mode answers
    ``H. A.`` come out whole; :func:`bios.score_answers` cuts them at the periods.
    """
    if not qas:
        return []
    model.eval()
    prompts = [bios.encode_prompt(qa, world.tokenizer) for qa in qas]
    generated = model.generate_grouped(prompts, max_new or bios.generation_budget(qas), temperature=0.0,
                                       stop_token=world.eos, batch_size=batch_size)
    return [world.tokenizer.tokens(ids) for ids in generated]


def qa_accuracy(model: GPT, world: BioWorld, qas: Sequence[QAPair]) -> bios.QAScores:
    """Exact-match accuracy of greedy answers, per task (attribute) and mean."""
    return bios.score_answers(qas, generate_answers(model, world, qas))


@torch.no_grad()
def qa_first_token_accuracy(model: GPT, world: BioWorld, qas: Sequence[QAPair],
                            batch_size: int = EVAL_BATCH) -> bios.QAScores:
    """Teacher-forced argmax right after ``Answer:`` [3.1 §3.1]; prompts of one length share a batch."""
    model.eval()
    prompts = [bios.encode_prompt(qa, world.tokenizer) for qa in qas]
    firsts: list = [None] * len(qas)
    by_length: dict[int, list[int]] = defaultdict(list)
    for i, p in enumerate(prompts):
        by_length[len(p)].append(i)
    for rows in by_length.values():
        for start in range(0, len(rows), batch_size):
            chunk = rows[start:start + batch_size]
            logits = model(torch.as_tensor(np.stack([prompts[i] for i in chunk]), device=model.device)).logits[:, -1]
            for i, t in zip(chunk, logits.argmax(-1).tolist()):
                firsts[i] = world.tokenizer.id_to_token[t]
    return bios.first_token_accuracy(qas, firsts)


def entry_inputs(world: BioWorld, entries: Sequence[BioEntry]) -> tuple[torch.Tensor, list]:
    """``<eos> entry`` token ids (padded) and each entry's value spans, shifted by the leading <eos>.

    A span (attribute, first, end) means: the value's tokens sit at input positions first..end-1, so
    the model predicts its first token at position first-1 (the P-probe position).
    """
    encoded = [np.concatenate([[world.eos], world.tokenizer.encode(e.text)]) for e in entries]
    spans = [[(a, f + 1, t + 1) for a, f, t in bios.entry_token_spans(e)] for e in entries]
    return pad_rows(encoded), spans


@torch.no_grad()
def bio_accuracy(model: GPT, world: BioWorld, entries: Sequence[BioEntry], batch_size: int = 256) -> dict:
    """Teacher-forced accuracy on the attribute values inside the biographies themselves [3.1 §3.1].

    ``first_token``: the first token of each value is the argmax; ``whole``: every token of it is.
    Per attribute and mean. This is the memorisation the paper requires before asking about extraction.
    """
    model.eval()
    inputs, spans = entry_inputs(world, entries)
    first, whole, count = defaultdict(int), defaultdict(int), defaultdict(int)
    for start in range(0, len(inputs), batch_size):
        x = inputs[start:start + batch_size].to(model.device)
        pred = model(x).logits.argmax(-1).cpu()
        for row, entry_spans in enumerate(spans[start:start + batch_size]):
            ids = inputs[start + row]
            for attribute, f, t in entry_spans:
                count[attribute] += 1
                first[attribute] += int(pred[row, f - 1] == ids[f])
                whole[attribute] += int(torch.equal(pred[row, f - 1:t - 1], ids[f:t]))
    per_first = {a: first[a] / count[a] for a in ATTRIBUTES if count[a]}
    per_whole = {a: whole[a] / count[a] for a in ATTRIBUTES if count[a]}
    return {"first_token": per_first, "whole": per_whole, "first_token_mean": float(np.mean(list(per_first.values()))),
            "whole_mean": float(np.mean(list(per_whole.values())))}


def baselines(world: BioWorld) -> dict:
    """The majority answers: per attribute, their mean (2.65% for the paper's pools) and the company-city
    share of the most common headquarters (13.7% New York, NY [3.1 App. A.1])."""
    per = bios.majority_baselines(world.pools)
    return {"per_attribute": per, "mean": bios.majority_mean(world.pools),
            "company_city": bios.company_city_baseline(world.pools)[1],
            "first_token": bios.first_token_majority(world.pools)}
