"""Command line: ``python -m plmkit <command>``.

    reproduce PART   run one part of the series headless; write metrics, figures and a manifest
    parts            list the parts
    cfg ...          Part 1 grammars: sample sentences, check membership
    bios ...         Part 3 biographies: generate people, biographies and QA pairs
    igsm ...         Part 2 grade-school math: generate problems, check solutions
    capacity ...     Part 3.3 bioD data and its entropy in bits
    canon-tasks ...  Part 4.1 playground tasks: generate, check answers
    notebooks ...    build and check the lab notebooks; verify submitted notebooks
    grade LAB DIR    grade a folder of submitted notebooks: gradebook, feedback, JUnit XML
    report RUNS_DIR  one HTML page of every reproduced run: figures, targets, how each was made
"""
from __future__ import annotations

import argparse
import importlib
import sys
import time
from pathlib import Path
from typing import Optional, Sequence

from .experiments import PARTS
from .profiles import PROFILES

# Data tools with their own subcommands: name -> module exposing add_arguments(parser) and main(args).
TOOLS = {
    "cfg": ("plmkit.data.cfg.cli", "Part 1 grammars: sample sentences, check membership"),
    "bios": ("plmkit.data.bios.cli", "Part 3 biographies: generate people, biographies and QA pairs"),
    "igsm": ("plmkit.data.igsm.cli", "Part 2 grade-school math (iGSM): generate problems, check solutions"),
    "capacity": ("plmkit.data.capacity.cli", "Part 3.3 capacity data: generate bioD people, print a dataset's entropy in bits"),
    "canon-tasks": ("plmkit.data.playground.cli", "Part 4.1 synthetic playground: generate Depo/Brevo/Mano/copy tasks, check answers"),
    "notebooks": ("plmkit.labs", "build the lab notebooks from their sources, check staleness, verify submissions"),
    "grade": ("plmkit.grade", "grade a folder of submitted lab notebooks: gradebook, feedback per student, JUnit XML"),
    "report": ("plmkit.report", "one HTML page of every reproduced run: figures, targets, how each was made"),
}


