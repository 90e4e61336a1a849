# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# # Lab 03: learning from mistakes on grade-school math (Part 2.2)
#
# Ye, Xu, Li and Allen-Zhu, *Physics of Language Models: Part 2.2, How to Learn From Mistakes on Grade-School Math
# Problems* (arXiv 2408.16293), ask: **a model that makes reasoning mistakes, can it learn to correct them, and
# from what data?** Lab 02 ended on a clue: at many of its mistakes, the model's hidden state already "knew" the step
# was not possible. Part 2.2 turns that into three experiments on iGSM:
#
# 1. **Detection is easy** (Result 0): a probe on the error-free model, read right after it writes "Define A as",
#    says whether A can be computed next, about 99% of the time [P2.2 §3.1].
# 2. **Retrying at inference time helps little** (Result 1): roll back whenever the probe regrets a step. Beam search
#    adds nothing, the probe adds about 2 points, and only a *perfect* detector helps a lot [P2.2 §3.2, Fig. 3].
# 3. **Retry data in pretraining works** (Results 2-8): solutions that write a wrong step, then `[BACK]`, then the
#    right step beat error-free solutions at equal training tokens, most on the hardest problems; the model rarely
#    retries; the wrong steps need no masking; the same data only at fine-tuning time (LoRA) does not buy the gain;
#    and cheap "fake" mistakes (retry_weak) recover most of it [P2.2 §4-6, Figs. 4-8].
#
# You will write five pieces yourself: retry data, the `[BACK]`-aware reading rule, the label mask, a paired standard
# error (how to call a gain "clear"), and the problems a fixed token budget buys.
#
# | | |
# |---|---|
# | **Time** | about 90 minutes to read and do the exercises; the code runs in about 10 minutes (`cpu` profile) |
# | **Prerequisites** | Lab 02 (iGSM, the full-solution checker, can_next, V-probes) |
# | **Next** | Lab 04 (Part 3.1): how knowledge is stored and extracted |

# %% [markdown]
# ## Setup
# On Colab this installs plmkit (and nothing else: Colab's own torch, numpy and matplotlib stay). On your own
# machine it does nothing; install plmkit first as the README says.

# %%
import subprocess
import sys

if "google.colab" in sys.modules:  # Colab: install only plmkit, keep the preinstalled torch
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps",
                    "plmkit @ git+https://github.com/plmkit/plmkit"], check=True)

import matplotlib.pyplot as plt
import numpy as np

from plmkit import checks
from plmkit.data import igsm
from plmkit.experiments import retry as part
from plmkit.experiments.common import start_lab
from plmkit.experiments.retry import plots

ctx = start_lab()  # the lab's run context: profile, seed, device; every experiment below takes it
ref = part.reference()  # the paper's numbers, each with its citation

# %% [markdown]
# ### What each profile can and cannot show
#
# | profile | budget | world | can show | cannot show |
# |---|---|---|---|---|
# | `ci` | about a minute | nano | that every piece of code runs (tiny models trained for seconds) | any result |
# | `cpu` | about 10 minutes | nano | retry data and its rules live; on Part 2.1's **shipped** error-free `nano` model: the detector against its control, retry upon regret with a perfect and a probe detector, beam search; the **shipped** retry and retry_weak models (trained by plmkit's own command, about an hour each, at the error-free model's tokens) against the error-free one; a short LoRA on retry data | the paper's gains at op 23 and 32: the nano models are tiny (1.2 M parameters, 30 M tokens) and near 0% at their hardest ops; the masked and high-rate arms |
# | `gpu` | about an hour | mini | every pretraining arm trained in the lab at equal tokens (error-free, retry 0.2, retry_weak 0.1, the cautionary retry 0.5), then all of the above on them | the masked arm (`retry_masked`, one more hour); the paper's med/hard worlds (2-3 A100-days per model) |
#
# The settings are plain data:

