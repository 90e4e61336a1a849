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
#   to about the level its extraction accuracy predicts. Hints seen in training do not help answers given without.
# * **The control** [3.2 §4, Res. 1-2]: the paper's model states the birth date and the major of held-out people
#   (≈100% and 98%) when asked plainly. "Cannot do X directly" means something only beside a closely related task
#   that the same model, fine-tuned the same way, does directly; this lab measures such a control.
# * **Inverse search** [3.2 Res. 7]: "Who was born on October 2, 1996 in Princeton, NJ ...?" is at **0%** for every
#   forward dataset, for every model size. It works only if the training text itself states the name *after* the
#   facts, and then it is no longer inverse search.
#
# | | |
# |---|---|
# | **Time** | about 75 minutes to read and do the five exercises; the code runs in about 10 minutes (`cpu` profile) |
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
# | `cpu` | 600 forward + 150 reversed, 150 exposures | sized to test: parity, luckiness mod 5 and month ranking near chance without hints, beside plain retrieval of the month and the major by the same LoRA (the control); hint-trained models asked without hints; with-hint accuracy against the prediction from hint accuracy; inverse search for the forward and the reversed group. The targets table at the end says which of these this run met | sample-complexity curves (10K / 50K / 2.5M samples), dual-retrieval order effects, GPT-4 results; pair tasks with hints need a hint accuracy this scale does not reach (section 3) |
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
# ### Exercise 1: chance and majority
# > **Teaches:** what "near chance" is measured against, and why a uniform guess is not the only baseline.
# > **Difficulty:** 1 / 3. **Importance:** high (every "cannot" of this lab is a distance to chance). **Time:** 10 minutes.
#
# A classification task maps the attribute's value (the month 1-12, or a major's luckiness) to an answer with
# `label(value)`. Write `baselines(label, values)`, where `values` lists the equally likely values of the attribute,
# returning two accuracies:
# * **chance**: a uniform guess among the possible answers (the paper's "random guess" [3.2 §4]);
# * **majority**: always giving the most common answer, when the value is drawn uniformly from `values`.
#
# <details><summary>Hint 1</summary>
#
# `Counter(label(v) for v in values)` counts how many values give each answer: its length is the number of answers.
# </details>
# <details><summary>Hint 2</summary>
#
# For the month mod 5 the residues 1 and 2 come from three months each (1, 6, 11 and 2, 7, 12), the others from two.
# </details>

# %%
from collections import Counter


def baselines(label, values: list) -> tuple:
    """(chance, majority): a uniform guess over the answers, and always the most common answer."""
    # BEGIN SOLUTION
    counts = Counter(label(v) for v in values)
    return 1 / len(counts), max(counts.values()) / len(values)
    # END SOLUTION


checks.task_baselines(baselines)

# %% [markdown]
# The kit's own baselines for this lab's tasks (with the `cpu` pools), beside yours. Where the two differ (as for the
# month mod 5 in the checker), a model that always gives one answer beats the uniform guess; the tables below print
# the uniform-guess chance, as the paper does, so compare with both.

# %%
for task in ("month_mod2", "month_mod12", "major_mod5"):
    values = list(range(1, 13)) if task.startswith("month") else list(cpu_world.pools.luckiness)
    chance, majority = baselines(bios.get_task(task).label, values)
    print(f"{task:<12} yours: chance {chance:6.1%}, majority {majority:6.1%} | kit: chance "
          f"{bios.chance_baseline(task, cpu_world.pools):6.1%}, majority {bios.majority_baseline(task, cpu_world.pools):6.1%}")

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
# Both groups' biographies are shuffled together; every person gets the same number of exposures. In the `cpu`
# profile the run ships with plmkit (trained by `python -m plmkit reproduce manipulation --profile cpu`): it is
# loaded when it is exactly this run (same model, data and optimiser settings) and trained otherwise, so change a
# setting and the lab trains its own. Pass `shipped=False` to train it here anyway (a few minutes on a laptop).

