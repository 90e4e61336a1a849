# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# # Lab 07: architecture design and the magic of Canon layers (Part 4.1)
#
# Which architecture is better at *reasoning*? At academic scale the question is nearly unanswerable: eight runs
# of the *same* 1.3B-parameter Llama, differing only in the random seed, span 50.7% to 55.0% on LAMBADA, and every
# model tried sits at chance on simple two-hop questions [P4.1 Fig. 16]. The differences between architectures
# drown in that noise.
#
# Part 4.1 of *Physics of Language Models* (Allen-Zhu, arXiv 2512.17351) replaces real text by a **synthetic
# pretraining playground**: tasks that each isolate one skill, with infinite fresh data from a fixed seed that every
# architecture sees in the same order, and a fixed step budget. In that playground one tiny component turns out to
# help almost everywhere: the **Canon layer**, a weighted sum of each token's vector with its three predecessors.
#
# This lab asks, one experiment at a time:
#
# 1. What does each playground task isolate? (Exercises 1 and 2: solve two of them by hand.)
# 2. What is "horizontal information flow", and why would attention lack it? (Exercises 3 and 4: write a Canon
#    layer and a causality test.)
# 3. **Can one attention layer copy a sequence?** The paper's Result 1, reproduced on your CPU in a few minutes.
# 4. Does Canon make reasoning *deeper*? Depo in miniature.
# 5. Where should Canon go, and what does it cost? (Exercise 5: count its parameters.)
#
# | | |
# |---|---|
# | **Time** | about an hour to read and do the exercises; the code runs in about 10 minutes (`cpu` profile) |
# | **Prerequisites** | Lab 00 (the GPT, causal masks, rotary positions); Lab 01 helps but is not needed |
# | **Paper** | Z. Allen-Zhu, *Physics of Language Models: Part 4.1, Architecture Design and the Magic of Canon Layers* (v2.0, NeurIPS 2025) |

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

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F

from plmkit import checks
from plmkit.experiments import canon, targets
from plmkit.experiments.common import start_lab

ctx = start_lab()  # the lab's run context: profile, seed, device; every experiment below takes it
s = canon.settings(ctx)

# %% [markdown]
# ### Profiles: what each size can and cannot show
#
# | profile | budget | what this lab shows | what it cannot show |
# |---|---|---|---|
# | `ci` | about a minute | that every experiment runs; ignore its numbers | any phenomenon |
# | `cpu` | about 10 minutes on one core | Canon's exact properties; **one layer cannot copy, one layer + Canon (trained or frozen) and two layers can** (3 seeds); Depo's first hop learned with Canon and not without (one seed live; three seeds of RoPE and NoPE, each with and without Canon, in the shipped models: NoPE + Canon learns the first hop, NoPE does not); the cost of each placement on your machine | the 2-4x depth gain at k = K, placement ablations, constant Canon on Mano, anything at the paper's scale |
# | `gpu` | about an hour on one GPU | copy at the paper's N = 500; Depo1-mini (N = 32) with RoPE, NoPE and both + Canon, 3 seeds; the placement ablation; Mano with frozen Canon; a gated linear attention (GLA) model with and without Canon on the same Depo | the paper's 12-layer models trained for 100k steps; Mamba2 and GDN; real-life pretraining |
#
# Each profile's sizes are plain data:

# %%
# NBVAL_CHECK_OUTPUT
for name, sizes in canon.SETTINGS.items():
    print(f"{name:>4}: copy N={sizes.copy.N}, {sizes.copy.optimiser.steps} steps x {len(sizes.copy.arms)} arms x "
          f"{sizes.copy.seeds} seeds | Depo {sizes.depo.preset}, {sizes.depo.sizes.n_layer}L{sizes.depo.sizes.d_model}D, "
          f"{sizes.depo.optimiser.steps} steps x {len(sizes.depo.arms)} arms x {sizes.depo.seeds} seeds | "
          f"placement: {'yes' if sizes.placement else 'no'}, Mano: {'yes' if sizes.mano else 'no'}")

