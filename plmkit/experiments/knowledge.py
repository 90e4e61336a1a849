"""Part 3.1: knowledge storage and extraction (lab 04, ``python -m plmkit reproduce knowledge``).

The question: a model memorised every biography word for word. Can it answer questions about the people?

* E1: pretrain on biographies, then LoRA-fine-tune on the QAs of half of the people (P_train) and ask
  about the other half (P_test). One fixed biography per person (``single``) fails; five reworded,
  shuffled ones (``multi5+permute``) work [3.1 Res. 2-3].
* E2: mixed training (biographies and P_train QAs from the start) works even on ``single`` [3.1 Res. 1].
* E3: adding richly written "celebrities" makes the knowledge of poorly written "minority" people
  extractable [3.1 Res. 6].
* E4/E5: P-probes (at the positions before each attribute in a biography) and Q-probes (from the name
  alone) show where the knowledge sits [3.1 Res. 4-5].

Every step is a small function the notebook calls; :func:`reproduce` runs them all headless.
Run-level "settings" are per-profile tables (``SIZES``, ``EXPERIMENTS``); ``settings(profile)`` merges them.
"""
from __future__ import annotations

import copy
import math
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Callable, Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from ..data import bios
from ..data.bios import ATTRIBUTES, BioEntry, Person, PersonSplit, QAPair
from ..data.packing import Batch, FixedDataset, step_rng
from ..lora import LoRAConfig, add_lora
from ..model import GPT, GPTConfig
from ..plots import LiveLoss
from ..profiles import pick
from ..tokenizer import WordTokenizer, split_words
from ..train import History, TrainConfig, train
from .common import RunContext

ATTRIBUTE_LABELS = {"birth_date": "birth date", "birth_city": "birth city", "university": "university",
                    "major": "major", "company": "company", "company_city": "company city"}

# Model, optimiser and evaluation sizes shared by every run of a profile (spec 6.0, tuned: see the
# notebook's profile table). Exposures count occurrences of a person's biography, not passes.
SIZES = {
    "ci": dict(n_layer=1, n_head=2, d_model=32, context=64, rope_fraction=1.0, batch=8, lr=3e-3, warmup_frac=0.1,
               ft_steps=50, ft_batch=16, ft_context=48, ft_lr=3e-3, lora_rank=4, lora_emb_rank=16, lora_alpha=1.0,
               lora_emb_alpha=0.25, probe_steps=20, probe_batch=64, qprobe_rank=4, qprobe_steps=20, qprobe_batch=32),
    "cpu": dict(n_layer=2, n_head=4, d_model=128, context=96, rope_fraction=1.0, batch=16, lr=3e-3, warmup_frac=0.1,
                ft_steps=600, ft_batch=16, ft_context=48, ft_lr=1e-3, lora_rank=8, lora_emb_rank=64, lora_alpha=1.0,
                lora_emb_alpha=0.25, probe_steps=400, probe_batch=256, qprobe_rank=16, qprobe_steps=300,
                qprobe_batch=150),
    "gpu": dict(n_layer=4, n_head=4, d_model=256, context=512, rope_fraction=0.25, batch=32, lr=2e-3, warmup_frac=0.1,
                ft_steps=3000, ft_batch=48, ft_context=64, ft_lr=1e-3, lora_rank=16, lora_emb_rank=128, lora_alpha=1.0,
                lora_emb_alpha=0.25, probe_steps=3000, probe_batch=256, qprobe_rank=16, qprobe_steps=3000,
                qprobe_batch=200),
}
# Why these values (measured at cpu scale, 300 people, 150 exposures, P_test QA of multi5+permute):
# * pretraining lr: 1e-3 gave 52%, 2e-3 75%, 3e-3 83%; single stayed at 14-15% either way;
# * LoRA scale: the spec's alpha 4 on q/v and the embedding gave 7% (the embedding update memorised the
#   P_train names); alpha 1 on q/v and 0.25 on the embedding gave 63% at lr 1e-3, full fine-tuning 40-44%.
# The gpu row is sized by arithmetic and untested (no GPU was available while tuning).

SEEDS = dict(people=0, render=1, split=2, pretrain=3, finetune=4, probe=5)  # independent streams


def settings(profile: str | None = None) -> dict:
    return dict(pick(SIZES, profile))


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


def make_world(profile: str | None = None) -> BioWorld:
    from ..profiles import get_profile

    profile = get_profile(profile)
    pools = bios.pools_for_profile(profile)
    templates = "full" if profile == "gpu" else "short"
    # manipulation=True: one vocabulary for Parts 3.1 and 3.2, so a 3.1 checkpoint can learn 3.2 tasks.
    return BioWorld(profile, pools, templates, bios.build_tokenizer(pools, templates, manipulation=True))


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


def entry_html(entry: BioEntry) -> str:
    """A biography as HTML with its six values highlighted (for the notebooks' browsers)."""
    import html

    out, cursor = [], 0
    for attribute, start, end in sorted(entry.spans, key=lambda s: s[1]):
        out.append(html.escape(entry.text[cursor:start]))
        out.append(f"<span style='background:#ffe9a8' title='{ATTRIBUTE_LABELS[attribute]}'>"
                   f"{html.escape(entry.text[start:end])}</span>")
        cursor = end
    return "".join(out) + html.escape(entry.text[cursor:])


def make_bio_data(world: BioWorld, n_people: int, augmentation: str, seed: int = 0) -> BioData:
    """Seeded people, biographies and a 50/50 split; the same seed gives the same text bit for bit."""
    people = bios.sample_people(n_people, world.pools, seed=1000 * seed + SEEDS["people"])
    entries = bios.render_bios(people, augmentation, world.templates, seed=1000 * seed + SEEDS["render"])
    split = bios.split_people(people, seed=1000 * seed + SEEDS["split"])
    return BioData(people, entries, split, bios.parse_augmentation(augmentation).name, [1] * len(people))


# ----------------------------------------------------------------------------------------------
# Pretraining
# ----------------------------------------------------------------------------------------------
def make_model(world: BioWorld, profile: str | None = None, seed: int = 0, sizes: Optional[dict] = None) -> GPT:
    s = sizes or settings(profile)
    torch.manual_seed(1000 * seed + SEEDS["pretrain"])
    config = GPTConfig(vocab_size=world.tokenizer.vocab_size, context=s["context"], n_layer=s["n_layer"],
                       n_head=s["n_head"], d_model=s["d_model"], rope_fraction=s["rope_fraction"], tie_embeddings=True)
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


def pretrain_dataset(world: BioWorld, data: BioData, profile: str | None = None, seed: int = 0,
                     sizes: Optional[dict] = None) -> FixedDataset:
    s = sizes or settings(profile)
    examples, _ = bio_examples(world, data)
    return FixedDataset(examples, context=s["context"], batch_size=s["batch"], sep_id=world.eos,
                        seed=1000 * seed + SEEDS["pretrain"])


