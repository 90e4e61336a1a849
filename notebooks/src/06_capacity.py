# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# # Lab 06: how many bits of knowledge fit in a parameter? (Part 3.3)
#
# A 7-billion-parameter model has read a great deal of Wikipedia. How much of it can it possibly *hold*? Part 3.3 of
# *Physics of Language Models* (Allen-Zhu & Li, arXiv 2404.05405) answers with a number: **about 2 bits of
# knowledge per parameter**, after each fact has been seen about 1,000 times, for every model size, depth and
# width the paper tried, and even after rounding the weights to int8. A 7B model could then store 14B bits, more
# than English Wikipedia and textbooks together [P3.3 Remark 1.1].
#
# To measure *bits* rather than accuracy, the paper trains on random facts, whose information content is known
# exactly, and turns the model's losses into a provable count of what it stores. This lab builds that ruler
# and uses it:
#
# 1. **Why bits, not accuracy**: the entropy of a random-fact dataset (you write it).
# 2. **The bound**: from per-token losses to bits a model must hold; R and R^max; a trap in real text.
# 3. **The sweep**: one model, more and more people: under-filled, then saturated [P3.3 Fig. 1].
# 4. **Longer training**: the same model after 1,000 exposures.
# 5. **Quantisation**: int8 keeps the knowledge, int4 does not [P3.3 Res. 8].
# 6. **Gated vs GELU MLP** at 100 exposures [P3.3 Res. 6-7].
# 7. **Junk data and domain tags** [P3.3 Res. 10-12].
#
# | | |
# |---|---|
# | **Time** | about 60 minutes to read and do the five exercises; the code runs in about 10 minutes (`cpu` profile) |
# | **Prerequisites** | Lab 00 (the method); Lab 04 helps (the biographies of Part 3.1) |
# | **Next** | Part 3.3 says *how much* fits; Labs 04-05 say when stored knowledge can be *extracted and used* |

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

import math

import numpy as np
import torch

from plmkit import checks
from plmkit.data import capacity as data
from plmkit.experiments import capacity, targets
from plmkit.experiments.common import start_lab

ctx = start_lab()  # the lab's run context: profile, seed, device; every experiment below takes it
s = capacity.settings(ctx)

# %% [markdown]
# ### Profiles: what each size can and cannot show
# The paper trains 1M-0.5B-parameter models for at least 50,000 steps on up to 20 million people. We keep the design
# and shrink the scale: random-fact data (bioD) small enough that a 26K-parameter model over-fills on CPU.
#
# | profile | runs | what this lab can show | what it cannot |
# |---|---|---|---|
# | `ci` | a 1-layer 6K-parameter model, 40 and 120 people, seconds | that the code runs; the exercises. The models learn next to nothing: ignore their numbers | everything else |
# | `cpu` (about 10 min on 2 cores) | a 26K-parameter model on bioD-tiny, N = 300, 500 and 1,500 people, 300 exposures; the shipped 1,000-exposure model; gated vs GELU at 100 exposures | under-filled vs over-filled (saturation), R about 1 bit per parameter at 300 exposures, more after 1,000, int8 vs int4 | the paper's 2-bit constant across sizes and shapes (tiny models store less per parameter), bioS text, junk data |
# | `gpu` (about an hour, uncalibrated) | GPT2-2-2 (0.8M) on online bioS with 10K and 40K people at 100 exposures; on bioS-compact (the same people and facts as `<attr> value` pairs, 28 tokens a person instead of 69): a 1,000-exposure run (GPT2-2-1, 15K people), gated vs GELU, junk and tag | R about 1 after 100 exposures on English biographies; at least 1.4 after 1,000; the gated-MLP gap; the junk loss and the tag's rescue | the paper's sizes (up to 0.5B) and MoE |
#
# The tables of sizes are plain data:

