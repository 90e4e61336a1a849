"""Command line for the biography data: ``plmkit bios generate``.

``plmkit bios generate --n 1000 --augment multi5,permute --seed 0 --profile cpu --out people.jsonl``
writes one JSON object per person and line: id, name, attributes, biography texts and the six QA pairs.
The same arguments always give the same bytes. Exit codes: 0 ok, 2 bad option (the message names the
valid choices), 1 refused (the output file exists and ``--overwrite`` was not given).

The lead's ``plmkit/cli.py`` mounts this with ``add_arguments(bios_parser)`` and ``main(args)``;
``run_cli(argv)`` (or ``python -m plmkit.data.bios.cli``) runs it alone.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import IO, Optional, Sequence

from plmkit.data.bios.paraphrase import Paraphraser
from plmkit.data.bios.people import sample_people
from plmkit.data.bios.pools import PRONOUN_CHOICES, PROFILES, pools_for_profile
from plmkit.data.bios.qa import person_qas
from plmkit.data.bios.render import TEMPLATE_SETS, parse_augmentation, render_bios
from plmkit.data.bios.vocab import build_tokenizer, default_template_set

STYLES = ("bios", "biop")
EXIT_OK, EXIT_REFUSED, EXIT_USAGE = 0, 1, 2


class UsageError(ValueError):
    """A bad option value; reported with exit code 2."""


def _augment_arg(text: str) -> str:
    try:
        return parse_augmentation(text).name
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def _pronouns_arg(text: str) -> tuple[str, ...]:
    parts = tuple(p.strip() for p in text.split(","))
    bad = [p for p in parts if p not in PRONOUN_CHOICES]
    if bad or len(set(parts)) != len(parts):
        raise argparse.ArgumentTypeError(f"{text!r}: give distinct pronouns from {', '.join(PRONOUN_CHOICES)}, "
                                         "comma-separated (e.g. he,she)")
    return parts


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``generate`` subcommand to a ``bios`` parser."""
    sub = parser.add_subparsers(dest="bios_command", metavar="COMMAND")
    sub.required = True
    gen = sub.add_parser("generate", help="write people, biographies and QA pairs as JSONL",
                         description="Write one JSON object per person: id, attributes, biographies, QA pairs.")
    gen.add_argument("--n", type=int, required=True, help="number of people")
    gen.add_argument("--augment", type=_augment_arg, default="single",
                     help="augmentation, e.g. single, multi5+permute, multi5,permute, single+permute5+fullname")
    gen.add_argument("--seed", type=int, default=0, help="random seed (same seed -> same bytes)")
    gen.add_argument("--profile", choices=PROFILES, default="gpu",
                     help="pool sizes: ci, cpu (small subsets) or gpu (full paper-size pools; default)")
    gen.add_argument("--templates", choices=TEMPLATE_SETS, default=None,
                     help="template set (default: short for ci/cpu, full for gpu)")
    gen.add_argument("--pronouns", type=_pronouns_arg, default=("he", "she"), help="e.g. he,she (default) or he,she,they")
    gen.add_argument("--style", choices=STYLES, default="bios",
                     help="bios (templated bioS) or biop (rule-based bioR stand-in; --augment sets the count)")
    gen.add_argument("--out", type=Path, default=None, help="output file (default: standard output)")
    gen.add_argument("--overwrite", action="store_true", help="replace --out (and --vocab-out) if they exist")
    gen.add_argument("--vocab-out", type=Path, default=None, help="also save the matching tokenizer as JSON")


def _validate(args: argparse.Namespace) -> None:
    """Re-check option values, for callers that build the Namespace without our parser."""
    if args.profile not in PROFILES:
        raise UsageError(f"unknown profile {args.profile!r}; valid profiles: {', '.join(PROFILES)}")
    if args.templates is not None and args.templates not in TEMPLATE_SETS:
        raise UsageError(f"unknown template set {args.templates!r}; valid: {', '.join(TEMPLATE_SETS)}")
    if args.style not in STYLES:
        raise UsageError(f"unknown style {args.style!r}; valid styles: {', '.join(STYLES)}")
    if args.n < 0:
        raise UsageError(f"--n must be >= 0, got {args.n}")
    try:
        parse_augmentation(args.augment)
    except ValueError as err:
        raise UsageError(str(err)) from None


def _attributes(person) -> dict:
    attributes = person.to_dict()
    del attributes["pid"]
    attributes["birth_date"] = person.birth_date
    return attributes


def _records(args: argparse.Namespace):
    pools = pools_for_profile(args.profile)
    templates = args.templates or default_template_set(pools)
    augmentation = parse_augmentation(args.augment)
    try:
        people = sample_people(args.n, pools, args.seed, pronouns=args.pronouns)
    except ValueError as err:
        raise UsageError(str(err)) from None
    if args.style == "biop":
        if augmentation.base == "couple" or augmentation.permute or augmentation.reverse:
            raise UsageError("biop takes only single, multiM and fullname (its order is always random)")
        bios = Paraphraser(pools, templates).render(people, augmentation.copies, augmentation.fullname, args.seed + 1)
    else:
        bios = render_bios(people, augmentation, templates, seed=args.seed + 1)
    for person, entries in zip(people, bios):
        yield {
            "id": person.pid,
            "name": person.full_name,
            "attributes": _attributes(person),
            "augmentation": augmentation.name if args.style == "bios" else f"biop:{augmentation.name}",
            "bios": [e.text for e in entries],
            "qa": [{"attribute": qa.task, "question": qa.question, "answer": qa.answer} for qa in person_qas(person)],
        }


def _write(records, stream: IO[str]) -> int:
    count = 0
    for record in records:
        stream.write(json.dumps(record, ensure_ascii=False) + "\n")
        count += 1
    return count


def main(args: argparse.Namespace) -> int:
    """Run a parsed ``bios`` command; returns the exit code."""
    if getattr(args, "bios_command", None) != "generate":
        print(f"plmkit bios: unknown command {getattr(args, 'bios_command', None)!r}; valid commands: generate",
              file=sys.stderr)
        return EXIT_USAGE
    try:
        _validate(args)
        for path in (args.out, args.vocab_out):
            if path is not None and path.exists() and not args.overwrite:
                print(f"plmkit bios generate: {path} exists; pass --overwrite to replace it", file=sys.stderr)
                return EXIT_REFUSED
        records = list(_records(args))  # build everything first: a bad option never leaves half a file
    except UsageError as err:
        print(f"plmkit bios generate: {err}", file=sys.stderr)
        return EXIT_USAGE
    if args.out is None:
        try:
            _write(records, sys.stdout)
            sys.stdout.flush()
        except BrokenPipeError:  # the reader stopped early (e.g. `| head`): not an error of ours
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    else:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        with open(args.out, "w", encoding="utf-8", newline="\n") as f:
            _write(records, f)
        print(f"wrote {len(records)} people to {args.out}", file=sys.stderr)
    if args.vocab_out is not None:
        pools = pools_for_profile(args.profile)
        tokenizer = build_tokenizer(pools, args.templates or default_template_set(pools), args.pronouns,
                                    paraphrase=args.style == "biop")
        tokenizer.save(args.vocab_out)
    return EXIT_OK


def run_cli(argv: Optional[Sequence[str]] = None) -> int:
    """Parse ``argv`` (e.g. ``["generate", "--n", "10"]``) and run; argparse errors return 2."""
    from plmkit.cli import run_tool

    return run_tool("plmkit bios", "Synthetic biographies (Part 3.1 / 3.2).", add_arguments, main, argv)


if __name__ == "__main__":
    sys.exit(run_cli())