# %%
world = manipulation.make_world(ctx)
settings = manipulation.settings(ctx)
data = manipulation.make_data(world, settings.n_forward, settings.n_reverse, ctx.seed)
model, history = manipulation.pretrain(ctx, world, data, settings.exposures, live_plot=True)
bio_forward = manipulation.bio_accuracy(model, world, data.bio.entries_of([p.pid for p in data.design.forward]))
bio_reverse = manipulation.bio_accuracy(model, world, data.bio.entries_of([p.pid for p in data.design.reverse]))
print(f"{history.steps} steps in {history.seconds:.0f} s; BIO first-token accuracy: F {bio_forward['first_token_mean']:.1%}, "
      f"R {bio_reverse['first_token_mean']:.1%}")

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
# major luckiness mod 5, month ranking on pairs, and the birth year asked alone):
# * **trained without hints**: every example answers directly;
# * **trained with hints**: each example carries the hint with probability 1/2, so the model sees both forms.
#
# Both mixes also contain the six plain extraction questions of the same F_train people (Lab 04's QA). This is a kit
# choice for small scale: the paper starts from a model that already extracts at ~100% and trains on thousands of
# people [3.2 §4]; with a few hundred training people, a LoRA trained on a task alone memorises those people instead
# of learning to extract. The extraction questions never show a task's answer, and they give this lab its
# **positive control**: the same LoRA, after the same fine-tuning, asked plainly for the month and the major of the
# F_test people (plain retrieval [3.2 §3]). A task that "cannot be done directly" counts only beside this control.
#
# Both LoRAs are tested on F_test people in both modes.
#
# ### Exercise 2: what a hint should give
# > **Teaches:** why chain of thought helps exactly as much as extraction allows.
# > **Difficulty:** 1 / 3. **Importance:** high (the with-hint rows of the targets table test this formula). **Time:** 5 minutes.
#
# If the hint (the extracted month or major) is right, the rest is a trivial lookup; if it is wrong, assume the answer
# is a chance guess. With hint accuracy *h* for one person's value and chance level *c*, what accuracy do we expect?
# For a pair task *both* people's values must be right; assume each is right with probability *h*, independently
# [3.2 fn 15]. Write `predicted_accuracy(h, c, pair)`.
#
# <details><summary>Hint 1</summary>
#
# P[all hints right] is *h* for one person and *h²* for a pair; the answer is right then, and right with
# probability *c* otherwise.
# </details>
# <details><summary>Hint 2</summary>
#
# Check with the paper's month parity: *h* = 0.91, *c* = 0.5 gives 0.955.
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
task_results, retrieval = {}, {}
for with_hints in (False, True):
    tuned, _ = manipulation.finetune_tasks(ctx, world, model, data, with_hints)
    key = "with_hint" if with_hints else "without_hint"
    task_results[key] = manipulation.evaluate_tasks(ctx, tuned, world, data)
    retrieval[key] = manipulation.evaluate_retrieval(tuned, world, data)
    answer_models[f"trained {key.replace('_', ' ')}"] = tuned

print(f"{'task':<13}{'chance':>8}{'w/o hint':>10}{'hint-trained':>14}{'with hint':>11}{'hint acc':>10}{'predicted':>11}")
for task in settings.tasks:
    a, b = task_results["without_hint"][task], task_results["with_hint"][task]
    if "accuracy_direct" not in a:  # retrieval: one answer mode
        print(f"{task:<13}{a['chance']:>8.1%}{a['accuracy']:>10.1%}{b['accuracy']:>14.1%}")
        continue
    print(f"{task:<13}{a['chance']:>8.1%}{a['accuracy_direct']:>10.1%}{b['accuracy_direct']:>14.1%}"
          f"{b['accuracy_hint']:>11.1%}{b['hint_accuracy']:>10.1%}{b['predicted_with_hint']:>11.1%}")
print("\nplain retrieval (the control), same LoRAs, F_test:")
for fact in ("birth_month", "major", "birth_date", "year_in_date"):
    a, b = retrieval["without_hint"][fact], retrieval["with_hint"][fact]
    print(f"{fact:<13}{a['chance']:>8.1%}{a['accuracy']:>10.1%}{b['accuracy']:>14.1%}")
manipulation.plot_tasks(task_results["without_hint"], task_results["with_hint"], retrieval=retrieval);

# %% [markdown]
# **How to read it.** "hint acc" is how often the with-hint LoRA writes exactly the right hint for a test person:
# its *extraction* accuracy, one attribute for single-person tasks, two for `month_rank`. "with hint" should sit near
# "predicted". "w/o hint" is the interesting column, read beside the control rows: `birth_month` is the first word of
# the birth date that the same LoRA states when asked plainly. The verdicts below are computed from this run's numbers;
# "using the fact it states" is your `predicted_accuracy` with the control's accuracy as *h*: what a model that
# computed the answer from the month (or major) it retrieves would score.

