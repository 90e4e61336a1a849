"""bioS-compact: the bioS people as ``name <attr> value ...`` lines (Part 3.3, lab 06).

Determinism, the line format and its token count, fresh orders, bit counting as for bioS with the employer before
the company city, ragged packing, junk windows, and the gpu profile's experiments on it (one step each, on CPU,
at tiny sizes).
"""
import dataclasses
import importlib
import math
from collections import Counter

import numpy as np
import pytest
import torch

from plmkit.data import bios
from plmkit.data import capacity as data
from plmkit.data.capacity import compact
from plmkit.data.packing import Example, pack_windows
from plmkit.experiments import capacity
from plmkit.experiments.capacity.datasets import BioSCompactWorld
from plmkit.experiments.common import RunContext
from plmkit.model import GPT, GPTConfig

# The package exports a function named ``settings``; the module itself holds SETTINGS and DATASETS.
settings_module = importlib.import_module("plmkit.experiments.capacity.settings")


@pytest.fixture(scope="module")
def full():
    return data.generate_bios_compact(600, seed=3)


def pair_values(d, person):
    """The seven (cue, value words) a person's line must hold."""
    values = {a: person.value(a) for a in bios.ATTRIBUTES}
    values["gender"] = person.pronoun
    return {f"<{a}>": bios.vocab.split_words(v) for a, v in values.items()}


def parse(d, line):
    """A line's name and its pairs as {cue: value words}, with the cues in text order."""
    words = d.tokenizer.tokens(line.tolist())
    name, pairs, order, cue = words[:3], {}, [], None
    for w in words[3:]:
        if w in compact.CUE_TOKENS:
            cue = w
            order.append(w)
            pairs[w] = []
        else:
            pairs[cue].append(w)
    return name, pairs, order


# ---- the data -----------------------------------------------------------------------------------------
def test_same_seed_same_bytes_and_the_same_people_as_bios(full):
    again = data.generate_bios_compact(600, seed=3)
    a, b = full.lines(np.random.default_rng(5)), again.lines(np.random.default_rng(5))
    assert a.tokens.tobytes() == b.tokens.tobytes() and a.lengths.tobytes() == b.lengths.tobytes()
    assert full.lines(np.random.default_rng(6)).tokens.tobytes() != a.tokens.tobytes()
    assert data.generate_bios_compact(600, seed=4).index.tobytes() != full.index.tobytes()
    text = capacity.make_world("bioS", 50, seed=3)
    world = capacity.make_world("bioS-compact", 50, seed=3)
    assert isinstance(world, BioSCompactWorld) and world.data.people == text.people  # the very bioS people
    s1 = world.stream(512, 4, seed=1)
    s2 = capacity.make_world("bioS-compact", 50, seed=3).stream(512, 4, seed=1)
    assert torch.equal(s1.batch(0).inputs, s2.batch(0).inputs) and torch.equal(s1.batch(3).inputs, s2.batch(3).inputs)


def test_every_attribute_once_after_the_name_and_the_token_count(full):
    lines = full.lines(np.random.default_rng(0))
    for i in range(len(full.people)):
        person = full.people[i]
        name, pairs, order = parse(full, lines.line(i))
        assert " ".join(name) == person.full_name
        assert sorted(order) == sorted(compact.CUE_TOKENS)  # each of the seven pairs exactly once
        assert pairs == pair_values(full, person)
        expected = 3 + sum(1 + len(v) for v in pair_values(full, person).values())
        assert lines.lengths[i] == expected
    big = data.generate_bios_compact(5000, seed=0)
    per_exposure = float(big.line_lengths().mean()) + 1  # with the <eos> between lines
    assert 28.5 < per_exposure < 29.5  # 29.05 with the full pools
    assert f"{per_exposure:.1f} tokens per exposure" in big.describe()
    assert big.vocab_size == 3 + 7 + len(bios.vocab.pool_words(big.pools)) + 2


