"""bioS rendering: templates, augmentations (single, multi, permute, fullname, couple, reverse)."""
import re

import numpy as np
import pytest

from plmkit.data.bios import ATTRIBUTES, BioRenderer, load_templates, parse_augmentation, pools_for_profile, render_bios
from plmkit.data.bios.people import sample_people
from plmkit.data.bios.render import PAPER_TEMPLATE_COUNTS, check_template, fill_placeholders, value_collisions


@pytest.fixture(scope="module")
def people():
    return sample_people(60, pools_for_profile("gpu"), seed=0)


def sentences(text):
    return re.findall(r"[^.]*\.", text)


def strip_subject(sentence, person):
    """A sentence with its subject removed, to compare sentences across subject forms."""
    for subject in (person.full_name + " 's", person.full_name, "His", "Her", "He", "She"):
        sentence = sentence.strip()
        if sentence.startswith(subject + " "):
            return sentence[len(subject):]
    raise AssertionError(f"no subject in {sentence!r}")


# --- templates ------------------------------------------------------------------------------------
def test_full_set_has_the_paper_counts_and_short_set_has_8():
    assert load_templates("full").counts() == PAPER_TEMPLATE_COUNTS
    assert load_templates("short").counts() == {a: 8 for a in ATTRIBUTES}


def test_short_templates_have_at_most_4_filler_words():
    for attribute, templates in load_templates("short").templates.items():
        for t in templates:
            words = [w for w in re.sub(r"\{[^}]*\}", " ", t).replace(".", " ").split()]
            assert len(words) <= 4, t


@pytest.mark.parametrize("name", ["full", "short"])
def test_templates_never_state_a_value_of_their_attribute(name):
    assert value_collisions(load_templates(name), pools_for_profile("gpu")) == []


def test_value_collisions_detects_an_accidental_answer():
    templates = load_templates("short")
    bad = type(templates)("bad", {**templates.templates, "major": ("{S} loved Music and {V}.",)})
    assert value_collisions(bad, pools_for_profile("gpu")) == [("major", "{S} loved Music and {V}.", "Music")]


@pytest.mark.parametrize("bad", ["{S} was born on {V}", "{S} was born on {V} or {V}.", "{V} is {S's} birthday.",
                                 "She was born on {V}.", "{S} was born on {V}. Really.", "{S} was born on{V}.",
                                 "{S} was born on {V}x.", "{S} was {bogus} on {V}."])
def test_check_template_rejects_broken_templates(bad):
    with pytest.raises(ValueError):
        check_template(bad)


def test_template_words_vary_before_the_value():
    # The token before {V} is the P-probe position; the paper varies it (on/in/at/from/...).
    before = {re.sub(r"\{[^}]*\}", "", t.split("{V}")[0]).split()[-1]
    for ts in load_templates("full").templates.values() for t in ts}
    assert len(before) >= 15


def test_fill_placeholders_agreement():
    assert fill_placeholders("{S} {was} born on {V}.", "they", None) == "They were born on {V}."
    assert fill_placeholders("{S} {was} born on {V}.", "they", "Ada Bo Cy") == "Ada Bo Cy was born on {V}."
    assert fill_placeholders("{S's} birthday is {V}.", "she", None) == "Her birthday is {V}."
    assert fill_placeholders("{S's} birthday is {V}.", "he", "the person") == "The person 's birthday is {V}."
    assert fill_placeholders("{S} took {poss} first breath.", "he", "Ada Bo Cy") == "Ada Bo Cy took his first breath."


# --- augmentation strings -------------------------------------------------------------------------
@pytest.mark.parametrize("spec,name", [
    ("single", "single"), ("multi5,permute", "multi5+permute"), ("permute+multi5", "multi5+permute"),
    ("multi5+permute+fullname", "multi5+permute+fullname"), ("single+permute5", "single+permute5"),
    ("permute", "single+permute1"), ("fullname", "single+fullname"), ("couple2", "couple2"),
    ("multi5+permute+reverse6", "multi5+permute+reverse6"), (" Multi2 , Permute ", "multi2+permute"),
])
def test_parse_augmentation_canonical_names(spec, name):
    assert parse_augmentation(spec).name == name


@pytest.mark.parametrize("spec", ["multi5+shuffle", "single5", "multi", "multi5+permute5", "multi5+single",
                                 "couple2+permute", "multi5+fullname+reverse1", "multi5+reverse3", "", "multi5++permute",
                                 "multi5+multi5"])
def test_parse_augmentation_errors(spec):
    with pytest.raises(ValueError):
        parse_augmentation(spec)


def test_unknown_part_names_the_valid_options():
    with pytest.raises(ValueError) as err:
        parse_augmentation("multi5+shuffle")
    message = str(err.value)
    assert "'shuffle'" in message
    for option in ("single", "multiM", "permute", "fullname", "reverse6"):
        assert option in message


# --- entries --------------------------------------------------------------------------------------
def check_spans(entry, person):
    assert sorted(entry.order) == sorted(ATTRIBUTES)
    for attribute, start, end in entry.spans:
        assert entry.text[start:end] == person.value(attribute)