# %%
control = retrieval["without_hint"]
no_hint, hinted = task_results["without_hint"], task_results["with_hint"]
for task, fact in manipulation.CONTROL_OF.items():
    row, c = no_hint[task], control[fact]
    works = c["accuracy"] >= 3 * c["chance"]
    bar = row["chance"] + 0.10 if task != "month_mod12" else 3 * row["chance"]  # month_mod12 only rephrases
    done = row["accuracy_direct"] >= bar
    if not works:
        verdict = "no conclusion: the control (plain retrieval of that fact) does not work either"
    elif done:
        verdict = "done directly, beside the control"
    else:
        verdict = "NOT done directly, although the same LoRA states the fact it needs"
    used = predicted_accuracy(c["accuracy"], row["chance"], pair=bios.get_task(task).arity == 2)
    print(f"{task:<12} directly {row['accuracy_direct']:6.1%} (chance {row['chance']:5.1%}, bar {bar:5.1%}; using "
          f"the fact it states: {used:5.1%}) | {fact} asked plainly {c['accuracy']:6.1%} (chance {c['chance']:5.1%}): "
          f"{verdict}")
year_alone, year_in_date = no_hint["birth_year"]["accuracy"], control["year_in_date"]["accuracy"]
print(f"\npartial retrieval: the birth year asked alone {year_alone:.1%}; the year written at the end of the full birth "
      f"date {year_in_date:.1%}; the full date {control['birth_date']['accuracy']:.1%}")
print("after a right hint, the answer is right: " + "; ".join(
    f"{t} {hinted[t]['accuracy_after_right_hint']:.1%}" if hinted[t]["hint_accuracy"] else f"{t} (no right hint)"
    for t in hinted if "hint_accuracy" in hinted[t]))
print("hints in training, asked without a hint: " + "; ".join(
    f"{t} {hinted[t]['accuracy_direct']:.1%} vs {no_hint[t]['accuracy_direct']:.1%} trained without"
    for t in hinted if "accuracy_direct" in hinted[t]))

# %% [markdown]
# The line "after a right hint" tests the assumption behind your prediction: that a right hint is always followed by
# the right answer. Where it is well below 100%, the LoRA has not learned the step from the written hint to the answer,
# and "with hint" falls below "predicted" for that reason, not because hints do not help.
#
# The paper's rephrasing control, the month in numerics, works directly at its scale [3.2 Fig. 11]; the targets
# table at the end holds it to 3x chance here, and says if this run missed it. The paper also finds the birth year
# asked alone retrieved poorly, because the model learned to write the month and day before it [3.2 Res. 2]: compare
# the two year numbers above.
#
# Why would a model that states the month fail at its parity, as the paper finds? Knowledge is stored as
# "name -> October", not as "name -> even month". Turning it into a new fact needs a computation *after* the
# retrieval, and a transformer answering in one step has to learn that computation separately for each of the facts
# it could retrieve; with a hint, the retrieved word is in the context, and a single rule ("October -> Yes") does the
# rest.
#
# ### Exercise 3: what does "hint acc" count?
# > **Teaches:** how a hinted answer is scored, and why a pair's hint accuracy must not be squared again.
# > **Difficulty:** 2 / 3. **Importance:** high (this is the scoring behind every with-hint number). **Time:** 10 minutes.
#
# A hinted completion reads `HINT. ANSWER.`, e.g. `October; September. Yes.` for a pair. Write
# `score_hinted(generated, hint, answer)` returning `(hint_right, values_right, answer_right)`:
# * `hint_right`: the hint (the text before the first period) is exactly `hint`;
# * `values_right`: how many of the hint's values (separated by `;`) are right, position by position: the first value
#   is the first person's;
# * `answer_right`: the answer (between the hint's period and the next one) is exactly `answer`, whatever the hint.
#
# <details><summary>Hint 1</summary>
#
# `generated.partition(".")` splits at the first period; do it again on the rest for the answer. Strip spaces.
# </details>
# <details><summary>Hint 2</summary>
#
# `zip(said.split(";"), hint.split(";"))` pairs the values position by position.
# </details>

# %%
def score_hinted(generated: str, hint: str, answer: str) -> tuple:
    """(whole hint right, number of hint values right, answer right) for one hinted completion."""
    # BEGIN SOLUTION
    said, _, rest = generated.partition(".")
    said, got_answer = said.strip(), rest.partition(".")[0].strip()
    values_right = sum(g.strip() == t.strip() for g, t in zip(said.split(";"), hint.split(";")))
    return said == hint, values_right, got_answer == answer
    # END SOLUTION


checks.hint_scoring(score_hinted)

