# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# # Lab 04: knowledge storage and extraction (Part 3.1)
#
# A language model reads a biography of Anya Briar Forger a hundred times and can recite it word for word.
# Ask it *"Which company did Anya Briar Forger work for?"* and it may still have no idea. **Memorising a text is
# not the same as storing knowledge you can use.** Part 3.1 of *Physics of Language Models* (Allen-Zhu & Li,
# arXiv 2309.14316) makes this precise with synthetic biographies, where we know every fact and control how
# often and how variously it is written:
#
# * **Result 2-3.** Pretrain on one fixed biography per person, fine-tune on questions about half of the people,
#   and the model answers about the other half at **9.7%**. Write each biography five times, reworded and
#   shuffled, and the same pipeline reaches **96.6%**.
# * **Result 4-5.** Probes show why: with varied text the facts are linearly readable *right at the name*; with a
#   single text they are readable only just before they are written, chained to the preceding words.
# * **Result 6.** Giving only *some* people ("celebrities") varied text makes everyone's knowledge extractable.
# * **Result 1.** Mixing questions into pretraining also works, even on single biographies.
#
# You will do five exercises along the way: write the permute augmentation and a leak-free QA split, measure the
# P-probe diagonal, train a Q-probe that cannot cheat, and read the order of the learning curves of mixed training.
# Each gives its difficulty (1 to 3), its importance, the expected time and hints, and ends with a one-line checker
# that names your mistake if there is one. Every number the text discusses is printed by a cell of this run.
#
# | | |
# |---|---|
# | **Time** | about 75 minutes to read and do the exercises; the code runs in about 10 minutes (`cpu` profile) |
# | **Prerequisites** | Lab 00 (the method, probes with controls) |
# | **Next** | Lab 05 (Part 3.2): once knowledge is extractable, can the model *use* it? |

# %% [markdown]
# ## Setup
# On Colab this installs plmkit (and nothing else: Colab's own torch, numpy and matplotlib stay). On your
# own machine it does nothing; install plmkit first as the README says.

# %%
import subprocess
import sys

if "google.colab" in sys.modules:  # Colab: install only plmkit, keep the preinstalled torch
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps",
                    "plmkit @ git+https://github.com/plmkit/plmkit"], check=True)

from dataclasses import asdict

import numpy as np
import torch

from plmkit import checks
from plmkit.data import bios
from plmkit.experiments import knowledge, targets
from plmkit.experiments.common import RunContext, start_lab

ctx = start_lab()  # the lab's run context: profile, seed, device; every experiment below takes it

# %% [markdown]
# ### Profiles: what each size can show
# The paper pretrains a 124M-parameter GPT-2 on 100,000 people for 80,000 steps. We cannot; we keep the design and
# shrink the scale. Everything below is sized by the profile (`PLMKIT_PROFILE`):
#
# | profile | people, exposures | what this lab can show | what it cannot |
# |---|---|---|---|
# | `ci` | 40 people, 30 exposures | that the code runs (seconds). The model learns nothing; ignore its numbers. | everything else |
# | `cpu` | 300 people, 150 exposures, 2-layer 0.5M-parameter model | the targets of section 7: `single` at most 20% vs `multi5+permute` at least 70% on held-out people; the P-probe diagonal vs a flat map; Q-probes ranking the runs like QA does; celebrities helping the minority; mixed training at least doubling `single` | the paper's level (96.6%), the intermediate augmentations, whole-attribute probes, bioR |
# | `gpu` | 2,000 people, 200 exposures, 4-layer 4M-parameter model, six augmentations | the paper's rank order over six augmentation rows, mixed training, whole-attribute probes | the 100K-people scale, bioR (no LLM to write it) |
#
# "Exposures" count how often a person's biography is seen in training (one pass over `multi5` data is five
# exposures). The tables of sizes are plain data:

# %%
# NBVAL_CHECK_OUTPUT
for name, row in knowledge.SETTINGS.items():
    print(f"{name:>4}: {row.n_people} people, {row.exposures} exposures, augmentations {', '.join(row.augmentations)}")
    print(f"      model/optimiser: {asdict(row.sizes)}")