def passes_for(data: BioData, exposures: int) -> float:
    """Passes over the example list that give each person ``exposures`` exposures (the group with the
    fewest entries per pass decides; celebrity designs balance their groups with exposure_copies)."""
    per_pass = [len(es) * c for es, c in zip(data.entries, data.exposure_copies or [1] * len(data.entries))]
    return exposures / min(per_pass)


def pretrain(ctx: RunContext, world: BioWorld, data: BioData, exposures: int, name: str,
             live_plot: bool = False, steps: Optional[int] = None, sizes: Optional[dict] = None,
             shipped: bool = False) -> tuple[GPT, History]:
    """Train a fresh model on the biographies until each person had ``exposures`` exposures.

    ``shipped``: load the kit's shipped checkpoint of exactly this run instead, if there is one (see
    :func:`load_shipped`); otherwise train.
    """
    s = sizes or settings(ctx.profile)
    dataset = pretrain_dataset(world, data, ctx.profile, ctx.seed, s)
    steps = steps or dataset.steps_for(passes_for(data, exposures))
    model = make_model(world, ctx.profile, ctx.seed, s)
    config = TrainConfig(steps=steps, lr=s["lr"], warmup_steps=int(s["warmup_frac"] * steps), schedule="cosine",
                         min_lr_ratio=0.1, weight_decay=0.1, eps=1e-6, seed=ctx.seed, device=ctx.device,
                         threads=ctx.threads, checkpoint_dir=ctx.checkpoint_dir(name),
                         checkpoint_every=500 if ctx.run_dir else 0, progress=ctx.progress, desc=f"pretrain {name}")
    callbacks = [LiveLoss(title=f"pretraining on {data.augmentation}", every=10)] if live_plot else []
    history = (load_shipped(name, ctx.profile, model, dataset, config) if shipped else None) \
        or train(model, dataset, config, callbacks=callbacks)
    return model, history


# ----------------------------------------------------------------------------------------------
# Shipped checkpoints: runs too long for the cpu notebook's budget
# ----------------------------------------------------------------------------------------------
# The cpu notebook loads these pretraining runs instead of training them. They were trained by
# ``python -m plmkit reproduce knowledge --profile cpu`` and exported with ``export_checkpoints``;
# data/checkpoints/knowledge-cpu/manifest.json records the command, versions and checksums.
SHIPPED_RUNS = {"cpu": ("pretrain_celebrities", "pretrain_minority", "mixed_single")}
_TRAINING_KEYS = ("steps", "lr", "schedule", "warmup_steps", "min_lr_ratio", "weight_decay", "betas", "eps",
                  "grad_clip", "seed")


def shipped_dir(profile: str):
    from ..paths import data_root

    return data_root() / "checkpoints" / f"knowledge-{profile}"


def load_shipped(name: str, profile: str, model: GPT, source, config: TrainConfig) -> Optional[History]:
    """Load the shipped weights of run ``name`` into ``model`` if they come from exactly this run
    (same model config, data and optimiser settings); return its History, or None to train instead."""
    path = shipped_dir(profile) / f"{name}.pt"
    if name not in SHIPPED_RUNS.get(profile, ()) or not path.exists():
        return None
    state = torch.load(path, map_location="cpu", weights_only=False)
    wanted = {k: v for k, v in config.to_dict().items() if k in _TRAINING_KEYS}
    saved = {k: state["train_config"].get(k) for k in _TRAINING_KEYS}
    same = (state["model_config"] == model.config.to_dict() and state["data"] == source.describe()
            and {k: list(v) if isinstance(v, tuple) else v for k, v in wanted.items()}
            == {k: list(v) if isinstance(v, tuple) else v for k, v in saved.items()})
    if not same:
        print(f"shipped checkpoint {path.name} is from a different configuration: training instead")
        return None
    model.load_state_dict(state["model"])
    model.eval()
    print(f"loaded the shipped checkpoint '{name}' ({profile} profile): trained by `python -m plmkit reproduce "
          f"knowledge --profile {profile}`, see {shipped_dir(profile).name}/manifest.json")
    return History.from_dict(state["history"])


def export_checkpoints(run_dir: str, profile: str = "cpu") -> list:
    """Copy the SHIPPED_RUNS of a finished ``reproduce knowledge`` run into data/checkpoints, without the
    optimiser state, with a manifest (the run's own manifest, file checksums and sizes)."""
    import hashlib
    import json
    from pathlib import Path

    from ..results import write_json_atomic

    run_dir, out = Path(run_dir), shipped_dir(profile)
    out.mkdir(parents=True, exist_ok=True)
    files = {}
    for name in SHIPPED_RUNS[profile]:
        state = torch.load(run_dir / "checkpoints" / name / "last.pt", map_location="cpu", weights_only=False)
        keep = {k: state[k] for k in ("format", "model_config", "model", "train_config", "data", "step", "history")}
        target = out / f"{name}.pt"
        torch.save(keep, target)
        files[target.name] = {"sha256": hashlib.sha256(target.read_bytes()).hexdigest(),
                              "bytes": target.stat().st_size, "steps": state["step"]}
    manifest = {"made_by": f"python -m plmkit reproduce knowledge --profile {profile}, then "
                           f"plmkit.experiments.knowledge.export_checkpoints",
                "reproduce_manifest": json.loads((run_dir / "manifest.json").read_text()), "files": files}
    write_json_atomic(out / "manifest.json", manifest)
    return sorted(files)


# ----------------------------------------------------------------------------------------------
# QA fine-tuning with LoRA
# ----------------------------------------------------------------------------------------------
def qa_dataset(world: BioWorld, qas: Sequence[QAPair], context: int, batch: int, seed: int) -> FixedDataset:
    return FixedDataset(bios.encode_qas(qas, world.tokenizer), context=context, batch_size=batch, sep_id=world.eos,
                        seed=seed)


def lora_config(profile: str | None = None, sizes: Optional[dict] = None,
                output_rows: Sequence[int] = ()) -> LoRAConfig:
    s = sizes or settings(profile)
    return LoRAConfig(rank=s["lora_rank"], embedding_rank=s["lora_emb_rank"], alpha=s["lora_alpha"],
                      embedding_alpha=s["lora_emb_alpha"], attention=("q", "v"), output_rows=tuple(output_rows))