# %%
# NBVAL_CHECK_OUTPUT
for name, s in part.SETTINGS.items():
    source = "shipped " + "/".join(s.error_free) if s.error_free else "its arm trained in the lab"
    print(f"{name:>4}: world {s.world}; error-free model: {source}; arms {', '.join(s.arms)} "
          f"({'shipped in ' + s.shipped_group if s.shipped_group else 'trained in the lab'}); retry upon regret on ops "
          f"{s.regret.ops}, {s.regret.problems} problems each")

# %% [markdown]
# ## 1. Retry data [P2.2 §4, §6]
#
# A retry solution is an error-free solution with mistakes written and at once taken back. Before solution sentence
# j, with probability r, write `Define W as [BACK].` where W is a parameter that **cannot be computed yet** (some
# quantity it uses is still unknown) and **has not appeared in the solution yet**; then, with probability r again,
# another one (never the same W twice at one place); then the correct sentence j. So a place gets k mistakes with
# probability about r^k, and r + r² + ... = r / (1 - r) on average: 0.25 at r = 0.2.
#
# Two cheaper kinds of "mistake" [P2.2 §6]: **retry_weak** draws W from the steps of the correct solution that come
# later (plmkit follows the paper's example: strictly after the next step, `weak_variant="later"`; the official code
# also allows the next step itself, which is not a mistake at all); **retry_miss** draws W from the parameters named
# in the problem. Neither needs to know what can be computed: they cost nothing to make. The **label mask** hides the
# wrong parameter's name from the loss (the model never learns to *write* the mistake), optional in the paper.
#
# Here is one nano problem at r = 0.5 (high, so a short solution shows a few); `[x]` marks a token the mask hides.

# %%
# NBVAL_CHECK_OUTPUT
world = part.make_world(ctx)
examples = part.retry_examples(world)
problem = examples["problem"]
print("problem: ", problem.problem_text)
print("question:", problem.question_text)
print("\nerror-free:", examples["error_free"])
for kind in igsm.RETRY_KINDS:
    r = examples[kind]
    print(f"\n{kind} ({r.retries} retries):", igsm.to_text(r.tokens))
r = examples["retry"]
print("\nretry with the label mask:", " ".join(f"[{t}]" if hide else t for t, hide in zip(r.tokens, r.mask)))

# %% [markdown]
# ### Exercise 1: insert retry steps
# > **Teaches:** what a mistake is in retry data, and the rate law r / (1 - r).
# > **Difficulty:** 2 / 3. **Importance:** high (the data is the whole method). **Time:** 20 minutes.
#
# Write `insert_retries(problem, rng, rate)` returning the solution's tokens (a list of strings) with retries:
# for each sentence j of `problem.solution_sentences` (token lists), the parameters computed before it are
# `problem.order[:j]`; the candidates for W are the parameters of `problem.universe` that are not among them and not
# in `igsm.ready_params(problem, known)` (the ones that *could* be computed next). With probability `rate` draw one
# candidate uniformly with `rng` and write `["Define", *problem.name_tokens(w), "as", "[BACK]", "."]`; then keep
# drawing (without putting back) while a new coin with probability `rate` says so; then write sentence j.
#
# <details><summary>Hint 1</summary>
#
# `rng.random() < rate` is a coin; `candidates.pop(int(rng.integers(len(candidates))))` draws without putting back.
# A `while candidates:` loop that breaks when `rng.random() >= rate` gives the geometric number of retries.
# </details>
# <details><summary>Hint 2</summary>
#
# Use only `rng` for randomness: the checker calls your function twice with the same seed and wants the same output.
# </details>

