"""Command line for the playground: ``plmkit canon-tasks generate | check | tasks``.

    plmkit canon-tasks generate --task depo1 --n 5 --seed 0 [--N 32 --K 4 ...]   one JSON instance a line
    plmkit canon-tasks check --task depo1 < lines.jsonl                           one JSON verdict a line
    plmkit canon-tasks tasks                                                      the tasks and their sizes

Tasks: depo1, depo2, brevo1, brevo2, mano, copy (the paper's datasets) and the small cells
depo1-mini, depo-micro, brevo1-mini, mano-mini, copy-mini. Size flags (``--N --K --V --name-len --L``)
override the task's sizes; a flag the task does not have is an error. Exit codes: 0 ok, 2 bad input.

``plmkit/cli.py`` mounts this with ``add_arguments(parser)`` and ``main(args)``;
``run_cli(argv)`` (or ``python -m plmkit.data.playground.cli``) runs it alone.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from typing import Optional, Sequence, TextIO

import numpy as np

from . import brevo, common, copy, depo, mano

EXIT_OK, EXIT_USAGE = 0, 2
TASKS = {**depo.PRESETS, **brevo.PRESETS, **mano.PRESETS, **copy.PRESETS}
MODULES = {depo.DepoConfig: depo, brevo.BrevoConfig: brevo, mano.ManoConfig: mano, copy.CopyConfig: copy}
SIZE_FLAGS = {"N": "--N", "K": "--K", "V": "--V", "name_len": "--name-len", "L": "--L"}

GENERATE_HELP = """\
Each output line is one instance:
  task, config   the task and its sizes (check reads them back)
  tokens         the whole instance, starting with <bos> (id 1); answers included
  answer         list of answers, each a list of token ids (Depo: one per query, in order;
                 Brevo: the ancestors in one valid order; Mano: [value]; copy: the permutation)
  groups         per answer: k (Depo), n (Brevo), l (Mano), N (copy)
  n / ops / N    the instance size; Brevo adds depth and max_depth (edges from q to a leaf)
  text           (with --text) the tokens as readable symbols
--split train draws sizes from the training law; --split eval fixes n = N (or l = L) and, for
Depo, draws each query's k from --k (default K). Eval instances use a separate random stream."""

CHECK_HELP = """\
Each input line is a JSON object with
  tokens     the instance (as written by generate; any answers inside it are ignored)
  candidate  the answers to judge, shaped like generate's "answer": a list with one token list
             per answer (a single flat token list is accepted for one-answer tasks; Brevo's
             candidate may end with <eos>, id 3)
  config     optional: the sizes generate wrote; without it, --task and the size flags apply
Each output line: {"line", "correct", "answers": per-answer verdicts, "groups"} and, for Brevo,
"reason". The check rebuilds the answer from the instance text alone (Depo: walk k edges;
Brevo: ancestors and topological order, any valid order accepted; Mano: evaluate; copy: match)."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``generate``, ``check`` and ``tasks`` subcommands to a ``canon-tasks`` parser."""
    sub = parser.add_subparsers(dest="canon_command", metavar="COMMAND")
    sub.required = True
    task_help = "one of: " + ", ".join(TASKS)
    gen = sub.add_parser("generate", help="write fresh instances as JSON lines", allow_abbrev=False,
                         description="Generate playground instances, one JSON object a line.", epilog=GENERATE_HELP,
                         formatter_class=argparse.RawDescriptionHelpFormatter)
    gen.add_argument("--task", required=True, help=task_help)
    gen.add_argument("--n", type=int, required=True, metavar="COUNT", help="number of instances")
    gen.add_argument("--seed", type=int, default=0, help="random seed (same seed and sizes -> same bytes)")
    gen.add_argument("--split", default="train", help="train (size law) or eval (n = N, l = L)")
    gen.add_argument("--k", default=None, metavar="K1,K2,..", help="Depo eval only: comma-separated k values each query draws from")
    gen.add_argument("--text", action="store_true", help="add the readable text of every instance")
    gen.add_argument("--out", default=None, help="output file (default: standard output)")
    _add_size_flags(gen)
    chk = sub.add_parser("check", help="judge candidate answers, one JSON verdict a line", allow_abbrev=False,
                         description="Check candidate answers against the instance text.", epilog=CHECK_HELP,
                         formatter_class=argparse.RawDescriptionHelpFormatter)
    chk.add_argument("--task", required=True, help=task_help)
    chk.add_argument("--input", default=None, help="JSON-lines file (default: standard input)")
    chk.add_argument("--out", default=None, help="output file (default: standard output)")
    _add_size_flags(chk)
    sub.add_parser("tasks", help="list the tasks with their sizes, vocabulary and longest instance")