# %% [markdown]
# ## 1. A world of biographies
#
# Each person has six attributes drawn uniformly and independently from pools (birth date, birth city, university,
# major, employer; the company city is the employer's headquarters). A **biography** writes the six facts as six
# sentences from templates; only the first sentence names the person, the others say *He* or *She*. Here is one
# person of the `cpu` world written in five ways (the augmentations of [3.1 §4.2]):

# %%
# NBVAL_CHECK_OUTPUT
cpu_world = knowledge.make_world(RunContext(profile="cpu"))  # the cpu world, whatever this run's profile
person = bios.sample_people(1, cpu_world.pools, seed=0)[0]
print(person.full_name, person.values())
for augmentation in ("single", "single+permute1", "multi5", "multi5+permute", "multi5+permute+fullname"):
    entries = bios.render_bios([person], augmentation, cpu_world.templates, seed=5)[0]
    print(f"\n{augmentation} ({len(entries)} entr{'y' if len(entries) == 1 else 'ies'}), first one:\n  {entries[0].text}")

# %% [markdown]
# The same seed always gives the same people and the same text, bit for bit, on every machine.
# A **QA** line asks for one attribute; at test time the model sees the question and `Answer:`, never the biography:

# %%
# NBVAL_CHECK_OUTPUT
for qa in bios.person_qas(person):
    print(qa.text)

# %% [markdown]
# ### Explore: browse the people
# Pick a person and an augmentation to read every biography the model will train on, with the six values
# highlighted, and the person's six questions. (After section 3 has trained the models, their answers appear too.)

# %%
import ipywidgets as widgets
from IPython.display import HTML, display

browse_data = knowledge.make_bio_data(cpu_world, 300, "single")
trained_models: dict = {}  # filled in section 3


def show_person(index: int, augmentation: str) -> None:
    p = browse_data.people[index]
    entries = bios.render_bios([p], augmentation, cpu_world.templates, seed=1)[0]
    html = [f"<b>{p.full_name}</b> ({'P_train' if p.pid in browse_data.split.train else 'P_test'})<ol>"]
    html += [f"<li>{knowledge.entry_html(e)}</li>" for e in entries]
    html += ["</ol><table><tr><th>question</th><th>answer</th>"]
    html[-1] += "".join(f"<th>{name}</th>" for name in trained_models) + "</tr>"
    for qa in bios.person_qas(p):
        said = [bios.cut_at_stop(knowledge.generate_answers(m, cpu_world, [qa])[0]) for m in trained_models.values()]
        answers = "".join(f"<td>{' '.join(words)}</td>" for words in said)
        html.append(f"<tr><td>{qa.question}</td><td>{qa.answer}</td>{answers}</tr>")
    display(HTML("".join(html) + "</table>"))


widgets.interact(show_person, index=widgets.IntSlider(0, 0, len(browse_data.people) - 1),
                 augmentation=widgets.Dropdown(options=["single", "single+permute1", "multi5", "multi5+permute",
                                                        "multi5+permute+fullname"], value="multi5+permute"));

# %% [markdown]
# ### Exercise 1: the permute augmentation
# > **Teaches:** what "diverse" data means concretely, and why the name must move with the shuffle.
# > **Difficulty:** 1/3. **Importance:** high: diversity is the lever of the whole part. **Time:** 10 minutes.
#
# `single+permuteP` keeps a person's six sentences but writes P copies, each in an independent random order
# [3.1 App. A.1]. After a shuffle the **full name moves to whatever sentence is now first**; every other sentence
# uses the pronoun. Write `permute_entries(pairs, copies, rng)`: `pairs[k]` is sentence k of the fixed-order
# biography written two ways, `(with the name, with the pronoun)`; return `copies` strings, each the six sentences
# in a fresh order drawn from `rng`, joined by single spaces.
#
# <details><summary>Hint 1</summary>
#
# `order = rng.permutation(6)` gives one random order; sentence `order[0]` comes first and takes its
# name form, the rest their pronoun forms.
# </details>
# <details><summary>Hint 2</summary>
#
# Draw a new order for every copy (inside the loop), and draw only from `rng`, never `np.random`: the checker
# calls you twice with the same seed and expects the same text.
# </details>

