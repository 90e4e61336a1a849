"""Command line for iGSM: ``plmkit igsm generate`` and ``plmkit igsm check``.

    plmkit igsm generate --world nano --n 5 --seed 0                 JSONL, one problem per line
    plmkit igsm generate --world mini --n 100 --op 10 --split test   a fixed-op test set
    plmkit igsm generate --world nano --n 5 --retry 0.2 --retry-kind retry_weak
    plmkit igsm generate --world nano --n 5 | plmkit igsm check      every line: "correct": true

``check`` reads JSON lines holding ``problem``, ``question`` and a candidate ``solution`` (text) and
writes one JSON verdict per line. A line that cannot be read gets ``"correct": false`` with reason
``bad_input`` and a detail naming the line; nothing raises. Exit codes: 0 ok, 2 bad option.

``plmkit/cli.py`` mounts this with ``add_arguments(igsm_parser)`` and ``main(args)``; ``run_cli(argv)``
(or ``python -m plmkit.data.igsm.cli``) runs it alone.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Optional, Sequence

import numpy as np

from plmkit.data.igsm.world import WORLD_NAMES

EXIT_OK, EXIT_USAGE = 0, 2

GENERATE_FIELDS = """JSON fields (one problem per line):
  id            line number, from 0
  world, style  the world preset and its sentence style (compact or paper)
  layout        pq (question after the problem) or qp (before); also used by "sequence"
  problem       the problem sentences (display text)
  question      the question
  solution      the solution text; with --retry it contains the "Define ... as [BACK]." retries
  clean_solution  (with --retry) the error-free solution
  retries       number of retries inserted (0 without --retry)
  answer        the answer, 0..22
  op            arithmetic operations of the shortest solution
  ip            instance parameters = problem sentences
  query         the quantity the question asks for
  necessary     the quantities the solution defines, in its order
  key, split_key, split   template key 0..22 ("skeleton" or "solution" key); split train (key < 17) or test
  reask         true for reask problems (same sentences, a new question)
  sequence      (with --tokens) token ids of <bos> ... <sol> solution <ans> answer <eos>
