"""Command line for Part 3.3's capacity data: ``plmkit capacity data`` and ``plmkit capacity bits``.

    plmkit capacity data --kind biod --preset bioD-tiny --N 500 --seed 0 --out people.jsonl
    plmkit capacity data --kind biod --N 1000 --K 8 --C 1 --D 64 --L 1 --T 256 --name-pools 256,256
    plmkit capacity bits --N 1000 --K 8 --C 1 --D 64 --L 1 --T 256 --name-pools 256,256 [--params 42000]

``data`` writes one JSON object per person and line: ``{"id", "name", "attributes": {"ID1": [...], ...}}``,
the name and every value as vocabulary token ids (``--vocab-out`` saves the vocabulary). The same
arguments always give the same bytes. ``bits`` prints the data's entropy in bits [P3.3 Prop. 2.3] with
its name, value and diversity parts, and what a perfect model stores by Def. 4.1 (the numerator of
R^max; with ``--params`` also R^max itself).

A ``--preset`` fills in N, K, C, D, L, T and the name pools; any of them given explicitly overrides it.
Without a preset all six are required and the names come from the bioS name space (400 x 400 x 1000).
Exit codes: 0 ok, 1 refused (``--out`` exists without ``--overwrite``), 2 bad option.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import IO, Optional, Sequence

from plmkit.data.capacity.biod import PAPER_NAME_POOLS, PRESETS, BioDConfig, generate_biod
from plmkit.data.capacity.bits import biod_entropy, biod_max_bits

KINDS = ("biod",)
FIELDS = ("N", "K", "C", "D", "L", "T")
EXIT_OK, EXIT_REFUSED, EXIT_USAGE = 0, 1, 2
_FIELD_HELP = {"N": "number of people (names)", "K": "attributes per person", "C": "chunks per value",
               "D": "distinct chunks per attribute pool", "L": "tokens per chunk", "T": "value-token alphabet size"}


def _name_pools_arg(text: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(p) for p in text.split(","))
    except ValueError:
        sizes = ()
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: give positive pool sizes per name token, comma-separated "
                                         "(e.g. 256,256 or 400,400,1000)")
    return sizes


def _add_config_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--preset", default=None, help=f"named dataset: {', '.join(PRESETS)}")
    for field in FIELDS:
        parser.add_argument(f"--{field}", type=int, default=None, help=_FIELD_HELP[field])
    parser.add_argument("--name-pools", type=_name_pools_arg, default=None,
                        help="tokens per name position, comma-separated (default: the preset's, else 400,400,1000)")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``data`` and ``bits`` subcommands to a ``capacity`` parser."""
    sub = parser.add_subparsers(dest="capacity_command", metavar="COMMAND")
    sub.required = True
    data = sub.add_parser("data", help="write a bioD dataset as JSONL, one person per line",
                          description="Write bioD(N, K, C, D, L, T): one JSON object per person, token-id lists.")
    data.add_argument("--kind", default="biod", help=f"dataset kind: {', '.join(KINDS)} (default biod)")
    _add_config_options(data)
    data.add_argument("--seed", type=int, default=0, help="random seed (same seed -> same bytes)")
    data.add_argument("--out", type=Path, default=None, help="output file (default: standard output)")
    data.add_argument("--overwrite", action="store_true", help="replace --out (and --vocab-out) if they exist")
    data.add_argument("--vocab-out", type=Path, default=None, help="also save the vocabulary as JSON")
    bits = sub.add_parser("bits", help="print a bioD dataset's entropy in bits and its parts",
                          description="The closed-form bits of bioD(N, K, C, D, L, T) [Part 3.3, Prop. 2.3, Def. 4.1].")
    _add_config_options(bits)
    bits.add_argument("--params", type=int, default=None, help="a model's parameter count P: also print R^max")
    bits.add_argument("--json", action="store_true", help="print one JSON object instead of text")