def _add_size_flags(parser: argparse.ArgumentParser) -> None:
    sizes = parser.add_argument_group("sizes (override the task's)")
    sizes.add_argument("--N", type=int, default=None, metavar="SIZE", help="Depo/Brevo: largest graph; copy: permutation length")
    sizes.add_argument("--K", type=int, default=None, metavar="HOPS", help="Depo: largest number of hops")
    sizes.add_argument("--V", type=int, default=None, help="Depo/Brevo: name symbols of each kind")
    sizes.add_argument("--name-len", default=None, metavar="MIN-MAX", help="Depo/Brevo: name lengths in tokens, e.g. 1-2")
    sizes.add_argument("--L", type=int, default=None, metavar="OPS", help="Mano: largest number of operations")


# --- configs -----------------------------------------------------------------------------------
def task_config(task: str, overrides: Optional[dict] = None):
    """The preset of ``task`` with size overrides; ValueError names valid tasks or sizes."""
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; valid tasks: {', '.join(TASKS)}")
    base = TASKS[task]
    overrides = {k: v for k, v in (overrides or {}).items() if v is not None}
    fields = [f.name for f in dataclasses.fields(base)]
    for key in overrides:
        if key not in fields:
            have = ", ".join(SIZE_FLAGS.get(f, f) for f in fields if f in SIZE_FLAGS)
            raise ValueError(f"{SIZE_FLAGS.get(key, key)} does not apply to task {task}; its sizes are: {have}")
    if "name_len" in overrides:
        overrides["name_len"] = _name_len(overrides["name_len"])
    return dataclasses.replace(base, **overrides)


def _name_len(value) -> tuple[int, int]:
    if isinstance(value, (list, tuple)) and len(value) == 2:
        return int(value[0]), int(value[1])
    parts = str(value).replace(",", "-").split("-")
    if len(parts) == 1:
        parts = parts * 2
    if len(parts) != 2 or not all(p.strip().isdigit() for p in parts):
        raise ValueError(f"--name-len must look like 2 or 1-2, got {value!r}")
    return int(parts[0]), int(parts[1])


def _size_overrides(args: argparse.Namespace) -> dict:
    return {"N": args.N, "K": args.K, "V": args.V, "name_len": args.name_len, "L": args.L}


def config_to_json(cfg) -> dict:
    return {f.name: getattr(cfg, f.name) for f in dataclasses.fields(cfg)}


def config_from_json(task: str, data) -> object:
    if not isinstance(data, dict):
        raise ValueError("config must be a JSON object of sizes")
    cfg = task_config(task)
    fields = {f.name for f in dataclasses.fields(cfg)}
    unknown = sorted(set(data) - fields)
    if unknown:
        raise ValueError(f"config has unknown sizes {unknown}; task {task} has: {', '.join(sorted(fields))}")
    values = dict(data)
    if "name_len" in values:
        values["name_len"] = _name_len(values["name_len"])
    return dataclasses.replace(cfg, **values)


# --- generate ----------------------------------------------------------------------------------------
def generate_instances(task: str, cfg, count: int, seed: int, split: str = "train", ks=None):
    """The instances ``generate`` writes (train: ``default_rng(seed)``; eval: the evaluation stream)."""
    module = MODULES[type(cfg)]
    if split == "train":
        if ks is not None:
            raise ValueError("--k applies to --split eval only (training draws k ~ U{1..K})")
        rng = np.random.default_rng(seed)
        return [module.sample_instance(cfg, rng) for _ in range(count)]
    if split != "eval":
        raise ValueError(f"unknown split {split!r}; valid splits: train, eval")
    if ks is not None and module is not depo:
        raise ValueError(f"--k applies to Depo tasks only, not {task}")
    if module is depo:
        return depo.eval_set(cfg, count, seed, ks=ks)
    return module.eval_set(cfg, count, seed)


def _parse_ks(text: Optional[str]):
    if text is None:
        return None
    try:
        return tuple(int(k) for k in text.split(","))
    except ValueError:
        raise ValueError(f"--k must be comma-separated integers, e.g. 1,2,4; got {text!r}") from None


def _run_generate(args: argparse.Namespace, out: TextIO) -> int:
    cfg = task_config(args.task, _size_overrides(args))
    common.check_range("--n", args.n, 0)
    instances = generate_instances(args.task, cfg, args.n, args.seed, args.split, _parse_ks(args.k))
    head = {"task": args.task, "config": config_to_json(cfg)}
    for inst in instances:
        record = {**head, **inst.to_json()}
        if args.text:
            record["text"] = cfg.layout.render(inst.tokens)
        out.write(json.dumps(record, separators=(",", ":")) + "\n")
    return EXIT_OK


# --- check ------------------------------------------------------------------------------------------
def _int_list(value, what: str) -> list[int]:
    if not isinstance(value, list) or not all(isinstance(t, int) and not isinstance(t, bool) for t in value):
        raise ValueError(f"{what} must be a list of integer token ids")
    return value


