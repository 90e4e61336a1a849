# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# # Lab 05: knowledge manipulation (Part 3.2)
#
# Lab 04 ended with a model that can *state* facts about people it was never quizzed on. Can it also *use* them?
# Part 3.2 of *Physics of Language Models* (Allen-Zhu & Li, arXiv 2309.14402) asks the simplest possible questions
# about facts the model extracts almost perfectly:
#
# * **Classification** [3.2 Res. 3]: "Was Anya born in an even month?" The model knows the month, and parity of 12
#   months is trivial, yet without writing the month out first the model stays near chance (the paper needs 10,000
#   training samples for 75%).
# * **Comparison**: "Was Anya born in a later month than Sabrina?" Same story.
# * **Hints = chain of thought** [3.2 Res. 4]: letting the model write the month first ("October. Yes.") fixes it,
#   to exactly the level its extraction accuracy predicts. Hints seen in training do not help answers given without.
# * **Inverse search** [3.2 Res. 7]: "Who was born on October 2, 1996 in Princeton, NJ ...?" is at **0%** for every
#   forward dataset, for every model size. It works only if the training text itself states the name *after* the
#   facts, and then it is no longer inverse search.
#
# | | |
# |---|---|
# | **Time** | about 45 minutes to read and do the exercises; the code runs in about 10 minutes (`cpu` profile) |
# | **Prerequisites** | Lab 04 (biographies, LoRA fine-tuning, the P_train / P_test split) |

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
from plmkit.data import bios
from plmkit.experiments import manipulation, targets
from plmkit.experiments.common import RunContext, start_lab

ctx = start_lab()  # the lab's run context: profile, seed, device; every experiment below takes it

# %% [markdown]
# ### Profiles: what each size can show
#
# | profile | people | what this lab can show | what it cannot |
# |---|---|---|---|
# | `ci` | 40 + 40 | that the code runs (seconds); ignore its numbers | everything else |
# | `cpu` | 600 forward + 150 reversed, 150 exposures | parity, luckiness mod 5 and month ranking near chance without hints; with hints close to what extraction predicts; hints in training not helping direct answers; inverse search at chance for the forward group and far above it for the reversed group | sample-complexity curves (10K / 50K / 2.5M samples), dual-retrieval order effects, GPT-4 results |
# | `gpu` | 2,000 + 1,000, 300 exposures, 10 tasks | the same on more tasks and more training people | the paper's 100K-people scale |

# %%
# NBVAL_CHECK_OUTPUT
for name, row in manipulation.SETTINGS.items():
    print(f"{name:>4}: F {row.n_forward} + R {row.n_reverse} people, {row.exposures} exposures, "
          f"{row.train_pairs} training pairs; tasks {', '.join(row.tasks)}")

# %% [markdown]
# ## 1. The tasks
#
# Each task turns a person (or an ordered pair) into a question. Classification and comparison come in two answer
# modes: `<direct>` (answer at once) and `<hint>` (first write the needed attribute, then the answer). The month
# numbers are January = 1 ... December = 12; a major's "luckiness" is a fixed score 0-99 [3.2 §4].

# %%
# NBVAL_CHECK_OUTPUT
cpu_world = manipulation.make_world(RunContext(profile="cpu"))  # the cpu world, whatever this run's profile
people = bios.sample_people(2, cpu_world.pools, seed=0)
for task in ("month_mod2", "month_mod12", "major_mod5", "birth_year"):
    for mode in (("direct", "hint") if bios.get_task(task).hint else (None,)):
        print(bios.person_examples(task, people[:1], mode=mode)[0].text)
for mode in ("direct", "hint"):
    print(bios.pair_examples("month_rank", people, 1, mode=mode)[0].text)
print(bios.person_examples("all_to_first", people[:1])[0].text)

# %% [markdown]
# ### One pretraining run, two groups
# To keep the `cpu` budget, one model is pretrained on two disjoint groups of people (a kit design):
# * **F (forward)**, `multi5+permute`: the extractable format of lab 04; used for every task.
# * **R (reversed)**, `multi5+permute+reverse6`: the facts first ("The person ..."), the name in a final sentence.
#   Used only as the inverse-search control.
#
# Nothing in R's text links an F person's facts to their name, so F's inverse search stays a genuine test. (The
# paper trains one model per dataset.) Here is one person written both ways:

# %%
# NBVAL_CHECK_OUTPUT
person = people[0]
for augmentation in ("multi5+permute", "multi5+permute+reverse6"):
    print(f"{augmentation}:\n  {bios.render_bios([person], augmentation, cpu_world.templates, seed=3)[0][0].text}")

# %% [markdown]
# ## 2. Pretrain
# Both groups' biographies are shuffled together; every person gets the same number of exposures.

# %%
world = manipulation.make_world(ctx)
settings = manipulation.settings(ctx)
data = manipulation.make_data(world, settings.n_forward, settings.n_reverse, ctx.seed)
model, history = manipulation.pretrain(ctx, world, data, settings.exposures, live_plot=True)
forward_bio = manipulation.bio_accuracy(model, world, data.bio.entries_of([p.pid for p in data.design.forward]))
reverse_bio = manipulation.bio_accuracy(model, world, data.bio.entries_of([p.pid for p in data.design.reverse]))
print(f"{history.steps} steps in {history.seconds:.0f} s; BIO first-token accuracy: F {forward_bio['first_token_mean']:.1%}, "
      f"R {reverse_bio['first_token_mean']:.1%}")

# %% [markdown]
# ### Explore: browse the people
# Pick a group and a person: their biographies and every question of this lab, with the fine-tuned models' answers
# once sections 3 and 4 have trained them.

# %%
import ipywidgets as widgets
from IPython.display import HTML, display

answer_models: dict = {}  # filled in sections 3 and 4


def show_person(group: str, index: int) -> None:
    members = list(data.design.forward if group == "F (forward)" else data.design.reverse)
    p = members[min(index, len(members) - 1)]
    split = data.design.forward_split if group == "F (forward)" else data.design.reverse_split
    entries = data.bio.entries_of([p.pid])
    html = [f"<b>{p.full_name}</b> ({'train' if p.pid in split.train else 'test'} person)<ol>"]
    html += [f"<li>{manipulation.entry_html(e)}</li>" for e in entries]
    html += ["</ol><table><tr><th>question</th><th>answer</th>"]
    html[-1] += "".join(f"<th>{name}</th>" for name in answer_models) + "</tr>"
    questions = [bios.person_examples(t, [p], mode="direct")[0] for t in settings.tasks
                 if bios.get_task(t).arity == 1 and bios.get_task(t).hint]
    questions += [bios.person_examples(t, [p])[0] for t in manipulation.INVERSE_TASKS]
    for qa in questions:
        said = [manipulation.generate_answers(m, world, [qa])[0] for m in answer_models.values()]
        cells = "".join(f"<td>{' '.join(words).replace('<eos>', '')}</td>" for words in said)
        html.append(f"<tr><td>{qa.prompt}</td><td>{qa.completion}</td>{cells}</tr>")
    display(HTML("".join(html) + "</table>"))


widgets.interact(show_person, group=widgets.ToggleButtons(options=["F (forward)", "R (reversed)"]),
                 index=widgets.IntSlider(0, 0, max(settings.n_forward, settings.n_reverse) - 1));

# %% [markdown]
# ## 3. Classification and comparison, without and with hints
#
# Two LoRA fine-tunings on the F_train people, each on the same mix of tasks (month parity, month in numerics,
# major luckiness mod 5, month ranking on pairs, and the birth year as a retrieval control):
# * **trained without hints**: every example answers directly;
# * **trained with hints**: each example carries the hint with probability 1/2, so the model sees both forms.
#
# Both mixes also contain the six plain extraction questions of the same F_train people (Lab 04's QA). This is a kit
# choice for small scale: the paper starts from a model that already extracts at ~100% and trains on thousands of
# people [3.2 §4]; with 150 training people, a LoRA trained on a task alone memorised those people instead of
# learning to extract (in our trials its hints were right far more often for training people than for test people,
# until the extraction questions were mixed in). The extraction questions never show a task's answer.
#
# Both are tested on F_test people in both modes.
#
# ### Exercise 1: what a hint should give
# > **Teaches:** why chain of thought helps exactly as much as extraction allows.
# > **Difficulty:** easy. **Time:** 5 minutes.
#
# If the hint (the extracted month or major) is right, the rest is a trivial lookup; if it is wrong, assume the answer
# is a chance guess. With hint accuracy *h* and chance level *c*, what accuracy do we expect? For a pair task, *both*
# hints must be right [3.2 fn 15]. Write `predicted_accuracy(h, c, pair)`.
#
# <details><summary>Hint</summary>
#
# P[all hints right] is *h* for one person and *h²* for a pair; the answer is right then, and right with
# probability *c* otherwise.
# </details>

