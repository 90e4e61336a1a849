"""Build the lab notebooks from their one source each, check them, and help grading.

Each lab has one source, ``notebooks/src/NN_name.py`` (jupytext percent format). Inside code
cells, solution code sits between marker lines::

    def causal_mask(T):
        # BEGIN SOLUTION
        return torch.ones(T, T, dtype=torch.bool).tril()
        # END SOLUTION

From it the build writes

* ``notebooks/NN_name.ipynb``: the student notebook, each solution block replaced by a stub
  that raises ``NotImplementedError``, no outputs;
* ``notebooks/solutions/NN_name.ipynb``: the full solution, executed in the ``cpu`` profile and
  saved with its outputs, so a reader sees every figure without running anything.

    python -m plmkit notebooks build            # both notebooks of every lab (executes solutions)
    python -m plmkit notebooks build --only 00_tour --no-execute
    python -m plmkit notebooks check            # exit 1 if a generated notebook is stale
    python -m plmkit notebooks verify-submission LAB SUBMITTED.ipynb...   # for graders

Checker cells (those calling ``checks.``) are marked non-deletable and tagged ``checker``;
``verify-submission`` fails when a submitted notebook lost or changed one of them.
"""
from __future__ import annotations

import argparse
import hashlib
import os
import re
import sys
import time
from pathlib import Path
from typing import Optional

REPO = Path(__file__).resolve().parent.parent
NOTEBOOKS = REPO / "notebooks"
SOURCES = NOTEBOOKS / "src"
SOLUTIONS = NOTEBOOKS / "solutions"
BEGIN, END = "# BEGIN SOLUTION", "# END SOLUTION"
CHECKER_RE = re.compile(r"^\s*checks\.\w+\(")
STUB = "raise NotImplementedError  # your code here"
EXECUTION_PROFILE = "cpu"


# ----------------------------------------------------------------------------------------------
# Source -> notebooks
# ----------------------------------------------------------------------------------------------
def lab_names() -> list[str]:
    return sorted(p.stem for p in SOURCES.glob("[0-9][0-9]_*.py"))


def _source_path(lab: str) -> Path:
    path = SOURCES / f"{lab}.py"
    if not path.exists():
        raise ValueError(f"unknown lab {lab!r}; labs: {', '.join(lab_names())}")
    return path


def strip_solutions(code: str, keep: bool) -> str:
    """Remove the marker lines; keep the solution (``keep``) or put a stub in its place."""
    out, inside, indent = [], False, ""
    for number, line in enumerate(code.splitlines(), 1):
        stripped = line.strip()
        if stripped == BEGIN:
            if inside:
                raise ValueError(f"line {number}: '{BEGIN}' inside another solution block")
            inside, indent = True, line[: len(line) - len(line.lstrip())]
            if not keep:
                out.append(indent + STUB)
            continue
        if stripped == END:
            if not inside:
                raise ValueError(f"line {number}: '{END}' without a matching '{BEGIN}'")
            inside = False
            continue
        if keep or not inside:
            out.append(line)
    if inside:
        raise ValueError(f"a '{BEGIN}' block is never closed")
    return "\n".join(out)


def _source_hash(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def render(lab: str, kind: str):
    """The student or solution notebook of a lab, without outputs."""
    import jupytext

    if kind not in ("student", "solution"):
        raise ValueError(f"unknown notebook kind {kind!r}; valid: student, solution")
    path = _source_path(lab)
    nb = jupytext.read(path)
    for index, cell in enumerate(nb.cells):
        cell.id = f"{lab[:2]}-{index:03d}"  # stable ids keep the files byte-identical between builds
        if cell.cell_type != "code":
            continue
        cell.source = strip_solutions(cell.source, keep=(kind == "solution"))
        cell.outputs, cell.execution_count = [], None
        cell.metadata = {}
        if any(CHECKER_RE.match(line) for line in cell.source.splitlines()):
            cell.metadata = {"tags": ["checker"], "deletable": False}
    nb.metadata = {
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
        "language_info": {"name": "python"},
        "plmkit": {"lab": lab, "kind": kind, "source": f"notebooks/src/{lab}.py", "source_sha256": _source_hash(path)},
    }
    if kind == "solution":
        nb.metadata["plmkit"]["executed_profile"] = None
    return nb


def _dumps(nb) -> str:
    import nbformat

    return nbformat.writes(nb) + "\n"


def student_path(lab: str) -> Path:
    return NOTEBOOKS / f"{lab}.ipynb"


def solution_path(lab: str) -> Path:
    return SOLUTIONS / f"{lab}.ipynb"


def execute(nb, profile: str = EXECUTION_PROFILE, timeout: int = 1200):
    """Run a notebook top to bottom in ``notebooks/`` under a profile; returns it with outputs."""
    from nbclient import NotebookClient

    env_before = os.environ.get("PLMKIT_PROFILE")
    os.environ["PLMKIT_PROFILE"] = profile
    try:
        client = NotebookClient(nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOKS)}})
        client.execute()
    finally:
        if env_before is None:
            os.environ.pop("PLMKIT_PROFILE", None)
        else:
            os.environ["PLMKIT_PROFILE"] = env_before
    nb.metadata["plmkit"]["executed_profile"] = profile
    for cell in nb.cells:  # execution metadata holds timestamps: drop it so rebuilds diff cleanly
        cell.metadata.pop("execution", None)
    return nb