# %%
# NBVAL_CHECK_OUTPUT
for name, row in capacity.SETTINGS.items():
    law = row.law
    print(f"{name:>4}: law on {law.data}, N = {', '.join(map(str, law.people))}, {law.exposures} exposures, model {law.model}")
    print(f"      long run: {row.long.people if row.long else '-'} people x {row.long.exposures if row.long else '-'} exposures; "
          f"gated vs GELU: {'yes' if row.mlp else 'no'}; junk: {'yes' if row.junk else 'no'}")

# %% [markdown]
# ## 1. Why bits, not accuracy
#
# Accuracy asks "is the answer right?". It cannot add up *partial* knowledge: a model that has narrowed someone's
# birth city from 200 cities down to 4 is wrong three times in four, yet it holds log2(200/4) = 5.6 bits about it.
# Accuracy also depends on how answers are written and split into tokens. **Bits** add up across facts, people and
# formats, and they can be compared with what the data contains.
#
# But "what the data contains" is only known if we wrote the data at random. That is **bioD(N, K, C, D, L, T)**
# [P3.3 §2.1]: N people with names drawn without replacement from N0 possible names; K attributes; for each
# attribute a pool of D random chunks of L tokens (from an alphabet of T); each person's value of an attribute is C
# chunks drawn uniformly from its pool. Here are three people of the `cpu` dataset, bioD-tiny (K = 8, C = 1, D = 64,
# L = 1, T = 256, two-token names from 256 x 256):

# %%
# NBVAL_CHECK_OUTPUT
tiny = data.generate_biod(data.preset("bioD-tiny", N=500), seed=0)
tok = tiny.tokenizer()
print(tiny.config.describe())
for line in tiny.lines(np.random.default_rng(0))[:3]:
    print("  ", " ".join(tok.tokens(line)))
print("the same person, shown again (attributes in a fresh order):")
print("  ", " ".join(tok.tokens(tiny.lines(np.random.default_rng(1))[0])))

# %% [markdown]
# Every exposure shows each person once with the attributes in a new order (the paper writes each person as a
# paragraph in random sentence order [P3.3 §2.2]). Nothing in a line can be predicted from grammar: everything beyond
# the format is knowledge.
#
# ### Exercise 1: the entropy of a bioD dataset
# > **Difficulty:** 1/3. **Importance:** high: every number in this lab is measured against it. **Time:** 10 minutes.
#
# How many bits does it take to write down a bioD dataset, at best? Three independent random choices made it
# [P3.3 Prop. 2.3]:
#
# * **names**: which N of the N0 names were drawn (a set: order does not matter);
# * **values**: for each of the N·K (person, attribute) pairs, C chunks, each one of D;
# * **diversity**: for each of the K attributes, which D of the T^L possible chunks form its pool.
#
# Write `entropy_bits(config)` returning `(name_bits, value_bits, diversity_bits)`. `config` has `N, K, C, D, L, T`
# and `N0`.
#
# <details><summary>Hint 1</summary>
#
# The number of ways to choose a set of k out of n is the binomial coefficient C(n, k). Names: log2 C(N0, N).
# Values: N·K·C·log2 D. Diversity: K·log2 C(T^L, D).
# </details>
# <details><summary>Hint 2</summary>
#
# `math.comb` gives exact binomials but they get huge; use logs instead:
# `log2 C(n, k) = (lgamma(n+1) - lgamma(k+1) - lgamma(n-k+1)) / ln 2` with `math.lgamma`.
# </details>

# %%
def entropy_bits(config) -> tuple:
    """(name, value, diversity) bits of a bioD dataset: log2 C(N0, N), N*K*C*log2 D, K*log2 C(T^L, D)."""
    # BEGIN SOLUTION
    def log2_comb(n: int, k: int) -> float:
        return (math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)) / math.log(2)

    names = log2_comb(config.N0, config.N)
    values = config.N * config.K * config.C * math.log2(config.D)
    diversity = config.K * log2_comb(config.T ** config.L, config.D)
    return names, values, diversity
    # END SOLUTION