def test_the_order_is_fresh_every_exposure(full):
    rng = np.random.default_rng(1)
    passes = [[parse(full, lines.line(i))[2] for i in range(100)] for lines in (full.lines(rng) for _ in range(3))]
    changed = sum(passes[0][i] != passes[1][i] for i in range(100))
    assert changed >= 98  # 7! = 5,040 orders
    orders = full.draw_orders(np.random.default_rng(2), 42_000)
    first = Counter(orders[:, 0].tolist())
    assert len(first) == 7 and min(first.values()) > 0.9 * 6000 and max(first.values()) < 1.1 * 6000
    assert len({tuple(o) for o in orders[:2000].tolist()}) > 1500


def test_ragged_packing_matches_pack_windows():
    rng = np.random.default_rng(0)
    lengths = rng.integers(1, 40, size=300)
    lines = data.RaggedLines(rng.integers(3, 50, size=int(lengths.sum())), lengths)
    tokens, weights = data.pack_ragged_lines(lines, 64, 1)
    ref_tokens, ref_weights, used = pack_windows([Example(lines.line(i)) for i in range(len(lines))], 64, 1,
                                                 truncate=False)
    assert used == len(lines) and np.array_equal(tokens, ref_tokens) and np.array_equal(weights, ref_weights)
    order = rng.permutation(len(lines))
    taken = lines.take(order)
    assert all(np.array_equal(taken.line(j), lines.line(i)) for j, i in enumerate(order[:50]))
    with pytest.raises(ValueError, match="does not fit"):
        data.pack_ragged_lines(data.RaggedLines(np.ones(70, dtype=np.int64), np.array([70])), 64, 1)


def test_a_training_pass_shows_everyone_once_and_counts_exposures(full):
    stream = data.bios_compact_dataset(full, context=512, batch_size=8, seed=1)
    tokens, weights = stream.epoch_windows(0)
    eos = data.EOS_ID
    starts = [(r, c + 1) for r, c in zip(*np.nonzero(tokens[:, :-1] == eos)) if tokens[r, c + 1] not in (0, eos)]
    names = Counter(" ".join(full.tokenizer.tokens(tokens[r, c:c + 3].tolist())) for r, c in starts)
    assert names == Counter(p.full_name for p in full.people)
    assert stream.steps_for(100) == math.ceil(100 * len(tokens) / 8)
    assert weights.sum() == full.line_lengths().sum() + len(full.people)  # every token and every closing <eos>
    with pytest.raises(ValueError, match="does not fit"):
        data.bios_compact_dataset(full, context=32, batch_size=8)


def test_the_tag_starts_every_useful_line(full):
    tokens, _ = data.bios_compact_dataset(full, context=512, batch_size=8, seed=1, tag=True).epoch_windows(0)
    after_eos = tokens[:, 1:][tokens[:, :-1] == data.EOS_ID]
    assert set(after_eos.tolist()) <= {data.biod.TAG_ID, 0}
    assert (after_eos == data.biod.TAG_ID).sum() == len(full.people)
    assert data.biod.TAG_ID in full.used_token_ids(tag=True) and data.biod.TAG_ID not in full.used_token_ids()


# ---- bits -------------------------------------------------------------------------------------------------
def test_bits_are_those_of_bios(full):
    text = capacity.make_world("bioS", 600, seed=3)
    world = BioSCompactWorld(full)
    assert world.max_bits() == text.max_bits()
    assert full.log2_S0 == pytest.approx(47.59, abs=0.01)  # [P3.3 Remark 4.4]
    per_person = full.log2_S0 + math.log2(1.6e8 / 600)
    assert world.max_bits().total == pytest.approx(600 * per_person)