# %%
def insert_retries(problem, rng, rate: float) -> list:
    """The solution's tokens with 'Define W as [BACK] .' inserted before each step at the given rate."""
    # BEGIN SOLUTION
    out = []
    for j, sentence in enumerate(problem.solution_sentences):
        known = problem.order[:j]
        ready = set(igsm.ready_params(problem, known))
        candidates = [p for p in problem.universe if p not in known and p not in ready]
        if rate > 0 and rng.random() < rate:
            while candidates:
                w = candidates.pop(int(rng.integers(len(candidates))))
                out += ["Define", *problem.name_tokens(w), "as", "[BACK]", "."]
                if rng.random() >= rate:
                    break
        out += sentence
    return out
    # END SOLUTION


checks.retry_insertion(insert_retries)

# %% [markdown]
# ### Reading a solution with retries
# Lab 02's checker reads such solutions: a sentence that is exactly `Define <name> as [BACK].` is skipped and counted
# as a retry; every other sentence must be a correct step; a model trained on retry data is scored only on its final,
# non-retracted chain [P2.2 §4].

# %%
# NBVAL_CHECK_OUTPUT
text = igsm.to_text(examples["retry"].tokens) + f" <ans> {problem.answer}"
verdict = igsm.check_solution(problem, text)
print(f"correct={verdict.correct}, retries={verdict.retries}")
without_back = text.replace(" [BACK]", "")
print("the same text without its [BACK]s:", igsm.check_solution(problem, without_back).reason)

# %% [markdown]
# ### Exercise 2: the `[BACK]`-aware reading rule
# > **Teaches:** exactly what `[BACK]` retracts, the rule the checker and the evaluation rest on.
# > **Difficulty:** 1 / 3. **Importance:** medium. **Time:** 10 minutes.
#
# Write `strip_retries(tokens)` returning `(kept_tokens, retries)`: split the tokens into sentences ending with
# `"."`; a sentence that is **exactly** the 7 tokens `Define A 's B as [BACK] .` is dropped and counted; every other
# sentence is kept as it is, including one that merely contains `[BACK]` somewhere (the checker will call it
# malformed), and a last sentence without its `"."`.
#
# <details><summary>Hint</summary>
#
# Collect tokens into `sentence` until `"."`; then test `len(sentence) == 7 and sentence[0] == "Define" and
# sentence[2] == "'s" and sentence[4:] == ["as", "[BACK]", "."]`. Append what is left after the loop.
# </details>

# %%
def strip_retries(tokens: list) -> tuple:
    """(tokens without the retry sentences, number of retry sentences)."""
    # BEGIN SOLUTION
    kept, retries, sentence = [], 0, []
    for t in tokens:
        sentence.append(t)
        if t == ".":
            shape = len(sentence) == 7 and sentence[0] == "Define" and sentence[2] == "'s"
            if shape and sentence[4:] == ["as", "[BACK]", "."]:
                retries += 1
            else:
                kept += sentence
            sentence = []
    return kept + sentence, retries
    # END SOLUTION


checks.back_aware_strip(strip_retries)

# %% [markdown]
# ### Exercise 3: the label mask
# > **Teaches:** what "masking the mistake" hides, and what it must not hide.
# > **Difficulty:** 1 / 3. **Importance:** medium (the paper finds it unnecessary, Result 3). **Time:** 10 minutes.
#
# Write `label_mask(tokens)` returning one bool per token, True where the loss is zeroed: the three tokens of the
# wrong parameter's name (`A`, `'s`, `B`) in each retry sentence, nothing else. `Define`, `as`, `[BACK]` and `.`
# keep their loss: the model must still learn to write a retry, and `[BACK]` above all [P2.2 §4].
#
# <details><summary>Hint</summary>
#
# The same sentence loop as Exercise 2; in a retry sentence the name sits at positions 1, 2 and 3.
# </details>

# %%
def label_mask(tokens: list) -> list:
    """True on the wrong parameter's name tokens of each retry sentence."""
    # BEGIN SOLUTION
    mask, sentence = [], []
    for t in tokens:
        sentence.append(t)
        if t == ".":
            shape = len(sentence) == 7 and sentence[0] == "Define" and sentence[2] == "'s"
            retry = shape and sentence[4:] == ["as", "[BACK]", "."]
            mask += [retry and 1 <= i <= 3 for i in range(len(sentence))]
            sentence = []
    return mask + [False] * len(sentence)
    # END SOLUTION