checks.biod_entropy(entropy_bits)

# %% [markdown]
# For the three datasets of the `cpu` sweep: almost all the information sits in the values (8 attributes x 6 bits per
# person), some in the names, and a fixed 1,000 or so bits in the pools. A perfect model's count (the numerator of
# R^max, [P3.3 Def. 4.1]) drops lower-order terms and comes out slightly below the entropy:

# %%
# NBVAL_CHECK_OUTPUT
for n in capacity.SETTINGS["cpu"].law.people:
    config = data.preset("bioD-tiny", N=n)
    e, perfect = data.biod_entropy(config), data.biod_max_bits(config)
    print(f"N = {n:>5}: entropy {e.total:>9,.0f} bits (names {e.name:,.0f}, values {e.value:,.0f}, pools {e.diversity:,.0f}); "
          f"a perfect model stores {perfect.total:,.0f}")

# %% [markdown]
# ## 2. From losses to bits: the bound
#
# A model never tells us what it stores. Its **losses** do. Part 3.3 uses three, all in nats and all *summed over
# the tokens* of a name or a value, never averaged per token [P3.3 §3, Remark 3.1]:
#
# * **p1**, the loss of a person's name at the start of their line;
# * **p2**, the loss of a value given the name and the attribute;
# * **p3**, the loss of a value's *first chunk* only.
#
# **The bound** [P3.3 Thm. 3.2]. If a model reaches losses p1, p2, p3 on a dataset drawn at random, then its weights
# hold at least
#
# $$ N\log_2\frac{N_0 - N}{e^{p_1}} + NK\log_2\frac{D^C}{e^{p_2}} + KD\log_2\frac{T^L - D}{D\,e^{p_3}} $$
#
# bits. Why: a model with low loss is a good *compressor* of the data (an arithmetic coder spends -log2 p bits on an
# outcome of probability p). If the weights held fewer bits than the data minus what the coder still spends, the
# two together would encode random data in fewer bits than its entropy: impossible. Each term is "what a uniform
# guess would cost" minus "what the model still pays". Dropping the lower-order terms gives the **capacity ratio**
# [P3.3 Def. 4.1]:
#
# $$ R = \frac{N\log_2\frac{N_0}{e^{p_1}} + NK\log_2\frac{D^C}{e^{p_2}} + KD\log_2\frac{T^L}{D\,e^{p_3}}}{P},\qquad
#    R^{\max} = \frac{\text{the same with } p_1 = \ln N,\ p_2 = p_3 = 0}{P}. $$
#
# All three terms must be counted: the paper shows that dropping any one of them undercounts [P3.3 Remark 3.4].
# A term can be negative: the model is then *worse* than a uniform guess there (common early in training).
#
# ### Exercise 2: the bits a model holds, from its per-token losses
# > **Difficulty:** 2/3. **Importance:** high: this is the measurement behind every figure. **Time:** 15 minutes.
#
# `token_loss` has shape `(n, S)`: row i is one person's line, and column t is the loss (nats) of the line's token t
# given everything before it (the name's tokens come first: columns `0 .. name_length-1`). `value_positions` has
# shape `(n, K, C*L)`: the columns of each attribute's value tokens. Write `learned_bits(token_loss, value_positions,
# config)` returning the three terms of R's numerator, `(name, value, diversity)` in bits. `config` also has
# `name_length`. Use all n rows (here every person).
#
# <details><summary>Hint 1</summary>
#
# `values = np.take_along_axis(token_loss, value_positions.reshape(n, K * V), axis=1).reshape(n, K, V)` picks every
# value token's loss. Then p1 = mean over people of the summed name losses; p2 = mean over (person, attribute) of the
# summed value losses; p3 the same over the first L tokens of each value only.
# </details>
# <details><summary>Hint 2</summary>
#
# Losses are in nats and the bit counts in bits: multiply each loss by log2(e) = 1 / ln 2 before subtracting it.
# Name: N·(log2 N0 - p1·log2 e); value: N·K·(C·log2 D - p2·log2 e); diversity: K·D·(log2(T^L / D) - p3·log2 e).
# </details>