def finetune_qa(ctx: RunContext, world: BioWorld, model: GPT, qas: Sequence[QAPair], name: str,
                steps: Optional[int] = None, lr: Optional[float] = None, full: bool = False,
                sizes: Optional[dict] = None, output_rows: Sequence[int] = ()) -> tuple[GPT, History]:
    """LoRA (q/v + embedding) fine-tuning on QA lines; the loss is on the answers only.

    Returns a new model (the pretrained one is not modified). ``full=True`` fine-tunes every weight
    instead (the paper reports LoRA as the better of the two [3.1 App. D]). ``output_rows``: token ids
    whose output rows are trained too (answer words the pretraining never predicted, Part 3.2).
    """
    s = sizes or settings(ctx.profile)
    seed = 1000 * ctx.seed + SEEDS["finetune"]
    tuned = copy.deepcopy(model) if full else add_lora(model, lora_config(ctx.profile, s, output_rows), seed=seed)
    dataset = qa_dataset(world, qas, s["ft_context"], s["ft_batch"], seed)
    steps = steps or s["ft_steps"]
    config = TrainConfig(steps=steps, lr=lr or s["ft_lr"], warmup_steps=0, schedule="cosine", min_lr_ratio=0.1,
                         weight_decay=0.01, eps=1e-6, seed=ctx.seed, device=ctx.device, threads=ctx.threads,
                         checkpoint_dir=ctx.checkpoint_dir(name), checkpoint_every=500 if ctx.run_dir else 0,
                         progress=ctx.progress, desc=f"QA fine-tune {name}")
    history = train(tuned, dataset, config)
    return tuned, history


# ----------------------------------------------------------------------------------------------
# Evaluation: generated answers, teacher-forced first tokens, biography accuracy
# ----------------------------------------------------------------------------------------------
@torch.no_grad()
def generate_answers(model: GPT, world: BioWorld, qas: Sequence[QAPair], batch_size: int = 512,
                     max_new: Optional[int] = None) -> list[list[str]]:
    """Greedy completions (words after ``Answer:``) for every QA, prompts batched by length.

    Generation stops at ``<eos>`` (training puts it after every QA line), so hint-mode answers
    ``H. A.`` come out whole; :func:`bios.score_answers` cuts them at the periods.
    """
    if not qas:
        return []
    model.eval()
    device = next(model.parameters()).device
    max_new = max_new or bios.generation_budget(qas)
    prompts = [bios.encode_prompt(qa, world.tokenizer) for qa in qas]
    by_length: dict[int, list[int]] = defaultdict(list)
    for i, p in enumerate(prompts):
        by_length[len(p)].append(i)
    out: list = [None] * len(qas)
    for length, rows in by_length.items():
        budget = min(max_new, model.config.context - length)
        for start in range(0, len(rows), batch_size):
            chunk = rows[start:start + batch_size]
            prompt = torch.as_tensor(np.stack([prompts[i] for i in chunk]), device=device)
            generated = model.generate(prompt, budget, temperature=0.0, stop_token=world.eos)[:, length:]
            for i, ids in zip(chunk, generated.tolist()):
                out[i] = world.tokenizer.tokens(ids)
    return out


def qa_accuracy(model: GPT, world: BioWorld, qas: Sequence[QAPair]) -> bios.QAScores:
    """Exact-match accuracy of greedy answers, per task (attribute) and mean."""
    return bios.score_answers(qas, generate_answers(model, world, qas))


@torch.no_grad()
def qa_first_token_accuracy(model: GPT, world: BioWorld, qas: Sequence[QAPair], batch_size: int = 512) -> bios.QAScores:
    """Teacher-forced argmax right after ``Answer:`` (spec 2.8)."""
    model.eval()
    device = next(model.parameters()).device
    prompts = [bios.encode_prompt(qa, world.tokenizer) for qa in qas]
    firsts: list = [None] * len(qas)
    by_length: dict[int, list[int]] = defaultdict(list)
    for i, p in enumerate(prompts):
        by_length[len(p)].append(i)
    for rows in by_length.values():
        for start in range(0, len(rows), batch_size):
            chunk = rows[start:start + batch_size]
            logits = model(torch.as_tensor(np.stack([prompts[i] for i in chunk]), device=device)).logits[:, -1]
            for i, t in zip(chunk, logits.argmax(-1).tolist()):
                firsts[i] = world.tokenizer.id_to_token[t]
    return bios.first_token_accuracy(qas, firsts)


def _padded(sequences: Sequence[np.ndarray]) -> torch.Tensor:
    width = max(len(s) for s in sequences)
    out = torch.zeros(len(sequences), width, dtype=torch.long)
    for i, s in enumerate(sequences):
        out[i, :len(s)] = torch.as_tensor(s)
    return out


def entry_inputs(world: BioWorld, entries: Sequence[BioEntry]) -> tuple[torch.Tensor, list]:
    """``<eos> entry`` token ids (padded) and each entry's value spans, shifted by the leading <eos>.

    A span (attribute, first, end) means: the value's tokens sit at input positions first..end-1, so
    the model predicts its first token at position first-1 (the P-probe position).
    """
    encoded = [np.concatenate([[world.eos], world.tokenizer.encode(e.text)]) for e in entries]
    spans = [[(a, f + 1, t + 1) for a, f, t in bios.entry_token_spans(e)] for e in entries]
    return _padded(encoded), spans


@torch.no_grad()
def bio_accuracy(model: GPT, world: BioWorld, entries: Sequence[BioEntry], batch_size: int = 256) -> dict:
    """Teacher-forced accuracy on the attribute values inside the biographies themselves.

    ``first_token``: the first token of each value is the argmax; ``whole``: every token of it is.
    Per attribute and mean. This is the memorisation the paper requires before asking about extraction.
    """
    model.eval()
    device = next(model.parameters()).device
    inputs, spans = entry_inputs(world, entries)
    first, whole, count = defaultdict(int), defaultdict(int), defaultdict(int)
    for start in range(0, len(inputs), batch_size):
        x = inputs[start:start + batch_size].to(device)
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
    share of the most common headquarters (13.7% New York, NY)."""
    per = bios.majority_baselines(world.pools)
    return {"per_attribute": per, "mean": bios.majority_mean(world.pools),
            "company_city": bios.company_city_baseline(world.pools)[1],
            "first_token": bios.first_token_majority(world.pools)}


# ----------------------------------------------------------------------------------------------
# Probes: where is the knowledge? (E4 P-probe, E5 Q-probe)
# ----------------------------------------------------------------------------------------------
def first_token_classes(world: BioWorld, attribute: str) -> list[str]:
    """The distinct first words of an attribute's possible values (months for the birth date)."""
    values = world.pools.values(attribute) if attribute != "birth_date" else bios.MONTHS
    return list(dict.fromkeys(split_words(v)[0] for v in values))


def value_classes(world: BioWorld, attribute: str) -> list[str]:
    """Whole-attribute classes: the distinct values (birth dates are too many: only their month)."""
    if attribute == "birth_date":
        return list(bios.MONTHS)
    return list(world.pools.values(attribute))


