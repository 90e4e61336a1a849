"""The nine rule files load and validate; ids, presets, errors."""
import numpy as np
import pytest

from plmkit.data.cfg import GRAMMAR_NAMES, Grammar
from plmkit.paths import data_path

# (D rewriting steps, T terminals, <bos> id, root id, symbols per level root first)
EXPECTED = {
    "cfg3b": (6, 3, 4, 22, [1, 3, 3, 3, 3, 3, 3]),
    "cfg3i": (6, 3, 4, 22, [1, 3, 3, 3, 3, 3, 3]),
    "cfg3h": (6, 3, 4, 22, [1, 3, 3, 3, 3, 3, 3]),
    "cfg3g": (6, 3, 4, 22, [1, 3, 3, 3, 3, 3, 3]),
    "cfg3f": (6, 3, 4, 22, [1, 3, 3, 3, 3, 3, 3]),
    "cfg3e1": (6, 9, 10, 160, [1, 3, 9, 27, 81, 27, 9]),
    "cfg3e2": (6, 4, 5, 83, [1, 3, 9, 27, 27, 9, 4]),
    "cfg3j": (7, 3, 4, 25, [1, 3, 3, 3, 3, 3, 3, 3]),
    "cfg3k": (7, 3, 4, 25, [1, 3, 3, 3, 3, 3, 3, 3]),
}


@pytest.mark.parametrize("name", GRAMMAR_NAMES)
def test_every_grammar_loads_with_the_documented_ids(name):
    g = Grammar.load(name)
    depth, T, bos, root, sizes = EXPECTED[name]
    assert (g.depth, g.num_terminals, g.bos_id, g.root, list(g.level_sizes)) == (depth, T, bos, root, sizes)
    assert g.vocab_size == T + 4 and (g.mask_id, g.sep_id) == (T + 2, T + 3)
    # NT ids: level D-1 starts at T+4, each level up continues, the root is the largest id.
    next_id = T + 4
    for level in range(depth - 1, -1, -1):
        assert g.level_ids(level) == list(range(next_id, next_id + sizes[level]))
        next_id += sizes[level]
    assert max(g.rules) == root and g.level_ids(depth) == list(range(1, T + 1))
    # Height ranges: an NT of height h derives between 2^h and 3^h tokens.
    for nt in g.rules:
        h = int(g.height[nt])
        assert 2 ** h <= g.minlen[nt] <= g.maxlen[nt] <= 3 ** h
        assert g.class_index[nt] == nt - g.first_id(int(g.level[nt]))


def test_cfg3f_root_line_and_tables():
    g = Grammar.load("cfg3f")
    assert g.rules[22] == ((20, 21), (20, 19, 21), (21, 19, 19), (20, 20))
    assert g.length_range() == (64, 729)
    assert g.length_range("d3") == (8, 27) and g.resolve_root("d3") == 13
    assert g.height[22] == 6 and g.height[7] == 1 and g.level[1] == 6 and g.level[g.bos_id] == -1


def test_grammar_files_are_the_spec_rules():
    """The shipped rule files hold exactly the rules (comment lines aside) of an independent copy of the
    nine official grammars kept outside the repository; skipped on machines without that copy."""
    from pathlib import Path

    spec_dir = Path("/work/shared/specs/cfg_grammars")
    if not spec_dir.is_dir():
        pytest.skip("spec folder not present")
    for name in GRAMMAR_NAMES:
        ours = [ln for ln in data_path("grammars", name + ".txt").read_text().splitlines() if not ln.startswith("#")]
        theirs = [ln for ln in (spec_dir / f"{name}.txt").read_text().splitlines() if not ln.startswith("#")]
        assert ours == theirs, name


def test_presets_by_level():
    assert Grammar.load("cfg3f-d3").root == 13
    assert Grammar.load("cfg3f-d2").root == 10
    assert Grammar.load("cfg3b-d5").root == 19
    assert Grammar.load("cfg3f-d4").root == 16
    # Presets count levels up from the terminals, so d3 is NT 13 in both depths, at level 4 when D = 7.
    cfg3k_d3 = Grammar.load("cfg3k-d3")
    assert cfg3k_d3.root == 13 and cfg3k_d3.level[13] == 4 and Grammar.load("cfg3f").level[13] == 3
    assert Grammar.load("cfg3f@17").root == 17
    assert Grammar.load("cfg3f", root="d2").root == 10
    assert Grammar.load("cfg3f-d6").root == 22
    g = Grammar.load("cfg3f-d3")
    assert g.name == "cfg3f-d3" and g.with_root(14).root == 14 and g.root == 13