def test_measurement_masks_and_the_employer_before_the_city(full):
    rows = compact.measurement_rows(full, seed=0)
    assert (rows.tokens[:, 0] == data.EOS_ID).all() and rows.tokens.shape[1] == rows.name_mask.shape[1] + 1
    company_cue, city_cue = (full.tokenizer.id_of(c) for c in ("<company>", "<company_city>"))
    for i, person in enumerate(full.people):
        line = rows.tokens[i, 1:]
        assert rows.name_mask[i, :3].all() and rows.name_mask[i].sum() == 3
        assert " ".join(full.tokenizer.tokens(line[rows.city_mask[i]].tolist())) == " ".join(
            bios.vocab.split_words(person.company_city))
        stored = pair_values(full, person)
        expected = sum(len(stored[f"<{a}>"]) for a in compact.STORED_PAIRS)
        assert rows.value_mask[i].sum() == expected  # five values and the gender word
        assert not (rows.value_mask[i] & (rows.city_mask[i] | rows.name_mask[i])).any()
        assert list(line).index(company_cue) < list(line).index(city_cue)
    orders = full.employer_first_orders(np.random.default_rng(0), 7000)
    assert (np.argmax(orders == compact.COMPANY, 1) < np.argmax(orders == compact.COMPANY_CITY, 1)).all()
    assert len({tuple(o) for o in orders.tolist()}) > 1500  # of the 2,520 allowed orders


def table_only_losses(d, orders):
    """Per-token losses of a "model" that knows the headquarters-city -> employer table and nothing about any
    person: name uniform over the name space, values uniform over their pools, gender a coin flip, except that once
    the company city has been read the employer is uniform over the companies in that city."""
    rows = compact.measurement_rows(d, orders=orders)
    _, labels = d.render(orders, labels=True).padded()
    by_city = Counter(d.pools.company_cities)
    sizes = {a: d.pools.size(a) for a in compact.STORED_PAIRS if a != "gender"}
    sizes["gender"] = len(d.pronouns)
    loss = np.zeros(labels.shape)
    for i, person in enumerate(d.people):
        loss[i, np.argmax(labels[i] == compact.NAME_LABEL)] = math.log(d.pools.name_space_size)
        for attribute in compact.STORED_PAIRS:
            k = compact.PAIRS.index(attribute)
            first = int(np.argmax(labels[i] == compact.value_label(k)))
            choices = sizes[attribute]
            city_first = np.argmax(labels[i] == compact.value_label(compact.COMPANY_CITY)) < first
            if attribute == "company" and city_first:
                choices = by_city[person.company_city]
            loss[i, first] = math.log(choices)
    p1, p2 = compact.compact_losses(loss, rows)
    return data.bios_learned_bits(d.n_people, d.pools.name_space_size, d.log2_S0, float(p1.mean()), float(p2.mean()))


def test_a_city_to_employer_table_earns_no_employer_bits(full):
    fair = table_only_losses(full, full.employer_first_orders(np.random.default_rng(0)))
    assert fair.name == pytest.approx(0.0, abs=1e-6) and fair.value == pytest.approx(0.0, abs=1e-6)
    # Under the training orders (the city first half the time) the same "model" would get bits it does not hold.
    naive_orders = full.draw_orders(np.random.default_rng(0))
    city_first = np.argmax(naive_orders == compact.COMPANY_CITY, 1) < np.argmax(naive_orders == compact.COMPANY, 1)
    assert city_first.sum() > 200
    naive = table_only_losses(full, naive_orders)
    assert naive.value > 1.0 * full.n_people  # about 3 bits per person


def test_perfect_and_uniform_predictors(full):
    d = data.generate_bios_compact(50, seed=1)
    rows = compact.measurement_rows(d, np.random.default_rng(0))

    def perfect(inputs):  # probability 1 on every next token of the measurement rows (one batch)
        logits = torch.full((*inputs.shape, d.vocab_size), -1e4)
        return logits.scatter_(2, torch.as_tensor(rows.tokens[:, 1:])[:, :, None], 0.0)

    m = data.measure_bios_compact(perfect, d, parameters=1000)
    assert m.p2 == pytest.approx(0.0, abs=1e-6) and m.learned.value == pytest.approx(50 * d.log2_S0)
    assert m.max_bits == d.max_bits() and m.people_measured == 50
    uniform = data.measure_bios_compact(lambda x: torch.zeros(*x.shape, d.vocab_size), d, parameters=1)
    assert uniform.p1 == pytest.approx(3 * math.log(d.vocab_size), rel=1e-5)
    assert uniform.p2 == pytest.approx(rows.value_mask.sum(1).mean() * math.log(d.vocab_size), rel=1e-5)


