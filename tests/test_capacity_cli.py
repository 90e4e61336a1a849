"""The capacity command line: bioD data as JSONL, the bits of a dataset, option errors."""
import argparse
import json
import math
import subprocess
import sys

import pytest

from plmkit.data.capacity import biod_entropy, biod_max_bits, generate_biod, preset
from plmkit.data.capacity.cli import add_arguments, main, run_cli


def run(capsys, *argv):
    rc = run_cli(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


def test_data_writes_one_person_per_line_deterministically(capsys):
    rc, out, _ = run(capsys, "data", "--kind", "biod", "--preset", "bioD-tiny", "--N", "20", "--seed", "3")
    assert rc == 0
    records = [json.loads(line) for line in out.splitlines()]
    assert len(records) == 20 and [r["id"] for r in records] == list(range(20))
    data = generate_biod(preset("bioD-tiny", N=20), 3)
    assert records[5]["name"] == data.name_ids[5].tolist()
    assert records[5]["attributes"]["ID3"] == data.value_ids[5, 2].tolist()
    assert list(records[0]["attributes"]) == [f"ID{a}" for a in range(1, 9)]
    assert run(capsys, "data", "--preset", "bioD-tiny", "--N", "20", "--seed", "3")[1] == out
    assert run(capsys, "data", "--preset", "bioD-tiny", "--N", "20", "--seed", "4")[1] != out


def test_data_from_explicit_fields_and_files(capsys, tmp_path):
    out_file, vocab = tmp_path / "d.jsonl", tmp_path / "vocab.json"
    argv = ["data", "--N", "7", "--K", "2", "--C", "2", "--D", "5", "--L", "3", "--T", "11",
            "--name-pools", "30,40", "--out", str(out_file), "--vocab-out", str(vocab)]
    rc, _, err = run(capsys, *argv)
    assert rc == 0 and "wrote 7 people" in err
    record = json.loads(out_file.read_text().splitlines()[0])
    assert len(record["name"]) == 2 and len(record["attributes"]["ID2"]) == 6
    assert json.loads(vocab.read_text())["vocab"][:3] == ["<pad>", "<eos>", "<tag>"]
    rc, _, err = run(capsys, *argv)  # refuses to overwrite
    assert rc == 1 and "--overwrite" in err
    assert run(capsys, *argv, "--overwrite")[0] == 0


def test_bits_prints_the_entropy_and_its_parts(capsys):
    rc, out, _ = run(capsys, "bits", "--N", "1000", "--K", "8", "--C", "1", "--D", "64", "--L", "1", "--T", "256",
                     "--name-pools", "256,256", "--params", "42000")
    assert rc == 0
    cfg = preset("bioD-tiny", N=1000)
    e = biod_entropy(cfg)
    assert f"{e.total:,.1f}" in out and f"{e.name:,.1f}" in out and "48,000.0" in out
    assert "name bits" in out and "value bits" in out and "diversity bits" in out
    assert f"{biod_max_bits(cfg).total / 42000:.4f}" in out


def test_bits_json_and_the_paper_name_space_by_default(capsys):
    rc, out, _ = run(capsys, "bits", "--N", "100", "--K", "1", "--C", "1", "--D", "2", "--L", "1", "--T", "2", "--json")
    summary = json.loads(out)
    assert rc == 0 and "N0=160,000,000" in summary["config"]
    assert summary["entropy"]["name"] == pytest.approx(math.log2(math.comb(160_000_000, 100)), rel=1e-9)
    assert summary["entropy"]["diversity"] == pytest.approx(0.0)  # both 1-token strings are in the pool


@pytest.mark.parametrize("argv, words", [
    (["bits", "--preset", "bioD-huge"], ["bioD-tiny", "bioD-ci"]),
    (["data", "--kind", "bios", "--preset", "bioD-ci"], ["biod"]),
    (["bits", "--N", "3"], ["--K", "--preset"]),
    (["bits", "--N", "3", "--K", "1", "--C", "1", "--D", "9", "--L", "1", "--T", "4"], ["T^L"]),
    (["bits", "--preset", "bioD-tiny", "--N", "0"], ["positive"]),
    (["bits", "--preset", "bioD-tiny", "--params", "0"], ["--params"]),
    (["bits", "--preset", "bioD-tiny", "--N", "70000"], ["N0=65,536"]),
])
def test_bad_values_are_one_line_errors_naming_the_choices(capsys, argv, words):
    rc, out, err = run(capsys, *argv)
    assert rc == 2 and out == ""
    assert err.startswith("error: ") and err.count("\n") == 1
    assert all(w in err for w in words)


@pytest.mark.parametrize("argv", [["bits", "--name-pools", "x"], ["data", "--N", "ten"], ["frobnicate"], []])
def test_bad_options_exit_2(capsys, argv):
    rc, _, err = run(capsys, *argv)
    assert rc == 2 and "error" in err


def test_mounts_under_a_parent_parser(capsys):
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    assert main(parser.parse_args(["bits", "--preset", "bioD-ci"])) == 0
    assert "bioD(N=100, K=4" in capsys.readouterr().out


def test_python_dash_m_plmkit_capacity():
    done = subprocess.run([sys.executable, "-m", "plmkit", "capacity", "data", "--preset", "bioD-ci", "--N", "2"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and len(done.stdout.splitlines()) == 2
    bad = subprocess.run([sys.executable, "-m", "plmkit", "capacity", "bits", "--preset", "nope"],
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and bad.stderr.startswith("error: ") and "Traceback" not in bad.stderr
