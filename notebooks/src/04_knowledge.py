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
# You will build the data pipeline pieces yourself (the permute augmentation, a leak-free QA split, a Q-probe) and
# run each experiment on a small model.
#
# | | |
# |---|---|
# | **Time** | about 60 minutes to read and do the exercises; the code runs in about 10 minutes (`cpu` profile) |
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
# | `cpu` | 300 people, 150 exposures, 2-layer 0.5M-parameter model | `single` near the floor (~10-20%) vs `multi5+permute` high (~80-90%); the P-probe diagonal vs a flat map; Q-probes ranking the runs like QA does; celebrities helping the minority; mixed training beating `single` | the paper's levels (96.6%), the intermediate augmentations, whole-attribute probes, bioR |
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
# > **Difficulty:** easy. **Time:** 10 minutes.
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
# > **Difficulty:** easy. **Time:** 10 minutes.
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
# Both models have memorised their biographies (BIO accuracy near 100%: given a biography's words, they predict
# every attribute value). Both learn to answer for P_train people (that is just fitting the fine-tuning data). Only
# the P_test column is the experiment:

# %%
metrics = {a: r.metrics for a, r in runs.items()}
knowledge.plot_augmentations(metrics, world);
knowledge.plot_attribute_heatmap(metrics, world);

# %% [markdown]
# **What it means.** The `single` model stored each fact *for its biography*, as a continuation of the text before
# it ("... born on October 2, 1996. He grew up in ..." then "Princeton"); the question gives it the name and nothing
# else. The one attribute it can partly answer is the birth date, the one that always follows the name directly
# (the paper: 33% vs a 9.7% mean). `multi5+permute` had to predict any attribute right after the name, in any
# wording, so it stored the facts *with the name*, where a question can reach them.
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
# **What it means.** Run A's map is a diagonal: each attribute is readable (near 100%) only at its own position, and
# elsewhere near the majority baseline. Its knowledge of "company" is a fact about the words that precede the company
# in *its* biography. Run B's map is flat: the same accuracy at every position, because after the name the model
# must be ready to write any attribute next. (At this scale, with first-token heads on ~150 people, "flat" means
# flat at a moderate level, not the paper's near-100% from P1.)
#
# ### Q-probes: from the name alone
# The sharper test gives the model **only** `<eos> First Middle Last <q>` and asks a linear head to read each
# attribute from the last state [3.1 §5.2]. The `<q>` token never occurred in pretraining, so the probe also trains a
# rank-16 update of the token embeddings (which lets `<q>` become a useful "read out" token); the model itself stays
# frozen.
#
# ### Exercise 3: train a Q-probe
# > **Teaches:** what a low-rank probe is, and that it reads knowledge without changing the model.
# > **Difficulty:** medium. **Time:** 20 minutes.
#
# Write `train_q_probe(model, inputs, labels, n_classes, rank, steps, lr, head_init)` that returns a function
# `predict(inputs) -> class ids`. Inputs are `(n, T)` token ids; the probe reads the **last** position. Trainable:
# `emb_a (vocab, rank)`, `emb_b (rank, d)` (start at 0 so the probe starts from the unmodified model) and a linear head
# `d -> n_classes` (optionally initialised from `head_init`); the model's own weights must not change. Features:
# `model.norm_final(last hidden state)`, where the model runs on embeddings `model.tok_emb(x) + emb_a[x] @ emb_b`
# (`model(x, return_hidden=True, input_embeddings=...)`). Train with AdamW (weight decay 0.3) on random batches.
#
# <details><summary>Hint 1</summary>
#
# `for p in model.parameters(): p.requires_grad_(False)`; put only `emb_a`, `emb_b` and the head's parameters in
# the optimiser.
# </details>
# <details><summary>Hint 2</summary>
#
# `hidden = model(x, return_hidden=True, input_embeddings=emb).hidden[-1]` is `(n, T, d)`;
# `head(model.norm_final(hidden[:, -1]))` gives the logits.
# </details>

# %%
import torch.nn.functional as F


def train_q_probe(model, inputs, labels, n_classes, rank=16, steps=300, lr=1e-3, head_init=None, seed=0):
    """A low-rank Q-probe on a frozen model; returns predict(inputs) -> class ids."""
    # BEGIN SOLUTION
    torch.manual_seed(seed)
    for p in model.parameters():
        p.requires_grad_(False)
    vocab, d = model.config.vocab_size, model.config.d_model
    emb_a = torch.nn.Parameter(torch.randn(vocab, rank) / rank ** 0.5)
    emb_b = torch.nn.Parameter(torch.zeros(rank, d))
    head = torch.nn.Linear(d, n_classes)
    if head_init is not None:
        with torch.no_grad():
            head.weight.copy_(head_init)
            head.bias.zero_()

    def logits(x):
        emb = model.tok_emb(x) + F.embedding(x, emb_a) @ emb_b
        hidden = model(x, return_hidden=True, input_embeddings=emb).hidden[-1]
        return head(model.norm_final(hidden[:, -1]))

    optimizer = torch.optim.AdamW([emb_a, emb_b, *head.parameters()], lr=lr, weight_decay=0.3)
    generator = torch.Generator().manual_seed(seed)
    model.eval()
    for _ in range(steps):
        idx = torch.randint(0, len(inputs), (min(128, len(inputs)),), generator=generator)
        loss = F.cross_entropy(logits(inputs[idx]), labels[idx])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return lambda x: logits(x).argmax(-1)
    # END SOLUTION


