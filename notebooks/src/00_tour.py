# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# # Lab 00: a tour of the method
#
# *Physics of Language Models* (Allen-Zhu et al.) studies language models the way a physicist studies
# a system: **build a world whose rules you know exactly, run many small controlled experiments in it,
# and measure what the model has inside.** Real text cannot do this: nobody knows its true
# distribution, what a model "should" know, or which of its mistakes are the data's fault.
#
# This lab runs the whole method once, in miniature, in a few minutes on a laptop CPU:
#
# 1. **Synthetic data** with hidden structure: nested brackets. The best possible loss is known.
# 2. **A small controlled run**: a 2-layer GPT learns the language.
# 3. **Behaviour**: loss against the floor, and whether its own sentences are well formed.
# 4. **Probes**: does the model *compute* variables the text never writes down, such as how deep
#    it is inside the brackets? And how do we make sure the probe is not fooling us?
#
# You will do five exercises: derive the entropy of one step of the language, write the causal attention mask, the
# rotary position embedding and a linear probe, and design the probe labels that a random network cannot read.
# Each exercise gives its difficulty (1 to 3), how much the rest of the series leans on it, the expected time and
# hints, and ends with a one-line checker that names your mistake if there is one.
#
# | | |
# |---|---|
# | **Time** | about 60 minutes to read and do the exercises; the code runs in under 3 minutes (`cpu` profile) |
# | **Prerequisites** | PyTorch basics: tensors, `nn.Module`, a training loop |
# | **Next** | Lab 01 (Part 1) uses the same tools on context-free grammars, with the paper's numbers beside ours |

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

import numpy as np
import torch

from plmkit import checks
from plmkit.experiments import tour
from plmkit.experiments.common import start_lab

ctx = start_lab()  # the lab's run context: profile, seed, device; every experiment below takes it

# %% [markdown]
# ### Profiles: one setting decides how big everything is
# Every experiment in plmkit comes in three sizes, picked by the environment variable `PLMKIT_PROFILE`
# (set it before starting Jupyter, e.g. `PLMKIT_PROFILE=cpu jupyter lab`):
#
# | profile | budget | what this lab can show |
# |---|---|---|
# | `ci` | seconds | only that the code runs (the tests use it). The model barely learns; ignore its numbers. |
# | `cpu` | under 3 minutes on 2 cores | everything in this lab: the targets of section 5 (loss within 0.05 nats of the floor, at least 70% valid sentences, the bracket-to-close probe at least 15 points above its random-init control) |
# | `gpu` | a few minutes on a Colab T4 | a 4-layer model: the same targets with more margin |
#
# The table of sizes is plain data, so you can read exactly what changes:

# %%
# NBVAL_CHECK_OUTPUT
for name, sizes in tour.SETTINGS.items():
    print(f"{name:>4}: {sizes}")

# %% [markdown]
# ### Where things live
# The kit's layout mirrors the method, so you can find any piece from the folder names:
#
# ```
# plmkit/data/        synthetic worlds, one per part (brackets.py for this tour, cfg/ for Part 1, bios/ for Part 3)
# plmkit/model.py     the one GPT every lab uses (rotary / absolute / no / uniform positions, Canon layers)
# plmkit/train.py     the one training loop (checkpoints, progress, CPU / CUDA / MPS)
# plmkit/probe.py     linear and low-rank probes, with random-init controls
# plmkit/experiments/ one module per part, called by these notebooks and by `python -m plmkit reproduce`
# plmkit/checks/      the exercise checkers, one module per lab
# ```

# %% [markdown]
# ## 1. A world with hidden variables
#
# Our language is nested brackets of two kinds, `( )` and `[ ]`, at most 4 deep. A sentence is written by
# a random walk: at depth 0 it may stop; below the maximum it opens a new bracket or closes the innermost
# one with equal chance; at depth 4 it must close. Sentences are separated by `<bos>`.
#
# Two quantities decide what may come next, yet neither is ever written down:
# * the **depth** (may the sentence end here? must it close?), and
# * the **innermost open bracket** (which closer is legal).
#
# A model that predicts this language well must, in some form, compute them. That is the kind of claim the
# series tests.

