"""The bios command line: JSONL output, determinism, overwrite refusal, option errors."""
import argparse
import json

import pytest

from plmkit.data.bios.cli import add_arguments, main, run_cli


def generate(tmp_path, name, *extra):
    out = tmp_path / name
    return run_cli(["generate", "--n", "12", "--profile", "ci", "--out", str(out), *extra]), out


def test_writes_one_person_per_line(tmp_path):
    rc, out = generate(tmp_path, "a.jsonl", "--augment", "multi5,permute", "--seed", "3")
    assert rc == 0
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(records) == 12 and [r["id"] for r in records] == list(range(12))
    first = records[0]
    assert first["augmentation"] == "multi5+permute" and len(first["bios"]) == 5
    assert len(first["qa"]) == 6 and first["qa"][0]["attribute"] == "birth_date"
    assert first["attributes"]["birth_date"] in first["bios"][0]
    assert first["name"] in first["bios"][0]


def test_same_seed_same_bytes(tmp_path):
    _, a = generate(tmp_path, "a.jsonl", "--seed", "4", "--augment", "multi2+permute")
    _, b = generate(tmp_path, "b.jsonl", "--seed", "4", "--augment", "multi2+permute")
    _, c = generate(tmp_path, "c.jsonl", "--seed", "5", "--augment", "multi2+permute")
    assert a.read_bytes() == b.read_bytes()
    assert a.read_bytes() != c.read_bytes()


def test_refuses_to_overwrite(tmp_path, capsys):
    out = tmp_path / "x.jsonl"
    out.write_text("keep me")
    rc, _ = generate(tmp_path, "x.jsonl")
    assert rc == 1 and out.read_text() == "keep me"
    assert "--overwrite" in capsys.readouterr().err
    rc, _ = generate(tmp_path, "x.jsonl", "--overwrite")
    assert rc == 0 and out.read_text() != "keep me"


@pytest.mark.parametrize("argv,needle", [
    (["--augment", "multi5+shuffle"], "valid parts"),
    (["--profile", "laptop"], "'gpu'"),
    (["--templates", "long"], "'short'"),
    (["--pronouns", "he,it"], "they"),
    (["--style", "gpt"], "'biop'"),
])
def test_bad_options_exit_2_and_name_valid_choices(tmp_path, capsys, argv, needle):
    rc = run_cli(["generate", "--n", "3", "--out", str(tmp_path / "y.jsonl"), *argv])
    assert rc == 2
    assert needle in capsys.readouterr().err
    assert not (tmp_path / "y.jsonl").exists()


def test_too_many_people_for_the_pools_is_a_usage_error(tmp_path, capsys):
    rc = run_cli(["generate", "--n", "2001", "--profile", "ci", "--out", str(tmp_path / "z.jsonl")])
    assert rc == 2 and "unique names" in capsys.readouterr().err
    assert not (tmp_path / "z.jsonl").exists()


def test_mounted_under_a_parent_parser_and_stdout(capsys):
    parser = argparse.ArgumentParser(prog="plmkit")
    commands = parser.add_subparsers(dest="command")
    add_arguments(commands.add_parser("bios"))
    args = parser.parse_args(["bios", "generate", "--n", "2", "--profile", "ci", "--style", "biop"])
    assert main(args) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 and json.loads(lines[1])["augmentation"] == "biop:single"


def test_main_rechecks_a_hand_built_namespace(capsys):
    args = argparse.Namespace(bios_command="generate", n=2, augment="multi5+wobble", seed=0, profile="cpu",
                              templates=None, pronouns=("he", "she"), style="bios", out=None, overwrite=False,
                              vocab_out=None)
    assert main(args) == 2 and "valid parts" in capsys.readouterr().err
    args.augment, args.profile = "single", "tpu"
    assert main(args) == 2 and "ci, cpu, gpu" in capsys.readouterr().err


def test_vocab_out(tmp_path):
    rc, _ = generate(tmp_path, "v.jsonl", "--vocab-out", str(tmp_path / "vocab.json"))
    assert rc == 0
    assert json.loads((tmp_path / "vocab.json").read_text())["vocab"][0] == "<pad>"