checks.q_probe(train_q_probe)

# %% [markdown]
# Your probe on run B's model, for the company (first token), next to the kit's version of the same probe:

# %%
import copy

run_b = runs[settings.augmentations[-1]]
train_people, test_people = run_b.data.group("train"), run_b.data.group("test")
queries = lambda people: torch.as_tensor(np.stack([bios.encode_name_query(p, world.tokenizer) for p in people]))  # noqa: E731
company = lambda people: knowledge.probe_targets(world, people)["company"]  # noqa: E731
n_company = len(knowledge.first_token_classes(world, "company"))
try:
    predict = train_q_probe(copy.deepcopy(run_b.model), queries(train_people), company(train_people), n_company,
                            rank=settings.qprobe_rank, steps=settings.qprobe_steps,
                            head_init=knowledge.unembedding_init(run_b.model, world, "company"))
    with torch.no_grad():
        mine = (predict(queries(test_people)) == company(test_people)).float().mean().item()
    print(f"your Q-probe, company on P_test: {mine:.1%}")
except NotImplementedError:
    print("(finish exercise 3 to run your probe here)")

q_probes = {name: knowledge.q_probe(ctx, runs[name].model, world, runs[name].data) for name in settings.probe_runs}
for name, result in q_probes.items():
    print(f"kit Q-probe, {name}: company {result['test']['company']:.1%}, mean over attributes {result['mean']:.1%}"
          f"  |  QA accuracy {runs[name].metrics['qa_test_mean']:.1%}")
knowledge.plot_q_probes(q_probes, world);

# %% [markdown]
# **What it means.** For `single`, the name alone carries little beyond the baselines (the birth month is the
# exception, as in the paper: it directly follows the name). For `multi5+permute` every attribute is readable from the
# name. Q-probe accuracy ranks the runs as QA accuracy does [3.1 Res. 5]: **knowledge is extractable when it is
# linearly encoded at the name**, and data diversity is what puts it there.

# %% [markdown]
# ## 5. Celebrities help the minority
#
# Part 3.1's most practical finding [3.1 Res. 6]: pretrain a **minority** group on poor data (`single+permute1`: one
# shuffled biography each) together with **celebrities** on rich data (`multi5+permute`), fine-tune on *celebrity*
# questions only, and ask about the minority. The celebrities teach the model *how to store* biographical knowledge,
# and it stores the minority's knowledge the same way. The baseline is the same minority pretrained alone.
# Both runs give every person the same number of exposures. In `cpu` there are four celebrities per minority person
# (100 and 400): with two per person (150 and 300) the gain was clearly smaller (about 28 points against 41, same
# seed, both measured with an earlier evaluation that understated every QA accuracy).

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
print(f"mixed training on single: P_test QA accuracy {mixed_metrics['qa_test_mean']:.1%} "
      f"(pretrain + fine-tune on single: {runs['single'].metrics['qa_test_mean']:.1%})")
knowledge.plot_mixed_training(mixed_history, mixed_metrics["qa_test_mean"]);

# %% [markdown]
# **What it means.** The paper finds that the model first learns the P_train QAs, then their biographies, and only
# late the P_test biographies and then P_test questions: it learns *how knowledge is asked for* and stores new facts
# in the form the questions need, like a student who studies with past exams. Mixing QA into pretraining beats
# pretraining on the same text alone; the paper's recommendation is to put such "instruction" data in pretraining
# rather than only in fine-tuning.

# %% [markdown]
# ## 7. What each profile can and cannot show
#
# * `ci` only proves the code runs: its models learn nothing.
# * `cpu` (this lab, about 10 minutes on 2 cores) shows the central contrast (`single` far below `multi5+permute` on
#   held-out people while both memorised their text), the P-probe diagonal vs a flat map, Q-probes ordering the runs
#   like QA, and the direction of the celebrity and mixed-training effects. Its numbers are not the paper's levels: a
#   2-layer, 0.5M-parameter model with 300 people cannot reach 96.6%, the probes read moderate accuracies where the
#   paper reads ~100%, and run-to-run spread is about +-10 points. The printed numbers above are from this run;
#   the targets the kit checks (`knowledge.check_targets`) are listed below, each with its measured value.
# * `gpu` (about an hour on a T4) runs six augmentation rows (the paper's rank order), whole-attribute probes and
#   larger celebrity and mixed runs on 2,000 people.
#
# A note on recipe: at this scale the pretraining learning rate decided whether `multi5+permute` knowledge became
# extractable (3e-3 gave far higher QA accuracy than 1e-3 in our trials), and a LoRA with a small embedding-update
# scale generalised better than full fine-tuning. The paper notes the same sensitivity of negative results to
# tuning, which is why it reports the best of several fine-tuning settings for them.
#
# Rerun it headless, with figures and a manifest written to disk:
# `python -m plmkit reproduce knowledge --profile cpu --out runs/knowledge`.

# %%
summary = {"augmentations": metrics, "celebrities": celebrities, "mixed": mixed_metrics}
print(targets.format_table(knowledge.check_targets(summary, ctx.profile)))