# %%
# NBVAL_CHECK_OUTPUT
world = tour.make_world()
tokenizer = world.tokenizer()
sentences, labels = world.sample(np.random.default_rng(0), 3, labels=True)
for sentence, (depth, _) in zip(sentences, labels):
    print(tokenizer.decode(sentence))
    print("depth after each token:", depth.tolist())

# %% [markdown]
# The same seed always gives the same sentences, bit for bit, on every machine: that is what lets the
# notebook's outputs be checked automatically (this cell is compared exactly when the lab is graded).

# %% [markdown]
# ### The best possible loss
# Because we wrote the generating process, we know the probability of every next token, and therefore the
# **entropy floor**: the lowest average loss any model can reach. No real-text experiment has this ruler.
# Part 1 of the series computes the same floor for its grammars with dynamic programming.

# ### Exercise 1: the entropy of one step
# > **Teaches:** where the floor comes from: the uncertainty the language itself leaves at each step.
# > **Difficulty:** 1/3. **Importance:** high: every loss in the series is read against such a floor. **Time:** 10 minutes.
#
# At each step the walk makes one random choice whose distribution depends only on the depth (and on whether the
# sentence has just started). The best a model can do at that step is to predict exactly that distribution, and its
# expected loss there is the distribution's **entropy**, $-\sum_o p_o \ln p_o$ (natural log: losses are in nats).
# Write `step_entropy(depth, first, p_end, max_depth)` for the walk described above: `first` is the very first token
# of a sentence (always an opening bracket), `depth` the depth before the choice otherwise. Count the outcomes the
# model must predict, including the end of the sentence (the `<bos>` that follows it), and their probabilities.
#
# <details><summary>Hint 1</summary>
#
# Below `max_depth` the walk opens a bracket with probability 1/2 (round or square: 1/4 each) or closes one with
# probability 1/2. How many different *tokens* can "close" be, given the brackets already open?
# </details>
# <details><summary>Hint 2</summary>
#
# At depth 0 after the first token: end with `p_end`, else open one of two brackets. At `max_depth`: one legal
# token. The first token: two equally likely openers.
# </details>

# %%
import math


def step_entropy(depth: int, first: bool = False, p_end: float = 0.25, max_depth: int = 4) -> float:
    """Entropy (nats) of the walk's next choice at this depth; ``first``: the first token of a sentence."""
    # BEGIN SOLUTION
    if first:
        return math.log(2)
    if depth == max_depth:
        return 0.0
    if depth == 0:
        return -(p_end * math.log(p_end) + (1 - p_end) * math.log((1 - p_end) / 2))
    return -(2 * 0.25 * math.log(0.25) + 0.5 * math.log(0.5))
    # END SOLUTION


checks.step_entropy(step_entropy)

# %% [markdown]
# Averaged over the tokens of many sentences (the end of each sentence counts as one more prediction), these step
# entropies are the floor. The kit computes it the same way (`world.entropy_floor()`; it also handles sentences cut
# at the maximum length, a small correction). Your version, on the same sentences:

# %%
floor = world.entropy_floor()
print(f"entropy floor: {floor:.3f} nats per token   (guessing uniformly among the 5 outcomes: {np.log(5):.3f})")
try:
    sampled, sampled_labels = world.sample(np.random.default_rng(12345), 2000, labels=True)
    total = sum(step_entropy(0, first=True) + sum(step_entropy(int(d)) for d in depths) for depths, _ in sampled_labels)
    print(f"your floor from step_entropy: {total / sum(len(x) + 1 for x in sampled):.3f} nats per token")
except NotImplementedError:
    print("(finish exercise 1 to compute the floor yourself)")