def probe_targets(world: BioWorld, people: Sequence[Person], whole: bool = False) -> dict[str, torch.Tensor]:
    """Class index of every person's attribute: its first word (or whole value), per attribute."""
    out = {}
    for attribute in ATTRIBUTES:
        classes = value_classes(world, attribute) if whole else first_token_classes(world, attribute)
        index = {c: i for i, c in enumerate(classes)}
        if attribute == "birth_date":
            labels = [p.birth_month - 1 for p in people]
        else:
            labels = [index[p.value(attribute) if whole else split_words(p.value(attribute))[0]] for p in people]
        out[attribute] = torch.tensor(labels, dtype=torch.long)
    return out


def unembedding_init(model: GPT, world: BioWorld, attribute: str) -> torch.Tensor:
    """Head weights = the tied output-embedding rows of the class tokens: the probe starts as the model's
    own next-token readout restricted to those tokens (spec 6.0: needed with ~150 probe people)."""
    ids = [world.tokenizer.id_of(c) for c in first_token_classes(world, attribute)]
    return model.lm_head.weight.detach()[ids].clone()


@torch.no_grad()
def position_features(model: GPT, world: BioWorld, entries: Sequence[BioEntry], batch_size: int = 256) -> torch.Tensor:
    """Final-normalised last-layer states (n_entries, 6, d) at P1..P6: the token right before each
    attribute value, in text order."""
    model.eval()
    device = next(model.parameters()).device
    inputs, spans = entry_inputs(world, entries)
    out = []
    for start in range(0, len(inputs), batch_size):
        hidden = model(inputs[start:start + batch_size].to(device), return_hidden=True).hidden[-1]
        feats = model.norm_final(hidden).cpu()
        for row, entry_spans in enumerate(spans[start:start + batch_size]):
            out.append(torch.stack([feats[row, f - 1] for _, f, _ in entry_spans]))
    return torch.stack(out)


def _fit_head(x: torch.Tensor, y: torch.Tensor, n_classes: int, init: Optional[torch.Tensor], steps: int,
              batch: int, seed: int, lr: float = 1e-3, weight_decay: float = 0.3) -> torch.nn.Linear:
    """A linear head on cached features (AdamW, wd 0.3, linear decay to 0 as in [3.1 App. E])."""
    torch.manual_seed(seed)
    head = torch.nn.Linear(x.shape[1], n_classes)
    if init is not None:
        with torch.no_grad():
            head.weight.copy_(init)
            head.bias.zero_()
    optimizer = torch.optim.AdamW(head.parameters(), lr=lr, weight_decay=weight_decay)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: 1 - s / steps)
    generator = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        idx = torch.randint(0, len(x), (min(batch, len(x)),), generator=generator)
        loss = F.cross_entropy(head(x[idx]), y[idx])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
    return head.eval()


def p_probe(model: GPT, world: BioWorld, data: BioData, profile: str | None = None, whole: bool = False,
            seed: int = 0) -> dict:
    """P-probing [3.1 §5.1]: can the attribute be read at each of the six positions P1..P6?

    For each target attribute one head is trained on the states at all six positions of P_train people's
    biographies and tested, per position, on P_test people's. Returns ``matrix`` (6 attributes x 6
    positions) and the majority baselines. First-token heads start from the model's own unembedding
    (rank-0 probe on cached features, the ``cpu`` design); whole-attribute heads start at random.
    """
    s = settings(profile)
    train_entries, train_owner = data.entries_with_owners(data.group("train"))
    test_entries, test_owner = data.entries_with_owners(data.group("test"))
    x_train = position_features(model, world, train_entries)
    x_test = position_features(model, world, test_entries)
    y_train = probe_targets(world, train_owner, whole)
    y_test = probe_targets(world, test_owner, whole)
    matrix, majority = [], {}
    steps = s["probe_steps"] * (3 if whole else 1)
    for k, attribute in enumerate(ATTRIBUTES):
        n_classes = len(value_classes(world, attribute) if whole else first_token_classes(world, attribute))
        init = None if whole else unembedding_init(model, world, attribute)
        x = x_train.reshape(-1, x_train.shape[-1])
        y = y_train[attribute].repeat_interleave(6)
        head = _fit_head(x, y, n_classes, init, steps, s["probe_batch"], 1000 * seed + SEEDS["probe"] + k)
        with torch.no_grad():
            pred = head(x_test).argmax(-1)  # (n_test_entries, 6)
        matrix.append((pred == y_test[attribute][:, None]).float().mean(0).tolist())
        counts = torch.bincount(y_train[attribute], minlength=n_classes)
        majority[attribute] = float((y_test[attribute] == counts.argmax()).float().mean())
    return {"matrix": matrix, "attributes": list(ATTRIBUTES), "positions": [f"P{i}" for i in range(1, 7)],
            "majority": majority, "task": "whole attribute" if whole else "first token"}


def q_probe(model: GPT, world: BioWorld, data: BioData, profile: str | None = None, whole: bool = False,
            seed: int = 0) -> dict:
    """Q-probing [3.1 §5.2]: read each attribute from ``<eos> First Middle Last <q>`` alone.

    A rank-r update of the embeddings (it lets the never-trained ``<q>`` token become useful) and one
    linear head per attribute, trained on P_train people, tested on P_test people.
    """
    from ..probe import train_lowrank_probe

    s = settings(profile)
    people = data.group("train") + data.group("test")
    inputs = torch.as_tensor(np.stack([bios.encode_name_query(p, world.tokenizer) for p in people]))
    targets = probe_targets(world, people, whole)
    n_classes = {a: len(value_classes(world, a) if whole else first_token_classes(world, a)) for a in ATTRIBUTES}
    head_init = None if whole else {a: unembedding_init(model, world, a) for a in ATTRIBUTES}
    positions = {a: torch.full((len(people),), inputs.shape[1] - 1) for a in ATTRIBUTES}
    result = train_lowrank_probe(model, inputs, positions, targets, n_classes, rank=s["qprobe_rank"],
                                 steps=s["qprobe_steps"] * (3 if whole else 1), lr=1e-3, weight_decay=0.3,
                                 batch_size=s["qprobe_batch"], train_fraction=len(data.split.train) / len(people),
                                 head_init=head_init, seed=1000 * seed + SEEDS["probe"])
    return {"test": result["test"], "train": result["train"], "rank": result["rank"],
            "mean": float(np.mean(list(result["test"].values()))),
            "task": "whole attribute" if whole else "first token"}