# %%
def permute_entries(pairs: list, copies: int, rng: np.random.Generator) -> list:
    """`copies` shuffled biographies from six (name form, pronoun form) sentence pairs."""
    # BEGIN SOLUTION
    entries = []
    for _ in range(copies):
        order = rng.permutation(len(pairs))
        entries.append(" ".join(pairs[i][0] if k == 0 else pairs[i][1] for k, i in enumerate(order)))
    return entries
    # END SOLUTION


checks.permute_augmentation(permute_entries)

# %% [markdown]
# ## 2. The split, and what chance looks like
#
# The people are split in half at random: **P_train**, whose QAs are used for fine-tuning, and **P_test**, whose QAs
# are only ever asked. Every person's biographies are in pretraining; what we test is whether a skill learned on
# P_train ("answer a question by recalling the biography") transfers to people the fine-tuning never saw.
#
# ### Exercise 2: a QA split without leakage
# > **Teaches:** that the unit of a split is the person, not the QA line; a single leaked line inflates the result.
# > **Difficulty:** 1/3. **Importance:** high: every P_test number below depends on it. **Time:** 10 minutes.
#
# Write `make_qa_split(people, seed)` returning `(train_qas, test_qas)`: a seeded random half of the people is
# P_train, the rest P_test, and each side gets **all six** QAs of its people (`bios.qa_pairs(people)` makes them).
#
# <details><summary>Hint</summary>
#
# `order = np.random.default_rng(seed).permutation(len(people))`; the first half of `order` indexes P_train.
# Splitting the list of QA lines instead would put some of a person's questions on each side.
# </details>

# %%
from plmkit.data import bios


def make_qa_split(people: list, seed: int) -> tuple:
    """(train QAs, test QAs): all six QAs of a seeded random half of the people, and of the other half."""
    # BEGIN SOLUTION
    order = np.random.default_rng(seed).permutation(len(people))
    half = len(people) // 2
    return (bios.qa_pairs([people[i] for i in order[:half]]),
            bios.qa_pairs([people[i] for i in order[half:]]))
    # END SOLUTION


checks.qa_split(make_qa_split)

# %% [markdown]
# From here on the kit's own split (`bios.split_people`, the same idea) is used, so the lab runs even if an exercise
# is unfinished. What does guessing score? Answers are exact matches of whole values, so the **majority baseline**
# (always give the most common answer) is tiny except for the company city, where one headquarters city is shared
# by many companies. In the paper's pools that is New York (13.7%); in the small `cpu` pools it is San Francisco.
# First-token accuracy is inflated further: many universities start with "University".

# %%
# NBVAL_CHECK_OUTPUT
cpu_base = knowledge.baselines(cpu_world)
paper_pools = knowledge.make_world(RunContext(profile="gpu"))  # the gpu profile uses the paper's pools
print("exact-match majority baseline per attribute (cpu pools):",
      {a: f"{100 * v:.1f}%" for a, v in cpu_base["per_attribute"].items()})
print(f"six-attribute mean: {100 * cpu_base['mean']:.2f}%   "
      f"(paper's pools: {100 * knowledge.baselines(paper_pools)['mean']:.2f}%)")
print("first-token majority:", {a: f"{100 * v:.1f}%" for a, v in cpu_base["first_token"].items()})

# %% [markdown]
# ## 3. Memorised is not extractable: `single` vs `multi5+permute`
#
# Two models, identical except for their pretraining text:
# * **run A, `single`**: one biography per person, templates drawn once, fixed sentence order;
# * **run B, `multi5+permute`**: five biographies per person, templates redrawn and sentences shuffled in each.
#
# Both see every person the same number of times. Then each gets the same **LoRA fine-tuning** [3.1 App. D]:
# low-rank updates of the attention queries and values and of the token embeddings, trained on P_train's QAs,
# with the pretrained weights frozen. The question is P_test accuracy. (Run B is trained at the same learning rate
# as run A; the pretraining learning rate is the lever that mattered most at this scale, see the notes at the end.)

# %%
world = knowledge.make_world(ctx)
settings = knowledge.settings(ctx)
runs = {}
for augmentation in settings.augmentations:
    runs[augmentation] = knowledge.run_augmentation(ctx, world, augmentation, settings.n_people, settings.exposures,
                                                    live_plot=True)
    m = runs[augmentation].metrics
    print(f"{augmentation}: pretrained {m['pretrain']['steps']} steps ({m['pretrain']['seconds']:.0f} s); BIO first-token "
          f"accuracy {m['bio_first_token']['train_people']:.1%}; QA accuracy P_train {m['qa_train_mean']:.1%}, "
          f"P_test {m['qa_test_mean']:.1%}")