# %% [markdown]
# ## 2. The model
#
# plmkit has one GPT (`plmkit/model.py`). Two of its pieces are worth writing once yourself.
#
# ### Exercise 2: the causal mask
# > **Teaches:** why a language model cannot peek at the future, and how attention enforces it.
# > **Difficulty:** 1/3. **Importance:** high: every model in the series is causal. **Time:** 5 minutes.
#
# In self-attention, query position *i* mixes the values of key positions *j*. A GPT predicts token *i+1*
# from tokens *0..i*, so position *i* must not see any *j > i*, or training would be trivially easy (copy
# the answer) and generation impossible. Write `causal_mask(T)`: a `(T, T)` boolean tensor whose entry
# `[i, j]` is `True` when query *i* may attend to key *j*.
#
# <details><summary>Hint</summary>
#
# Which entries of a matrix have column index at most the row index? `torch.tril` keeps exactly those. Row = query.
# </details>

# %%
def causal_mask(T: int) -> torch.Tensor:
    """(T, T) bool: True where query i may attend to key j, i.e. j <= i."""
    # BEGIN SOLUTION
    return torch.ones(T, T, dtype=torch.bool).tril()
    # END SOLUTION


checks.causal_mask(causal_mask)

# %% [markdown]
# ### Exercise 3: rotary position embedding
# > **Teaches:** how a model knows *where* tokens are, and why relative positions come for free.
# > **Difficulty:** 2/3. **Importance:** medium: Part 1 compares position encodings; Lab 01 measures it. **Time:** 15 minutes.
#
# Attention on its own is blind to order: shuffle the keys and the output does not change. Rotary
# embedding (RoPE) fixes this by rotating each query and key according to its position. Split a vector of
# dimension *d* into *d/2* planes: dims `(0, 1)`, `(2, 3)`, ... Rotate plane *k* of the vector at position
# *t* by the angle *t · base^(-2k/d)*:
#
# $$ (a, b) \mapsto (a\cos\theta - b\sin\theta,\; a\sin\theta + b\cos\theta). $$
#
# Rotations compose, so the dot product of a query rotated to position *i* and a key rotated to position *j*
# depends only on *i − j*: attention becomes a function of **relative** distance. Part 1 finds that relative
# position information is what lets a GPT learn deep grammars; Lab 01 measures it.
#
# Write `rotate(x, base)` for `x` of shape `(T, d)`, row *t* being the vector at position *t*.
#
# <details><summary>Hint 1</summary>
#
# `angles = torch.arange(T)[:, None] * base ** (-torch.arange(0, d, 2) / d)` has shape `(T, d/2)`:
# one angle per position and plane.
# </details>
# <details><summary>Hint 2</summary>
#
# `a, b = x[:, 0::2], x[:, 1::2]` are the two coordinates of every plane. Rotate them, then interleave the
# results back with `torch.stack((a2, b2), dim=-1).flatten(-2)`.
# </details>

# %%
def rotate(x: torch.Tensor, base: float = 10000.0) -> torch.Tensor:
    """Rotary embedding of x (T, d): rotate plane k of row t by t * base**(-2k/d)."""
    # BEGIN SOLUTION
    T, d = x.shape
    angles = torch.arange(T, dtype=torch.float32)[:, None] * base ** (-torch.arange(0, d, 2, dtype=torch.float32) / d)
    cos, sin = angles.cos(), angles.sin()
    a, b = x[:, 0::2], x[:, 1::2]
    return torch.stack((a * cos - b * sin, a * sin + b * cos), dim=-1).flatten(-2)
    # END SOLUTION


checks.rotary(rotate)

# %% [markdown]
# The kit's version lives in `plmkit.model.Rotary`; it treats each plane as a complex number, which is the
# same rotation in one fused multiplication. From here on we use plmkit's model, so the rest of the lab runs
# even if an exercise is unfinished.
#
# Our model for this world has 2 layers, 4 heads and width 64 in the `cpu` profile. Its size does not depend on
# the profile you run, so the count below is the same everywhere:

# %%
# NBVAL_CHECK_OUTPUT
cpu_model = tour.make_model(world, tour.SETTINGS["cpu"])
print(cpu_model.config)
print("parameters:", cpu_model.param_counts())