# %% [markdown]
# ## 1. Why a synthetic playground?
#
# A real-text benchmark mixes every skill at once, and a 2-point difference between two architectures is within the
# seed noise. The playground instead uses tasks that each need **one** skill, generated afresh at every step from a
# fixed seed, so two architectures see exactly the same data in the same order and differ *only* in the architecture.
# Each model gets the same number of steps; a failure therefore means "slower to acquire the skill in this budget",
# not "cannot" [P4.1 §3.1]. Four of the tasks (the fifth, Capo, measures knowledge capacity and is Lab 04's world):
#
# * **Depo**, reasoning *depth*: the edges of a shuffled cycle, then "what is the k-th successor of q?", answered at
#   once, without writing intermediate steps. One hop is a look-up; k hops chain k look-ups in the head.
# * **Brevo**, reasoning *breadth*: the edges of a random DAG, then "list every vertex q depends on, parents before
#   children". Any valid order is accepted, so the model must plan the whole set before writing the first name.
# * **Mano**, knowledge *manipulation*: a modular arithmetic expression in prefix notation, e.g. `+ * 3 4 - 7 2` is
#   (3·4 + (7 − 2)) mod 23. The three 23 × 23 tables must live in the weights; the skill is composing them.
# * **copy** (a side task of Result 1): a permutation, then `<query>`, then the same permutation again.
#
# Here is one small instance of each (the same seed gives the same text on every machine):

# %%
# NBVAL_CHECK_OUTPUT
for name, text in canon.example_instances(seed=0).items():
    print(f"{name}:\n    {text}\n")

# %% [markdown]
# Read the Depo line: `<query_2> q <ans> a` asks for the node two steps after `q` along the cycle. The loss is only on
# the answers, and the size n of each cycle is drawn with probability proportional to 1/(√N + n): mostly small
# graphs, a few large ones, a built-in easy-to-hard curriculum. Evaluation fixes n = N, the hardest size.
#
# ### Exercise 1: the Depo answer, by walking the cycle
# > **Teaches:** what the model must do "in its head" on Depo, and why k hops are k chained look-ups.
# > **Difficulty:** 1 of 3. **Importance:** medium. **Time:** 10 minutes.
#
# Write `depo_answers(tokens, cfg)`: given the token ids of a Depo instance with one-token names (`<bos>`, the n
# edges as pairs `x y`, then queries `<query_k> q <ans> a`), return the answer token of every query, in order, found
# by following the edges. `cfg.query_ids[k - 1]` is the id of `<query_k>`.
#
# <details><summary>Hint 1</summary>
#
# The edges run from position 1 to the first query token. `successor = {x: y}` from consecutive pairs.
# </details>
# <details><summary>Hint 2</summary>
#
# For each position i holding a query token: `k = cfg.query_ids.index(tokens[i]) + 1`, start at `tokens[i + 1]` and
# apply `successor` k times. The cycle wraps by itself when k ≥ n.
# </details>

# %%
def depo_answers(tokens: list, cfg) -> list:
    """The answer (a token id) to every query of a one-token-name Depo instance, by walking the cycle."""
    # BEGIN SOLUTION
    first_query = next(i for i, t in enumerate(tokens) if t in cfg.query_ids)
    edges = tokens[1:first_query]
    successor = dict(zip(edges[0::2], edges[1::2]))
    answers = []
    for i, token in enumerate(tokens):
        if token in cfg.query_ids:
            node = tokens[i + 1]
            for _ in range(cfg.query_ids.index(token) + 1):
                node = successor[node]
            answers.append(node)
    return answers
    # END SOLUTION


checks.depo_answers(depo_answers)