# %% [markdown]
# Read the printed lines. BIO accuracy is memorisation: given a biography's words, does the model predict each
# attribute value? (The targets ask for at least 95%.) P_train QA accuracy is fitting the fine-tuning data. Only the
# P_test column is the experiment:

# %%
metrics = {a: r.metrics for a, r in runs.items()}
knowledge.plot_augmentations(metrics, world);
knowledge.plot_attribute_heatmap(metrics, world);
run_a = metrics["single"]["qa_test"]
ranked = sorted(run_a, key=run_a.get, reverse=True)
print("run A (single), P_test QA accuracy by attribute: "
      + ", ".join(f"{knowledge.ATTRIBUTE_LABELS[a]} {run_a[a]:.1%}" for a in ranked))
gap = metrics["multi5+permute"]["qa_test_mean"] - metrics["single"]["qa_test_mean"]
print(f"best attribute: {knowledge.ATTRIBUTE_LABELS[ranked[0]]}   (run B minus run A, mean: {100 * gap:+.1f} points)")

# %% [markdown]
# **What it means.** The paper's explanation: the `single` model stored each fact *for its biography*, as a
# continuation of the text before it ("... born on October 2, 1996. He grew up in ..." then "Princeton"); the question
# gives it the name and nothing else. In the paper the one attribute it can partly answer is the birth date, the one
# that always follows the name directly (33% against a 9.7% mean); the lines above say whether this run agrees.
# `multi5+permute` had to predict any attribute right after the name, in any wording, so it stored the facts *with
# the name*, where a question can reach them.
#
# Now the models answer in the browser above too: go back to it and compare run A with run B on P_test people.

# %%
trained_models.clear()
if world.profile == "cpu":  # the browser shows cpu-world people; other profiles use other pools
    trained_models.update({name: run.tuned for name, run in runs.items()})

# %% [markdown]
# ## 4. Where is the knowledge? Probes
#
# ### P-probes: at each position of the biography
# Take the positions right before each of the six values in a biography (P1 ... P6, in text order). Train one
# linear head per attribute on the frozen model's last-layer states at those positions, for P_train people's
# biographies, and test it on P_test people's [3.1 §5.1]. If the company can be read at P1, the model already "knows"
# it right after reading the name, before the text mentions it.
#
# (`cpu` design: the heads read cached features, start from the model's own output embedding of the candidate first
# tokens, and predict the first token of the value; with ~150 probe people a randomly initialised head learns
# nothing. The paper also trains a rank-2 update of the embeddings and reads whole values.)

# %%
p_probes = {name: knowledge.p_probe(ctx, runs[name].model, world, runs[name].data) for name in settings.probe_runs}
knowledge.plot_p_probes(p_probes);

# %% [markdown]
# ### Exercise 3: how diagonal is a map?
# > **Teaches:** to turn "looks like a diagonal" into a number, with a baseline that one outlier cannot move.
# > **Difficulty:** 1/3. **Importance:** medium: it is the number the targets check for [3.1 Res. 4]. **Time:** 10 minutes.
#
# In `single` the sentences always come in the same order, so position P*k* is the token right before attribute *k*:
# the diagonal of run A's map is each attribute at its own position. Write `diagonal_gaps(matrix)`: `matrix[k][j]` is
# the accuracy of attribute *k* (rows in the order birth date, birth city, university, major, company, company city)
# at position P*j+1*; return, for each attribute, its accuracy at its own position minus the **median** of its
# accuracies at the five other positions. **Predict first**, from the maps above: which run has the larger gaps, and
# which attribute of run A the smallest?
#
# <details><summary>Hint 1</summary>
#
# Row *k* is one attribute: `row[k]` is the diagonal, `row[:k] + row[k + 1:]` the other five.
# </details>
# <details><summary>Hint 2</summary>
#
# Why the median: the position right after an attribute may still read it (the value was just written), and one such
# position should not move the baseline. `np.median` does it.
# </details>

