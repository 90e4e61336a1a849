"""The cfg command line: sample, check, malformed lines, option errors."""
import io
import subprocess
import sys

import pytest

from plmkit.data.cfg import Grammar, accepts
from plmkit.data.cfg.cli import add_arguments, main, run_cli

RUN = "import sys; from plmkit.data.cfg.cli import run_cli; sys.exit(run_cli(sys.argv[1:]))"


def run(capsys, *argv, stdin=None, monkeypatch=None):
    if stdin is not None:
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    rc = run_cli(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


def test_sample_prints_valid_sentences_deterministically(capsys):
    rc, out, _ = run(capsys, "sample", "--grammar", "cfg3f-d3", "--n", "25", "--seed", "3")
    assert rc == 0
    lines = out.splitlines()
    assert len(lines) == 25
    g = Grammar.load("cfg3f-d3")
    assert all(accepts(g, [int(t) for t in line.split()]) for line in lines)
    assert run(capsys, "sample", "--grammar", "cfg3f-d3", "--n", "25", "--seed", "3")[1] == out
    assert run(capsys, "sample", "--grammar", "cfg3f-d3", "--n", "25", "--seed", "4")[1] != out


def test_root_option(capsys):
    rc, out, _ = run(capsys, "sample", "--grammar", "cfg3f", "--root", "10", "--n", "5")
    assert rc == 0 and all(len(line.split()) <= 9 for line in out.splitlines())
    rc, out2, _ = run(capsys, "sample", "--grammar", "cfg3f", "--root", "d2", "--n", "5")
    assert out2 == out


def test_check_marks_every_line(capsys, monkeypatch):
    _, sentences, _ = run(capsys, "sample", "--grammar", "cfg3f-d3", "--n", "3", "--seed", "0")
    first = sentences.splitlines()[0].split()
    broken = " ".join(first[:-1] + [str(int(first[-1]) % 3 + 1)])
    stdin = sentences + "\n".join([
        "", "   ", "1 2 3", "1 2 <bos> 3", "a b c", "-1 2 3 1 2 3 1 2", "1.0 2 3 1 2 3 1 2", "4 " * 10,
        "1 " * 5000, "9" * 400, broken,
    ]) + "\n"
    rc, out, _ = run(capsys, "check", "--grammar", "cfg3f-d3", stdin=stdin, monkeypatch=monkeypatch)
    verdicts = out.split()
    assert rc == 0 and len(verdicts) == 14
    assert verdicts[:3] == ["valid"] * 3 and set(verdicts[3:13]) == {"invalid"}
    g = Grammar.load("cfg3f-d3")
    assert verdicts[13] == ("valid" if accepts(g, [int(t) for t in broken.split()]) else "invalid")


@pytest.mark.parametrize("argv", [
    ["sample", "--grammar", "cfg9", "--n", "3"],
    ["check", "--grammar", "cfg3f-d8"],
    ["sample", "--grammar", "cfg3f", "--root", "99", "--n", "3"],
    ["sample", "--grammar", "cfg3f", "--n", "-1"],
    ["sample", "--grammar", "cfg3f"],
    ["frobnicate"],
])
def test_bad_options_exit_2(capsys, argv):
    rc, _, err = run(capsys, *argv)
    assert rc == 2 and err


def test_bad_grammar_lists_valid_names(capsys):
    rc, _, err = run(capsys, "sample", "--grammar", "cfg9", "--n", "3")
    assert rc == 2 and "cfg3f" in err and "cfg3k" in err and "-d" in err


def test_mounts_under_a_parent_parser(capsys):
    import argparse

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(["sample", "--grammar", "cfg3b-d2", "--n", "2", "--seed", "1"])
    assert main(args) == 0 and len(capsys.readouterr().out.splitlines()) == 2


def test_subprocess_round_trip():
    sampled = subprocess.run([sys.executable, "-c", RUN, "sample", "--grammar", "cfg3f-d3", "--n", "5", "--seed", "2"],
                             capture_output=True, text=True, timeout=60)
    assert sampled.returncode == 0 and len(sampled.stdout.splitlines()) == 5
    checked = subprocess.run([sys.executable, "-c", RUN, "check", "--grammar", "cfg3f-d3"],
                             input=sampled.stdout + "1 2\n", capture_output=True, text=True, timeout=60)
    assert checked.returncode == 0 and checked.stdout.split() == ["valid"] * 5 + ["invalid"]
    bad = subprocess.run([sys.executable, "-c", RUN, "check", "--grammar", "nope"], input="", capture_output=True,
                         text=True, timeout=60)
    assert bad.returncode == 2 and "cfg3b" in bad.stderr