checks.retry_label_mask(label_mask)

# %% [markdown]
# ## 2. The models
#
# Everything below compares models that differ **only in their data**: the same GPT (6 layers, width 128 on nano),
# optimiser, steps, batch and window, hence the same training tokens [P2.2 §4]. The error-free one is Part 2.1's
# shipped `nano` checkpoint (lab 02 analyses `nano-xl`, the same model trained on 11x the problems); the retry (r = 0.2) and retry_weak (r = 0.1) ones were trained by
# `python -m plmkit reproduce retry-pretrain --profile cpu` and ship with plmkit. In `gpu` all arms train here.
# A checkpoint that is missing is reported and its rows say "not measured"; nothing is replaced.

# %%
rows, models, arm_gains = part.compare_arms(ctx, world)
model, source = part.error_free_model(ctx, world, models)
note = f"Error-free model: {source}."
for arm, row in rows.items():
    if "missing" in row:
        print(f"{row['label']:<20} not measured: {row['missing']}")
    else:
        print(f"{row['label']:<20} {row['source']}: {row['tokens'] / 1e6:.1f}M tokens, {row['steps']} steps")

# %% [markdown]
# ## 3. Mistakes are easy to detect [P2.2 §3.1, Result 0]
# The error-free model has just written "Define A as". Does its state at `as` know whether A can be computed next?
# A probe answers from that state: a linear head (in `gpu` with the rank-8 embedding update of Part 2.1's
# V-probes) trained on train-side problems, scored on test-side ones. The items are balanced: at a random step of
# the true solution, one A that is ready and one that is not, from all parameters of the problem (majority 50%). The
# same probe on a **random-initialised** model of the same shape is the control: a probe can read some readiness off
# the name tokens themselves, so only the gap over the control is evidence.

# %%
detection = part.detect(ctx, model, world)

# %% [markdown]
# ## 4. Retry upon regret [P2.2 §3.2, Fig. 3]
# Generate a solution by sampling the model's own distribution (multinomial, beam 1). After each "Define A as", ask
# a detector whether A is ready; if it says no, roll back to the end of the previous sentence and sample again, at
# most 10 times per solution. Two detectors: the **perfect** one (the problem's graph knows can_next exactly; the
# paper's vP) and the **probe** above (the paper's v1). Baselines on the same problems: the same sampling without a
# detector (with the same random draws, so the two write identical tokens until the detector first fires), greedy
# decoding, and beam search.
#
# ### Exercise 4: when is a gain "clear"?
# > **Teaches:** paired comparisons: the same problems under two methods, and the standard error of the difference.
# > **Difficulty:** 2 / 3. **Importance:** high (every "X beats Y" below rests on it). **Time:** 15 minutes.
#
# Write `paired_gain(base, new)` for two bool arrays (solved or not, per problem, same problems) returning
# `(gain, se)`: the mean of `new - base` as a fraction, and its standard error, the sample standard deviation of the
# per-problem differences over the square root of their number. The lab calls a gain clear when it is at least 5
# points and more than two standard errors.
#
# <details><summary>Hint</summary>
#
# `d = new.astype(float) - base.astype(float)`; `d.mean()` and `d.std(ddof=1) / np.sqrt(len(d))`. Why not the
# error of two independent accuracies? Most problems are solved by both methods or by neither: pairing removes that
# shared variation, and the error shrinks to what the methods really disagree on.
# </details>

# %%
def paired_gain(base: np.ndarray, new: np.ndarray) -> tuple:
    """(mean of new - base, its standard error) over the same problems."""
    # BEGIN SOLUTION
    d = np.asarray(new, dtype=float) - np.asarray(base, dtype=float)
    return float(d.mean()), float(d.std(ddof=1) / np.sqrt(len(d)))
    # END SOLUTION