# ----------------------------------------------------------------------------------------------
# E2: mixed training (biographies and P_train QAs from the start)
# ----------------------------------------------------------------------------------------------
class MixedSource:
    """Windows that are entirely biography text or entirely QA text [3.1 §2.1, App. C].

    Each row of a batch is a QA window with probability ``qa_ratio`` (the paper's QA_r = 0.8), drawn
    from the step's seed, so a batch is still a pure function of the step (resumable runs).
    """

    def __init__(self, bio: FixedDataset, qa: FixedDataset, qa_ratio: float, seed: int):
        if bio.context != qa.context or bio.batch_size != qa.batch_size:
            raise ValueError("biography and QA sources need the same context and batch size")
        if not 0.0 <= qa_ratio <= 1.0:
            raise ValueError(f"qa_ratio must be in [0, 1], got {qa_ratio}")
        self.bio, self.qa, self.qa_ratio, self.seed = bio, qa, qa_ratio, seed

    def qa_rows(self, step: int) -> np.ndarray:
        return step_rng(self.seed, step).random(self.bio.batch_size) < self.qa_ratio

    def batch(self, step: int) -> Batch:
        use_qa = torch.from_numpy(self.qa_rows(step))
        bio, qa = self.bio.batch(step), self.qa.batch(step)
        pick_rows = lambda a, b: torch.where(use_qa[:, None], b, a)  # noqa: E731
        return Batch(pick_rows(bio.inputs, qa.inputs), pick_rows(bio.targets, qa.targets),
                     pick_rows(bio.weights, qa.weights))

    def describe(self) -> dict:
        return {"kind": "mixed", "qa_ratio": self.qa_ratio, "seed": self.seed, "bio": self.bio.describe(),
                "qa": self.qa.describe()}


def mixed_train(ctx: RunContext, world: BioWorld, data: BioData, bio_exposures: int, qa_ratio: float, name: str,
                eval_every: int = 0, eval_people: int = 100, live_plot: bool = False,
                shipped: bool = False) -> tuple[GPT, History]:
    """Train from scratch on biographies of everyone plus P_train QAs (the answers carry the loss).

    ``bio_exposures``: biography exposures per person; the run is 1/(1 - qa_ratio) times longer than
    BIO pretraining alone. With ``eval_every`` the four learning curves of [3.1 Fig. 1] are recorded
    in ``history.evals``: BIO and QA first-token accuracy on P_train and P_test people.
    """
    s = settings(ctx.profile)
    seed = 1000 * ctx.seed + SEEDS["pretrain"]
    bio_ds = pretrain_dataset(world, data, ctx.profile, ctx.seed)
    qa_ds = FixedDataset(bios.encode_qas(bios.qa_pairs(data.group("train")), world.tokenizer), context=s["context"],
                         batch_size=s["batch"], sep_id=world.eos, seed=seed + 1)
    source = MixedSource(bio_ds, qa_ds, qa_ratio, seed + 2)
    steps = int(math.ceil(bio_ds.steps_for(passes_for(data, bio_exposures)) / (1 - qa_ratio)))
    model = make_model(world, ctx.profile, ctx.seed)
    config = TrainConfig(steps=steps, lr=s["lr"], warmup_steps=int(s["warmup_frac"] * steps), schedule="cosine",
                         min_lr_ratio=0.1, weight_decay=0.1, eps=1e-6, seed=ctx.seed, device=ctx.device,
                         threads=ctx.threads, checkpoint_dir=ctx.checkpoint_dir(name), eval_every=eval_every,
                         checkpoint_every=500 if ctx.run_dir else 0, progress=ctx.progress, desc=f"mixed {name}")
    eval_fn = learning_curve_eval(world, data, eval_people) if eval_every else None
    callbacks = [LiveLoss(title="mixed training", every=10)] if live_plot else []
    history = (load_shipped(name, ctx.profile, model, source, config) if shipped else None) \
        or train(model, source, config, eval_fn=eval_fn, callbacks=callbacks)
    return model, history


def learning_curve_eval(world: BioWorld, data: BioData, n_people: int) -> Callable:
    """eval_fn for :func:`plmkit.train.train`: BIO and QA first-token accuracy, in- and out-of-distribution."""
    train_people, test_people = data.group("train")[:n_people], data.group("test")[:n_people]
    entries = {part: data.entries_with_owners(group)[0] for part, group in
               (("train", train_people), ("test", test_people))}
    qas = {"train": bios.qa_pairs(train_people), "test": bios.qa_pairs(test_people)}

    def evaluate(model, step):
        out = {}
        for part in ("train", "test"):
            out[f"bio_{part}"] = bio_accuracy(model, world, entries[part])["first_token_mean"]
            out[f"qa_{part}"] = qa_first_token_accuracy(model, world, qas[part]).mean
        return out

    return evaluate


# ----------------------------------------------------------------------------------------------
# E3: celebrities help the minority
# ----------------------------------------------------------------------------------------------
@dataclass
class CelebrityData:
    """The celebrity run's data (``both``), the minority-alone baseline's data (``alone``) and the QA sets."""

    design: bios.CelebrityDesign
    both: BioData
    alone: BioData
    minority_test: list  # the minority people whose QAs are asked in both runs


def make_celebrity_data(world: BioWorld, n_minority: int, n_celebrities: int, seed: int = 0) -> CelebrityData:
    """Minority in ``single+permute1``, celebrities in ``multi5+permute`` (disjoint names) [3.1 §6].

    Every person gets the same number of exposures: a minority person's one entry is repeated as often
    as a celebrity has entries (the kit's reading; the paper's "1/6 chance" is ambiguous, spec 2.10).
    The minority is split in half; the celebrity run is tested on the same minority half that the
    minority-alone run holds out, so the two numbers are directly comparable.
    """
    design = bios.celebrity_design(n_minority, n_celebrities, world.pools, seed=1000 * seed + SEEDS["people"])
    minority, celebrities = list(design.minority), list(design.celebrities)
    render_seed = 1000 * seed + SEEDS["render"]
    minority_entries = bios.render_bios(minority, design.minority_augmentation, world.templates, seed=render_seed)
    celebrity_entries = bios.render_bios(celebrities, design.celebrity_augmentation, world.templates,
                                         seed=render_seed + 1)
    copies = bios.parse_augmentation(design.celebrity_augmentation).copies
    minority_split = bios.split_people(minority, seed=1000 * seed + SEEDS["split"])
    celebrity_split = PersonSplit(train=design.qa_train, test=design.celebrity_test)
    both = BioData(minority + celebrities, minority_entries + celebrity_entries, celebrity_split,
                   f"{design.minority_augmentation} + CEL {design.celebrity_augmentation}",
                   [copies] * len(minority) + [1] * len(celebrities))
    alone = BioData(minority, minority_entries, minority_split, design.minority_augmentation, [1] * len(minority))
    return CelebrityData(design, both, alone, minority_split.select(minority, "test"))


# ----------------------------------------------------------------------------------------------
# One E1 run: pretrain on one augmentation, fine-tune, measure
# ----------------------------------------------------------------------------------------------
@dataclass
class KnowledgeRun:
    """Everything one pretraining run produced: its data, models and measurements."""

    name: str
    data: BioData
    model: GPT
    history: History
    tuned: Optional[GPT] = None
    finetune_history: Optional[History] = None
    metrics: dict = field(default_factory=dict)