# %%
def learned_bits(token_loss: np.ndarray, value_positions: np.ndarray, config) -> tuple:
    """(name, value, diversity) bits of [P3.3 Def. 4.1] from per-token losses (nats)."""
    # BEGIN SOLUTION
    n, K, V = value_positions.shape
    values = np.take_along_axis(token_loss, value_positions.reshape(n, K * V), axis=1).reshape(n, K, V)
    p1 = token_loss[:, :config.name_length].sum(axis=1).mean()
    p2 = values.sum(axis=2).mean()
    p3 = values[:, :, :config.L].sum(axis=2).mean()
    to_bits = 1 / math.log(2)
    name = config.N * (math.log2(config.N0) - p1 * to_bits)
    value = config.N * config.K * (config.C * math.log2(config.D) - p2 * to_bits)
    diversity = config.K * config.D * (math.log2(config.T ** config.L / config.D) - p3 * to_bits)
    return name, value, diversity
    # END SOLUTION


checks.bits_from_losses(learned_bits)

# %% [markdown]
# ### Exercise 3: R and R^max
# > **Difficulty:** 1/3. **Importance:** medium: how P is counted decides the headline number. **Time:** 10 minutes.
#
# P counts every trainable parameter **except the embedding rows of tokens that never occur in the data**: a
# vocabulary of 50,000 tokens of which the data uses 3,275 should not inflate P [P3.3 App. A]. Tied input and output
# embeddings are one table (count it once); an untied output layer has its own row per token. Write
# `capacity_ratios(model, used_token_ids, learned, max_bits)` returning `(R, R_max)`, counting P yourself (the model
# has `model.config.vocab_size`, `model.config.d_model` and `model.config.tie_embeddings`).
#
# <details><summary>Hint</summary>
#
# `sum(p.numel() for p in model.parameters())` counts a shared (tied) tensor once. Then remove
# `(vocab_size - len(used_token_ids)) * d_model` once per embedding table: once when tied, twice when not.
# </details>

# %%
def capacity_ratios(model, used_token_ids, learned: float, max_bits: float) -> tuple:
    """(R, R^max) = (learned bits, a perfect model's bits) / P, P as Part 3.3 counts it."""
    # BEGIN SOLUTION
    total = sum(p.numel() for p in model.parameters())
    unused = model.config.vocab_size - len(set(int(t) for t in used_token_ids))
    tables = 1 if model.config.tie_embeddings else 2
    P = total - unused * tables * model.config.d_model
    return learned / P, max_bits / P
    # END SOLUTION


checks.capacity_ratios(capacity_ratios)

# %% [markdown]
# ### Exercise 4 (real text): spot the double-counted fact
# > **Difficulty:** 2/3. **Importance:** medium: the trap of every bit count on structured text. **Time:** 10 minutes.
#
# On bioS biographies the paper counts the values of birth date, birth city, university, major, employer and gender,
# and **not** the employer's city: the employer determines it [P3.3 §4 fn. 12]. But the order of sentences matters
# too. If an entry says *"She worked in Menlo Park, CA. She worked for Meta Platforms."*, a model that knows only
# which companies are based in Menlo Park, and nothing about her, already finds the employer cheap. Skipping the city
# tokens and counting the employer's loss then credits bits that were **never stored about the person**.
#
# Employers are uniform over M companies; each has one headquarters city, and several may share one. Write
# `free_employer_bits(company_cities)` (the city of each employer, one entry per employer) returning the bits an
# ignorant model earns on the employer, on average, when the city was read first: log2 M minus what the employer still
# costs it after the city.
#
# <details><summary>Hint</summary>
#
# After reading city c, the ignorant model spreads its guess over the n_c employers based in c: it pays log2 n_c bits.
# Average that over employers (uniform), and subtract it from log2 M. You will find a famous quantity.
# </details>