def test_measuring_a_real_model_counts_only_used_embedding_rows():
    d = data.generate_bios_compact(40, seed=0)
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=d.vocab_size, context=64, n_layer=1, n_head=2, d_model=16, tie_embeddings=True))
    m = data.measure_bios_compact(model, d, sample=25)
    assert m.people_measured == 25 and m.parameters == data.counted_parameters(model, d.used_token_ids())
    assert m.parameters < model.param_counts()["total"] and m.p1 > 0 and m.p2 > 0 and math.isfinite(m.R)
    tagged = data.measure_bios_compact(model, d, tag=True, sample=25)
    assert tagged.parameters == data.counted_parameters(model, d.used_token_ids(tag=True))
    rows = compact.measurement_rows(d, tag=True)
    assert (rows.tokens[:, 1] == data.biod.TAG_ID).all() and rows.name_mask[:, 1:4].all()


# ---- junk -------------------------------------------------------------------------------------------------
def window_names(d, tokens):
    lookup = [{int(t): i for i, t in enumerate(ids)} for ids in d.name_ids]
    names = []
    for r, c in zip(*np.nonzero(tokens[:, :-1] == data.EOS_ID)):
        if tokens[r, c + 1] != 0:
            names.append(tuple(lookup[j][int(tokens[r, c + 1 + j])] for j in range(3)))
    return names


def test_junk_windows_are_fresh_deterministic_and_never_name_a_useful_person(full):
    junk = capacity.make_world("bioS-compact", 600, seed=3).junk_windows("random", context=512, seed=9)
    tokens, weights = junk.windows(0, 6)
    assert tokens.shape == (6, 513) and weights.shape == (6, 513)
    assert np.array_equal(tokens, junk.windows(0, 6)[0]) and not np.array_equal(tokens, junk.windows(1, 6)[0])
    useful = {tuple(row) for row in full.index[:, :3].tolist()}
    names = window_names(full, np.concatenate([junk.windows(s, 6)[0] for s in range(5)]))
    assert len(names) > 400 and not useful & set(names)
    assert (weights[:, 1:].sum(1) > 440).all()  # full windows, not a few lines and padding
    rep = data.CompactJunkWindows(full, "repetitive", context=512, seed=3, pool_people=5)
    assert 1 < len(set(window_names(full, np.concatenate([rep.windows(s, 4)[0] for s in range(5)])))) <= 5
    with pytest.raises(ValueError, match="random, repetitive"):
        data.CompactJunkWindows(full, "noisy", context=512, seed=0)
    with pytest.raises(ValueError, match="bioS-compact"):
        capacity.make_world("bioS", 20).junk_windows("random", 512, 0)


# ---- the gpu profile -------------------------------------------------------------------------------------
def counted(world, shape, mlp="gelu"):
    return data.counted_parameters(capacity.make_model(world.vocab_size, shape, mlp), world.used_token_ids())


def test_unknown_dataset_names_every_valid_one():
    assert "bioS-compact" in settings_module.DATASETS
    with pytest.raises(ValueError, match="bioS-compact") as err:
        capacity.make_world("bioS-tiny", 10)
    assert all(name in str(err.value) for name in settings_module.DATASETS)