# %% [markdown]
# ## 3. Train it
# One call trains the model of the active profile, with a progress bar and a live loss curve. The dashed line
# is the entropy floor: the gap between the curve and the line is everything the model has still to learn.

# %%
model = tour.make_model(world, tour.settings(ctx), seed=ctx.seed)
history = tour.train_model(ctx, world, model)
print(f"{history.steps} steps, {history.tokens:,} tokens in {history.seconds:.0f} s "
      f"({history.tokens_per_second:,.0f} tokens/s)")

# %%
from plmkit.plots import loss_curve

held_out = tour.held_out_loss(ctx, model, world)
loss_curve(history, floor=floor, baselines={"uniform guess": float(np.log(5))}, title="Training loss");
print(f"held-out loss {held_out:.3f} vs floor {floor:.3f}: excess {held_out - floor:.3f} nats per token")

# %% [markdown]
# ### Does it speak the language?
# Loss is an average over tokens; validity is all or nothing over a sentence. We let the model write sentences
# from `<bos>` at temperature 1 and check each one exactly. Part 1 uses the same protocol, with a dynamic-programming
# parser as the checker: a single wrong bracket makes the whole sentence wrong.

# %%
validity = tour.generation_validity(model, world, tour.settings(ctx).generations)
print(f"well-formed generations: {validity['valid_fraction']:.0%} of {validity['generations']}")
with torch.no_grad():
    sample = model.generate(torch.full((4, 1), world.bos_id), 40, stop_token=world.bos_id,
                            generator=torch.Generator().manual_seed(1))
for row in sample.tolist():
    text = tokenizer.decode([t for t in row[1:] if t not in (0, world.bos_id)])
    print(("valid  " if world.is_valid(tokenizer.encode(text)) else "INVALID") + "  " + text)

# %% [markdown]
# ## 4. What is inside? Probing
#
# A **linear probe** is a logistic regression trained to read a label from frozen hidden states. If a linear
# map can read the depth from layer 2's vectors, the model has computed the depth, in an easy-to-use form.
# Part 1 uses exactly this to show that a GPT's hidden states encode a grammar's parse tree; Parts 2.1 and 3.1
# extend it.
#
# ### Exercise 4: a linear probe
# > **Teaches:** what a probe is, and that it is nothing more than a small classifier on fixed features.
# > **Difficulty:** 2/3. **Importance:** high: every probe in the series is this classifier. **Time:** 15 minutes.
#
# Write `train_probe(x, y, n_classes)` returning `(weight, bias)` of shapes `(d, n_classes)` and `(n_classes,)`
# such that `(x @ weight + bias).argmax(-1)` predicts `y`. Standardise the features first (hidden dimensions have
# very different scales), then minimise the cross-entropy with a few hundred steps of Adam. Fold the
# standardisation into the returned weights so they apply to raw features.
#
# <details><summary>Hint 1</summary>
#
# `mean, std = x.mean(0), x.std(0) + 1e-6`; train on `z = (x - mean) / std`. For `z @ W + b` on raw `x`,
# `z @ W = x @ (W / std[:, None]) - (mean / std) @ W`.
# </details>
# <details><summary>Hint 2</summary>
#
# `W = torch.zeros(d, n_classes, requires_grad=True)`, same for `b`; `opt = torch.optim.Adam([W, b], lr=0.1)`;
# loop: `loss = F.cross_entropy(z @ W + b, y)`, `opt.zero_grad(); loss.backward(); opt.step()`.
# </details>

# %%
import torch.nn.functional as F


