"""bioP, the rule-based bioR stand-in: facts present, surface forms, references, distractors."""
import re

import numpy as np
import pytest

from plmkit.data.bios import ATTRIBUTES, build_tokenizer, pools_for_profile, sample_people
from plmkit.data.bios.paraphrase import DATE_FORMATS, Paraphraser, date_surface, load_paraphrase_bank, ordinal


@pytest.fixture(scope="module")
def setup():
    pools = pools_for_profile("gpu")
    people = sample_people(120, pools, seed=0)
    return pools, people, Paraphraser(pools, "full")


def canonical_city(surface, states):
    name, tail = surface.rsplit(", ", 1)
    codes = {v: k for k, v in states.items()}
    return f"{name}, {codes.get(tail, tail)}"


def test_every_entry_states_all_six_facts(setup):
    pools, people, para = setup
    states = load_paraphrase_bank().state_names
    dates = {fmt: 0 for fmt in range(len(DATE_FORMATS))}
    for person, entries in zip(people, para.render(people, copies=3, seed=1)):
        for entry in entries:
            assert sorted(entry.order) == sorted(ATTRIBUTES)
            for attribute in ("university", "major", "company"):
                assert entry.value_text(attribute) == person.value(attribute)
            for attribute in ("birth_city", "company_city"):
                assert canonical_city(entry.value_text(attribute), states) == person.value(attribute)
            surfaces = [date_surface(person, f) for f in range(len(DATE_FORMATS))]
            dates[surfaces.index(entry.value_text("birth_date"))] += 1
    assert all(count > 0 for count in dates.values())


def test_first_sentence_names_the_person_and_later_ones_vary(setup):
    pools, people, para = setup
    later_subjects = set()
    for person, entries in zip(people, para.render(people, seed=2)):
        text = entries[0].text
        first_sentence = text.split(". ")[0]
        assert person.full_name in first_sentence
        for sentence in text.split(". ")[1:]:
            for ref in ("He ", "She ", person.first + " ", person.last + " ", "The person", "This person"):
                if sentence.startswith(ref):
                    later_subjects.add(ref if ref not in (person.first + " ", person.last + " ") else
                                       ("first" if ref.startswith(person.first) else "last"))
    assert {"first", "last", "The person", "This person"} <= later_subjects


def test_fullname_variant_uses_the_full_name_everywhere(setup):
    pools, people, para = setup
    for person, entries in zip(people[:30], para.render(people[:30], fullname=True, seed=3)):
        text = entries[0].text
        assert not re.search(r"(^|\. )(He|She|His|Her|The person|This person) ", text)
        assert text.count(person.full_name) >= 3


def test_entries_differ_and_are_seeded(setup):
    pools, people, para = setup
    a = para.render(people[:20], copies=4, seed=4)
    assert a == para.render(people[:20], copies=4, seed=4)
    assert all(len({e.text for e in entries}) == 4 for entries in a)
    assert a != para.render(people[:20], copies=4, seed=5)


def test_residence_distractor_is_never_a_fact_city(setup):
    pools, people, para = setup
    rng = np.random.default_rng(6)
    person = people[0]
    for _ in range(400):
        sentence = para._distractor(rng, person)
        for city in (person.birth_city, person.company_city):
            assert city not in sentence
            name, code = city.rsplit(", ", 1)
            assert f"{name}, {load_paraphrase_bank().state_names[code]}" not in sentence


def test_lengths_are_in_the_target_range(setup):
    pools, people, para = setup
    tok = build_tokenizer(pools, "full", paraphrase=True)
    lengths = [len(tok.encode(e.text)) for es in para.render(people, seed=7) for e in es]
    assert 60 <= np.mean(lengths) <= 100


def test_ordinals():
    assert [ordinal(d) for d in (1, 2, 3, 4, 11, 12, 13, 21, 22, 23, 28)] == \
        ["1st", "2nd", "3rd", "4th", "11th", "12th", "13th", "21st", "22nd", "23rd", "28th"]