# %%
from collections import Counter


def free_employer_bits(company_cities) -> float:
    """Bits credited to a model that knows nothing about the person, when the company city comes first."""
    # BEGIN SOLUTION
    M = len(company_cities)
    return sum(n / M * math.log2(M / n) for n in Counter(company_cities).values())
    # END SOLUTION


checks.double_counted_bits(free_employer_bits)

# %% [markdown]
# The free bits are exactly the **entropy of the company city**: the city is a function of the employer, so reading it
# first gives away all of its information. With the paper's pools:

# %%
# NBVAL_CHECK_OUTPUT
from plmkit.data import bios

full = bios.load_full_pools()
free = free_employer_bits(list(full.company_cities))
print(f"{len(full.companies)} employers in {len(set(full.company_cities))} cities: employer {math.log2(len(full.companies)):.2f} bits, "
      f"of which {free:.2f} come free after the city; per person that is {free:.2f} of the {full.information_bits()['log2_S0']:.2f} "
      "value bits")

# %% [markdown]
# That is more than 6 of the 47.6 bits per person [P3.3 Remark 4.4], a share that would inflate R most for weak models.
# plmkit's bioS measurement therefore always renders the employer *before* its city when it counts
# (`plmkit.data.capacity.render_eval_entries`). bioD has no such dependency: every value is independent.

# %% [markdown]
# ## 3. The sweep: one model, more and more people
#
# Now the experiment of [P3.3 Fig. 1] in miniature. One model size, three datasets of the same kind, the same number
# of exposures (each person seen 300 times). With few people, R^max is below what the model can hold: an
# **under-filled** point, which should store nearly everything (R close to R^max). With many people, R^max is far above
# it: an **over-filled** point. There the stored bits stop following the data; R measures the *model*, not the
# dataset. The paper needs R^max of 2.5 or more for that [P3.3 §5]; our over-filled point has about 3, the middle one
# sits near the model's capacity.
#
# Each run prints its plan; the progress bars show the loss falling.

# %%
law = s.law
print(f"{law.data}, N = {law.people}, {law.exposures} exposures, model {law.model}, lr {law.recipe.lr}, batch {law.recipe.batch}")
points = [capacity.run_point(ctx, n) for n in law.people]
law_metrics = capacity.law_metrics(points)
capacity_estimate = max(p["R"] for p in law_metrics["points"])
for p in law_metrics["points"]:
    print(f"N = {p['people']:>5}: data {p['data_bits']:>8,.0f} bits, stored {p['learned_bits']:>8,.0f} bits; R = {p['R']:.3f} of R^max "
          f"{p['R_max']:.3f} ({p['stored_fraction']:.0%}), P = {p['parameters']:,}, {p['train']['steps']:,} steps "
          f"in {p['train']['seconds']:.0f} s: {capacity.fill_label(p, capacity_estimate)}")
print(f"from N = {law_metrics['growth_from']:,} to N = {law_metrics['over_filled']['people']:,} the data's bits grow "
      f"{law_metrics['data_growth']:.2f}x, the stored bits "
      + (f"{law_metrics['learned_growth']:.2f}x" if law_metrics["learned_growth"] else "(nothing stored at the first N)"))

# %% [markdown]
# Your own `learned_bits` from Exercise 2, applied to the over-filled model's own losses, gives the same numbers
# as the kit's measurement:

# %%
over = points[-1]
rows, positions = data.measurement_lines(over.world.data, seed=0)
mine = learned_bits(data.token_losses(over.run.model, rows), positions, over.world.data.config)
print("yours:", [round(x) for x in mine], " kit:", [round(over.measurement["learned"][t]) for t in ("name", "value", "diversity")])