# %%
def predicted_accuracy(hint_accuracy: float, chance: float, pair: bool = False) -> float:
    """Expected with-hint accuracy if a right hint always gives the right answer and a wrong one a chance guess."""
    # BEGIN SOLUTION
    right = hint_accuracy ** 2 if pair else hint_accuracy
    return right + (1 - right) * chance
    # END SOLUTION


checks.hint_prediction(predicted_accuracy)

# %%
task_results = {}
for with_hints in (False, True):
    tuned, _ = manipulation.finetune_tasks(ctx, world, model, data, with_hints)
    key = "with_hint" if with_hints else "without_hint"
    task_results[key] = manipulation.evaluate_tasks(ctx, tuned, world, data)
    answer_models[f"trained {key.replace('_', ' ')}"] = tuned

print(f"{'task':<13}{'chance':>8}{'w/o hint':>10}{'hint-trained':>14}{'with hint':>11}{'hint acc':>10}{'predicted':>11}")
for task in settings.tasks:
    a, b = task_results["without_hint"][task], task_results["with_hint"][task]
    if "accuracy_direct" not in a:  # retrieval: one answer mode
        print(f"{task:<13}{a['chance']:>8.1%}{a['accuracy']:>10.1%}{b['accuracy']:>14.1%}")
        continue
    print(f"{task:<13}{a['chance']:>8.1%}{a['accuracy_direct']:>10.1%}{b['accuracy_direct']:>14.1%}"
          f"{b['accuracy_hint']:>11.1%}{b['hint_accuracy']:>10.1%}{b['predicted_with_hint']:>11.1%}")
manipulation.plot_tasks(task_results["without_hint"], task_results["with_hint"]);

# %% [markdown]
# **How to read it.** "hint acc" is how often the model writes the right month or major for a test person: its
# *extraction* accuracy. "with hint" should sit near "predicted" (your formula). "w/o hint" is the interesting
# column: the model extracts the month, yet cannot say whether it is even without writing it out, and training
# with hints did not teach it to (column "hint-trained", tested without the hint). The month in numerics (`month_mod12`)
# and the birth year only *rephrase* or *retrieve* a stored fact; they are the controls that can work directly.
#
# **At this scale, honestly.** The `cpu` run trains one multi-task LoRA on 300 people, and it extracts far less well
# than the paper's model (~100%): expect "hint acc" around 50-60% for single attributes and low for pairs (both
# months must be right), so "with hint" rises above chance only as far as that allows, and month ranking barely at
# all. With half as many training people (an earlier version of this lab), the LoRA memorised them and the with-hint
# answers drifted below the prediction. The paper's near-perfect with-hint accuracies need its scale: the `gpu`
# profile or more.
#
# Why? Knowledge is stored as "name -> October", not as "name -> even month". Turning it into a new fact needs a
# computation *after* the retrieval, and a transformer answering in one step has to learn that computation
# separately for each of the facts it could retrieve; with a hint, the retrieved word is in the context, and a
# single rule ("October -> Yes") does the rest.

# %% [markdown]
# ## 4. Inverse search
#
# Ask backwards: "Give me the first name of the person who studied *Communications* at *MIT*, was born on *October 2,
# 1996* in *Princeton, NJ*, and worked for *Meta Platforms* at *Menlo Park, CA*?" The model saw each of these facts many
# times, always *after* the name. Next-token prediction trains `name -> facts`, never `facts -> name`.
#
# ### Exercise 2: design the reversed-data fix
# > **Teaches:** what data makes inverse search learnable, and why that is no longer "inverse" search.
# > **Difficulty:** easy. **Time:** 10 minutes.
#
# Write `reverse_bio(pairs, name)`: `pairs[k]` is attribute sentence k written two ways, `(with "The person" as subject,
# with the pronoun)`. Return one entry in which **every fact is stated before the name**: the first sentence refers to
# "The person", the next five use the pronoun, and a final sentence states the name:
# `The person 's name is Anya Briar Forger.` (this is `reverse6` of [3.2 §5]).
#
# <details><summary>Hint</summary>
#
# The first sentence takes `pairs[0][0]`, the others `pairs[k][1]`; append the name sentence and join with spaces.
# </details>