def _candidates(value, answers_expected: Optional[int]) -> list[list[int]]:
    if value == [] and answers_expected == 1:  # an empty generation: a wrong answer, not bad input
        return [[]]
    if isinstance(value, list) and value and all(isinstance(t, int) and not isinstance(t, bool) for t in value):
        if answers_expected not in (None, 1):
            raise ValueError(f"candidate must be a list of {answers_expected} token lists, one per query")
        return [value]
    if not isinstance(value, list):
        raise ValueError("candidate must be a list of token lists (one per answer)")
    return [_int_list(c, "each candidate answer") for c in value]


def check_record(task: str, cfg, record: dict) -> dict:
    """The verdict for one input object (see ``check --help`` for the fields)."""
    module = MODULES[type(cfg)]
    tokens = _int_list(record["tokens"], "tokens")
    if module is depo:
        hops = depo.query_hops(cfg, tokens)
        verdicts = depo.check(cfg, tokens, _candidates(record["candidate"], len(hops)))
        return {"correct": all(verdicts), "answers": verdicts, "groups": hops}
    candidates = _candidates(record["candidate"], 1)
    if len(candidates) != 1:
        raise ValueError(f"task {task} has one answer per instance, got {len(candidates)} candidates")
    if module is brevo:
        verdict = brevo.validate(cfg, tokens, candidates[0])
        return {"correct": verdict.correct, "answers": [verdict.correct], "reason": verdict.reason}
    ok = mano.check(cfg, tokens, candidates[0]) if module is mano else copy.check(tokens, candidates[0])
    return {"correct": ok, "answers": [ok]}


def _run_check(args: argparse.Namespace, out: TextIO) -> int:
    default_cfg = task_config(args.task, _size_overrides(args))
    source = open(args.input, encoding="utf-8") if args.input else sys.stdin
    try:
        for number, line in enumerate(source, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                if not isinstance(record, dict) or "tokens" not in record or "candidate" not in record:
                    raise ValueError("each line must be a JSON object with 'tokens' and 'candidate' "
                                     "(and optionally 'config')")
                cfg = config_from_json(args.task, record["config"]) if "config" in record else default_cfg
                verdict = check_record(args.task, cfg, record)
            except json.JSONDecodeError as err:
                raise ValueError(f"line {number}: not valid JSON ({err.msg})") from None
            except (ValueError, TypeError) as err:
                raise ValueError(f"line {number}: {err}") from None
            out.write(json.dumps({"line": number, **verdict}, separators=(",", ":")) + "\n")
    finally:
        if source is not sys.stdin:
            source.close()
    return EXIT_OK


# --- tasks ------------------------------------------------------------------------------------------
def _run_tasks(out: TextIO) -> int:
    for name, cfg in TASKS.items():
        module = MODULES[type(cfg)]
        longest = module.sample_instance(cfg, np.random.default_rng(0), *_largest(cfg))
        sizes = ", ".join(f"{k}={v}" for k, v in config_to_json(cfg).items())
        out.write(f"{name:<12} {sizes:<52} vocab {cfg.layout.vocab_size:>4}  "
                  f"tokens at full size ~{len(longest.tokens)}\n")
    return EXIT_OK


def _largest(cfg) -> tuple:
    if isinstance(cfg, (depo.DepoConfig, brevo.BrevoConfig)):
        return (cfg.N,)
    if isinstance(cfg, mano.ManoConfig):
        return (cfg.L,)
    return ()


# --- entry points -----------------------------------------------------------------------------------
def main(args: argparse.Namespace) -> int:
    """Run a parsed ``canon-tasks`` command; returns the exit code."""
    command = getattr(args, "canon_command", None)
    if command not in ("generate", "check", "tasks"):
        print(f"error: unknown command {command!r}; valid commands: generate, check, tasks", file=sys.stderr)
        return EXIT_USAGE
    out = open(args.out, "w", encoding="utf-8") if getattr(args, "out", None) else sys.stdout
    try:
        if command == "tasks":
            return _run_tasks(out)
        return (_run_generate if command == "generate" else _run_check)(args, out)
    except (ValueError, OSError) as err:
        if isinstance(err, BrokenPipeError):  # the reader stopped early (e.g. `| head`): not our error
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return EXIT_OK
        print(f"error: {err}", file=sys.stderr)
        return EXIT_USAGE
    finally:
        if out is not sys.stdout:
            out.close()
        else:
            out.flush()


def run_cli(argv: Optional[Sequence[str]] = None) -> int:
    """Parse ``argv`` (e.g. ``["generate", "--task", "depo1", "--n", "3"]``) and run; argparse errors return 2."""
    from plmkit.cli import run_tool

    return run_tool("plmkit canon-tasks", "Part 4.1 synthetic playground: generate tasks, check answers.", add_arguments, main, argv)


if __name__ == "__main__":
    sys.exit(run_cli())