# %%
import matplotlib.pyplot as plt

capacity.plot_law(law_metrics)
plt.show()
capacity.plot_bit_terms(law_metrics)
plt.show()

# %% [markdown]
# **What it means.** The under-filled point sits near the diagonal: the model stored most of what there was. The
# over-filled point has three times the data of the middle one but stores little more: the model is full. In the `cpu` run the model
# holds about 1 bit per parameter after 300 exposures; the paper's models hold about 1 after 100 exposures and 2
# after 1,000 (the dashed lines).
#
# Look at the terms: the value bits dominate, as in most of the paper's bioD runs [P3.3 Res. 3]. At the over-filled
# point the diversity term is *negative*: the model guesses values worse than "uniform over the attribute's pool"
# for the many people it does not know, and Def. 4.1 charges it for that.
#
# A caveat of tiny models. When calibrating this lab a wider model (width 32, 41K parameters) stored 1.40 bits per
# parameter at N = 1,500 (R^max 2.0, not yet full), a narrower one (width 16, 14K) only 0.76 at R^max 5.7: at this
# scale the embedding table is a large share of P and the ratio is not yet size-independent. The paper's constant
# holds from about 1M parameters up.

# %% [markdown]
# ## 4. Longer training: 1,000 exposures
#
# The paper's 2 bits per parameter need about 1,000 exposures [P3.3 Res. 1]. That run takes longer than a lab, so
# plmkit ships it: the same model and the same N = 1,500 dataset, trained for 1,000 exposures by
# `python -m plmkit reproduce capacity-pretrain --profile cpu`. Loading it checks its checksum; measuring it takes a
# second.

# %%
long = capacity.long_run(ctx)
if long:
    print(f"{long['source']}: N = {long['people']:,}, {long['exposures']:,} exposures ({long['train']['steps']:,} steps): "
          f"R = {long['R']:.3f} of R^max {long['R_max']:.3f}; stored {long['learned']['total']:,.0f} bits")
    if ctx.profile != "ci":
        print(f"the same data at {law.exposures} exposures: R = {law_metrics['over_filled']['R']:.3f}")
    capacity.plot_law(law_metrics, long)
    plt.show()

# %% [markdown]
# **What it means.** More exposures, more bits in the same parameters: capacity is not only a property of the model
# but of how long it trained. The shipped model (31,250 steps, 16 minutes on one CPU core) holds about 1.6 bits per
# parameter, against about 1.1 after 300 exposures: most of the way from the paper's 100-exposure level (1) to its
# 1,000-exposure level (2). The paper's law is for models of a million parameters and more, trained for at least
# 50,000 steps; at 26K parameters the embedding table alone is half of P.

# %% [markdown]
# ## 5. Quantisation: how many of a weight's bits hold knowledge?
#
# If a model stores 2 bits per parameter, do the weights need more than 2 bits each? The paper rounds trained models
# to int8 and int4 (with GPTQ) and measures again: **int8 loses nothing, int4 loses more than half** [P3.3 Res. 8].
# So 2 bits of knowledge need more than 4 bits of weight, but 8 are plenty: knowledge fills a quarter of an int8 model.
#
# ### Exercise 5: round-to-nearest quantisation
# > **Difficulty:** 2/3. **Importance:** medium: the simplest quantiser, and the one we measure with. **Time:** 10 minutes.
#
# Write `round_to_nearest(weight, bits)` for a matrix `weight` (one output channel per row): per row, the scale is
# max|w| / (2^(b-1) - 1); each weight becomes the nearest multiple of the scale, clamped to ±(2^(b-1) - 1) levels;
# return the *dequantised* weights (level x scale), same shape and dtype. A row of zeros stays zero.
#
# <details><summary>Hint</summary>
#
# `peak = weight.abs().amax(dim=1, keepdim=True)`; `scale = peak / levels`; guard `scale == 0` with `torch.where`;
# `torch.clamp(torch.round(weight / scale), -levels, levels) * scale`.
# </details>