def evaluate_run(run: KnowledgeRun, world: BioWorld, test_people: Optional[Sequence[Person]] = None,
                 train_people: Optional[Sequence[Person]] = None) -> dict:
    """BIO memorisation beside QA extraction (P_train and P_test), per attribute and mean."""
    train_people = list(train_people if train_people is not None else run.data.group("train"))
    test_people = list(test_people if test_people is not None else run.data.group("test"))
    bio_train = bio_accuracy(run.model, world, run.data.entries_with_owners(train_people)[0])
    bio_test = bio_accuracy(run.model, world, run.data.entries_with_owners(test_people)[0])
    model = run.tuned if run.tuned is not None else run.model
    qa_test = qa_accuracy(model, world, bios.qa_pairs(test_people))
    qa_train = qa_accuracy(model, world, bios.qa_pairs(train_people))
    first_test = qa_first_token_accuracy(model, world, bios.qa_pairs(test_people))
    metrics = {
        "augmentation": run.data.augmentation,
        "people": len(run.data.people),
        "pretrain": _history_summary(run.history),
        "bio_first_token": {"train_people": bio_train["first_token_mean"], "test_people": bio_test["first_token_mean"]},
        "bio_whole": {"train_people": bio_train["whole_mean"], "test_people": bio_test["whole_mean"]},
        "bio_per_attribute_test_people": bio_test["first_token"],
        "qa_test": qa_test.per_task, "qa_test_mean": qa_test.mean,
        "qa_train": qa_train.per_task, "qa_train_mean": qa_train.mean,
        "qa_first_token_test": first_test.per_task, "qa_first_token_test_mean": first_test.mean,
        "under_trained": bio_test["first_token_mean"] < 0.95,
    }
    if run.finetune_history is not None:
        metrics["finetune"] = _history_summary(run.finetune_history)
    run.metrics.update(metrics)
    return metrics


def _history_summary(history: History) -> dict:
    return {"steps": history.steps, "tokens": history.tokens, "final_loss": history.final_loss,
            "seconds": round(history.seconds, 1)}


def run_augmentation(ctx: RunContext, world: BioWorld, augmentation: str, n_people: int, exposures: int,
                     live_plot: bool = False) -> KnowledgeRun:
    """E1 for one augmentation: pretrain, LoRA QA fine-tune on P_train, evaluate on P_test."""
    data = make_bio_data(world, n_people, augmentation, ctx.seed)
    name = augmentation.replace("+", "_")
    model, history = pretrain(ctx, world, data, exposures, f"pretrain_{name}", live_plot=live_plot)
    tuned, ft_history = finetune_qa(ctx, world, model, bios.qa_pairs(data.group("train")), f"finetune_{name}")
    run = KnowledgeRun(data.augmentation, data, model, history, tuned, ft_history)
    evaluate_run(run, world)
    return run


# ----------------------------------------------------------------------------------------------
# Figures: ours beside the paper's numbers
# ----------------------------------------------------------------------------------------------
def reference() -> dict:
    from ..results import load_reference

    return load_reference("knowledge")


def _percent(x: float) -> float:
    return 100.0 * float(x)


def plot_augmentations(run_metrics: dict, world: BioWorld, ref: Optional[dict] = None):
    """Mean P_test QA accuracy per pretraining augmentation, ours beside [3.1 Fig. 3], with baselines."""
    from ..plots import ours_vs_paper

    ref = ref or reference()
    paper = ref["qa_by_augmentation"]["values"]
    names = list(run_metrics)
    labels = [f"{n}\n(BIO {_percent(m['bio_first_token']['train_people']):.0f}%)" for n, m in run_metrics.items()]
    fig = ours_vs_paper(labels, [_percent(run_metrics[n]["qa_test_mean"]) for n in names],
                        [paper.get(n, {}).get("pretrain_finetune") for n in names],
                        ylabel="QA accuracy on P_test people (%)",
                        title="Pretrain on biographies, then QA fine-tune: held-out people",
                        citation=f"Paper: {ref['qa_by_augmentation']['citation']} Baselines: {ref['baselines']['citation']} "
                                 "BIO = first-token accuracy on the training biographies (memorisation).",
                        ours_label=f"plmkit ({world.profile} profile, N = {run_metrics[names[0]]['people']})",
                        paper_label="paper (N = 100K, GPT2-12-12)")
    ax = fig.axes[0]
    b = baselines(world)
    ax.axhline(_percent(b["mean"]), ls=":", color="black", label=f"majority mean ({_percent(b['mean']):.1f}%)")
    ax.axhline(_percent(b["company_city"]), ls="--", color="#999999",
               label=f"company-city baseline ({_percent(b['company_city']):.1f}%)")
    ax.set_ylim(0, 105)
    ax.legend(fontsize=8)
    return fig


def plot_attribute_heatmap(run_metrics: dict, world: BioWorld, ref: Optional[dict] = None):
    """Per-attribute P_test QA accuracy (augmentation x attribute) with the per-attribute baselines."""
    from ..plots import add_citation, heatmap

    ref = ref or reference()
    names = list(run_metrics)
    matrix = [[_percent(run_metrics[n]["qa_test"][a]) for a in ATTRIBUTES] for n in names]
    base = bios.majority_baselines(world.pools)
    matrix.append([_percent(base[a]) for a in ATTRIBUTES])
    fig = heatmap(matrix, [ATTRIBUTE_LABELS[a] for a in ATTRIBUTES], names + ["majority baseline"], fmt="{:.0f}",
                  vmin=0, vmax=100, title="QA accuracy (%) on P_test people, per attribute")
    paper_date = ref["single_birth_date"]["value"]
    add_citation(fig, f"Paper: {ref['single_birth_date']['citation']} Paper's single birth date: {paper_date}%. "
                      f"Company city's baseline is the New-York share ({_percent(base['company_city']):.1f}% here, 13.7% in the paper).")
    return fig


def plot_p_probes(results: dict, ref: Optional[dict] = None):
    """P-probe heat-maps (target attribute x position P1..P6), one per pretraining run, plus the paper's
    P1 values for multi5+permute."""
    from ..plots import _plt, add_citation, heatmap

    ref = ref or reference()
    plt = _plt()
    fig, axes = plt.subplots(1, len(results) + 1, figsize=(5.2 * len(results) + 4, 4.2),
                             gridspec_kw={"width_ratios": [1] * len(results) + [0.8]})
    for ax, (name, result) in zip(axes, results.items()):
        heatmap([[_percent(v) for v in row] for row in result["matrix"]], result["positions"],
                [ATTRIBUTE_LABELS[a] for a in result["attributes"]], ax=ax, fmt="{:.0f}", vmin=0, vmax=100,
                title=f"{name}: P-probe, {result['task']} (%)", xlabel="position (text order)")
    paper = ref["p_probe"]["multi5_permute_p1_whole"]
    attrs = [a for a in ATTRIBUTES if a in paper]
    last = axes[-1]
    last.barh([ATTRIBUTE_LABELS[a] for a in attrs], [paper[a] for a in attrs], color="#ff7f0e")
    last.set_xlim(0, 100)
    last.invert_yaxis()
    last.set_title("paper: multi5+permute at P1\n(whole attribute, rank 2)", fontsize=9)
    last.set_xlabel("accuracy (%)")
    add_citation(fig, f"Paper: {ref['p_probe']['citation']}")
    fig.tight_layout()
    return fig