def build(labs: Optional[list[str]] = None, execute_solutions: bool = True, profile: str = EXECUTION_PROFILE) -> None:
    SOLUTIONS.mkdir(parents=True, exist_ok=True)
    for lab in labs or lab_names():
        student_path(lab).write_text(_dumps(render(lab, "student")))
        solution = render(lab, "solution")
        if execute_solutions:
            start = time.time()
            print(f"executing {lab} (solution) in the {profile} profile ...", flush=True)
            solution = execute(solution, profile)
            print(f"  {lab}: {time.time() - start:.0f} s", flush=True)
        elif solution_path(lab).exists():
            print(f"  {lab}: solution not executed (--no-execute); its old outputs are dropped", flush=True)
        solution_path(lab).write_text(_dumps(solution))
        print(f"wrote {student_path(lab).relative_to(REPO)} and {solution_path(lab).relative_to(REPO)}")


def _code_sources(nb) -> list[tuple[str, str]]:
    return [(c.cell_type, c.source) for c in nb.cells]


def stale(labs: Optional[list[str]] = None) -> list[str]:
    """Problems that make a generated notebook out of date with its source (empty = all fresh)."""
    import nbformat

    problems = []
    for lab in labs or lab_names():
        student = render(lab, "student")
        if not student_path(lab).exists():
            problems.append(f"{student_path(lab).relative_to(REPO)} is missing")
        elif student_path(lab).read_text() != _dumps(student):
            problems.append(f"{student_path(lab).relative_to(REPO)} differs from what {lab}.py generates")
        if not solution_path(lab).exists():
            problems.append(f"{solution_path(lab).relative_to(REPO)} is missing")
            continue
        saved = nbformat.read(solution_path(lab), as_version=4)
        meta = saved.metadata.get("plmkit", {})
        if meta.get("source_sha256") != _source_hash(_source_path(lab)) or _code_sources(saved) != _code_sources(render(lab, "solution")):
            problems.append(f"{solution_path(lab).relative_to(REPO)} was built from an older {lab}.py")
        elif meta.get("executed_profile") != EXECUTION_PROFILE:
            problems.append(f"{solution_path(lab).relative_to(REPO)} is not executed in the {EXECUTION_PROFILE} profile")
    return problems


# ----------------------------------------------------------------------------------------------
# Grading help
# ----------------------------------------------------------------------------------------------
def checker_lines(nb) -> list[str]:
    return [line.strip() for c in nb.cells if c.cell_type == "code" for line in c.source.splitlines()
            if CHECKER_RE.match(line)]


def verify_submission(lab: str, path: Path) -> list[str]:
    """Checker lines of the lab that the submitted notebook no longer runs (empty = intact)."""
    import nbformat

    submitted = nbformat.read(path, as_version=4)
    present = set(checker_lines(submitted))
    return [line for line in checker_lines(render(lab, "student")) if line not in present]


# ----------------------------------------------------------------------------------------------
# Command line: python -m plmkit notebooks ...
# ----------------------------------------------------------------------------------------------
def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="notebooks_command", metavar="action", required=True)
    b = sub.add_parser("build", help="write student and solution notebooks from notebooks/src")
    b.add_argument("--only", nargs="*", default=None, help="lab names, e.g. 00_tour (default: all)")
    b.add_argument("--no-execute", action="store_true", help="do not execute the solution notebooks")
    b.add_argument("--profile", default=EXECUTION_PROFILE, help="profile to execute solutions in (default cpu)")
    c = sub.add_parser("check", help="fail if a generated notebook is stale against its source")
    c.add_argument("--only", nargs="*", default=None)
    v = sub.add_parser("verify-submission", help="fail if a submitted notebook lost or changed a checker cell")
    v.add_argument("lab", help="lab name, e.g. 00_tour")
    v.add_argument("notebooks", nargs="+", type=Path)


def main(args) -> int:
    labs = getattr(args, "only", None)
    for lab in labs or []:
        _source_path(lab)  # validates the name
    if args.notebooks_command == "build":
        build(labs, execute_solutions=not args.no_execute, profile=args.profile)
        return 0
    if args.notebooks_command == "check":
        problems = stale(labs)
        for problem in problems:
            print(f"stale: {problem}")
        if problems:
            print("rebuild with: python -m plmkit notebooks build", file=sys.stderr)
            return 1
        print(f"all {len(labs or lab_names())} labs are up to date")
        return 0
    _source_path(args.lab)
    failed = 0
    for path in args.notebooks:
        missing = verify_submission(args.lab, path)
        if missing:
            failed += 1
            print(f"{path}: FAILED, {len(missing)} checker line(s) missing or changed:")
            for line in missing:
                print(f"    {line}")
        else:
            print(f"{path}: all checker cells present")
    return 1 if failed else 0
