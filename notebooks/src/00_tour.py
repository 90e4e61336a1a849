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
# You will write three pieces yourself: the causal attention mask, the rotary position embedding and a
# linear probe. Each exercise ends with a one-line checker.
#
# | | |
# |---|---|
# | **Time** | about 45 minutes to read and do the exercises; the code runs in under 3 minutes (`cpu` profile) |
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
# | `cpu` | under 3 minutes on 2 cores | everything in this lab: loss near the floor, ~80% valid sentences, probes well above the control |
# | `gpu` | a few minutes on a Colab T4 | a 4-layer model: loss on the floor, nearly all sentences valid |
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
# plmkit/checks.py    the exercise checkers
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

# %%
# NBVAL_CHECK_OUTPUT
floor = world.entropy_floor()
print(f"entropy floor: {floor:.3f} nats per token   (guessing uniformly among the 5 outcomes: {np.log(5):.3f})")

# %% [markdown]
# ## 2. The model
#
# plmkit has one GPT (`plmkit/model.py`). Two of its pieces are worth writing once yourself.
#
# ### Exercise 1: the causal mask
# > **Teaches:** why a language model cannot peek at the future, and how attention enforces it.
# > **Difficulty:** easy. **Time:** 5 minutes.
#
# In self-attention, query position *i* mixes the values of key positions *j*. A GPT predicts token *i+1*
# from tokens *0..i*, so position *i* must not see any *j > i*, or training would be trivially easy (copy
# the answer) and generation impossible. Write `causal_mask(T)`: a `(T, T)` boolean tensor whose entry
# `[i, j]` is `True` when query *i* may attend to key *j*.
#
# <details><summary>Hint</summary>
#
# Which entries of a matrix have column index at most the row index? `torch.tril` keeps exactly those.
# </details>

# %%
def causal_mask(T: int) -> torch.Tensor:
    """(T, T) bool: True where query i may attend to key j, i.e. j <= i."""
    # BEGIN SOLUTION
    return torch.ones(T, T, dtype=torch.bool).tril()
    # END SOLUTION


checks.causal_mask(causal_mask)

# %% [markdown]
# ### Exercise 2: rotary position embedding
# > **Teaches:** how a model knows *where* tokens are, and why relative positions come for free.
# > **Difficulty:** medium. **Time:** 15 minutes.
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
# ### Exercise 3: a linear probe
# > **Teaches:** what a probe is, and that it is nothing more than a small classifier on fixed features.
# > **Difficulty:** medium. **Time:** 15 minutes.
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
# * **the bracket that must close next**, but only right after a closing bracket while both kinds are still
#   open. There, counting brackets cannot tell the answer and the current token does not show it: the model must
#   have matched the brackets.

# %%
probes = tour.probe_model(ctx, model, world)
for name, report in probes.items():
    print(f"{name:>9}: trained {np.round(report['trained'], 3).tolist()}  "
          f"random-init {np.round(report['random_init'], 3).tolist()}  majority {report['majority']:.3f}")

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
# **What it means.** Depth is readable far above the majority baseline, but look at the control: a random network
# already carries much of it, because averaging the embeddings of the tokens so far nearly counts the brackets.
# "The probe works" is therefore not evidence by itself. The bracket to close next, at the hard positions, tells
# the two apart: the trained model's last layer reads it almost perfectly, the random network stays far below.
# That gap, not the raw accuracy, is the finding. Keep this habit for every probe in the series.

# %% [markdown]
# ### Explore: what does each layer know?
# Move the slider to pick a layer. The sentence is coloured by the depth that layer's probe reads at each token
# (green = right, red = wrong).

# %%
import ipywidgets as widgets
from IPython.display import HTML, display

from plmkit.probe import fit_linear_probe, hidden_states

inputs, targets = tour.probe_data(world, tour.settings(ctx).probe_sentences)
split = len(inputs) * 7 // 10
features = hidden_states(model, inputs)
depth = targets["depth"]


def show_layer(layer: int) -> None:
    train_mask, test_mask = depth[:split] >= 0, depth[split:] >= 0
    probe = fit_linear_probe(features[layer][:split][train_mask], depth[:split][train_mask],
                             features[layer][split:][test_mask], depth[split:][test_mask])
    row = split  # first held-out sentence
    pred = (features[layer][row] @ probe.weight + probe.bias).argmax(-1)
    spans = []
    for pos in range(1, int((inputs[row] > 0).sum())):
        ok = pred[pos] == depth[row, pos]
        spans.append(f"<span style='background:{'#c8f7c5' if ok else '#f7c5c5'};padding:2px;margin:1px'>"
                     f"{tokenizer.id_to_token[int(inputs[row, pos])]}<sub>{int(pred[pos])}</sub></span>")
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
# * `cpu` (this lab in under 3 minutes): the loss gets close to the floor, most generated sentences are well formed,
#   and the probe gap between trained and random-init is clear at the hard positions.
# * `gpu`: a bigger model closes the remaining gap to the floor and writes nearly only valid sentences.
#
# The same loop, run in the papers' worlds:
# * **Lab 01 (Part 1)**: context-free grammars with hundreds of tokens per sentence; exact entropy floors by dynamic
#   programming; probes for every level of the parse tree; attention that behaves like a parser.
# * **Labs 04 and 05 (Parts 3.1, 3.2)**: synthetic biographies; when memorised knowledge can be extracted and used.
#
# To rerun this lab headless, with figures and a manifest written to disk:
# `python -m plmkit reproduce tour --profile cpu --out runs/tour`.