def plot_q_probes(results: dict, world: BioWorld, ref: Optional[dict] = None):
    """Q-probe accuracy per attribute for each run, beside the paper's [3.1 Fig. 7] values."""
    from ..plots import PAPER_COLOR, _plt, add_citation

    ref = ref or reference()
    plt = _plt()
    paper = ref["q_probe"]["first_token"]
    fig, ax = plt.subplots(figsize=(10, 4))
    x = np.arange(len(ATTRIBUTES))
    ours_colors, paper_colors = ["#1f77b4", "#0b3d6b", "#6baed6", "#08306b"], ["#ffbb78", PAPER_COLOR, "#fd8d3c", "#a63603"]
    bars = [(f"ours: {n}", [_percent(r["test"][a]) for a in ATTRIBUTES], ours_colors[i % 4])
            for i, (n, r) in enumerate(results.items())]
    bars += [(f"paper: {n}", [paper[n][a] for a in ATTRIBUTES], paper_colors[i % 4])
             for i, n in enumerate(results) if n in paper]
    width = 0.8 / len(bars)
    for i, (label, values, color) in enumerate(bars):
        ax.bar(x + (i - (len(bars) - 1) / 2) * width, values, width, label=label, color=color)
    base = bios.first_token_majority(world.pools)
    ax.scatter(x, [_percent(base[a]) for a in ATTRIBUTES], marker="_", s=600, color="black", zorder=3,
               label="first-token majority baseline")
    ax.set_xticks(x)
    ax.set_xticklabels([ATTRIBUTE_LABELS[a] + (" (month)" if a == "birth_date" else "") for a in ATTRIBUTES])
    ax.set_ylabel("Q-probe accuracy, first token (%)")
    ax.set_ylim(0, 105)
    ax.set_title("Q-probe: the attribute read from the name alone (P_test people)")
    ax.legend(fontsize=7, ncol=2)
    add_citation(fig, f"Paper: {ref['q_probe']['citation']}")
    return fig


def plot_mixed_training(history: History, final_test: float, ref: Optional[dict] = None):
    """The four learning curves of mixed training [3.1 Fig. 1] and the final P_test accuracy vs the paper's."""
    from ..plots import PAPER_COLOR, _plt, add_citation

    ref = ref or reference()
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 4))
    steps = [e["step"] for e in history.evals]
    tokens_per_step = history.tokens / max(1, history.steps)
    styles = {"qa_train": ("QA, P_train (in-dist.)", "C0", "-"), "qa_test": ("QA, P_test (out-of-dist.)", "C3", "-"),
              "bio_train": ("BIO, P_train", "C0", ":"), "bio_test": ("BIO, P_test", "C3", ":")}
    for key, (label, color, ls) in styles.items():
        ax.plot(np.array(steps) * tokens_per_step, [_percent(e[key]) for e in history.evals], ls, color=color,
                label=label)
    paper = ref["mixed_training"]["bioS_single"]
    ax.axhline(paper, color=PAPER_COLOR, ls="--", label=f"paper final QA P_test ({paper}%)")
    ax.set_xlabel("training tokens")
    ax.set_ylabel("first-token accuracy (%)")
    ax.set_ylim(0, 105)
    ax.set_title(f"Mixed training on single: final exact-match QA on P_test = {_percent(final_test):.0f}%")
    ax.legend(fontsize=7)
    add_citation(fig, f"Paper: {ref['mixed_training']['citation']}")
    return fig


def plot_celebrities(metrics: dict, ref: Optional[dict] = None):
    """Minority accuracy alone vs with celebrities, beside [3.1 Res. 6]."""
    from ..plots import ours_vs_paper

    ref = ref or reference()
    paper = ref["celebrities"]["bioS"]
    labels = ["minority\nalone", "minority with\ncelebrities", "held-out\ncelebrities"]
    ours = [_percent(metrics["minority_alone"]), _percent(metrics["minority_with_celebrities"]),
            _percent(metrics["celebrities_held_out"])]
    multi = ref["qa_by_augmentation"]["values"]["multi5+permute"]["pretrain_finetune"]
    fig = ours_vs_paper(labels, ours, [paper["minority_alone"], paper["minority_with_celebrities"], multi],
                        ylabel="QA accuracy (%)", title="Celebrities make the minority's knowledge extractable",
                        citation=f"Paper: {ref['celebrities']['citation']} Held-out celebrities: the paper's "
                                 "multi5+permute value [3.1 Fig. 3].")
    fig.axes[0].set_ylim(0, 105)
    return fig


# ----------------------------------------------------------------------------------------------
# The whole part, headless
# ----------------------------------------------------------------------------------------------
# What each profile runs (spec 6.1, tuned; the notebook's table prints these). None = not run.
EXPERIMENTS = {
    "ci": dict(n_people=40, exposures=30, augmentations=("single", "multi5+permute"),
               probe_runs=("single", "multi5+permute"), whole_attribute_probes=False,
               mixed=dict(n_people=40, bio_exposures=30, qa_ratio=0.8, eval_every=20),
               celebrities=dict(n_minority=20, n_celebrities=20, exposures=30)),
    "cpu": dict(n_people=300, exposures=150, augmentations=("single", "multi5+permute"),
                probe_runs=("single", "multi5+permute"), whole_attribute_probes=False,
                mixed=dict(n_people=200, bio_exposures=50, qa_ratio=0.8, eval_every=200),
                # 4 celebrities per minority person: with 150 + 300 the gain was 28 points; with 100 + 400, 41 and
                # 31 points (seeds 0 and 1); with 150 + 500 only 12 (650 people overloaded the small model). Those
                # were measured before evaluation prompts got their leading <eos>, which raised every QA accuracy:
                # 100 + 400, seed 0, now gains 55 points (8.7% -> 63.3%).
                celebrities=dict(n_minority=100, n_celebrities=400, exposures=150)),
    "gpu": dict(n_people=2000, exposures=200,
                augmentations=("single", "single+permute1", "single+permute5", "multi5", "multi5+permute",
                               "multi5+permute+fullname"),
                probe_runs=("single", "multi5", "single+permute5", "multi5+permute"), whole_attribute_probes=True,
                mixed=dict(n_people=2000, bio_exposures=60, qa_ratio=0.8, eval_every=500),
                celebrities=dict(n_minority=2000, n_celebrities=2000, exposures=200)),
}


def experiments(profile: str | None = None) -> dict:
    return copy.deepcopy(pick(EXPERIMENTS, profile))