"""

CHECK_FIELDS = """input: one JSON object per line with "problem", "question" and "solution" (text; may end with
"<ans> N"); if the solution has no <ans>, the line's "answer" field is used as the candidate answer.
output (one JSON object per line):
  line           input line number, from 1
  correct        true when every step, the final parameter and the answer are right
  reason         why not: no_solution, malformed, unknown_param, redefined, undefined_letter, arithmetic,
                 wrong_deps, not_ready, wrong_value, wrong_query, wrong_answer, truncated, or bad_input
  detail         a human-readable explanation
  first_error    {"index": sentence index (retries not counted), "name": its parameter} or null
  answer_correct the answer alone is right; answer / expected: the given and the true answer
  unnecessary    parameters defined but not needed; unnecessary_ops: their total op
  retries        "Define ... as [BACK]." sentences skipped; sentences: other sentences read
  defined        parameters defined by correct sentences, in order
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``generate`` and ``check`` subcommands to an ``igsm`` parser."""
    sub = parser.add_subparsers(dest="igsm_command", metavar="COMMAND")
    sub.required = True
    gen = sub.add_parser("generate", help="write problems as JSON lines",
                         description="Draw iGSM problems [P2.1] and write one JSON object per line.",
                         epilog=GENERATE_FIELDS, formatter_class=argparse.RawDescriptionHelpFormatter)
    gen.add_argument("--world", default="nano", help=f"world preset: {', '.join(WORLD_NAMES)} (default nano)")
    gen.add_argument("--n", type=int, required=True, help="number of problems")
    gen.add_argument("--seed", type=int, default=0, help="random seed (same seed -> same bytes)")
    gen.add_argument("--op-max", type=int, default=None, help="training mix on op 1..K (default: the world's op_max)")
    gen.add_argument("--op", type=int, default=None, help="every problem has exactly this op")
    gen.add_argument("--split", default=None,
                     help="train (key < 17), test (key >= 17) or any (default: train; test with --reask)")
    gen.add_argument("--split-key", default="skeleton", help="skeleton (default) or solution (the papers' key)")
    gen.add_argument("--layout", default="pq", help="pq (default) or qp")
    gen.add_argument("--style", default=None, help="compact or paper (default: the world's style)")
    gen.add_argument("--reask", action="store_true", help="reask problems (default op: the world's first reask op)")
    gen.add_argument("--retry", type=float, default=0.0, help="insert retries at this rate r in [0, 1)")
    gen.add_argument("--retry-kind", default="retry", help="retry (default), retry_weak or retry_miss")
    gen.add_argument("--weak-variant", default="later",
                     help="retry_weak draws from steps strictly later than the next one (later, default) "
                          "or from the remaining steps including the next one (remaining)")
    gen.add_argument("--tokens", action="store_true", help="add the token ids of the full sequence")
    chk = sub.add_parser("check", help="check candidate solutions read as JSON lines",
                         description="Full-solution checker [P2.1 §3]: one JSON verdict per input line.",
                         epilog=CHECK_FIELDS, formatter_class=argparse.RawDescriptionHelpFormatter)
    chk.add_argument("--world", default="nano", help=f"world preset: {', '.join(WORLD_NAMES)} (default nano)")


def _choice(name: str, value, choices: Sequence[str]) -> None:
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(choices)}, got {value!r}")


def _run_generate(args: argparse.Namespace) -> int:
    from plmkit.data.igsm.rand import Draws
    from plmkit.data.igsm.retry import RETRY_KINDS, WEAK_VARIANTS, retry_solution
    from plmkit.data.igsm.sampler import sample_problem, sample_reask
    from plmkit.data.igsm.vocab import to_text
    from plmkit.data.igsm.world import load_world

    world = load_world(args.world)
    if args.split is None:
        args.split = "test" if args.reask else "train"
    _choice("--split", args.split, ("train", "test", "any"))
    _choice("--split-key", args.split_key, ("skeleton", "solution"))
    _choice("--layout", args.layout, ("pq", "qp"))
    _choice("--retry-kind", args.retry_kind, RETRY_KINDS)
    _choice("--weak-variant", args.weak_variant, WEAK_VARIANTS)
    if args.style is not None:
        _choice("--style", args.style, ("compact", "paper"))
    if args.n < 0:
        raise ValueError(f"--n must be >= 0, got {args.n}")
    if not 0.0 <= args.retry < 1.0:
        raise ValueError(f"--retry must lie in [0, 1), got {args.retry}")
    for flag, value in (("--op", args.op), ("--op-max", args.op_max)):
        if value is not None and not 1 <= value <= 52:
            raise ValueError(f"{flag} must lie in 1..52, got {value}")
    draws = Draws(np.random.default_rng(args.seed))
    out = sys.stdout
    for i in range(args.n):
        if args.reask:
            problem = sample_reask(world, op=args.op, split=args.split, split_key=args.split_key, style=args.style,
                                   draws=draws)
        else:
            problem = sample_problem(world, op_max=args.op_max, op=args.op, split=args.split,
                                     split_key=args.split_key, style=args.style, draws=draws)
        record = {"id": i, **problem.to_json(args.layout), "retries": 0}
        solution = None
        if args.retry > 0:
            solution = retry_solution(problem, rate=args.retry, kind=args.retry_kind,
                                      weak_variant=args.weak_variant, draws=draws)
            record.update(solution=to_text(solution.tokens), clean_solution=problem.solution_text,
                          retries=solution.retries)
        if args.tokens:
            record["sequence"] = problem.sequence(args.layout, solution=solution)[0].tolist()
        out.write(json.dumps(record) + "\n")
    out.flush()
    return EXIT_OK


def bad_input(line_number: int, detail: str) -> dict:
    """The verdict for a line that is no checkable record."""
    return {"line": line_number, "correct": False, "reason": "bad_input", "detail": f"line {line_number}: {detail}",
            "first_error": None, "answer_correct": False, "unnecessary": [], "unnecessary_ops": 0, "retries": 0}


def check_record(world, record, line_number: int = 0) -> dict:
    """The verdict for one input object (a dict with problem, question, solution); never raises."""
    from plmkit.data.igsm.checker import check_solution
    from plmkit.data.igsm.parse import parse_problem

    def bad(detail: str) -> dict:
        return bad_input(line_number, detail)

    if not isinstance(record, dict):
        return bad("not a JSON object")
    fields = [record.get(k) for k in ("problem", "question", "solution")]
    if not all(isinstance(f, str) for f in fields):
        return bad("needs the text fields problem, question and solution")
    problem_text, question, solution = fields
    try:
        problem = parse_problem(world, problem_text, question)
    except (ValueError, KeyError, IndexError, RecursionError) as err:
        return bad(f"cannot read the problem: {err}")
    if "<ans>" not in solution and isinstance(record.get("answer"), int) and not isinstance(record["answer"], bool):
        solution = f"{solution} <ans> {record['answer']}"
    result = check_solution(problem, solution).to_dict()
    result.pop("first_error_index", None)
    result.pop("first_error_param", None)
    result.pop("first_error_name", None)
    if result.get("internal_error") is None:
        result.pop("internal_error", None)
    return {"line": line_number, **result}


def _run_check(args: argparse.Namespace) -> int:
    from plmkit.data.igsm.world import load_world

    world = load_world(args.world)
    out = sys.stdout
    for number, line in enumerate(sys.stdin, 1):
        if not line.strip():
            continue
        try:
            verdict = check_record(world, json.loads(line), number)
        except (ValueError, RecursionError):
            verdict = bad_input(number, "not valid JSON")
        out.write(json.dumps(verdict) + "\n")
    out.flush()
    return EXIT_OK


def main(args: argparse.Namespace) -> int:
    """Run a parsed ``igsm`` command; returns the exit code."""
    command = getattr(args, "igsm_command", None)
    if command not in ("generate", "check"):
        print(f"error: unknown igsm command {command!r}; valid commands: generate, check", file=sys.stderr)
        return EXIT_USAGE
    from plmkit.data.igsm.graphs import GenerationError

    try:
        return _run_generate(args) if command == "generate" else _run_check(args)
    except (ValueError, GenerationError) as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:  # the reader stopped early (e.g. `| head`): not an error of ours
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK


def run_cli(argv: Optional[Sequence[str]] = None) -> int:
    """Parse ``argv`` (e.g. ``["generate", "--n", "3"]``) and run; argparse errors return 2."""
    from plmkit.cli import run_tool

    return run_tool("plmkit igsm", "Part 2 iGSM: generate problems, check solutions.", add_arguments, main, argv)


if __name__ == "__main__":
    sys.exit(run_cli())