def test_unreachable_nts_are_allowed():
    g = Grammar.load("cfg3e1")
    reachable = g.reachable()
    assert len(reachable) < len(g.rules)


@pytest.mark.parametrize("bad", ["cfg9", "cfg3f-d9", "cfg3f@99", "cfg3f@7x", "", "cfg3f-d0", "nothing.txt"])
def test_unknown_names_list_the_valid_ones(bad):
    with pytest.raises(ValueError) as err:
        Grammar.load(bad)
    message = str(err.value)
    assert "cfg3" in message


def test_unknown_name_message_lists_all_nine_and_presets():
    with pytest.raises(ValueError) as err:
        Grammar.load("cfg4x")
    message = str(err.value)
    assert all(name in message for name in GRAMMAR_NAMES) and "-d" in message and "@" in message


def test_tokenizer_ids_match_the_grammar():
    g = Grammar.load("cfg3e1")
    tok = g.tokenizer()
    assert tok.vocab_size == g.vocab_size == 13
    assert tok.id_of("<pad>") == 0 and tok.id_of("<bos>") == g.bos_id and tok.id_of("9") == 9
    assert tok.encode(["1", "2", "<bos>"]) == [1, 2, 10]


HEADER = "# toy: 2 rewriting levels; symbols per level (root first) [1, 2, 2]; terminals 1..2\n"


def write(tmp_path, body, header=HEADER):
    path = tmp_path / "toy.txt"
    path.write_text(header + "# comment\n\n" + body)
    return path


def test_a_custom_file_loads(tmp_path):
    g = Grammar.load(write(tmp_path, "8 -> 6 7 | 7 6 6\n6 -> 1 2 | 2 2\n7 -> 1 1 | 2 1 2\n"))
    assert g.root == 8 and g.level_ids(1) == [6, 7] and g.length_range() == (4, 7)
    assert g.name == "toy"


@pytest.mark.parametrize("body, words", [
    ("8 -> 6 7\n6 -> 1 2\n", "no rule line"),                          # NT 7 missing
    ("8 -> 6 7\n6 -> 1 2\n7 -> 1 6\n", "not at level"),                # child at the wrong level
    ("8 -> 6 7\n6 -> 1 2 1 2\n7 -> 1 1\n", "2 or 3"),                  # rule too long
    ("8 -> 6 7\n6 -> 1\n7 -> 1 2\n", "2 or 3"),                        # rule too short
    ("8 -> 6 7\n6 -> 1 1\n7 -> 1 1\n", "terminal"),                    # terminal 2 never used
    ("8 -> 6 7\n6 -> 1 2\n7 -> 1 1\n9 -> 6 6\n", "no NT slot"),       # extra NT
    ("8 -> 6 7\n6 -> 1 2\n6 -> 2 2\n7 -> 1 1\n", "second rule line"),  # duplicate line
    ("8 -> 6 x\n6 -> 1 2\n7 -> 1 1\n", "integers"),
    ("8 -> 6 7\n6 -> 1 2 |\n7 -> 1 1\n", "empty rule"),
    ("8 6 7\n6 -> 1 2\n7 -> 1 1\n", "expected"),
])
def test_invalid_files_are_refused(tmp_path, body, words):
    with pytest.raises(ValueError, match=words):
        Grammar.load(write(tmp_path, body))


def test_bad_header_is_refused(tmp_path):
    with pytest.raises(ValueError, match="header"):
        Grammar.load(write(tmp_path, "7 -> 5 6\n", header="# toy grammar\n"))
    with pytest.raises(ValueError, match="inconsistent"):
        Grammar.load(write(tmp_path, "7 -> 5 6\n", header=HEADER.replace("[1, 2, 2]", "[1, 2]")))


def test_bad_roots_are_refused():
    g = Grammar.load("cfg3f")
    for bad in (3, 99, "d7", "xyz", True, 2.5):
        with pytest.raises(ValueError):
            g.resolve_root(bad)
    assert np.all(g.minlen[list(g.rules)] >= 2)