def test_single_fixed_order_name_first_pronouns_after(people):
    bios = render_bios(people, "single", "full", seed=1)
    assert all(len(entries) == 1 for entries in bios)
    for person, (entry,) in zip(people, bios):
        check_spans(entry, person)
        assert entry.order == ATTRIBUTES
        parts = sentences(entry.text)
        assert len(parts) == 6 and entry.text.startswith(person.full_name)
        assert entry.text.count(person.full_name) == 1
        assert all(s.split()[0] in ("He", "She", "His", "Her") for s in parts[1:])


def test_single_draws_templates_per_person_not_globally(people):
    bios = render_bios(people, "single", "full", seed=1)
    first_sentences = {strip_subject(sentences(e[0].text)[0], p).replace(p.birth_date, "")
                       for p, e in zip(people, bios)}
    assert len(first_sentences) > 20


def test_permute_shuffles_the_same_sentences_and_moves_the_name(people):
    bios = render_bios(people, "single+permute5", "full", seed=2)
    orders = set()
    for person, entries in zip(people, bios):
        assert len(entries) == 5
        reference = None
        for entry in entries:
            check_spans(entry, person)
            orders.add(entry.order)
            parts = sentences(entry.text)
            assert parts[0].startswith(person.full_name)  # the name moves to whatever comes first
            assert all(person.full_name not in s for s in parts[1:])
            body = sorted(strip_subject(s, person) for s in parts)
            reference = reference or body
            assert body == reference  # same templates in every copy (single), only the order changes
    assert len(orders) > 100


def test_permute1_is_one_shuffled_copy(people):
    bios = render_bios(people, "single+permute1", "full", seed=3)
    assert all(len(e) == 1 for e in bios)
    assert sum(e[0].order != ATTRIBUTES for e in bios) >= 55


def test_multi_redraws_templates_in_fixed_order(people):
    bios = render_bios(people, "multi5", "full", seed=4)
    distinct = 0
    for person, entries in zip(people, bios):
        assert len(entries) == 5
        for entry in entries:
            check_spans(entry, person)
            assert entry.order == ATTRIBUTES
        distinct += len({e.text for e in entries}) == 5
    assert distinct >= 55


def test_multi_permute_shuffles_every_entry(people):
    bios = render_bios(people, "multi5+permute", "full", seed=5)
    for person, entries in zip(people, bios):
        for entry in entries:
            check_spans(entry, person)
            assert entry.text.startswith(person.full_name) and entry.text.count(person.full_name) == 1
    assert sum(e.order != ATTRIBUTES for entries in bios for e in entries) > 250


def test_fullname_names_the_person_in_every_sentence(people):
    for person, entries in zip(people, render_bios(people, "multi2+permute+fullname", "full", seed=6)):
        for entry in entries:
            assert all(s.strip().startswith(person.full_name) for s in sentences(entry.text))


def test_couple_keeps_the_three_pairs_together(people):
    pairs = {("birth_date", "birth_city"), ("university", "major"), ("company", "company_city")}
    seen = set()
    for person, entries in zip(people, render_bios(people, "couple2", "short", seed=7)):
        for entry in entries:
            check_spans(entry, person)
            order = entry.order
            assert {(order[i], order[i + 1]) for i in (0, 2, 4)} == pairs
            seen.add(order)
    assert len(seen) == 6  # all 3! pair orders occur


@pytest.mark.parametrize("variant,name_sentence", [("reverse1", 1), ("reverse2", 2), ("reverse6", 6)])
def test_reverse_variants_put_the_name_after_attributes(people, variant, name_sentence):
    for person, entries in zip(people[:20], render_bios(people[:20], f"multi5+permute+{variant}", "short", seed=8)):
        for entry in entries:
            parts = sentences(entry.text)
            assert parts[0].startswith("The person")
            assert [person.full_name in s for s in parts].index(True) == name_sentence
            assert entry.text.count(person.full_name) == 1
            start, end = entry.name_span
            assert entry.text[start:end] == person.full_name
    if variant == "reverse6":
        assert parts[-1].strip() == f"The person 's name is {person.full_name}."


def test_same_seed_same_text_and_other_seed_other_text(people):
    a = render_bios(people, "multi5+permute", "full", seed=9)
    b = render_bios(people, "multi5+permute", "full", seed=9)
    c = render_bios(people, "multi5+permute", "full", seed=10)
    assert [[e.text for e in x] for x in a] == [[e.text for e in x] for x in b]
    assert [[e.text for e in x] for x in a] != [[e.text for e in x] for x in c]


def test_they_sentences_agree():
    people = sample_people(40, pools_for_profile("cpu"), seed=11, pronouns=("they",))
    text = " ".join(e.text for entries in render_bios(people, "multi5+permute", "full", seed=1) for e in entries)
    assert "They were" in text
    assert not re.search(r"\bThey (was|has|is)\b", text)
    assert not re.search(r"[A-Z][a-z]+ [A-Z][a-z]+ [A-Z][a-z]+ (were|have|are)\b", text)


def test_online_rendering_gives_fresh_entries(people):
    renderer = BioRenderer("short")
    rng = np.random.default_rng(0)
    first = renderer.render_online(people, rng)
    second = renderer.render_online(people, rng)
    assert len(first) == len(people)
    assert sum(a.text != b.text for a, b in zip(first, second)) > 50
