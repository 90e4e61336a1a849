"""Command line for the grammars: ``plmkit cfg sample`` and ``plmkit cfg check``.

    plmkit cfg sample --grammar cfg3f-d3 --n 5 --seed 0       one sentence per line, ids separated by spaces
    plmkit cfg check --grammar cfg3f-d3 < sentences.txt       prints valid or invalid per input line

``--grammar`` takes a name (cfg3b, cfg3i, cfg3h, cfg3g, cfg3f, cfg3e1, cfg3e2, cfg3j, cfg3k), a preset
(``cfg3f-d3``: root 3 levels above the terminals; ``cfg3f@17``: root NT 17) or a rule-file path;
``--root`` overrides the root (an NT id or ``dK``). Lines that are not sentences (unknown tokens,
specials, empty, too long) are ``invalid``, never an error. Exit codes: 0 ok, 2 bad option.

``plmkit/cli.py`` mounts this with ``add_arguments(cfg_parser)`` and ``main(args)``;
``run_cli(argv)`` (or ``python -m plmkit.data.cfg.cli``) runs it alone.
"""
from __future__ import annotations

import argparse
import os
import sys
from typing import Optional, Sequence

import numpy as np

from plmkit.data.cfg.grammar import GRAMMAR_NAMES, PRESET_HELP, Grammar

EXIT_OK, EXIT_USAGE = 0, 2
_GRAMMAR_HELP = f"grammar: {', '.join(GRAMMAR_NAMES)}; {PRESET_HELP}; or a rule-file path"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``sample`` and ``check`` subcommands to a ``cfg`` parser."""
    sub = parser.add_subparsers(dest="cfg_command", metavar="COMMAND")
    sub.required = True
    smp = sub.add_parser("sample", help="print fresh sentences, one per line",
                         description="Sample sentences with uniform rule choice; one per line, token ids separated by spaces.")
    smp.add_argument("--grammar", required=True, help=_GRAMMAR_HELP)
    smp.add_argument("--n", type=int, required=True, help="number of sentences")
    smp.add_argument("--seed", type=int, default=0, help="random seed (same seed and --n -> same output)")
    smp.add_argument("--root", default=None, help="root NT id or dK (default: the grammar's or preset's root)")
    chk = sub.add_parser("check", help="read sentences on stdin, print valid/invalid per line",
                         description="Membership test: prints 'valid' or 'invalid' for every line of standard input.")
    chk.add_argument("--grammar", required=True, help=_GRAMMAR_HELP)
    chk.add_argument("--root", default=None, help="root NT id or dK (default: the grammar's or preset's root)")


def _grammar(args: argparse.Namespace) -> Grammar:
    grammar = Grammar.load(args.grammar)
    if args.root is not None:
        root = int(args.root) if str(args.root).isdigit() else str(args.root)
        grammar = grammar.with_root(root)
    return grammar


def _line_tokens(line: str, max_tokens: int) -> Optional[list[int]]:
    """Token ids of one input line, or None when the line cannot be a sentence."""
    words = line.split()
    if not words or len(words) > max_tokens:
        return None
    if not all(w.isascii() and w.isdigit() for w in words):  # rejects '<bos>', '-1', '1.0', 'x'
        return None
    return [int(w) for w in words]


def _run_sample(args: argparse.Namespace, grammar: Grammar) -> int:
    from plmkit.data.cfg.sampler import sample

    if args.n < 0:
        raise ValueError(f"--n must be >= 0, got {args.n}")
    out = sys.stdout
    chunk = 4096  # bounded memory for large --n; seed and n fix the whole output
    rng = np.random.default_rng(args.seed)
    left = args.n
    while left > 0:
        batch = sample(grammar, min(chunk, left), rng)
        out.write("".join(" ".join(map(str, s.tolist())) + "\n" for s in batch))
        left -= len(batch)
    out.flush()
    return EXIT_OK


def _run_check(args: argparse.Namespace, grammar: Grammar) -> int:
    from plmkit.data.cfg.parser import accepts

    max_tokens = int(grammar.maxlen[grammar.root])
    for line in sys.stdin:
        tokens = _line_tokens(line, max_tokens)
        ok = tokens is not None and accepts(grammar, tokens)
        sys.stdout.write("valid\n" if ok else "invalid\n")
    sys.stdout.flush()
    return EXIT_OK


def main(args: argparse.Namespace) -> int:
    """Run a parsed ``cfg`` command; returns the exit code."""
    command = getattr(args, "cfg_command", None)
    if command not in ("sample", "check"):
        print(f"plmkit cfg: unknown command {command!r}; valid commands: sample, check", file=sys.stderr)
        return EXIT_USAGE
    try:
        grammar = _grammar(args)
        run = _run_sample if command == "sample" else _run_check
        return run(args, grammar)
    except ValueError as err:
        print(f"plmkit cfg {command}: {err}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:  # the reader stopped early (e.g. `| head`): not an error of ours
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="plmkit cfg", description="Part 1 grammars: sample sentences, check membership.")
    add_arguments(parser)
    return parser


def run_cli(argv: Optional[Sequence[str]] = None) -> int:
    """Parse ``argv`` (e.g. ``["sample", "--grammar", "cfg3f", "--n", "3"]``) and run; argparse errors return 2."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # argparse exits on --help (0) and on bad options (2)
        return int(exc.code or 0)
    return main(args)


if __name__ == "__main__":
    sys.exit(run_cli())
