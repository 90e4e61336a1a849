"""The igsm command line: generate | check round trip, determinism, bad options, malformed lines."""
import io
import json
import subprocess
import sys

import pytest

from plmkit.data.igsm.cli import add_arguments, main, run_cli


def run(capsys, *argv, stdin=None, monkeypatch=None):
    if stdin is not None:
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    rc = run_cli(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


def lines(out):
    return [json.loads(line) for line in out.splitlines()]


def test_generate_fields_and_determinism(capsys):
    rc, out, _ = run(capsys, "generate", "--world", "nano", "--n", "20", "--seed", "3")
    assert rc == 0
    records = lines(out)
    assert len(records) == 20 and [r["id"] for r in records] == list(range(20))
    for r in records:
        assert {"problem", "question", "solution", "answer", "op", "ip", "key", "split"} <= set(r)
        assert r["split"] == "train" and r["key"] < 17 and 1 <= r["op"] <= 3 and r["solution"].count(";") == r["op"]
    assert run(capsys, "generate", "--world", "nano", "--n", "20", "--seed", "3")[1] == out  # same bytes
    assert run(capsys, "generate", "--world", "nano", "--n", "20", "--seed", "4")[1] != out


@pytest.mark.parametrize("extra", [
    [], ["--layout", "qp", "--tokens"], ["--op", "5", "--split", "test"], ["--reask"],
    ["--retry", "0.3"], ["--retry", "0.3", "--retry-kind", "retry_weak"],
    ["--retry", "0.3", "--retry-kind", "retry_weak", "--weak-variant", "remaining"],
    ["--world", "mini", "--op-max", "4"], ["--style", "paper"],
])
def test_generate_then_check_round_trip(capsys, monkeypatch, extra):
    argv = ["generate", "--n", "12", "--seed", "5"] + extra
    rc, out, _ = run(capsys, *argv)
    assert rc == 0
    world = extra[extra.index("--world") + 1] if "--world" in extra else "nano"
    rc, verdicts, _ = run(capsys, "check", "--world", world, stdin=out, monkeypatch=monkeypatch)
    assert rc == 0
    verdicts = lines(verdicts)
    assert len(verdicts) == 12 and all(v["correct"] for v in verdicts), verdicts
    records = lines(out)
    assert [v["retries"] for v in verdicts] == [r["retries"] for r in records]
    if "--op" in extra:
        assert all(r["op"] == 5 and r["key"] >= 17 for r in records)
    if "--reask" in extra:
        assert all(r["reask"] and r["split"] == "test" and r["op"] >= 1 for r in records)
    if "--retry" in extra:
        assert any(r["retries"] for r in records) and all("[BACK]" not in r["clean_solution"] for r in records)


def test_check_reports_errors_and_malformed_lines(capsys, monkeypatch):
    _, out, _ = run(capsys, "generate", "--n", "2", "--seed", "6", "--op", "3")
    good, other = lines(out)
    wrong = dict(good, solution=good["solution"].replace(";", " ;", 1).replace("=", "= =", 1))
    swapped = dict(good, answer=(good["answer"] + 1) % 23)
    extra_step = dict(good, solution=good["solution"] + " Define x")
    stdin = "\n".join([json.dumps(good), json.dumps(wrong), json.dumps(swapped), "{not json", "[1, 2]",
                       json.dumps({"problem": "Nonsense here.", "question": "?", "solution": ""}),
                       json.dumps({"problem": good["problem"]}), json.dumps(extra_step), "",
                       json.dumps(dict(good, solution=other["solution"]))]) + "\n"
    rc, res, err = run(capsys, "check", stdin=stdin, monkeypatch=monkeypatch)
    assert rc == 0 and not err
    v = lines(res)
    assert len(v) == 9 and v[0]["correct"]
    assert not v[1]["correct"] and v[1]["reason"] == "malformed" and v[1]["first_error"]["index"] == 0
    assert not v[2]["correct"] and v[2]["reason"] == "wrong_answer" and not v[2]["answer_correct"]
    for k, line_no in ((3, 4), (4, 5), (5, 6), (6, 7)):
        assert v[k]["reason"] == "bad_input" and f"line {line_no}" in v[k]["detail"] and not v[k]["correct"]
    assert v[7]["reason"] == "malformed" and not v[8]["correct"]  # words after the last '.' 
    assert {"unnecessary", "unnecessary_ops", "retries", "first_error", "answer_correct"} <= set(v[0])


@pytest.mark.parametrize("argv, needle", [
    (["generate", "--world", "huge", "--n", "3"], "nano, mini, med, hard"),
    (["check", "--world", "giant"], "nano, mini, med, hard"),
    (["generate", "--n", "3", "--layout", "pp"], "pq, qp"),
    (["generate", "--n", "3", "--split", "dev"], "train, test, any"),
    (["generate", "--n", "3", "--retry", "1.5"], "[0, 1)"),
    (["generate", "--n", "3", "--retry-kind", "oops"], "retry_weak"),
    (["generate", "--n", "3", "--op", "60"], "1..52"),
    (["generate", "--n", "-1"], ">= 0"),
])
def test_bad_options_exit_2_with_one_line(capsys, argv, needle):
    rc, out, err = run(capsys, *argv)
    assert rc == 2 and not out and needle in err and err.startswith("error:") and len(err.strip().splitlines()) == 1


def test_argparse_errors_exit_2(capsys):
    assert run(capsys, "generate")[0] == 2
    assert run(capsys, "frobnicate")[0] == 2
    rc, out, _ = run(capsys, "generate", "--help")
    assert rc == 0 and "clean_solution" in out and "necessary" in out


def test_mounts_under_a_parent_parser(capsys):
    import argparse

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    assert main(parser.parse_args(["generate", "--n", "2"])) == 0 and len(capsys.readouterr().out.splitlines()) == 2


def test_subprocess_pipeline():
    gen = subprocess.run([sys.executable, "-m", "plmkit", "igsm", "generate", "--world", "nano", "--n", "5",
                          "--seed", "1", "--retry", "0.2"], capture_output=True, text=True, timeout=120)
    assert gen.returncode == 0 and len(gen.stdout.splitlines()) == 5
    chk = subprocess.run([sys.executable, "-m", "plmkit.data.igsm.cli", "check"], input=gen.stdout + "garbage\n",
                         capture_output=True, text=True, timeout=120)
    assert chk.returncode == 0
    verdicts = [json.loads(x) for x in chk.stdout.splitlines()]
    assert [v["correct"] for v in verdicts] == [True] * 5 + [False] and "Traceback" not in chk.stderr
    bad = subprocess.run([sys.executable, "-m", "plmkit.data.igsm.cli", "generate", "--world", "x", "--n", "1"],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "nano, mini, med, hard" in bad.stderr and "Traceback" not in bad.stderr


def test_same_bytes_across_processes():
    import os

    outputs = set()
    for hash_seed in ("1", "2"):
        env = dict(os.environ, PYTHONHASHSEED=hash_seed)
        run_ = subprocess.run([sys.executable, "-m", "plmkit.data.igsm.cli", "generate", "--world", "med", "--n", "30",
                               "--seed", "9", "--retry", "0.2", "--tokens"], capture_output=True, env=env, timeout=120)
        assert run_.returncode == 0
        outputs.add(run_.stdout)
    assert len(outputs) == 1