# %%
def diagonal_gaps(matrix: list) -> list:
    """Per attribute k: matrix[k][k] minus the median of matrix[k][j] over the five other positions j."""
    # BEGIN SOLUTION
    gaps = []
    for k, row in enumerate(matrix):
        others = list(row[:k]) + list(row[k + 1:])
        gaps.append(float(row[k] - np.median(others)))
    return gaps
    # END SOLUTION


checks.diagonal_gap(diagonal_gaps)

# %%
try:
    gaps_of = {name: diagonal_gaps(result["matrix"]) for name, result in p_probes.items()}
except NotImplementedError:  # the kit's version, so the lab runs on
    gaps_of = {name: list(knowledge.diagonal_gaps(result["matrix"]).values()) for name, result in p_probes.items()}
for name, gaps in gaps_of.items():
    spread = [max(row) - min(row) for row in p_probes[name]["matrix"]]
    print(f"{name}: diagonal gaps (points) " + ", ".join(f"{knowledge.ATTRIBUTE_LABELS[a]} {100 * g:+.0f}"
                                                        for a, g in zip(p_probes[name]["attributes"], gaps)))
    print(f"{' ' * len(name)}  spread over P1-P6 (points): {', '.join(f'{100 * v:.0f}' for v in spread)}")

# %% [markdown]
# **What it means.** A large gap for every attribute is the paper's staircase [3.1 Fig. 5]: in run A an attribute is
# readable at its own position and much less elsewhere, so its knowledge of "company" is a fact about the words that
# precede the company in *its* biography. A small spread at every attribute is a flat map: after the name, run B must
# be ready to write any attribute next. The targets at the end check both (gaps of at least 50 points for `single`, a
# spread of at most 15 points for `multi5+permute`). Compare the level of run B's map with the paper's near-100% from
# P1 (the kit's first-token heads are trained on ~150 people, the paper's probes on 100,000).
#
# ### Q-probes: from the name alone
# The sharper test gives the model **only** `<eos> First Middle Last <q>` and asks a linear head to read each
# attribute from the last state [3.1 §5.2]. The `<q>` token never occurred in pretraining, so the probe must also
# learn what `<q>` should look like to the model. The paper lets the probe change **every** token embedding through
# a rank-16 update [3.1 App. F], on tens of thousands of probe people. Here is that probe on run B, for the company,
# with three seeds (the probe's random initialisation is all that differs). **Predict first**: should the seed matter?

# %%
from plmkit.probe import train_lowrank_probe

run_b = runs["multi5+permute"]
people_b = run_b.data.group("train") + run_b.data.group("test")
query_inputs = torch.as_tensor(np.stack([bios.encode_name_query(p, world.tokenizer) for p in people_b]))
company_labels = {"company": knowledge.probe_targets(world, people_b)["company"]}
n_company = len(knowledge.first_token_classes(world, "company"))
company_init = knowledge.unembedding_init(run_b.model, world, "company")
for seed in range(knowledge.probe_seed(ctx), knowledge.probe_seed(ctx) + 3):
    paper_style = train_lowrank_probe(
        run_b.model, query_inputs, {"company": torch.full((len(people_b),), query_inputs.shape[1] - 1)},
        company_labels, {"company": n_company}, rank=16, steps=settings.qprobe_steps, lr=1e-3, weight_decay=0.3,
        batch_size=settings.qprobe_batch, train_fraction=len(run_b.data.split.train) / len(people_b),
        head_init={"company": company_init}, seed=seed)
    print(f"rank-16 update of every embedding, seed {seed}: company on P_train {paper_style['train']['company']:.1%}, "
          f"on P_test {paper_style['test']['company']:.1%}")