checks.paired_gain_se(paired_gain)

# %%
regret_report, columns = part.retry_upon_regret(ctx, model, world, detection.probe)
for method, r in regret_report["methods"].items():
    extra = (f"  gain over {r['baseline']} {r['gain']:+.1%} (SE {r['gain_se']:.1%}), lost {r['lost']} solved problems"
             if "gain" in r else "")
    print(f"{plots.LABELS[method]:<48} mean {r['pooled']:6.1%}  rollbacks/solution "
          + " ".join(f"{v['rollbacks']:.1f}" for v in r["by_op"].values()) + extra)
op = regret_report["ops"][min(1, len(regret_report["ops"]) - 1)]
for method in ("greedy", "beam", "sample"):
    print(f"how {plots.LABELS[method]} fails at op {op}: {columns[method][op].summary['reasons']}")
plots.regret_figure(regret_report, ref, note)
plt.show()

# %% [markdown]
# **Reading it.** In the paper (a 12-layer model at op 23, far beyond its training ops), beam search adds nothing,
# the probe detector adds about 2 points and the perfect one about 7 [P2.2 Fig. 3b]. The nano model differs in two
# ways the numbers show. Its greedy decoding has a failure the paper's models do not: letters are random, and greedy
# decoding writes the same most likely letter twice (the checker's `redefined`), so beam search and plain sampling,
# which can pick a second letter, beat greedy here. And the perfect detector turns a share of the sampled failures into successes at the ops
# where wrong or unready parameters are the first error; it can never lose a solution the same sampling solved, since
# a correct solution has no step to regret. What the regret loop cannot touch are wrong numbers and arithmetic slips:
# the detector judges only *which* parameter comes next.
#
# Back to the probe detector: how does it do at the model's **own** steps? At the first wrong step of each sampled
# solution whose parameter was not ready, does it say "not ready", and at the right steps before it, does it let them
# pass?

# %%
own = part.own_mistakes(ctx, detection, columns, model)
print(f"{own['mistakes']} first wrong steps (not ready): the probe says 'not ready' at {own['detected']:.1%}; "
      f"{own['ready_steps']} right steps: it says 'ready' at {own['ready_passed']:.1%}")
plots.detection_figure(detection.report, own, ref, note)
plt.show()

# %% [markdown]
# **Reading it.** The paper's detector is about 99% right on ordinary items and says "not ready" at about 60% of the
# model's first wrong steps [P2.2 §3.1]; its control (P2.1's random-init can_next probe) sits near 66%. A probe can
# only read what the model computes: lab 02 found the can_next V-probe of its nano model, trained on 11x these
# problems, only a few points above its control, and the detector here inherits that. A weak detector also explains the probe row of the regret figure:
# every false "not ready" on a right step throws that step away, and the rollback budget is spent on them.
#
# ## 5. Pretraining on retry data, at equal tokens [P2.2 §4, Figs. 4b, 5, 8]
#
# ### Exercise 5: equal tokens, not equal problems
# > **Teaches:** what a fair data comparison holds fixed, and what it costs the retry arm.
# > **Difficulty:** 1 / 3. **Importance:** high (every data comparison in the series is made this way). **Time:** 10 minutes.
#
# The paper gives every arm the same steps × batch × context, so the same **tokens**; retry sentences take some of
# them, and a retry arm sees fewer problems [P2.2 §4, fn. 16]. Write `problems_at_equal_tokens(token_budget,
# problem_tokens, steps, rate)`: the number of problems a budget buys when problems are packed back to back, for
# problems of `problem_tokens` tokens (error-free) whose solutions have `steps` sentences, with retry data at `rate`
# (expected retries per step r / (1 - r), each a 7-token sentence).
#
# <details><summary>Hint</summary>
#
# Tokens per problem: `problem_tokens + steps * 7 * rate / (1 - rate)`; the budget divided by that.
# </details>