# %%
def reverse_bio(pairs: list, name: str) -> str:
    """A biography that states all six facts first and the name last."""
    # BEGIN SOLUTION
    sentences = [person if k == 0 else pronoun for k, (person, pronoun) in enumerate(pairs)]
    return " ".join(sentences + [f"The person 's name is {name}."])
    # END SOLUTION


checks.reversed_bio(reverse_bio)

# %% [markdown]
# Our R group was pretrained on exactly such text (with the facts also shuffled). As the paper trains one model per
# dataset, each group gets its own LoRA, from the same pretrained model, on the inverse questions of its training
# people; then the test on the held-out people of each group:

# %%
inverse_models, _ = manipulation.finetune_inverse(ctx, world, model, data)
answer_models["inverse search, F LoRA"] = inverse_models["forward"]
answer_models["inverse search, R LoRA"] = inverse_models["reverse"]
inverse = manipulation.evaluate_inverse(inverse_models, world, data)
for group in ("forward_train", "forward_test", "reverse_train", "reverse_test"):
    print(f"{group:<14}" + "  ".join(f"{t}: {inverse[group][t]:6.1%}" for t in manipulation.INVERSE_TASKS))
print(f"chance: first name {inverse['chance']['all_to_first']:.1%}; one-sided binomial p-value of R_test > F_test "
      f"(first name): {inverse['p_value_reverse_above_forward']:.2g}")

# %% [markdown]
# **What it means.** Both groups' *training* people are answered: the fine-tuning data is simply memorised. On test
# people the forward group stays at chance: the model holds the facts of F_test people, extractable in the forward
# direction, and still cannot find a person from them [3.2 Res. 7]. The reversed group, whose pretraining text
# predicted the name *from* the facts, answers many of its test people.
#
# Is the reversed group's remaining gap a storage problem or a fine-tuning problem? Ask the *pretrained* model,
# with no fine-tuning at all, to continue the facts in its own pretraining words:
# `The person studied ... at ..., was born on ... in ..., and worked for ... at ... . The person 's name is`.

# %%
print(bios.inverse_statement(data.reverse("test")[0]), "->", data.reverse("test")[0].first)
inverse["completion_probe"] = manipulation.completion_probe(model, world, data)
for group, share in inverse["completion_probe"].items():
    print(f"{group:<14}first name predicted next: {share:6.1%}")
manipulation.plot_inverse(inverse);

# %% [markdown]
# The link from facts to name *is* stored for the reversed group (far above chance, with no fine-tuning), and is not
# there at all for the forward group: the forward failure is about storage, not about the question format. What the
# fine-tuned R LoRA loses on the way (it learned the question format from 75 people and partly memorised them
# instead) is a small-scale effect; the paper's reverse datasets, with far more people, show the contrast at full
# strength. The fix works because it turns the question into forward retrieval, which is why the paper recommends
# putting the reversed statements into pretraining (or using retrieval, or line numbers, as GPT-4 does for Bible
# verses) [3.2 Res. 9].

# %% [markdown]
# ## 5. What each profile can and cannot show
#
# * `ci` only runs the code.
# * `cpu` (about 10 minutes): the classification and comparison tasks near chance without hints, hint-trained models
#   that still fail without hints, with-hint accuracy near the prediction from hint accuracy, and the forward /
#   reversed contrast in inverse search. It trains one multi-task LoRA per condition on 300 people (the paper: one
#   LoRA per task on up to 50,000), so it cannot show how slowly accuracy without hints grows with more samples.
# * `gpu`: ten tasks and more training people.
#
# Rerun headless: `python -m plmkit reproduce manipulation --profile cpu --out runs/manipulation`.

# %%
summary = {"tasks": task_results, "inverse_search": inverse}
print(targets.format_table(manipulation.check_targets(summary, ctx.profile)))