# %% [markdown]
# A probe that fits P_train while its P_test accuracy moves with the seed is not measuring the model. With ~150 probe
# people the update of every embedding row also rewrites the **name tokens**, and the head can memorise the training
# people through them; whether the `<q>` part of the update moves far enough to read the stored facts, before
# memorising wins, is then down to the random start. The kit's Q-probe therefore learns only the embedding of `<q>`
# (plus the head): the names keep the model's own embeddings, so the probe can read only what the model stored for
# them.
#
# ### Exercise 4: a Q-probe that cannot cheat
# > **Teaches:** what a probe may change and what it must leave alone for its result to be about the model.
# > **Difficulty:** 3/3. **Importance:** high: Result 5 of the paper rests on this measurement. **Time:** 20 minutes.
#
# Write `train_q_probe(model, inputs, labels, n_classes, query_id, steps, lr, query_lr, head_init, batch_size, seed)`
# returning a function `predict(inputs) -> class ids`. Inputs are `(n, T)` token ids ending in `<q>` (whose id is
# `query_id`); the probe reads the **last** position. The model stays frozen. Trainable: a vector `query` of size `d`,
# starting at zero, added to the token embeddings **only where `inputs == query_id`**, and a linear head
# `d -> n_classes` (weights from `head_init` when given, bias 0). Features: `model.norm_final(hidden[:, -1])` where
# `hidden = model(x, return_hidden=True, input_embeddings=emb).hidden[-1]`. Train with AdamW, weight decay 0.3: the
# vector at `query_lr`, the head at `lr`; each step takes `batch_size` rows drawn with `torch.randint` from
# `torch.Generator().manual_seed(seed)` (the kit draws its batches the same way, so your probe and the kit's see the
# same batches).
#
# <details><summary>Hint 1</summary>
#
# `emb = model.tok_emb(x) + (x == query_id).unsqueeze(-1) * query` changes the `<q>` row only. Freeze the model with
# `p.requires_grad_(False)` on its parameters; give the optimiser two groups,
# `[{"params": [query], "lr": query_lr}, {"params": list(head.parameters())}]` with `lr=lr`.
# </details>
# <details><summary>Hint 2</summary>
#
# Why `query_lr` is ten times the head's: `<q>` has to travel far from where pretraining left it before the model
# reads the name "as a question". At the head's learning rate it is still on its way when the head has already
# memorised the training people.
# </details>

# %%
import torch.nn.functional as F


def train_q_probe(model, inputs, labels, n_classes, query_id, steps=300, lr=1e-3, query_lr=1e-2, head_init=None,
                  batch_size=50, seed=0):
    """A Q-probe on a frozen model: a learned <q> embedding and a linear head; returns predict(inputs)."""
    # BEGIN SOLUTION
    for p in model.parameters():
        p.requires_grad_(False)
    model.eval()
    d = model.config.d_model
    query = torch.nn.Parameter(torch.zeros(d))
    head = torch.nn.Linear(d, n_classes)
    if head_init is not None:
        with torch.no_grad():
            head.weight.copy_(head_init)
            head.bias.zero_()

    def logits(x):
        emb = model.tok_emb(x) + (x == query_id).unsqueeze(-1) * query
        hidden = model(x, return_hidden=True, input_embeddings=emb).hidden[-1]
        return head(model.norm_final(hidden[:, -1]))

    optimizer = torch.optim.AdamW([{"params": [query], "lr": query_lr}, {"params": list(head.parameters())}],
                                  lr=lr, weight_decay=0.3)
    generator = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        idx = torch.randint(0, len(inputs), (min(batch_size, len(inputs)),), generator=generator)
        loss = F.cross_entropy(logits(inputs[idx]), labels[idx])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return lambda x: logits(x).argmax(-1)
    # END SOLUTION


checks.q_probe(train_q_probe)

# %% [markdown]
# Your probe on run B's model, for the company (first token), with the kit's settings and seed; then the kit's
# Q-probe on both runs, every attribute (one `<q>` vector and one head per attribute):

# %%
import copy

n_train_b = len(run_b.data.split.train)
try:
    predict = train_q_probe(copy.deepcopy(run_b.model), query_inputs[:n_train_b], company_labels["company"][:n_train_b],
                            n_company, world.tokenizer.id_of("<q>"), steps=settings.qprobe_steps,
                            query_lr=settings.qprobe_query_lr, head_init=company_init,
                            batch_size=settings.qprobe_batch, seed=knowledge.probe_seed(ctx))
    with torch.no_grad():
        mine = (predict(query_inputs[n_train_b:]) == company_labels["company"][n_train_b:]).float().mean().item()
    print(f"your Q-probe, company on P_test: {mine:.1%}")
except NotImplementedError:
    print("(finish exercise 4 to run your probe here)")