def config_from_args(args: argparse.Namespace) -> BioDConfig:
    """The dataset config named by ``--preset`` and/or the explicit fields; ValueError if incomplete."""
    given = {f: getattr(args, f, None) for f in FIELDS}
    pools = getattr(args, "name_pools", None)
    if args.preset is not None:
        if args.preset not in PRESETS:
            raise ValueError(f"unknown preset {args.preset!r}; valid presets: {', '.join(PRESETS)}")
        base = PRESETS[args.preset]
        values = {f: given[f] if given[f] is not None else getattr(base, f) for f in FIELDS}
        return BioDConfig(**values, name_pools=pools or base.name_pools)
    missing = [f"--{f}" for f in FIELDS if given[f] is None]
    if missing:
        raise ValueError(f"missing {' '.join(missing)}: give all of --N --K --C --D --L --T, or a --preset "
                         f"({', '.join(PRESETS)})")
    return BioDConfig(**given, name_pools=pools or PAPER_NAME_POOLS)


def _write_records(data, stream: IO[str]) -> None:
    for record in data.records():
        stream.write(json.dumps(record, separators=(", ", ": ")) + "\n")


def _run_data(args: argparse.Namespace) -> int:
    if args.kind not in KINDS:
        raise ValueError(f"unknown kind {args.kind!r}; valid kinds: {', '.join(KINDS)}")
    config = config_from_args(args)
    for path in (args.out, args.vocab_out):
        if path is not None and path.exists() and not args.overwrite:
            print(f"plmkit capacity data: {path} exists; pass --overwrite to replace it", file=sys.stderr)
            return EXIT_REFUSED
    data = generate_biod(config, args.seed)
    if args.out is None:
        try:
            _write_records(data, sys.stdout)
            sys.stdout.flush()
        except BrokenPipeError:  # the reader stopped early (e.g. `| head`): not an error of ours
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    else:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        with open(args.out, "w", encoding="utf-8", newline="\n") as f:
            _write_records(data, f)
        print(f"wrote {config.N} people to {args.out}", file=sys.stderr)
    if args.vocab_out is not None:
        data.tokenizer().save(args.vocab_out)
    return EXIT_OK


def bits_summary(config: BioDConfig, params: Optional[int] = None) -> dict:
    """The numbers ``capacity bits`` prints."""
    entropy, perfect = biod_entropy(config), biod_max_bits(config)
    summary = {"config": config.describe(), "entropy": entropy.as_dict(), "perfect_model": perfect.as_dict(),
               "bits_per_person": entropy.total / config.N}
    if params is not None:
        if params < 1:
            raise ValueError(f"--params must be a positive parameter count, got {params}")
        summary["params"] = params
        summary["R_max"] = perfect.ratio(params)
    return summary


def _run_bits(args: argparse.Namespace) -> int:
    summary = bits_summary(config_from_args(args), args.params)
    if args.json:
        print(json.dumps(summary))
        return EXIT_OK
    e, p = summary["entropy"], summary["perfect_model"]
    lines = [
        summary["config"],
        f"entropy (exact)        {e['total']:>16,.1f} bits   ({summary['bits_per_person']:.2f} per person)",
        f"  name bits            {e['name']:>16,.1f}   log2 C(N0, N)",
        f"  value bits           {e['value']:>16,.1f}   N*K*C*log2 D",
        f"  diversity bits       {e['diversity']:>16,.1f}   K*log2 C(T^L, D)",
        f"perfect model (Def 4.1){p['total']:>16,.1f} bits   = N*log2(N0/N) + N*K*C*log2 D + K*D*log2(T^L/D)",
    ]
    if "R_max" in summary:
        lines.append(f"R^max at P={summary['params']:,}: {summary['R_max']:.4f} bits/param")
    print("\n".join(lines))
    return EXIT_OK


def main(args: argparse.Namespace) -> int:
    """Run a parsed ``capacity`` command; returns the exit code."""
    command = getattr(args, "capacity_command", None)
    if command not in ("data", "bits"):
        print(f"plmkit capacity: unknown command {command!r}; valid commands: data, bits", file=sys.stderr)
        return EXIT_USAGE
    try:
        return _run_data(args) if command == "data" else _run_bits(args)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_USAGE


def run_cli(argv: Optional[Sequence[str]] = None) -> int:
    """Parse ``argv`` (e.g. ``["bits", "--preset", "bioD-tiny"]``) and run; argparse errors return 2."""
    from plmkit.cli import run_tool

    return run_tool("plmkit capacity", "Part 3.3 capacity data (bioD) and its bits.", add_arguments, main, argv)


if __name__ == "__main__":
    sys.exit(run_cli())