# %% [markdown]
# **Predict, then check.** Score the with-hint LoRA's own month-ranking answers with your function. `hint_right`
# averaged is the table's "hint acc": it already counts "both months right". From the per-value accuracy *h*, your
# `predicted_accuracy(h, c, pair=True)` squares it; from the whole-hint accuracy the prediction uses it once,
# `predicted_accuracy(h_pair, c)`. Squaring the whole-hint accuracy again would count the second month twice.

# %%
rank_seed = 1000 * ctx.seed + manipulation.groups.SEEDS["test"] + settings.tasks.index("month_rank")  # the table's pairs
rank_qas = manipulation.task_examples("month_rank", data.forward("test"), n_pairs=settings.test_pairs,
                                      seed=rank_seed, mode="hint")
words = manipulation.generate_answers(answer_models["trained with hint"], world, rank_qas)
texts = [" ".join(w for w in ws if w != "<eos>").replace(" ;", ";").replace(" .", ".") for ws in words]
scores = [score_hinted(t, qa.hint, qa.answer) for t, qa in zip(texts, rank_qas)]
h_pair = np.mean([s[0] for s in scores])
h_value = np.mean([s[1] for s in scores]) / 2
measured = np.mean([s[2] for s in scores])
chance = bios.chance_baseline("month_rank", world.pools)
print(f"{len(rank_qas)} test pairs, e.g. {texts[0]!r} for {rank_qas[0].hint}. {rank_qas[0].answer}.")
print(f"both months right {h_pair:.1%}; one month right {h_value:.1%} (squared: {h_value ** 2:.1%})")
print(f"prediction from both-right, used once: {predicted_accuracy(h_pair, chance):.1%}; from one month, squared: "
      f"{predicted_accuracy(h_value, chance, pair=True):.1%}; both-right squared again (wrong): "
      f"{predicted_accuracy(h_pair, chance, pair=True):.1%}; measured with hint: {measured:.1%}")
margin = predicted_accuracy(h_pair, chance) - chance
print(f"the prediction is {margin:.1%} above chance: " + (
    "enough for the with-hint row to test the hint effect" if margin >= 0.10 else
    "less than the 10-point margin of the target, so a with-hint accuracy near the prediction is also near a coin "
    "flip; at this scale month ranking with hints is no evidence either way"))

# %% [markdown]
# **At this scale, honestly.** The `cpu` run trains one multi-task LoRA on a few hundred people. Compare its "hint acc"
# and its plain retrieval above with the paper's model, which extracts birth dates at ≈100% and majors at 98%
# [3.2 §4], and reaches 84.5% hint accuracy on major mod 5 [3.2 Fig. 4]. With a hint, accuracy can rise above chance
# only as far as the hint accuracy allows, and a pair task needs both months right. The paper's near-perfect
# with-hint accuracies need its scale: the `gpu` profile or more.

# %% [markdown]
# ## 4. Inverse search
#
# Ask backwards: "Give me the first name of the person who studied *Communications* at *MIT*, was born on *October 2,
# 1996* in *Princeton, NJ*, and worked for *Meta Platforms* at *Menlo Park, CA*?" The model saw each of these facts many
# times, always *after* the name. Next-token prediction trains `name -> facts`, never `facts -> name`.
#
# ### Exercise 4: design the reversed-data fix
# > **Teaches:** what data makes inverse search learnable, and why that is no longer "inverse" search.
# > **Difficulty:** 1 / 3. **Importance:** medium (the R group of this lab is built this way). **Time:** 10 minutes.
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
# ### Exercise 5: the honest baseline of inverse search
# > **Teaches:** what "chance" is for a question whose answer is a name, and how a baseline can leak the test set.
# > **Difficulty:** 2 / 3. **Importance:** medium (the forward group's result is read against it). **Time:** 10 minutes.
#
# A model that links no facts to names can still learn, from its training people, which first name is most common,
# and always answer it. Write `majority_first_name_accuracy(train_names, test_names)`: choose the most common first
# name among the **training** people and return the share of **test** people who have it. Then predict: will the
# forward group's LoRA beat it on F_test?
#
# <details><summary>Hint 1</summary>
#
# `Counter(train_names).most_common(1)[0][0]` is the name; count it among `test_names`.
# </details>
# <details><summary>Hint 2</summary>
#
# Choosing the name on the test people would make the baseline look at the answers it is scored on.
# </details>

# %%
def majority_first_name_accuracy(train_names: list, test_names: list) -> float:
    """Share of test people whose first name is the most common first name of the training people."""
    # BEGIN SOLUTION
    name = Counter(train_names).most_common(1)[0][0]
    return sum(n == name for n in test_names) / len(test_names)
    # END SOLUTION


checks.majority_name_baseline(majority_first_name_accuracy)