# %%
def round_to_nearest(weight: torch.Tensor, bits: int) -> torch.Tensor:
    """Symmetric round-to-nearest with one scale per output row; returns the dequantised weights."""
    # BEGIN SOLUTION
    levels = 2 ** (bits - 1) - 1
    scale = weight.abs().amax(dim=1, keepdim=True) / levels
    safe = torch.where(scale > 0, scale, torch.ones_like(scale))
    return torch.clamp(torch.round(weight / safe), -levels, levels) * scale
    # END SOLUTION


checks.round_to_nearest(round_to_nearest)

# %% [markdown]
# The kit's `quantize_model` applies the same rounding to every weight matrix and embedding table (norms stay in
# float) and the model is measured again with the **same P**:

# %%
quantization = capacity.quantize_points(points, s.quantization_bits, s.measure_sample)
for people, q in quantization.items():
    row = ", ".join(f"{name} R = {v['R']:.3f}" for name, v in q["by_precision"].items())
    print(f"N = {int(people):>5} (R^max {q['R_max']:.2f}): {row}")
capacity.plot_quantization(quantization, str(points[-1].people))
plt.show()

# %% [markdown]
# **What it means.** int8 keeps the bits: 255 levels per row are far finer than the differences the knowledge
# needs. int4 (15 levels) destroys much of it. Our round-to-nearest has no error compensation, so its int4 loss is
# larger than the paper's GPTQ would be; the int8 result does not depend on the method. The paper's reading: a model
# at 2 bits per parameter uses a quarter of its int8 bits for knowledge, which is why int8 is safe and int4 is not.

# %% [markdown]
# ## 6. Gated MLP vs GELU MLP
#
# LLaMA and Mistral store about 1.3x fewer bits than GPT-2 after 100 exposures, and the paper traces the gap to one
# component, the **gated MLP** (SwiGLU), which is harder to train; after 1,000 exposures the gap closes
# [P3.3 Res. 5-7]. Our two models differ only in the MLP: GELU with 4d hidden units, or gated with 8d/3 so both hold
# 8d² MLP weights (equal P). Same data, 100 exposures, same steps. The paper gives the negative result (gated) the
# best of three learning rates; here *both* get the best of the same rates, because at this scale GELU's best rate
# also moves with the number of exposures (calibration: GELU stored 0.37, 0.47 and 0.48 bits per parameter at rates
# 0.004, 0.008 and 0.016).

# %%
mlp = capacity.run_mlp(ctx)
if mlp:
    for name, arm in mlp["arms"].items():
        print(f"{name:>16}: R = {arm['R']:.3f} (P = {arm['parameters']:,}, {arm['train']['steps']:,} steps)")
    ratio = mlp["gated_over_gelu"]
    print(f"best gated / best GELU = {ratio:.2f} (paper: 0.77)" if ratio is not None else "GELU stored nothing: no ratio")
    capacity.plot_mlp(mlp)
    plt.show()

# %% [markdown]
# **What it means, and what it cannot show here.** At 100 exposures our runs are short (about 3,000 steps, far from
# the paper's 50,000), the models tiny (26K parameters, against the paper's 1M and more), and the learning rate
# matters as much as the architecture: compare the bars of one MLP across rates. When this lab was calibrated the best
# gated run stored *more* than the best GELU run (0.56 against 0.48), the opposite of the paper; a gated run one rate
# step higher (0.016) stored only 0.14. The paper's point survives in a weaker form: the gated MLP is the
# *less stable* one. Its 1.3x gap is a claim about models of a million parameters and more; the `gpu` profile repeats
# the comparison with a 130K-parameter model and more steps, where the target is a ratio of 0.7-0.95.