# %%
def problems_at_equal_tokens(token_budget: float, problem_tokens: float, steps: float, rate: float) -> float:
    """Problems a token budget buys with retry data at the given rate (packed back to back)."""
    # BEGIN SOLUTION
    return token_budget / (problem_tokens + steps * 7 * rate / (1 - rate))
    # END SOLUTION


checks.equal_token_problems(problems_at_equal_tokens)

# %% [markdown]
# What the arms' training streams actually hold (300 training problems drawn per arm; the formula above ignores that
# a place can run out of candidates):

# %%
streams = part.equal_tokens(ctx, world)
for arm, t in streams.items():
    print(f"{arm:<12} {t['tokens_per_problem']:5.1f} tokens per problem, {t['retries_per_problem']:.2f} retries per "
          f"problem; {t['token_budget'] / 1e6:.1f}M tokens buy {t['packed_problems']:,.0f} problems packed, "
          f"{t['one_per_window_problems']:,} one per window")

# %% [markdown]
# plmkit's nano runs put **one problem per window** (lab 02 explains why), padded: there, equal tokens also means
# equal problems, and the retry arm's extra sentences replace padding. The comparison below is therefore even
# stricter than the paper's: same problems, same tokens, only the data differs.
#
# ### Accuracy by op, in and out of distribution

# %%
for arm, row in rows.items():
    if "missing" in row:
        print(f"{row['label']:<20} not measured ({row['missing']})")
        continue
    cells = "  ".join(f"op{op} {v['accuracy']:6.1%} ±{v['se']:.1%}" for op, v in row["by_op"].items())
    retries = "-" if row["retries_per_correct"] is None else f"{row['retries_per_correct']:.2f}"
    print(f"{row['label']:<20} {cells}   retries per correct solution {retries} (n = {row['problems_per_op']} per op)")
for arm, per_op in arm_gains.items():
    print(f"{rows[arm]['label']} minus error-free: " + "  ".join(f"op{op} {g['gain']:+.1%} (SE {g['se']:.1%})"
                                                            for op, g in per_op.items()))
plots.comparison_figure(rows, ref, world.config.op_max, note)
plt.show()
plots.retries_figure(rows, ref)
plt.show()

# %% [markdown]
# **Reading it.** In the paper, at equal tokens, retry data at r = 0.2 lifts med_pq op 23 from 77.7% to 91.6% and
# the average over all columns from 91.8% to 96.2%, and the model writes at most 0.26 retries per correct solution:
# it has learned to correct mistakes, not to make them (at r = 0.2 each step is still right four times out of five,
# so greedy decoding prefers the right step) [P2.2 Figs. 4b, 5a]. retry_weak at r = 0.1 gets most of the way
# (90.1%), but retries far more (1.5-2.6 per correct solution), because many of its "mistakes" are steps that are
# merely early [P2.2 Figs. 8, 11].
#
# The paper's gains live at op 23 and 32, 8 to 11 operations beyond training, with a 12-layer model trained on tens
# of billions of tokens. The nano arms have 1.2 M parameters and 30 M tokens, train on op ≤ 3, and their hardest
# columns sit near 0%: a difference there needs arms that solve a good share of those problems. Read the per-op
# gains with their standard errors, and the targets table at the end, which says whether this scale showed the gain.
# A few live solutions of each retry model, to see what a learned `[BACK]` looks like:

# %%
spot = part.spot(ctx, models, world)
for arm, s in spot.items():
    print(f"{rows[arm]['label']}: {s['retries_written']} [BACK]s in {s['solutions']} greedy solutions")
    if s["example"]:
        e = s["example"]
        print(f"  op {e['op']}: {e['generated']}\n  truth: {e['truth']}\n  correct: {e['correct']} ({e['reason']})")