def test_the_gpu_settings_use_bios_compact_where_the_plan_says():
    s = capacity.SETTINGS["gpu"]
    assert s.law.data == "bioS"  # the base law stays on bioS text
    assert (s.long.data, s.long.people, s.long.exposures) == ("bioS-compact", 15_000, 1000)
    assert (s.long.model.n_layer, s.long.model.n_head, s.long.model.d_model) == (2, 1, 64)  # GPT2-2-1
    assert (s.mlp.data, s.mlp.people, s.mlp.exposures, len(s.mlp.lrs)) == ("bioS-compact", 20_000, 100, 3)
    assert (s.mlp.model.n_layer, s.mlp.model.n_head, s.mlp.model.d_model) == (2, 2, 128)  # GPT2-2-2
    assert (s.junk.data, s.junk.people, s.junk.exposures, s.junk.useful_share) == ("bioS-compact", 5_000, 100, 1 / 8)
    assert s.junk.repetitive_people == 200 and len(s.junk.random_junk_lrs) == 3
    long, mlp, junk = (capacity.make_world(x.data, x.people) for x in (s.long, s.mlp, s.junk))
    assert long.max_bits().total / counted(long, s.long.model) > 2.5  # over-filled: R measures the model
    assert 1.2 < mlp.max_bits().total / counted(mlp, s.mlp.model) < 2.0
    assert abs(counted(mlp, s.mlp.model, "swiglu") / counted(mlp, s.mlp.model) - 1) < 0.01  # equal sizes
    assert 0.9 < junk.max_bits().total / counted(junk, s.junk.model) < 1.3
    steps = long.stream(s.long.model.context, s.long.recipe.batch, seed=1).steps_for(s.long.exposures)
    assert steps >= 50_000  # the paper's rule for 1,000 exposures [P3.3 App. A]


@pytest.fixture
def tiny_gpu(monkeypatch):
    """The gpu profile's experiments with their data, models and recipes, but a few hundred people."""
    s = capacity.SETTINGS["gpu"]
    tiny = dataclasses.replace(s, long=dataclasses.replace(s.long, people=300),
                               mlp=dataclasses.replace(s.mlp, people=300),
                               junk=dataclasses.replace(s.junk, people=200, repetitive_people=20))
    monkeypatch.setitem(settings_module.SETTINGS, "gpu", tiny)
    return RunContext(profile="gpu", device="cpu", progress=False, threads=1), tiny


def test_each_gpu_experiment_on_bios_compact_takes_a_step(tiny_gpu):
    ctx, s = tiny_gpu
    long = capacity.long_run(ctx, steps=1)
    assert long["source"] == "trained in this run" and long["people"] == 300 and long["people_measured"] == 300
    assert long["train"]["steps"] == 1 and long["max_bits"]["diversity"] == 0.0
    mlp = capacity.run_mlp(ctx, steps=1)
    assert len(mlp["arms"]) == 2 * len(s.mlp.lrs)
    assert all(a["train"]["steps"] == 1 and math.isfinite(a["R"]) for a in mlp["arms"].values())
    junk = capacity.run_junk(ctx, steps=1)
    assert set(junk["arms"]) == set(s.junk.arms)
    assert len(junk["arms"]["random"]["lrs_tried"]) == len(s.junk.random_junk_lrs)
    assert junk["arms"]["random+tag"]["parameters"] > junk["arms"]["none"]["parameters"]  # the <tag> row counts


def test_junk_batches_on_bios_compact_mix_tagged_useful_rows_and_junk(tiny_gpu):
    from plmkit.experiments.capacity import junk as junk_module

    ctx, s = tiny_gpu
    world = capacity.make_world("bioS-compact", s.junk.people)
    stream = junk_module.arm_stream(world, s.junk, "random+tag", seed=0)
    batch = stream.batch(0)
    useful = junk_module.useful_rows(s.junk)
    assert batch.inputs.shape == (s.junk.recipe.batch, s.junk.model.context) and useful == 2
    tag = data.biod.TAG_ID
    assert (batch.inputs[:useful] == tag).any() and not (batch.inputs[useful:] == tag).any()
    assert torch.equal(batch.inputs, junk_module.arm_stream(world, s.junk, "random+tag", seed=0).batch(0).inputs)