q_probes = {name: knowledge.q_probe(ctx, runs[name].model, world, runs[name].data) for name in settings.probe_runs}
for name, result in q_probes.items():
    print(f"kit Q-probe, {name}: company {result['test']['company']:.1%}, mean over attributes {result['mean']:.1%}"
          f"  |  QA accuracy {runs[name].metrics['qa_test_mean']:.1%}")
    print("    " + ", ".join(f"{knowledge.ATTRIBUTE_LABELS[a]} {v:.1%}" for a, v in result["test"].items()))
knowledge.plot_q_probes(q_probes, world);

# %% [markdown]
# **What it means.** Compare the two runs attribute by attribute with the black marks, the first-token majority
# baselines. In the paper [3.1 Fig. 7] the name alone of a `single` person carries little beyond those baselines,
# except the birth month, which directly follows the name; after `multi5+permute` every attribute is readable from
# the name. The targets check that run B reads at least 40% on all six, and that the Q-probe ranks the runs as QA
# accuracy does [3.1 Res. 5]: **knowledge is extractable when it is linearly encoded at the name**, and data
# diversity is what puts it there. Where run A reads above a baseline other than for the month, it is a deviation
# from the paper's picture at this scale, to be read in the printed numbers, not explained away.

# %% [markdown]
# ## 5. Celebrities help the minority
#
# Part 3.1's most practical finding [3.1 Res. 6]: pretrain a **minority** group on poor data (`single+permute1`: one
# shuffled biography each) together with **celebrities** on rich data (`multi5+permute`), fine-tune on *celebrity*
# questions only, and ask about the minority. The celebrities teach the model *how to store* biographical knowledge,
# and it stores the minority's knowledge the same way. The baseline is the same minority pretrained alone.
# Both runs give every person the same number of exposures. In `cpu` there are four celebrities per minority person
# (100 and 400), a choice made when the kit was tuned (fewer celebrities per person gave a smaller gain); the gain of
# this run is printed below, and the targets check it.

#
# **Shipped checkpoints.** The two pretraining runs of this section and the one of section 6 do not fit the `cpu`
# budget on top of sections 3-4, so in the `cpu` profile the lab loads them from checkpoints shipped with plmkit
# (`data/checkpoints/knowledge-cpu/`). They were trained by this kit's own command,
# `python -m plmkit reproduce knowledge --profile cpu`, with exactly the settings below (the loader checks the model,
# data and optimiser settings, and trains instead if anything differs); the manifest there records the command,
# versions and checksums. The fine-tuning and every measurement still run here. Set `USE_SHIPPED = False` to train
# everything yourself (about 5 more minutes on 2 cores).

# %%
USE_SHIPPED = True
celebrities = knowledge.run_celebrities(ctx, world, settings.celebrities, shipped=USE_SHIPPED)
print(f"minority alone: {celebrities['minority_alone']:.1%}   minority with celebrities: "
      f"{celebrities['minority_with_celebrities']:.1%}   (gain {celebrities['gain_points']:+.1f} points)   "
      f"held-out celebrities: {celebrities['celebrities_held_out']:.1%}")
knowledge.plot_celebrities(celebrities);

# %% [markdown]
# ## 6. Mixed training: studying for the test
#
# What if the questions are there from the start? Mixed training [3.1 Res. 1] trains from scratch on `single`
# biographies of everyone **and** the QAs of P_train; each training window is all biography or all QA, with 80% QA
# windows. We record four curves: BIO and QA first-token accuracy, for P_train (in-distribution) and P_test
# (out-of-distribution) people.

# %%
mixed_metrics, mixed_history = knowledge.run_mixed(ctx, world, settings.mixed, shipped=USE_SHIPPED)
single_test = runs["single"].metrics["qa_test_mean"]
ratio = f"{mixed_metrics['qa_test_mean'] / single_test:.2f}" if single_test > 0 else "undefined: single scored 0"
print(f"mixed training on single: P_test QA accuracy {mixed_metrics['qa_test_mean']:.1%} "
      f"(pretrain + fine-tune on single: {single_test:.1%}; ratio {ratio})")
knowledge.plot_mixed_training(mixed_history, mixed_metrics["qa_test_mean"]);