def train_probe(x: torch.Tensor, y: torch.Tensor, n_classes: int, steps: int = 300):
    """Multinomial logistic regression on standardised x; returns (weight, bias) for raw x."""
    # BEGIN SOLUTION
    mean, std = x.mean(0), x.std(0) + 1e-6
    z = (x - mean) / std
    weight = torch.zeros(x.shape[1], n_classes, requires_grad=True)
    bias = torch.zeros(n_classes, requires_grad=True)
    optimizer = torch.optim.Adam([weight, bias], lr=0.1)
    for _ in range(steps):
        loss = F.cross_entropy(z @ weight + bias, y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    weight, bias = weight.detach(), bias.detach()
    return weight / std[:, None], bias - (mean / std) @ weight
    # END SOLUTION


checks.linear_probe(train_probe)

# %% [markdown]
# ### Probing every layer, with a control
# plmkit's `probe_layers` does the same at every layer (0 = the token embeddings), on held-out sentences, and
# runs the identical probe on a **random-initialised copy** of the model. Without that control a probe result
# means little: random features of the input may already make a label linearly readable.
#
# We probe two hidden variables:
# * **depth** at every token, and
# * **the bracket that must close next**, but only at positions where neither counting nor the current token
#   gives the answer away. Choosing those positions is the next exercise.
#
# ### Exercise 5: labels a random network cannot read
# > **Teaches:** how to design a probe target so that a positive result means the model computed something.
# > **Difficulty:** 2/3. **Importance:** high: the control only helps if the task can tell the two apart. **Time:** 10 minutes.
#
# A random-init network "knows" whatever simple features of the input give away: the current token, and roughly how
# many brackets of each kind are open (averaging the embeddings so far nearly counts them). Write
# `to_close_labels(symbols)`: for a sentence as a list of symbols (`"("`, `"["`, `")"`, `"]"`), one label per token,
# **-1** where the position is not probed, else the type of the innermost open bracket after reading the token
# (**0** round, **1** square). Probe a position only where neither the current token nor the counts can tell the
# answer: right after a **closing** bracket, while **both** kinds are still open. Predict first: in `( [ ( ) ] )`,
# which position gets a label, and which label?
#
# <details><summary>Hint 1</summary>
#
# Keep a stack of open brackets. After an opening bracket, the innermost one *is* the current token; with only one
# kind open, the innermost is that kind. Neither case needs the model to match anything.
# </details>
# <details><summary>Hint 2</summary>
#
# The label describes the state *after* the token: pop first, then look at the top of the stack.
# </details>

# %%
def to_close_labels(symbols: list) -> list:
    """Per token: -1, or the innermost open bracket after it (0 round, 1 square) where counting cannot tell."""
    # BEGIN SOLUTION
    stack, labels = [], []
    for symbol in symbols:
        if symbol in "([":
            stack.append(symbol)
        else:
            stack.pop()
        hard = symbol in ")]" and "(" in stack and "[" in stack
        labels.append((0 if stack[-1] == "(" else 1) if hard else -1)
    return labels
    # END SOLUTION


checks.to_close_labels(to_close_labels)

# %% [markdown]
# The kit's `tour.probe_data` labels the probe sentences by the same rule. How rare are such positions, and what does
# always guessing the commoner answer score there?

# %%
probe_inputs, probe_labels = tour.probe_data(world, tour.settings(ctx).probe_sentences)
hard = probe_labels["to_close"][probe_labels["to_close"] >= 0]
share_square = hard.float().mean().item()
print(f"{len(hard)} probed positions in {len(probe_inputs)} sentences; "
      f"always guessing the commoner answer scores {max(share_square, 1 - share_square):.1%}")

# %%
probes = tour.probe_model(ctx, model, world)
for name, report in probes.items():
    print(f"{name:>9}: trained {np.round(report['trained'], 3).tolist()}  "
          f"random-init {np.round(report['random_init'], 3).tolist()}  majority {report['majority']:.3f}")
for name, report in probes.items():
    print(f"{tour.PROBE_TARGETS[name]}, last layer: trained {report['trained'][-1]:.1%}, random-init "
          f"{report['random_init'][-1]:.1%} (gap {100 * (report['trained'][-1] - report['random_init'][-1]):+.1f} points), "
          f"majority {report['majority']:.1%}")

# %%
import matplotlib.pyplot as plt

from plmkit.plots import add_citation, probe_by_layer

fig, axes = plt.subplots(1, 2, figsize=(11, 4))
for ax, (name, report) in zip(axes, probes.items()):
    probe_by_layer(report, title=f"probing the {tour.PROBE_TARGETS[name]}", ax=ax)
add_citation(fig, "Compare: Part 1 (Allen-Zhu & Li, arXiv 2305.13673) probes a GPT trained on context-free grammars "
                  "and finds the parse tree linearly encoded in its last layer; Lab 01 reproduces it with the paper's numbers.")
plt.show()

# %% [markdown]
# **What it means.** Read the last two printed lines. Depth is a label that counting gives away, so compare its
# random-init accuracy with its majority baseline: whatever the random network reads, "the probe works" is not
# evidence by itself. The bracket to close next, at the positions of exercise 5, is the test: the finding is the gap
# between the trained and the random-init network on it, not the raw accuracy. Section 5 checks that gap against its
# threshold. Keep this habit for every probe in the series.

# %% [markdown]
# ### Explore: what does each layer know?
# Move the slider to pick a layer. The sentence is coloured by the depth that layer's probe reads at each token
# (green = right, red = wrong).

# %%
import ipywidgets as widgets
from IPython.display import HTML, display

from plmkit.probe import fit_linear_probe, hidden_states

split = len(probe_inputs) * 7 // 10
features = hidden_states(model, probe_inputs)
depth = probe_labels["depth"]


def show_layer(layer: int) -> None:
    train_mask, test_mask = depth[:split] >= 0, depth[split:] >= 0
    probe = fit_linear_probe(features[layer][:split][train_mask], depth[:split][train_mask],
                             features[layer][split:][test_mask], depth[split:][test_mask])
    row = split  # first held-out sentence
    pred = (features[layer][row] @ probe.weight + probe.bias).argmax(-1)
    spans = []
    for pos in range(1, int((probe_inputs[row] > 0).sum())):
        ok = pred[pos] == depth[row, pos]
        spans.append(f"<span style='background:{'#c8f7c5' if ok else '#f7c5c5'};padding:2px;margin:1px'>"
                     f"{tokenizer.id_to_token[int(probe_inputs[row, pos])]}<sub>{int(pred[pos])}</sub></span>")
    name = "embeddings" if layer == 0 else f"layer {layer}"
    display(HTML(f"<b>{name}</b>: held-out depth accuracy {probe.accuracy:.1%}<br>" + "".join(spans)))


widgets.interact(show_layer, layer=widgets.IntSlider(value=model.config.n_layer, min=0, max=model.config.n_layer));

# %% [markdown]
# ## 5. Did the lab show what it claims?
# Every lab ends with its targets table, computed by the part's own code from the numbers above: what was
# measured, the threshold, met or missed. A missed row is reported, never hidden. Note the last row: it is the
# control that makes the probe claim mean something (in `ci` nothing is measured: the model trains for seconds).

# %%
from plmkit.experiments import targets

tour_metrics = {"held_out_loss": held_out, "entropy_floor": floor, "generation": validity, "probes": probes}
print(targets.format_table(tour.check_targets(tour_metrics, ctx.profile)))

# %% [markdown]
# ## 6. What each profile can and cannot show, and what comes next
#
# * `ci` trains for seconds: numbers are noise; it only proves the code runs.
# * `cpu` (this lab in under 3 minutes): the targets table above says, with this run's numbers, how close the loss
#   came to the floor, how many generated sentences were well formed and how far the trained probe beat its control.
# * `gpu`: a bigger model, trained longer, for more margin on the same targets.
#
# The same loop, run in the papers' worlds:
# * **Lab 01 (Part 1)**: context-free grammars with hundreds of tokens per sentence; exact entropy floors by dynamic
#   programming; probes for every level of the parse tree; attention that behaves like a parser.
# * **Labs 04 and 05 (Parts 3.1, 3.2)**: synthetic biographies; when memorised knowledge can be extracted and used.
#
# To rerun this lab headless, with figures and a manifest written to disk:
# `python -m plmkit reproduce tour --profile cpu --out runs/tour`.