# %% [markdown]
# ### Exercise 2: is a Brevo answer valid?
# > **Teaches:** why Brevo measures breadth: many answers are right, and the model must hold the whole set at once.
# > **Difficulty:** 2 of 3. **Importance:** medium. **Time:** 15 minutes.
#
# Write `is_valid_answer(edges, query, answer)`: `edges` is a list of `(parent, child)` pairs (child depends on
# parent), `query` a vertex, `answer` a list of vertices. Return True exactly when the answer lists every vertex the
# query depends on, recursively, once each, and never lists a vertex before one of its parents. The query itself is
# not listed.
#
# <details><summary>Hint 1</summary>
#
# Build `parents = {child: set of parents}`. The ancestors come from a search that starts at the query's parents and
# keeps adding parents of what it found.
# </details>
# <details><summary>Hint 2</summary>
#
# After checking `len(set(answer)) == len(answer)` and `set(answer) == ancestors`, walk the answer keeping a set of
# vertices seen so far: each vertex's parents must already be in it.
# </details>

# %%
def is_valid_answer(edges: list, query: int, answer: list) -> bool:
    """True iff ``answer`` is the query's ancestors, each once, every vertex after all of its parents."""
    # BEGIN SOLUTION
    parents: dict = {}
    for parent, child in edges:
        parents.setdefault(child, set()).add(parent)
    ancestors, stack = set(), list(parents.get(query, ()))
    while stack:
        vertex = stack.pop()
        if vertex not in ancestors:
            ancestors.add(vertex)
            stack.extend(parents.get(vertex, ()))
    if len(set(answer)) != len(answer) or set(answer) != ancestors:
        return False
    seen: set = set()
    for vertex in answer:
        if not parents.get(vertex, set()) <= seen:
            return False
        seen.add(vertex)
    return True
    # END SOLUTION


checks.brevo_valid(is_valid_answer)

# %% [markdown]
# The kit's own validator, `brevo.validate`, reads the edges straight from the instance's tokens and does the same.
# The paper does not say how Brevo answers are decoded; plmkit generates greedily and says so.

# %% [markdown]
# ## 2. Horizontal information flow: the Canon layer
#
# In a Transformer, information moves *vertically* through the layers of one position and *horizontally* between
# positions only through attention. Attention is good at "find the position whose key matches my query", but poor at
# the simplest horizontal move of all: "bring me the token just before me". For that it must *learn* a
# previous-token head, which costs a whole layer. Many skills need exactly this move first. To copy token i of a
# sequence, find where token i − 1 sat and read its *neighbour*; to answer a Depo hop, find the edge whose *first*
# name is q and read the *second*.
#
# A **Canon layer** [P4.1 §4] hands every position its three predecessors directly:
#
# $$ h'_t = h_t + w_0 \odot h_t + w_1 \odot h_{t-1} + w_2 \odot h_{t-2} + w_3 \odot h_{t-3}, \qquad h_{<0} = 0, $$
#
# with one learned weight per channel and offset, no bias, no activation, and a residual. It is a causal **depthwise
# convolution** of kernel 4. The paper puts it at up to four points of each block:
#
# ```
#   x ──► norm ──► [A] ──► q,k,v ──► [B] ──► RoPE ──► attention ──► + ──► norm ──► [C] ──► up ──► [D] ──► act ──► down ──► +
#   A: d channels        B: 3d (q, k, v)                                C: d channels      D: the MLP's up-projection
# ```
#
# "Canon-ABCD" means all four. A and C act on the *normed* input of attention and MLP, never on the residual stream;
# B comes before the rotary embedding.
#
# ### Exercise 3: a causal depthwise convolution, as a shift-and-sum
# > **Teaches:** what a Canon layer computes, and the off-by-one traps of conv layers (tap order, padding side).
# > **Difficulty:** 2 of 3. **Importance:** high. **Time:** 15 minutes.
#
# Write `canon_conv(x, w)` for `x` of shape `(B, T, C)` and `w` of shape `(C, 4)` in PyTorch's conv layout, where
# `w[:, 3]` multiplies the current token and `w[:, 3 - j]` the token j steps back. Return the convolution alone
# (without the residual `+ x`), with zeros before the start of the sequence, as a sum of 4 shifted element-wise
# products. The checker compares it with `F.conv1d(..., groups=C)`.
#
# <details><summary>Hint 1</summary>
#
# `F.pad(x, (0, 0, j, 0))` puts j zero rows in front of the time axis of a `(B, T, C)` tensor; `[:, :T]` cuts it back.
# Row t of the result is then `x[:, t - j]`.
# </details>
# <details><summary>Hint 2</summary>
#
# `sum(F.pad(x, (0, 0, j, 0))[:, :T] * w[:, 3 - j] for j in range(4))`. Broadcasting multiplies channel c by `w[c, ...]`.
# </details>