# %% [markdown]
# ### Exercise 5: which curve rises first?
# > **Teaches:** to read the order of learning from curves that end at different levels.
# > **Difficulty:** 2/3. **Importance:** medium: it is the evidence for "studying for the test" [3.1 Res. 1]. **Time:** 10 minutes.
#
# The paper finds that the model first learns the P_train QAs, then their biographies, and only late the P_test
# biographies and then the P_test questions [3.1 Fig. 1]. **Predict first**: in which order should the four curves
# above rise? To compare curves that end at different levels (QA on P_test ends far below 100%), say a curve has risen
# at the first evaluation where it reaches a `fraction` of **its own final value**. Write `rise_steps(curves,
# fraction)`: `curves` is the list of evaluations, each a dict with its `"step"` and the four accuracies
# (`"bio_train"`, `"qa_train"`, `"bio_test"`, `"qa_test"`); return each curve's rise step.
#
# <details><summary>Hint 1</summary>
#
# The final value of curve `name` is `curves[-1][name]`; the threshold is `fraction * curves[-1][name]`.
# </details>
# <details><summary>Hint 2</summary>
#
# `next(e["step"] for e in curves if e[name] >= threshold)` is the first evaluation at or above it. Return its step,
# not its index in the list.
# </details>

# %%
def rise_steps(curves: list, fraction: float = 0.9) -> dict:
    """For each curve, the first evaluation step where it reaches ``fraction`` of its own final value."""
    # BEGIN SOLUTION
    final = curves[-1]
    return {name: next(e["step"] for e in curves if e[name] >= fraction * final[name])
            for name in final if name != "step"}
    # END SOLUTION


checks.curve_rise(rise_steps)

# %%
try:
    rise = rise_steps(mixed_metrics["curves"], 0.9)
except NotImplementedError:  # the kit's version, so the lab runs on
    rise = knowledge.rise_steps(mixed_metrics["curves"], 0.9)
print("step at which each curve reaches 90% of its final value: "
      + ", ".join(f"{name} {step}" for name, step in sorted(rise.items(), key=lambda kv: kv[1])))
bio_rise = (rise["bio_train"], rise["bio_test"])
print("QA on P_train first and QA on P_test last, as in the paper:",
      rise["qa_train"] <= min(bio_rise) and rise["qa_test"] >= max(bio_rise))

# %% [markdown]
# **What it means.** If the printed order is the paper's, the model learned *how knowledge is asked for* first and
# stored the P_test people's facts in the form the questions need only later, like a student who studies with past
# exams. The ratio printed above the figure is the size of the effect at this scale (the targets ask for at least
# 2x); the paper's recommendation is to put such "instruction" data in pretraining rather than only in fine-tuning.

# %% [markdown]
# ## 7. What each profile can and cannot show
#
# * `ci` only proves the code runs: its models learn nothing.
# * `cpu` (this lab, about 10 minutes on 2 cores) is built to show the central contrast (`single` far below
#   `multi5+permute` on held-out people while both memorised their text), the P-probe diagonal vs a flat map, Q-probes
#   ordering the runs like QA, and the direction of the celebrity and mixed-training effects. It cannot show the
#   paper's levels: a 2-layer, 0.5M-parameter model with 300 people is far from 96.6%. It is one seed, so a
#   difference of a few points between two numbers here is not a finding. Every number discussed above is printed by
#   this run; the targets the kit checks (`knowledge.check_targets`) are listed below, each with its measured value,
#   met or missed.
# * `gpu` (about an hour on a T4) runs six augmentation rows (the paper's rank order), whole-attribute probes and
#   larger celebrity and mixed runs on 2,000 people.
#
# A note on recipe: at this scale the pretraining learning rate decided how extractable `multi5+permute` knowledge
# became (the kit uses 3e-3; the tuning runs behind that choice are recorded in `docs/notes/part3_tuning.md`), and a
# LoRA with a small embedding-update scale was chosen over full fine-tuning the same way. The Q-probe of section 4
# departs from the paper's design too, for the reason shown there. The paper notes the same sensitivity of
# negative results to tuning, which is why it reports the best of several fine-tuning settings for them.
#
# Rerun it headless, with figures and a manifest written to disk:
# `python -m plmkit reproduce knowledge --profile cpu --out runs/knowledge`.

# %%
summary = {"augmentations": metrics, "p_probe": p_probes, "q_probe": q_probes, "celebrities": celebrities,
           "mixed": mixed_metrics}
print(targets.format_table(knowledge.check_targets(summary, ctx.profile)))