# %% [markdown]
# ## 7. Junk data and domain tags
#
# Real pretraining text is mostly not knowledge worth keeping. The paper trains on useful biographies as 1/8 of the
# tokens and random "junk" biographies (people seen once) as the rest, and measures the useful people only
# [P3.3 Res. 10-12]:
#
# * random junk makes the useful knowledge **20x worse** at 100 exposures (still 3x at 300);
# * **repetitive** junk (a few people repeated) costs nothing: it is learned once and then ignored;
# * a **domain tag**, one token in front of every useful paragraph (think "wikipedia.org"), brings the loss down to
#   **2x**: the model learns which source is worth remembering.
#
# Each arm trains 8x the tokens of the no-junk run, so junk is a `gpu` experiment. Here is how its batches are built:
# every step holds the same share of useful windows (fresh exposures of the useful people, here tagged) and junk
# windows (random people of the same format, never a useful one):

# %%
demo = capacity.make_world("bioD-ci", 20, seed=0)
stream = capacity.JunkMix(demo.stream(context=64, batch=1, seed=1, tag=True),
                          capacity.JunkWindows(demo.data, "random", context=64, seed=2), junk_rows=7)
batch = stream.batch(0)
demo_tok = demo.data.tokenizer()
for i, row in enumerate(batch.inputs[:3]):
    kind = "useful" if i == 0 else "junk  "
    print(kind, " ".join(demo_tok.tokens(row[:34].tolist())))

# %%
junk = capacity.run_junk(ctx)
if junk:
    for name, arm in junk["arms"].items():
        tried = ", ".join(f"{lr}: {r:.3f}" for lr, r in arm["lrs_tried"].items())
        print(f"{name:>11}: useful R = {arm['R']:.3f} ({arm['train']['steps']:,} steps; R by learning rate {tried})")
    capacity.plot_junk(junk)
    plt.show()
else:
    print(f"junk data is not run in the '{ctx.profile}' profile (8x the tokens per arm); run it with PLMKIT_PROFILE=gpu")

# %% [markdown]
# **What the `gpu` run shows** (uncalibrated: see the targets below). With useful data at 1/8 of the windows and 100
# exposures, random junk should cut the useful R at least 3x (paper: 20x); the tag should win back at least half of
# that loss (paper: to 2x); repetitive junk should cost little. The practical lesson of the paper: tag your sources,
# and the model sorts out what to remember on its own.

# %% [markdown]
# ## 8. Did the lab show what it claims?
# The targets of the active profile, computed by the part's own code from the numbers above (the command line
# `python -m plmkit reproduce capacity` prints the same table). A missed row is reported, never hidden. In `ci` only
# the sanity rows apply: the models train for seconds.

# %%
lab_metrics = {"law": law_metrics, "quantization": quantization, "long": long, "mlp": mlp, "junk": junk}
print(targets.format_table(capacity.check_targets(lab_metrics, ctx.profile)))

# %% [markdown]
# ## 9. What each profile can and cannot show, and what comes next
#
# * `ci`: the code runs and the exercises are checked; the models learn next to nothing.
# * `cpu` (this lab): the saturation of one model as the data grows; about 1 bit per parameter at 300 exposures and
#   more at 1,000; int8 keeps the knowledge and int4 loses most of it; a first, noisy look at gated vs GELU.
#   It cannot show the 2-bit constant across sizes, depths and widths (tiny models store less per parameter),
#   bioS text, or junk data.
# * `gpu`: GPT2-2-2 on online bioS text at 100 exposures (R about 1); on bioS-compact, a 1,000-exposure run (at
#   least 1.4), the gated-MLP gap with three learning rates each, junk data with and without the tag. Not the paper's sizes
#   (up to 0.5B parameters and 20M people), not mixture-of-experts.
#
# To rerun this lab headless, with figures and a manifest written to disk:
# `python -m plmkit reproduce capacity --profile cpu --out runs/capacity`.
