"""canon-tasks command line: generate, check round trip, determinism, bad input."""
import io
import json
import subprocess
import sys

import pytest

from plmkit.data.playground import brevo
from plmkit.data.playground.cli import add_arguments, main, run_cli

SIX = ["depo1", "depo2", "brevo1", "brevo2", "mano", "copy"]
SMALL = {"depo1": ["--N", "20"], "depo2": ["--N", "10"], "brevo1": ["--N", "15"], "brevo2": ["--N", "12"],
         "mano": ["--L", "5"], "copy": ["--N", "12"]}


def run(capsys, *argv, stdin=None, monkeypatch=None):
    if stdin is not None:
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    rc = run_cli(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


def generate(capsys, task, n=6, seed=0, *extra):
    sizes = SMALL.get(task, [])
    rc, out, err = run(capsys, "generate", "--task", task, "--n", str(n), "--seed", str(seed), *sizes, *extra)
    assert rc == 0, err
    return out


def check(capsys, monkeypatch, task, records):
    stdin = "".join(json.dumps(r) + "\n" for r in records)
    rc, out, err = run(capsys, "check", "--task", task, stdin=stdin, monkeypatch=monkeypatch)
    assert rc == 0, err
    return [json.loads(line) for line in out.splitlines()]


@pytest.mark.parametrize("task", SIX)
def test_round_trip_accepts_answers_and_rejects_mutations(capsys, monkeypatch, task):
    lines = [json.loads(x) for x in generate(capsys, task).splitlines()]
    assert len(lines) == 6 and all({"task", "config", "tokens", "answer", "groups"} <= set(x) for x in lines)
    good = [{**x, "candidate": x["answer"]} for x in lines]
    verdicts = check(capsys, monkeypatch, task, good)
    assert [v["line"] for v in verdicts] == list(range(1, 7)) and all(v["correct"] for v in verdicts)
    mutated = []
    for x in lines:
        cand = [list(a) for a in x["answer"]]
        cand[-1][-1] = cand[-1][-1] + 1 if task != "copy" else cand[-1][0]  # copy: a repeated symbol
        mutated.append({**x, "candidate": cand})
    assert not any(v["correct"] for v in check(capsys, monkeypatch, task, mutated))


def test_depo_verdicts_are_per_query_with_k(capsys, monkeypatch):
    (line,) = [json.loads(x) for x in generate(capsys, "depo1", 1, 3, "--split", "eval", "--k", "1,2").splitlines()]
    assert line["n"] == 20 and set(line["groups"]) <= {1, 2}
    cand = [list(a) for a in line["answer"]]
    cand[0] = cand[1] if cand[0] != cand[1] else [cand[0][0] + 1]
    (v,) = check(capsys, monkeypatch, "depo1", [{**line, "candidate": cand}])
    assert v["answers"][0] is False and all(v["answers"][1:]) and v["groups"] == line["groups"]


def test_empty_or_flat_candidates(capsys, monkeypatch):
    x = json.loads(generate(capsys, "brevo2", 1, 0).splitlines()[0])
    (v,) = check(capsys, monkeypatch, "brevo2", [{**x, "candidate": []}])
    assert not v["correct"] and "missing" in v["reason"]
    (v,) = check(capsys, monkeypatch, "brevo2", [{**x, "candidate": x["answer"][0]}])
    assert v["correct"]


def test_brevo_check_accepts_another_valid_order(capsys, monkeypatch):
    lines = [json.loads(x) for x in generate(capsys, "brevo1", 40, 1).splitlines()]
    cfg = brevo.BrevoConfig(N=15)
    for x in lines:
        answer = x["answer"][0]
        for i in range(len(answer) - 1):
            swapped = answer[:i] + [answer[i + 1], answer[i]] + answer[i + 2:]
            if brevo.validate(cfg, x["tokens"], swapped).correct:
                (v,) = check(capsys, monkeypatch, "brevo1", [{**x, "candidate": swapped + [3]}])
                assert v["correct"] and v["reason"] == "ok"
                return
    pytest.fail("no instance with a second valid order")


def test_same_seed_same_bytes(capsys):
    for task in ("depo2", "brevo2", "mano", "copy"):
        assert generate(capsys, task, 5, 7) == generate(capsys, task, 5, 7) != generate(capsys, task, 5, 8)
    assert generate(capsys, "mano", 5, 7, "--split", "eval") != generate(capsys, "mano", 5, 7)


def test_eval_split_and_text(capsys):
    lines = [json.loads(x) for x in generate(capsys, "brevo1", 3, 0, "--split", "eval", "--text").splitlines()]
    assert all(x["n"] == 15 and x["text"].startswith("<bos>") and x["text"].endswith("<eos>") for x in lines)
    lines = [json.loads(x) for x in generate(capsys, "mano", 3, 0, "--split", "eval").splitlines()]
    assert all(x["ops"] == 5 for x in lines)


def test_config_in_the_line_wins_over_the_task_preset(capsys, monkeypatch):
    """Lines generated with --N 20 check correctly under --task depo1 without repeating --N."""
    x = json.loads(generate(capsys, "depo1", 1, 0, "--name-len", "2-2", "--V", "7").splitlines()[0])
    assert x["config"]["name_len"] == [2, 2] and x["config"]["V"] == 7
    (v,) = check(capsys, monkeypatch, "depo1", [{**x, "candidate": x["answer"]}])
    assert v["correct"]


def test_tasks_lists_every_task(capsys):
    rc, out, _ = run(capsys, "tasks")
    assert rc == 0 and all(t in out for t in SIX + ["depo-micro", "copy-mini", "mano-mini"])


@pytest.mark.parametrize("argv, message", [
    (["generate", "--task", "depo3", "--n", "2"], "valid tasks: depo1, depo2"),
    (["generate", "--task", "depo1", "--n", "2", "--N", "2"], "N must be >= 3"),
    (["generate", "--task", "depo1", "--n", "-1"], "--n must be"),
    (["generate", "--task", "mano", "--n", "2", "--K", "3"], "its sizes are: --L"),
    (["generate", "--task", "depo1", "--n", "2", "--split", "test"], "valid splits: train, eval"),
    (["generate", "--task", "depo1", "--n", "2", "--k", "2"], "--split eval only"),
    (["generate", "--task", "depo1", "--n", "2", "--split", "eval", "--k", "9"], "k must be in 1..8"),
    (["generate", "--task", "depo1", "--n", "2", "--name-len", "x"], "--name-len must look like"),
    (["generate", "--task", "copy", "--n", "2", "--split", "eval", "--k", "1"], "Depo tasks only"),
    (["check", "--task", "nope"], "valid tasks"),
    (["frobnicate"], "invalid choice"),
    (["generate", "--task", "depo1"], "required"),
])
def test_bad_options_exit_2_with_one_clear_line(capsys, argv, message):
    rc, _, err = run(capsys, *argv)
    assert rc == 2 and message in err and "Traceback" not in err


@pytest.mark.parametrize("line, message", [
    ("{not json", "line 1: not valid JSON"),
    ('{"tokens": [1, 2]}', "'tokens' and 'candidate'"),
    ('[1, 2]', "'tokens' and 'candidate'"),
    ('{"tokens": "abc", "candidate": [1]}', "tokens must be a list of integer"),
    ('{"tokens": [1, 5, 6], "candidate": [5, 6]}', "not a copy instance"),
    ('{"tokens": [1, 5, 4, 5], "candidate": [5], "config": {"M": 3}}', "unknown sizes ['M']"),
    ('{"tokens": [1, 5, 4, 5], "candidate": "5"}', "candidate must be"),
])
def test_bad_check_lines(capsys, monkeypatch, line, message):
    rc, _, err = run(capsys, "check", "--task", "copy", stdin=line + "\n", monkeypatch=monkeypatch)
    assert rc == 2 and message in err and "Traceback" not in err


def test_help_documents_the_fields(capsys):
    rc, out, _ = run(capsys, "check", "--help")
    assert rc == 0 and "candidate" in out and "tokens" in out and "config" in out
    rc, out, _ = run(capsys, "generate", "--help")
    assert rc == 0 and "answer" in out and "groups" in out


def test_mounted_and_as_a_module(capsys, tmp_path):
    import argparse

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    path = tmp_path / "out.jsonl"
    args = parser.parse_args(["generate", "--task", "copy", "--n", "2", "--N", "5", "--out", str(path)])
    assert main(args) == 0 and len(path.read_text().splitlines()) == 2
    command = [sys.executable, "-m", "plmkit", "canon-tasks", "check", "--task", "copy", "--input", str(path)]
    done = subprocess.run(command, capture_output=True, text=True)
    assert done.returncode == 2 and "line 1" in done.stderr and "Traceback" not in done.stderr