# %% [markdown]
# Our R group was pretrained on exactly such reversed text (with the facts also shuffled). As the paper trains one
# model per dataset, each group gets its own LoRA, from the same pretrained model, on the inverse questions of its
# training people; then the test on the held-out people of each group:

# %%
inverse_models, _ = manipulation.finetune_inverse(ctx, world, model, data)
answer_models["inverse search, F LoRA"] = inverse_models["forward"]
answer_models["inverse search, R LoRA"] = inverse_models["reverse"]
inverse = manipulation.evaluate_inverse(inverse_models, world, data)
for group in ("forward_train", "forward_test", "reverse_train", "reverse_test"):
    print(f"{group:<14}" + "  ".join(f"{t}: {inverse[group][t]:6.1%}" for t in manipulation.INVERSE_TASKS))
baseline = {group: majority_first_name_accuracy([p.first for p in pick("train")], [p.first for p in pick("test")])
            for group, pick in (("forward", data.forward), ("reverse", data.reverse))}
print(f"chance: first name {inverse['chance']['all_to_first']:.1%} (uniform over the pool); most common training "
      f"first name: {baseline['forward']:.1%} of F_test, {baseline['reverse']:.1%} of R_test")
print(f"one-sided binomial p-value of R_test > F_test (first name): {inverse['p_value_reverse_above_forward']:.2g}")
f_test, r_test = inverse["forward_test"]["all_to_first"], inverse["reverse_test"]["all_to_first"]
f_train = min(inverse["forward_train"].values())
print(f"forward group: training people {f_train:.1%} (both tasks, worst), test people {f_test:.1%}: " + (
    "at the level of guessing, although its own training questions were learned" if f_test <= max(
        0.02, baseline["forward"]) and f_train >= 0.99 else "not the clean forward failure of the paper"))
print(f"reversed group: test people {r_test:.1%}, " + (
    f"{r_test / max(f_test, inverse['chance']['all_to_first']):.0f}x the forward group's (or chance)"
    if r_test > f_test else "not above the forward group"))

# %% [markdown]
# **What it means.** Read the printed lines: where the training people are answered and the forward test people are
# not, the LoRA learned its own questions (the control) and still cannot find a forward person from their facts,
# although the model holds those facts in the forward direction [3.2 Res. 7]. The reversed group, whose pretraining
# text predicted the name *from* the facts, is the second control: the same recipe on a closely related task.
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

# %%
probe = inverse["completion_probe"]
print(f"pretrained model, no fine-tuning: first name predicted next for {probe['reverse_test']:.1%} of R_test and "
      f"{probe['forward_test']:.1%} of F_test (uniform guess {inverse['chance']['all_to_first']:.1%}); the fine-tuned "
      f"R LoRA answers {r_test:.1%} of R_test")

# %% [markdown]
# Where the pretrained model already continues the reversed group's facts with the right name, the link from facts
# to name is stored, and whatever the fine-tuned R LoRA loses on the way (it learned the question format from
# only the R_train people) is a fine-tuning effect; the forward group has no such link to find. The fix works
# because it turns the question into forward retrieval, which is why the paper recommends putting the reversed
# statements into pretraining (or using retrieval, or line numbers, as GPT-4 does for Bible verses) [3.2 Res. 9].

# %% [markdown]
# ## 5. What each profile can and cannot show
#
# * `ci` only runs the code; its numbers mean nothing.
# * `cpu` (about 10 minutes) is sized to test each row of the table below: the tasks without hints beside the
#   plain-retrieval control, the hint-trained LoRA asked without hints, with-hint accuracy against its prediction, the
#   month in numerics as the paper's rephrasing control, and the forward / reversed contrast in inverse search. It
#   trains one multi-task LoRA per condition on a few hundred people (the paper: one LoRA per task on up to 50,000),
#   so it cannot show how slowly accuracy without hints grows with more samples, and its extraction is too weak for a
#   pair task with hints to be a test.
# * `gpu`: ten tasks and more training people.
#
# The targets table: every target of this part, the value this run measured, the threshold, met or MISSED, and in
# the note the control each "cannot" row stands beside. A missed row is a result too: read its note.
#
# Rerun headless: `python -m plmkit reproduce manipulation --profile cpu --out runs/manipulation`.

# %%
summary = {"tasks": task_results, "retrieval": retrieval, "inverse_search": inverse,
           "bio_first_token": {"forward": bio_forward["first_token_mean"], "reverse": bio_reverse["first_token_mean"]}}
print(targets.format_table(manipulation.check_targets(summary, ctx.profile)))