def run_tool(prog: str, description: Optional[str], add_arguments, main, argv: Optional[Sequence[str]] = None) -> int:
    """Run one tool on its own (``run_cli(argv)`` of each tool module, tests, ``python -m <module>``):
    parse ``argv`` with the tool's options and call its ``main``; argparse's exits on ``--help`` (0) and on
    bad options (2) become return codes instead of ending the process."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    add_arguments(parser)
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    return main(args)


def build_parser(tool_wanted: Optional[str] = None) -> argparse.ArgumentParser:
    """The whole command line. Only the tool named by ``tool_wanted`` is imported to add its options (the
    others are listed by name), so ``python -m plmkit bios ...`` never waits for torch or Jupyter."""
    parts = "\n".join(f"  {name:<13} {desc}" for name, (_, desc) in PARTS.items())
    parser = argparse.ArgumentParser(
        prog="python -m plmkit",
        description="plmkit: reproduce the Physics of Language Models series at small scale.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=f"parts:\n{parts}\n\nexample: python -m plmkit reproduce tour --profile cpu --out runs/tour",
    )
    sub = parser.add_subparsers(dest="command", metavar="command")

    rep = sub.add_parser("reproduce", help="run one part headless and write metrics, figures and a manifest",
                         formatter_class=argparse.RawDescriptionHelpFormatter, epilog=f"parts:\n{parts}")
    rep.add_argument("part", choices=[*PARTS, "all"], metavar="part",
                     help="one of: " + ", ".join(PARTS) + "; or all (every part except the checkpoint trainers, "
                          "each into OUT/<part>-<profile>, skipping finished runs and resuming killed ones)")
    rep.add_argument("--profile", choices=PROFILES, default=None,
                     help="experiment size (default: $PLMKIT_PROFILE, else gpu with a CUDA GPU, cpu without)")
    rep.add_argument("--out", default=None, help="output folder (default: runs/<part>-<profile>; for all: runs/)")
    mode = rep.add_mutually_exclusive_group()
    mode.add_argument("--resume", action="store_true", help="continue the run saved in --out from its last checkpoint")
    mode.add_argument("--overwrite", action="store_true", help="delete the plmkit run saved in --out and start again")
    rep.add_argument("--seed", type=int, default=0)
    rep.add_argument("--device", default=None, help="auto (default), cpu, cuda or mps")
    rep.add_argument("--threads", type=int, default=None, help="CPU threads (default: whichever of 1..all cores is measured fastest)")
    rep.add_argument("--no-progress", action="store_true", help="hide progress bars")

    sub.add_parser("parts", help="list the parts that can be reproduced")

    for name, (module, desc) in TOOLS.items():
        tool = sub.add_parser(name, help=desc)
        if name != tool_wanted:
            continue
        try:
            importlib.import_module(module).add_arguments(tool)
        except ModuleNotFoundError:
            tool.set_defaults(unavailable=True)
    return parser


def run_reproduce(args) -> int:
    from .experiments import CHECKPOINT_TRAINERS
    from .profiles import get_profile, set_threads

    profile = get_profile(args.profile)
    set_threads(args.threads)
    if args.part != "all":
        mode = "resume" if args.resume else "overwrite" if args.overwrite else "new"
        run_part(args, args.part, profile, args.out or f"runs/{args.part}-{profile}", mode)
        return 0
    root = Path(args.out or "runs")
    for part in (p for p in PARTS if p not in CHECKPOINT_TRAINERS):
        folder = root / f"{part}-{profile}"
        if (folder / "manifest.json").exists() and not args.overwrite:
            print(f"skipping part '{part}': {folder} holds a finished run (pass --overwrite to redo it)")
            continue
        started = folder.is_dir() and any(folder.iterdir())
        run_part(args, part, profile, folder, "overwrite" if args.overwrite else "resume" if started else "new")
    return 0


def run_part(args, part: str, profile: str, out, mode: str) -> None:
    """One part headless into ``out``: metrics.json with its targets table, figures, manifest.json last."""
    from .experiments import load_part
    from .experiments.common import RunContext
    from .experiments.targets import Target, format_table
    from .profiles import describe, pick_device
    from .results import RunDir

    run_dir = RunDir(out, mode=mode)
    ctx = RunContext(profile=profile, seed=args.seed, device=args.device, threads=args.threads,
                     run_dir=run_dir, progress=not args.no_progress)
    print(f"reproducing part '{part}' -> {run_dir.path}\n{describe(profile, args.device)}", flush=True)
    start = time.time()
    metrics = load_part(part).reproduce(ctx)
    run_dir.save_metrics(metrics)
    if metrics.get("targets"):
        print(format_table([Target(**row) for row in metrics["targets"]]))
    run_dir.write_manifest(part=part, profile=profile, seed=args.seed, device=str(pick_device(args.device)))
    figures = sorted(p.name for p in (run_dir.path / "figures").glob("*.png"))
    print(f"done in {time.time() - start:.0f} s: {run_dir.path}/metrics.json, manifest.json, figures: {', '.join(figures)}")


def main(argv: Optional[Sequence[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(tool_wanted=next((a for a in argv if not a.startswith("-")), None))
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    try:
        if args.command == "reproduce":
            return run_reproduce(args)
        if args.command == "parts":
            for name, (_, desc) in PARTS.items():
                print(f"{name:<13} {desc}")
            return 0
        if getattr(args, "unavailable", False):
            print(f"error: the '{args.command}' tools are not installed in this version of plmkit", file=sys.stderr)
            return 2
        return importlib.import_module(TOOLS[args.command][0]).main(args)
    except (ValueError, FileExistsError, FileNotFoundError, KeyError) as err:
        message = err.args[0] if isinstance(err, KeyError) and err.args else err
        print(f"error: {message}", file=sys.stderr)
        return 2