# %% [markdown]
# **What the small arms show.** Three things to look for above, each printed with its standard error. First, where
# the arms differ at all: a gain at a column where both sit at 0% is no evidence either way. Second, how the retry
# models decode: greedy decoding picks the single most likely next token, and a model that has not yet learned the
# rule "never retract the same parameter twice at one place" can retract one parameter again and again (look at the
# spot check's `[BACK]` count and example); the paper's models learned it and rarely retry at all [P2.2 Fig. 5a].
# Third, retry_weak against error-free at the hardest training op, the paper's claim that cheap fake mistakes recover
# most of the gain [P2.2 Result 8]: the targets table judges it.
#
# ## 6. Retry data only at fine-tuning time [P2.2 §5, Result 7, Fig. 7]
# Take the error-free model, freeze it, and fine-tune a LoRA (rank 8 on attention query and value, rank 16 on the
# embedding, plus the output row of `[BACK]`, a token the error-free model never wrote) on r = 0.2 retry data. The
# paper's LoRAs, trained for 200,000 steps, never clearly beat the error-free model; full fine-tuning does, at twice
# the tokens: error correction needs large weight changes, so it belongs in pretraining [P2.2 §5].
#
# Here the fine-tunes are short, and a small, briefly trained model gains from *any* further training. So the same
# LoRA is also trained on **error-free** data for the same steps: the retry data's own effect is the difference
# between the two.

# %%
tuned = part.lora_on_retry_data(ctx, model, world, columns.get("greedy"))
for name in ("error_free", "lora_retry", "lora_error_free"):
    r = tuned[name]
    print(f"{name:<16} " + "  ".join(f"op{op} {v['accuracy']:6.1%}" for op, v in r["by_op"].items())
          + f"   in distribution {r['in_distribution']:.1%}")
for key, g in tuned["gains"].items():
    print(f"{key.replace('-', ' minus '):<34} {g['gain']:+.1%} (SE {g['se']:.1%})")
plots.finetune_figure(tuned, rows, ref, note)
plt.show()

# %% [markdown]
# **Reading it.** Compare the LoRA on retry data with the LoRA on error-free data, not only with the untouched
# model. At this budget neither says much about the paper's claim, which is about fine-tunes 1,000 times longer; the
# claim's positive control is the retry-pretraining row of section 5.
#
# ## 7. Did the lab show what it claims?
# The targets table, computed by the part's own code from the numbers above (in `ci` nothing is judged). A missed row
# is reported with its numbers, never hidden; a row whose checkpoint is missing says "not measured".

# %%
from plmkit.experiments import targets

lab_metrics = {"detection": detection.report, "own_steps": own, "regret": regret_report, "arms": rows,
               "gains": arm_gains, "finetune": tuned, "op_max": world.config.op_max,
               "first_ood": world.config.ood_ops[0]}
print(targets.format_table(part.check_targets(lab_metrics, ctx.profile)))

# %% [markdown]
# ## What each profile showed, and what comes next
#
# * `ci`: only that the code runs.
# * `cpu`: retry data and the rules it must obey; on the shipped error-free nano model, the detector against its
#   random-init control, retry upon regret with a perfect detector and with the probe, greedy decoding and beam
#   search beside it (sections 3 and 4 print which of them helps at this scale); the shipped retry models against
#   the error-free one at equal tokens, with the targets table saying whether this scale shows the paper's gain; a
#   short LoRA with its control. It cannot show the paper's gains at op 23-32: that needs arms that solve a good share
#   of problems far beyond their training ops.
# * `gpu`: the same on the mini world with every arm trained in the lab, including the cautionary rate r = 0.5 (the
#   masked arm, `retry_masked` in `plmkit.experiments.retry.ARMS`, is one more arm and another hour).
#
# **Lab 04 (Part 3.1)** leaves reasoning for knowledge: how a model stores facts about people, and when it can
# extract them.
#
# To rerun this lab headless, with figures and a manifest: `python -m plmkit reproduce retry --profile cpu --out runs/retry`.