# %%
def canon_conv(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """Causal depthwise convolution of x (B, T, C) with taps w (C, 4); w[:, 3] multiplies the current token."""
    # BEGIN SOLUTION
    T = x.shape[1]
    return sum(F.pad(x, (0, 0, j, 0))[:, :T] * w[:, 3 - j] for j in range(4))
    # END SOLUTION


checks.canon_conv(canon_conv)

# %% [markdown]
# plmkit's `Canon` module (in `plmkit/model.py`) computes the same sum with the residual, in place, with its backward
# pass written out: on a CPU a small model's step time is mostly memory passes, and that version needs about half of
# them. Its tests check it against the conv form to 1e-12.
#
# ### Exercise 4: causality, by perturbation
# > **Teaches:** how to *test* that a layer never sees the future, the bug that silently ruins a language model.
# > **Difficulty:** 2 of 3. **Importance:** high. **Time:** 10 minutes.
#
# A convolution padded on both sides ("same" padding) lets position t see up to three future tokens. Training loss then
# looks suspiciously good, and generation fails. Write `is_causal(f, T, dim)`: `f` maps a tensor `(B, T, dim)` to a
# tensor `(B, T, ·)`. Return True exactly when no output at a position ≤ t ever changes when the inputs *after* t
# change. Draw a random input, and for every t, redraw the inputs after t and compare.
#
# <details><summary>Hint 1</summary>
#
# Position t may depend on input t itself: change only positions t + 1 onwards, and compare only outputs 0..t.
# </details>
# <details><summary>Hint 2</summary>
#
# Use float64 and compare exactly (`torch.equal`): a leak can be tiny.
# </details>

# %%
def is_causal(f, T: int, dim: int) -> bool:
    """True iff no output at a position <= t depends on an input after t."""
    # BEGIN SOLUTION
    x = torch.randn(2, T, dim, dtype=torch.float64)
    base = f(x)
    for t in range(T - 1):
        changed = x.clone()
        changed[:, t + 1:] = torch.randn(2, T - t - 1, dim, dtype=torch.float64)
        if not torch.equal(f(changed)[:, : t + 1], base[:, : t + 1]):
            return False
    return True
    # END SOLUTION


checks.is_causal(is_causal)

# %% [markdown]
# The kit runs the same test on whole models, for every placement (B included: it mixes q, k and v before the rotary
# embedding), and also checks that generation with the KV cache, which must carry each Canon point's last three
# inputs, equals generation without it. These are the exact rows of the targets table at the end:

# %%
exact = canon.exact_checks(ctx.seed)
print("largest change at positions <= t after perturbing the future, per placement:")
print("   ", {placement: leak for placement, leak in exact["future_leak"].items()})
print("greedy generation, cached = uncached (share of equal tokens):", exact["kv_cache_agreement"])
print(f"shift-and-sum vs conv1d, largest difference: {exact['conv_equivalence']:.1e}")

# %% [markdown]
# ### The initialisation is not a detail
# Canon keeps PyTorch's default conv init: uniform on ±1/√(fan-in) = ±0.5 for a kernel of 4 taps, standard deviation
# 1/√12 ≈ 0.2887 [P4.1 App. C.2]. That is large, fourteen times the 0.02 of the linear layers. A global "initialise
# every weight to N(0, 0.02)" routine would make Canon nearly the identity and silently weaken it; plmkit's GPT resets
# its Canon kernels after its global init.

# %%
model = canon.build_model(canon.Arm("probe", canon="ABCD"), s.depo.sizes, vocab_size=40, seed=ctx.seed)
weights = torch.cat([layer.weight.detach().flatten() for layer in canon.canon_layers(model)]).numpy()
canon.plot_init(weights);
plt.show()

# %% [markdown]
# ## 3. Result 1: can one attention layer copy?
#
# **The question.** Give a model a random permutation of 1..N, a `<query>` token, and ask it to write the permutation
# again. Copying token i means: find where token i − 1 sat in the first half, and read the token after it. That is two
# hops for attention: it needs, at every position, to know its predecessor. The paper trains a 1-layer model with 2
# heads of width 8 (1L-2H-16D) on N = 500 and finds it **stays at 0% for 50,000 steps**, while the same model with Canon
# copies perfectly by 1,500 steps, as does a 2-layer model [P4.1 Fig. 5]. Does that hold on a CPU, at N = 64?
#
# **The experiment.** Four arms at *equal steps*, on the same data, from the same initial weights (a Canon arm is the
# plain model plus its Canon kernels, nothing else): one layer; one layer + Canon-ABCD; one layer + **constant**
# Canon (kernels frozen at their random init: no learned mixing at all); two layers. 600 steps of batch 32, learning
# rate 5e-3 after 100 warm-up steps, three seeds. Accuracy is teacher-forced over the copied tokens of 64 fresh permutations.

# %%
copy_result = canon.run_copy(ctx)
print("\n".join(canon.copy_summary(copy_result)))

# %%
canon.plot_copy(copy_result);
plt.show()

# %% [markdown]
# **What it means.** The plain one-layer model stays below 10% (guessing among the 64 symbols gives 1.6%) while all
# three controls, trained on the same data for the same steps, copy perfectly: one layer and two heads of width 8 have enough capacity to copy *if* each position
# already knows its neighbour. Canon supplies exactly that, and it does not even need to learn its weights: the frozen
# random kernels work too, because a random per-channel mixture of h_t and h_{t−1} still lets attention match
# "predecessor = the token I just wrote". A second layer can build the same thing (a previous-token head), at the cost
# of a whole layer. Note also *how* the Canon arms learn: nothing for a few hundred steps, then a jump to 100% within
# one or two evaluations, the abrupt transition of the paper's Fig. 5 and 18.

# %% [markdown]
# ## 4. Reasoning depth on Depo, in miniature
#
# **The question.** The paper's Result 2: with Canon-ABCD, RoPE Transformers reason 2-4 times deeper on Depo. At
# N = 225 and k = 8, an 8-layer model goes from 0% to 97% [P4.1 Fig. 7]. The training curves show why: the Canon models
# master k = 1, then 2, then 4 and 8, each far sooner than without Canon [Fig. 8]. Depth is learned hop by hop, and
# Canon speeds up the first hop.
#
# **The experiment.** The `cpu` profile can reach only the first rung: Depo-micro (cycles of at most N = 8 one-token
# names, K = 4 hops), a Llama-style model of 2 layers and width 64, RoPE against RoPE + Canon-ABCD, 1,600 steps each,
# same data and initial weights. We measure teacher-forced answer accuracy at n = N for every k; chance is
# 1/N = 12.5%. One seed only: the two runs take a good part of this lab's 10 minutes (a Canon-ABCD step costs about 1.5
# times a plain one on a CPU, section 5), so treat the result as one draw; the shipped models below add three seeds.

# %%
depo_result = canon.run_depo(ctx)
print("\n".join(canon.depo_summary(depo_result)))

# %%
canon.plot_depo(depo_result);
plt.show()

# %% [markdown]
# **What it means.** With Canon the first hop rises well above chance while plain RoPE, after the same steps on the same
# data, is still guessing, and neither model has learned k ≥ 2 yet. That is the bottom of the paper's curriculum climb.
# The shipped models below repeat it over three seeds and add **NoPE**, a Transformer with no position information at
# all, which stays at 0% on every Depo cell in the paper and reaches 85-99% with Canon (Result 3); the `gpu` profile
# (Depo1-mini, N = 32, 3 seeds) climbs further. Keep in mind that Depo learning is step-like and single seeds flip; the
# paper's claims rest on whole 3 × 4 grids, and the targets below count seeds.

# %% [markdown]
# ### Three seeds, 2.5 times longer, and a model with no positions at all: the shipped Depo models
# One seed of 1,600 steps is one draw. The kit ships twelve Depo models trained on exactly this cell by its own command
# (`python -m plmkit reproduce canon-pretrain --profile cpu`, about 70 minutes on one core): RoPE, RoPE + Canon,
# **NoPE** (no position encoding at all) and NoPE + Canon, three seeds each, 4,000 steps, every seed's four arms on
# the same data from the same initial weights. We load them and measure them again, here, on the same test
# instances as above; the curves come from their training logs.

# %%
shipped_depo = canon.evaluate_shipped(ctx, s.shipped_depo) if s.shipped_depo else None
if shipped_depo is not None:
    print("\n".join(canon.depo_summary(shipped_depo)))
    canon.plot_depo(shipped_depo);
    plt.show()
else:
    print(f"profile {ctx.profile}: the shipped Depo models are evaluated in the cpu profile")

# %%
# The claims, read off the shipped models (the same rows appear in the targets table at the end).
if shipped_depo is not None:
    for row in canon.shipped_depo_rows(shipped_depo):
        print(f"{'met   ' if row.met else 'MISSED'}  {row.name}: {row.measured:g} of {len(shipped_depo['seeds'])} seeds ({row.note})")

# %% [markdown]
# **What it means.** Three results hold in every seed. (1) The first hop is Canon's: RoPE + Canon answers k = 1 at
# 94-97%, while plain RoPE, after 2.5 times the lab's steps, is still at chance (13-16% against 12.5%). Without
# Canon the model must first discover a previous-token head, and at this size and budget it never does. (2) NoPE,
# with no position information at all, stays at chance, and NoPE + Canon answers k = 1 at 93-100%, above RoPE's
# chance-level score: three tokens of local mixing are all the position information this task needs, the paper's
# Result 3 in miniature (on Depo1 its NoPE models go from 0% to 85-99% with Canon [P4.1 Fig. 7]). (3) The second hop
# has barely begun: RoPE + Canon scores 21-22% at k = 2 against RoPE's 14-19%, and one NoPE + Canon seed reached 54%;
# k = 3 and 4 are at chance for every model. This is the bottom of the paper's curriculum climb [Fig. 8]: hops are
# learned one after another, and a 2-layer, width-64 model trained for 4,000 steps has climbed one rung. The 2-4x depth
# gain needs the `gpu` profile's longer runs.

# %% [markdown]
# ## 5. Where to put Canon, and what it costs
#
# ### Exercise 5: the parameters a placement adds
# > **Teaches:** why Canon is almost free in parameters, and the width of each point.
# > **Difficulty:** 1 of 3. **Importance:** medium. **Time:** 10 minutes.
#
# Write `canon_parameters(n_layer, d_model, placement, mlp)`: the number of weights a Canon placement (a string such as
# `"AC"` or `"ABCD"`) adds to a model. Each point of width m has 4 weights per channel (kernel 4, no bias). The widths
# per layer: A and C act on d channels, B on q, k and v together, D on the MLP's up-projection output, which is
# 2 × hidden for the gated MLP (`mlp="swiglu"`, gate and up; plmkit's hidden is `canon.cost.gated_hidden(d)`, 8d/3
# rounded up to a multiple of 8) and 4d for the standard MLP (`mlp="gelu"`).
#
# <details><summary>Hint</summary>
#
# `widths = {"A": d, "B": 3 * d, "C": d, "D": ...}`, then `4 * n_layer * sum(widths[p] for p in placement)`.
# </details>

# %%
def canon_parameters(n_layer: int, d_model: int, placement: str, mlp: str = "swiglu") -> int:
    """Weights added by Canon at the given points (kernel 4, depthwise, no bias)."""
    # BEGIN SOLUTION
    d = d_model
    d_width = 2 * canon.cost.gated_hidden(d) if mlp == "swiglu" else 4 * d
    widths = {"A": d, "B": 3 * d, "C": d, "D": d_width}
    return 4 * n_layer * sum(widths[p] for p in placement)
    # END SOLUTION


checks.canon_param_count(canon_parameters)

# %% [markdown]
# For GPT-2 small (12 layers of width 768) Canon-ABCD adds 380,928 weights, 0.45% of the model: the paper's "fewer than
# 0.45%" [P4.1 fn 11].

# %%
# NBVAL_CHECK_OUTPUT
for row in canon.parameter_table(12, 768, count=False):
    print(f"Canon-{row['placement']:<5} {row['formula']:>8,} weights = {100 * row['share']:.3f}% of a 12L768D Llama")

# %% [markdown]
# **Time** is another matter. With fused kernels on an H100, Canon-ABCD adds 12-21% to a step and Canon-AC 6-7%
# [P4.1 fn 11]. Plain PyTorch on a CPU is different: a small model's step is dominated by memory passes over its
# activations, and Canon adds a few of those per point, B and D being the widest. We measure a training step for each
# placement on your device (4 layers of width 64 in the `cpu` profile):

# %%
overhead = canon.measure_overhead(ctx)
for placement, seconds in overhead["seconds"].items():
    print(f"{placement:>5}: {1000 * seconds:6.1f} ms per step  ({overhead['ratio'][placement]:.2f}x)")
canon.plot_cost(canon.parameter_table(12, 768, count=False), overhead);
plt.show()

# %% [markdown]
# This is why every comparison in this lab (and in the paper) is at **equal steps, never equal seconds**: a slower
# step would otherwise count against an architecture for a reason that a fused kernel removes.
#
# ### Which points matter, and must the weights be learned?
# The paper's ablation [P4.1 Fig. 27, 29]: every point helps and the gains stack; A + C, which leave attention itself
# untouched, already give most of the gain; B alone is the weakest. On NoPE, Depo1 (K = 8), N = 375, the accuracy at
# k = 8 is 0 without Canon, 0-52% with B, 76-89% with AC and 98-99% with ABCD across four model sizes. Dropping the
# residual can make Canon *worse than none* (Canon-B without residual: 79.1 → 53.0 on a grammar task) [Fig. 10, 28].
# And on Mano, Canon frozen at its random init beats trained Canon (98.1% against 85.3% at 12L768D) [Fig. 24], while on
# deep Depo it does not (0/26 against 90/100): the mixing itself matters more than what it learns, up to a point.
#
# These need many arms of a larger model; the `gpu` profile runs them (one seed for the placements, two on Mano). In
# other profiles the figure shows the paper's numbers alone.

# %%
if s.placement is not None:
    placement_result = canon.run_placement(ctx)
    ours = canon.placement_accuracy(depo_result, placement_result, depo_result["K"])
    mano_result = canon.run_mano(ctx)
    print("\n".join(canon.mano_summary_lines(mano_result)))
    canon.plot_mano(mano_result)
else:
    placement_result = mano_result = None
    ours = {}
    print(f"profile {ctx.profile}: the placement ablation and Mano with constant Canon run in the gpu profile")
canon.plot_placement(ours, depo_result["K"]);
plt.show()

# %% [markdown]
# ### Linear attention gains too [P4.1 Results 6-9, Fig. 12]
#
# Canon is not a Transformer trick. A gated linear attention (GLA) model keeps a fixed-size memory instead of
# attending to every earlier token, and it gains from the same local mixing: with Canon its Depo1 accuracy at
# N = 225 rises from 19/62 to 50/96 (k = K / k = K/2) at 12L768D [Fig. 12]. The kit's GLA is a plain-torch layer
# (`plmkit/gla.py`); the paper's GLA also keeps its own short convolution, so our "GLA + Canon" arm puts the residual
# Canon-B on its q/k/v in its place. The `gpu` profile trains the pair on the same Depo setting and seeds.

# %%
if s.linear is not None:
    linear_result = canon.run_linear(ctx, s.linear, s.depo)
    canon.plot_linear(linear_result, depo_result)
    plt.show()
else:
    print(f"profile {ctx.profile}: the GLA pair runs in the gpu profile")

# %% [markdown]
# ### Breadth and structure: Brevo and Lano [P4.1 Fig. 7, 10]
#
# Two more tasks of the playground, in the `gpu` profile. **Brevo** asks for every ancestor of a vertex of a random DAG
# in a valid topological order, answered at once: reasoning *breadth*. At N = 110 (12L768D) Canon lifts RoPE from 27.5%
# to 58.8% (84.5% with rotary on a quarter of each head), and NoPE from 0% to 84.9% [Fig. 7]. **Lano** is Part 1's grammars: with Canon, NoPE goes from 38.8% valid samples
# to 92.5% on cfg3f and from 0% to 78.3% and 53.1% on cfg3j and cfg3k, the one task where NoPE + Canon stays below
# RoPE + Canon: structure likes relative positions. The `gpu` profile runs Brevo1-mini (N = 16) with the four Depo
# arms and three seeds, and Lano on cfg3f-d4 with NoPE against NoPE + Canon; Brevo answers are scored two ways,
# teacher-forced tokens that are *a* valid next vertex, and whole generated answers checked by the order validator.

# %%
tasks_s = canon.task_settings(ctx)
if tasks_s is not None:
    tasks_result = canon.run_tasks(ctx, tasks_s)
    print("\n".join(canon.tasks_summary(tasks_result)))
    canon.plot_tasks(tasks_result)
    plt.show()
else:
    tasks_result = None
    print(f"profile {ctx.profile}: Brevo and Lano run in the gpu profile")

# %% [markdown]
# ## 6. What this lab can and cannot tell you
#
# * **Shown on a CPU:** Canon is causal at every placement, costs under half a percent of the parameters, keeps its
#   large default init, and lets one attention layer do what otherwise needs two (copy), even with frozen random
#   weights. On Depo its first effect, the first hop, appears within the same step budget in which RoPE alone learns
#   nothing, in all three shipped seeds, and it gives a model without any position encoding (NoPE) the same first hop.
# * **Needs the `gpu` profile:** the depth gain at k = K, NoPE + Canon matching RoPE + Canon at depth, the curriculum
#   climb per k, the placement order, frozen Canon on Mano, Canon lifting a linear-attention (GLA) model, breadth
#   (Brevo) and structure (Lano).
# * **Only in the paper:** the full 3 × 4 grids at 8-12 layers and 100k+ steps, Mamba2 (whose own conv1d turns out to be
#   most of its edge over GLA), and real pretraining, where at 1.3B parameters seed
#   noise hides most differences [Fig. 16], while at 1-8B parameters and 1-2T tokens the released LlamaCanon models beat
#   Llama in all eight controlled pairs [Part 4.2 release].
#
# To rerun this lab headless, with figures and a manifest written to disk:
# `python -m plmkit reproduce canon --profile cpu --out runs/canon`.

# %% [markdown]
# ## 7. Did the lab show what it claims?
# The part's own code turns the numbers above into the targets table: the exact rows first (they hold in every
# profile), then the trained-model rows of this profile. The "one layer cannot copy" row counts only beside its
# controls, the three rows below it, trained on the same data for the same steps. A missed row is reported, never
# hidden.

# %%
lab_metrics = {"exact": exact, "copy": copy_result, "depo": depo_result}
if shipped_depo is not None:
    lab_metrics["depo_shipped"] = shipped_depo
if tasks_result is not None:
    lab_metrics["tasks"] = tasks_result
if placement_result is not None:
    lab_metrics.update(placement=placement_result, mano=mano_result)
print(targets.format_table(canon.check_targets(lab_metrics, ctx.profile)))