def run_celebrities(ctx: RunContext, world: BioWorld, n_minority: int, n_celebrities: int, exposures: int,
                    shipped: bool = False) -> dict:
    """E3: pretrain minority + celebrities, fine-tune on celebrity QAs, test on the minority; and the
    minority-alone baseline (pretrained alone, fine-tuned on half of the minority). ``shipped``: load the
    two pretraining runs from the kit's checkpoints when they match (the fine-tuning always runs)."""
    cel = make_celebrity_data(world, n_minority, n_celebrities, ctx.seed)
    model, history = pretrain(ctx, world, cel.both, exposures, "pretrain_celebrities", shipped=shipped)
    celebrity_train = cel.both.split.select(cel.both.people, "train")
    tuned, ft_history = finetune_qa(ctx, world, model, bios.qa_pairs(celebrity_train), "finetune_celebrities")
    with_cel = KnowledgeRun("with celebrities", cel.both, model, history, tuned, ft_history)
    evaluate_run(with_cel, world, test_people=cel.minority_test)
    held_out = qa_accuracy(tuned, world, bios.qa_pairs(cel.both.split.select(cel.both.people, "test")))
    alone = KnowledgeRun("minority alone", cel.alone,
                         *pretrain(ctx, world, cel.alone, exposures, "pretrain_minority", shipped=shipped))
    alone.tuned, alone.finetune_history = finetune_qa(ctx, world, alone.model,
                                                      bios.qa_pairs(cel.alone.group("train")), "finetune_minority")
    evaluate_run(alone, world, test_people=cel.minority_test)
    return {
        "minority_alone": alone.metrics["qa_test_mean"],
        "minority_with_celebrities": with_cel.metrics["qa_test_mean"],
        "celebrities_held_out": held_out.mean,
        "gain_points": 100 * (with_cel.metrics["qa_test_mean"] - alone.metrics["qa_test_mean"]),
        "minority_alone_detail": alone.metrics, "with_celebrities_detail": with_cel.metrics,
        "celebrities_held_out_per_attribute": held_out.per_task,
        "exposures_per_person": exposures,
        "people": {"minority": n_minority, "celebrities": n_celebrities,
                   "minority_test": len(cel.minority_test), "celebrity_qa_train": len(cel.design.qa_train)},
    }


def run_mixed(ctx: RunContext, world: BioWorld, n_people: int, bio_exposures: int, qa_ratio: float,
              eval_every: int, live_plot: bool = False, shipped: bool = False) -> tuple[dict, History]:
    """E2: mixed training on ``single``; returns the metrics and the history with its learning curves."""
    data = make_bio_data(world, n_people, "single", ctx.seed)
    model, history = mixed_train(ctx, world, data, bio_exposures, qa_ratio, "mixed_single", eval_every=eval_every,
                                 live_plot=live_plot, shipped=shipped)
    run = KnowledgeRun("mixed single", data, model, history)
    metrics = evaluate_run(run, world)
    metrics["qa_ratio"] = qa_ratio
    metrics["bio_exposures"] = bio_exposures
    metrics["curves"] = history.evals
    return metrics, history


def reproduce(ctx: RunContext) -> dict:
    """All of Part 3.1 for the profile: E1 per augmentation, probes, celebrities, mixed training."""
    exp = experiments(ctx.profile)
    world = make_world(ctx.profile)
    ref = reference()
    metrics: dict = {"part": "knowledge", "profile": ctx.profile, "settings": settings(ctx.profile),
                     "experiments": exp, "baselines": baselines(world), "vocab_size": world.tokenizer.vocab_size}
    runs = {a: run_augmentation(ctx, world, a, exp["n_people"], exp["exposures"]) for a in exp["augmentations"]}
    metrics["augmentations"] = {a: r.metrics for a, r in runs.items()}
    metrics["parameters"] = next(iter(runs.values())).model.param_counts()
    ctx.save_figure(plot_augmentations(metrics["augmentations"], world, ref), "qa_by_augmentation")
    ctx.save_figure(plot_attribute_heatmap(metrics["augmentations"], world, ref), "qa_per_attribute")

    p_probes, q_probes = {}, {}
    for name in exp["probe_runs"]:
        p_probes[name] = p_probe(runs[name].model, world, runs[name].data, ctx.profile, seed=ctx.seed)
        q_probes[name] = q_probe(runs[name].model, world, runs[name].data, ctx.profile, seed=ctx.seed)
    metrics["p_probe"], metrics["q_probe"] = p_probes, q_probes
    ctx.save_figure(plot_p_probes(p_probes, ref), "p_probe")
    ctx.save_figure(plot_q_probes(q_probes, world, ref), "q_probe")
    if exp["whole_attribute_probes"]:
        whole_p = {n: p_probe(runs[n].model, world, runs[n].data, ctx.profile, whole=True, seed=ctx.seed)
                   for n in exp["probe_runs"]}
        metrics["p_probe_whole"] = whole_p
        metrics["q_probe_whole"] = {n: q_probe(runs[n].model, world, runs[n].data, ctx.profile, whole=True,
                                               seed=ctx.seed) for n in exp["probe_runs"]}
        ctx.save_figure(plot_p_probes(whole_p, ref), "p_probe_whole")
    del runs  # free the E1 models before the next runs

    if exp["celebrities"]:
        metrics["celebrities"] = run_celebrities(ctx, world, **exp["celebrities"])
        ctx.save_figure(plot_celebrities(metrics["celebrities"], ref), "celebrities")
    if exp["mixed"]:
        metrics["mixed"], history = run_mixed(ctx, world, **exp["mixed"])
        ctx.save_figure(plot_mixed_training(history, metrics["mixed"]["qa_test_mean"], ref), "mixed_training")
    metrics["targets"] = check_targets(metrics)
    return metrics


def check_targets(metrics: dict) -> dict:
    """The kit's targets, evaluated on this run's numbers (True = met). Printed, never enforced.

    The ``cpu`` targets apply to every profile; mixed training at 60% is a ``gpu`` target (a 2-layer model on
    200 people does not get there), so it is checked only when ``metrics["profile"]`` is ``gpu``."""
    out = {}
    aug = metrics.get("augmentations", {})
    if "single" in aug:
        out["single_at_most_20pct"] = aug["single"]["qa_test_mean"] <= 0.20
    if "multi5+permute" in aug:
        out["multi5_permute_at_least_70pct"] = aug["multi5+permute"]["qa_test_mean"] >= 0.70
    for name, m in aug.items():
        out[f"bio_memorised_{name}"] = m["bio_first_token"]["train_people"] >= 0.95
    if "celebrities" in metrics:
        out["celebrity_gain_at_least_30_points"] = metrics["celebrities"]["gain_points"] >= 30
    if "mixed" in metrics and metrics.get("profile") == "gpu":
        out["mixed_at_least_60pct"] = metrics["mixed"]["qa_test_mean"] >= 0.60
    return out
