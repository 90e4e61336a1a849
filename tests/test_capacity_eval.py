"""bioS bit counting: the employer-before-city evaluation rendering, the loss masks, no double credit."""
import math
from collections import Counter

import numpy as np
import pytest
import torch

from plmkit.data import bios
from plmkit.data.capacity import (bios_learned_bits, bios_losses, bios_max_bits, bios_used_token_ids, employer_first_orders,
                                  measure_bios, measurement_rows, render_eval_entries)
from plmkit.data.capacity.eval_render import gendered_words
from plmkit.model import GPT, GPTConfig


@pytest.fixture(scope="module")
def world():
    pools = bios.pools_for_profile("gpu")
    people = bios.sample_people(400, pools, seed=0)
    return pools, people, bios.build_tokenizer(pools, "full")


def test_employer_first_orders_are_uniform_over_the_allowed_orders():
    orders = employer_first_orders(np.random.default_rng(0), 36_000)
    assert all(sorted(o) == list(range(6)) for o in orders[:100].tolist())
    company_at = np.argmax(orders == 4, axis=1)
    city_at = np.argmax(orders == 5, axis=1)
    assert (company_at < city_at).all()
    counts = Counter(map(tuple, orders.tolist()))
    assert len(counts) == 360  # 6!/2 allowed orders, all of them used ...
    assert max(counts.values()) < 1.5 * 100 and min(counts.values()) > 0.5 * 100  # ... about equally often


def test_eval_entries_are_fresh_deterministic_and_employer_first(world):
    pools, people, _ = world
    a = render_eval_entries(people[:50], "full", seed=3)
    b = render_eval_entries(people[:50], "full", seed=3)
    c = render_eval_entries(people[:50], "full", seed=4)
    assert [e.text for e in a] == [e.text for e in b] != [e.text for e in c]
    for entry, person in zip(a, people):
        assert entry.text.startswith(person.full_name)
        order = entry.order
        assert order.index("company") < order.index("company_city")
    assert len({e.order for e in a}) > 20


def test_masks_cover_the_name_the_five_values_and_one_gender_word(world):
    pools, people, tok = world
    entries = render_eval_entries(people[:30], "full", seed=1)
    rows = measurement_rows(entries, tok)
    assert rows.tokens.shape[1] == rows.name_mask.shape[1] + 1 and (rows.tokens[:, 0] == tok.id_of("<eos>")).all()
    gendered = {tok.token_to_id[w] for w in gendered_words(("he", "she")) if w in tok.token_to_id}
    for i, (entry, person) in enumerate(zip(entries, people)):
        line = rows.tokens[i, 1:]
        assert tok.decode(line[rows.name_mask[i]]) == person.full_name
        assert rows.name_mask[i, :3].all() and rows.name_mask[i].sum() == 3
        value_words = tok.tokens(line[rows.value_mask[i]])
        expected = sum(len(bios.vocab.split_words(person.value(a))) for a in
                       ("birth_date", "birth_city", "university", "major", "company"))
        assert len(value_words) == expected + 1  # plus the first gendered word
        gender_at = [t for t in np.nonzero(rows.value_mask[i])[0] if line[t] in gendered]
        assert len(gender_at) == 1
        assert tok.id_to_token[line[gender_at[0]]].lower() in {"he", "his", "him"} if person.pronoun == "he" \
            else tok.id_to_token[line[gender_at[0]]].lower() in {"she", "her"}
        assert tok.decode(line[rows.city_mask[i]]) == person.company_city
        assert not (rows.value_mask[i] & rows.city_mask[i]).any()


def table_only_losses(entries, rows, pools, tokenizer):
    """Token losses of a "model" that knows the headquarters-city -> employer table and nothing about
    any person: names uniform over the name space, every value uniform over its pool, gender a coin
    flip, except that once the company city has been read the employer is uniform over the companies
    in that city."""
    by_city = Counter(pools.company_cities)
    loss = np.zeros(rows.name_mask.shape)
    for i, entry in enumerate(entries):
        loss[i, np.argmax(rows.name_mask[i])] = math.log(pools.name_space_size)
        spans = {a: (start, end) for a, start, end in bios.entry_token_spans(entry)}
        for attribute in ("birth_date", "birth_city", "university", "major", "company"):
            choices = pools.size(attribute)
            if attribute == "company" and spans["company_city"][0] < spans["company"][0]:
                choices = by_city[entry.value_text("company_city")]
            loss[i, spans[attribute][0]] = math.log(choices)
        gender_at = np.nonzero(rows.value_mask[i])[0]
        gender_at = [t for t in gender_at if not any(s <= t < e for s, e in spans.values())]
        loss[i, gender_at[0]] = math.log(2)
    return loss


def table_only_bits(entries, pools, tokenizer, n):
    rows = measurement_rows(entries, tokenizer)
    p1, p2 = bios_losses(table_only_losses(entries, rows, pools, tokenizer), rows)
    log2_S0 = pools.information_bits(2)["log2_S0"]
    return bios_learned_bits(n, pools.name_space_size, log2_S0, float(p1.mean()), float(p2.mean()))


def test_city_to_employer_table_earns_no_employer_bits(world):
    pools, people, tok = world
    fair = table_only_bits(render_eval_entries(people, "full", seed=0), pools, tok, len(people))
    assert fair.name == pytest.approx(0.0, abs=1e-6) and fair.value == pytest.approx(0.0, abs=1e-6)
    # The same "model" under the ordinary random order would be credited bits it does not hold.
    naive_entries = bios.BioRenderer("full").render_online(people, seed=0)
    assert sum(e.order.index("company_city") < e.order.index("company") for e in naive_entries) > 100
    naive = table_only_bits(naive_entries, pools, tok, len(people))
    assert naive.value > 1.0 * len(people)  # about 3 bits per person on average


def test_measure_bios_runs_a_model_on_small_pools():
    pools = bios.pools_for_profile("ci")
    people = bios.sample_people(30, pools, seed=0)
    tok = bios.build_tokenizer(pools, "short")
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=tok.vocab_size, context=64, n_layer=1, n_head=2, d_model=16))
    m = measure_bios(model, people, pools, tok, templates="short", sample=20)
    assert m.people_measured == 20
    assert m.max_bits == bios_max_bits(30, pools.name_space_size, pools.information_bits(2)["log2_S0"])
    used = bios_used_token_ids(people, tok, "short")
    assert m.parameters == model.param_counts()["total"] - 2 * (tok.vocab_size - len(used)) * 16
    assert m.p1 > 0 and m.p2 > 0 and math.isfinite(m.R)
    uniform = measure_bios(lambda x: torch.zeros(*x.shape, tok.vocab_size), people, pools, tok,
                           templates="short", parameters=1)
    assert uniform.p1 == pytest.approx(3 * math.log(tok.vocab_size), rel=1e-5)
