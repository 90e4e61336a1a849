"""Grade a folder of submitted lab notebooks in one command.

    python -m plmkit grade 00_tour submissions/00_tour/ [--profile ci] [--timeout-per-cell 300] [--out DIR]

Every ``*.ipynb`` in the folder is one student (the file name without ``.ipynb``). For each one the
grader

1. reads the notebook and checks it belongs to the lab (``metadata.plmkit.lab``);
2. compares its checker lines with the lab's (:func:`plmkit.labs.verify_submission`): an exercise
   whose checker line was deleted or edited is graded "checker removed", whatever the notebook prints;
3. runs it top to bottom in a fresh kernel, in the given profile, in a scratch folder, with a time
   limit per cell. Errors do not stop the run, so a broken exercise 1 still lets exercise 3 be graded;
4. reads each checker cell's output: the checker's success line means passed, an ``AssertionError``
   means failed (its message says why), the stub's ``NotImplementedError`` means not attempted.

A submission that loops forever, kills its kernel, raises outside the exercises, is not valid JSON or
belongs to another lab gets a status that says so; it never stops the rest of the class.

Written to ``--out`` (default ``grades-LAB``)::

    gradebook.csv          one row per student, one column per exercise, then passed and out_of
    feedback/STUDENT.md    each exercise's result with the checker's message, and what went wrong
    junit.xml              one test suite per student, one test case per exercise (for CI systems)
    executed/STUDENT.ipynb the notebook as it ran, with its outputs (to see what happened)
"""
from __future__ import annotations

import argparse
import csv
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Sequence

from . import labs

DEFAULT_PROFILE = "ci"  # the checkers test the students' functions, which do not depend on the profile
DEFAULT_TIMEOUT = 300

PASSED, FAILED, NOT_ATTEMPTED = "passed", "failed", "not attempted"
CHECKER_REMOVED, NOT_RUN, NOT_GRADED = "checker removed", "not run", "not graded"
OUTCOMES = (PASSED, FAILED, NOT_ATTEMPTED, CHECKER_REMOVED, NOT_RUN, NOT_GRADED)

_TIMEOUT_ENAME = "CellTimeout"  # the error the grader records for a cell it had to stop
_STUB_ERRORS = ("ExerciseNotDone", "NotImplementedError")
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_NOT_XML = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


# ----------------------------------------------------------------------------------------------
# What is graded, and what came out
# ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Exercise:
    name: str  # the checker's own name, e.g. "causal mask" (with its line when two checkers share a name)
    checker_line: str  # e.g. "checks.causal_mask(causal_mask)"
    success: str  # what the checker prints when every check passes


@dataclass
class ExerciseResult:
    exercise: str
    outcome: str  # one of OUTCOMES
    message: str = ""


@dataclass
class StudentResult:
    student: str
    status: str  # one short line: "ok", "invalid JSON", "timed out in cell 14", ...
    results: list[ExerciseResult]
    problems: list[str] = field(default_factory=list)  # the long story behind the status
    seconds: float = 0.0
    executed: object = None  # the notebook with its outputs, when it ran

    @property
    def passed(self) -> int:
        return sum(r.outcome == PASSED for r in self.results)


def lab_exercises(lab: str) -> list[Exercise]:
    """The lab's exercises, in notebook order, one per checker line of its student notebook."""
    lines = labs.checker_lines(labs.render(lab, "student"))
    names = [_exercise_name(line) for line in lines]
    return [Exercise(name if names.count(name) == 1 else f"{name} ({line})", line, f"\u2714 {name}: all checks passed.")
            for name, line in zip(names, lines)]


def _exercise_name(checker_line: str) -> str:
    """The name the checker prints (``checks.causal_mask`` -> "causal mask"), else the line itself."""
    from . import checks

    function = re.match(r"\s*checks\.(\w+)\(", checker_line).group(1)
    return getattr(getattr(checks, function, None), "exercise", checker_line)


def find_submissions(folder: Path) -> list[Path]:
    folder = Path(folder)
    if folder.is_file():
        return [folder]
    if not folder.is_dir():
        raise FileNotFoundError(f"no such folder: {folder}")
    found = sorted(folder.glob("*.ipynb"))
    if not found:
        raise FileNotFoundError(f"no .ipynb files in {folder}")
    return found


# ----------------------------------------------------------------------------------------------
# Reading a submission
# ----------------------------------------------------------------------------------------------
class Ungradable(Exception):
    """The file cannot be graded as this lab at all; the message is the student's status."""


def read_submission(path: Path, lab: str):
    """The notebook, or :class:`Ungradable` saying why it is not one of this lab's notebooks."""
    import nbformat

    try:
        text = Path(path).read_text(encoding="utf-8")
        json.loads(text)
    except UnicodeDecodeError:
        raise Ungradable("not a notebook (not UTF-8 text)") from None
    except json.JSONDecodeError as err:
        raise Ungradable(f"invalid JSON (line {err.lineno}, column {err.colno}: {err.msg})") from None
    try:
        nb = nbformat.reads(text, as_version=4)
    except Exception as err:  # nbformat raises several types for JSON that is not a notebook
        raise Ungradable(f"not a notebook ({type(err).__name__}: {_one_line(str(err))})") from None
    submitted_lab = nb.metadata.get("plmkit", {}).get("lab")
    if submitted_lab is not None and submitted_lab != lab:
        raise Ungradable(f"wrong lab ({submitted_lab}, not {lab})")
    return nb


# ----------------------------------------------------------------------------------------------
# Running a submission
# ----------------------------------------------------------------------------------------------
class KernelStuck(Exception):
    """A cell ran past its time limit and the kernel ignored the interrupt."""


@dataclass
class Execution:
    timed_out: list[int] = field(default_factory=list)  # cell indices stopped by the time limit
    stopped_at: Optional[int] = None  # the cell during which the run ended early
    stop_reason: str = ""  # "kernel died", "kernel stuck", or the grader's own error


def run_submission(nb, profile: str, timeout: int, threads: Optional[int] = None) -> Execution:
    """Run every cell in a fresh kernel; errors, time-outs and a dying kernel are recorded, not raised."""
    from nbclient import NotebookClient
    from nbclient.exceptions import DeadKernelError

    execution, current = Execution(), {"cell": None}

    def on_cell_execute(cell, cell_index):
        current["cell"] = cell_index

    def on_cell_executed(cell, cell_index, execute_reply):
        if (execute_reply or {}).get("content", {}).get("ename") != _TIMEOUT_ENAME:
            return
        execution.timed_out.append(cell_index)
        interrupted = any(o.get("output_type") == "error" for o in cell.outputs)
        if not interrupted:  # the interrupt did not stop the cell: later cells would queue behind it
            raise KernelStuck()

    env = {**os.environ, "PLMKIT_PROFILE": profile}
    if threads is not None:
        env["PLMKIT_THREADS"] = str(threads)
    with tempfile.TemporaryDirectory(prefix="plmkit-grade-") as scratch:  # students' files stay apart
        client = NotebookClient(
            nb, kernel_name="python3", timeout=timeout, allow_errors=True, interrupt_on_timeout=True,
            error_on_timeout={"ename": _TIMEOUT_ENAME, "evalue": f"stopped after {timeout} s", "traceback": []},
            shutdown_kernel="immediate", record_timing=False, log=_quiet_log(),
            on_cell_execute=on_cell_execute, on_cell_executed=on_cell_executed,
            resources={"metadata": {"path": scratch}},
        )
        try:
            # the kernel's own stdout/stderr carry only launcher noise: cell output arrives as messages
            client.execute(env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        except DeadKernelError:
            execution.stopped_at, execution.stop_reason = current["cell"], "kernel died"
        except KernelStuck:
            execution.stopped_at, execution.stop_reason = current["cell"], "kernel stuck"
    return execution


def _quiet_log() -> logging.Logger:
    log = logging.getLogger("plmkit.grade.kernel")  # time-outs and crashes are reported per student instead
    log.setLevel(logging.CRITICAL)
    log.propagate = False
    return log


# ----------------------------------------------------------------------------------------------
# Reading the outcome of each exercise
# ----------------------------------------------------------------------------------------------
def grade_exercises(nb, exercises: Sequence[Exercise], missing: Sequence[str], execution: Execution) -> list[ExerciseResult]:
    results = []
    for exercise in exercises:
        if exercise.checker_line in missing:
            results.append(ExerciseResult(exercise.name, CHECKER_REMOVED,
                                          f"the checker line `{exercise.checker_line}` is missing or was changed; "
                                          "restore it exactly as in the lab notebook, it is what grades this exercise"))
            continue
        index = _checker_cell(nb, exercise.checker_line)
        results.append(_grade_cell(nb.cells[index], index, exercise, execution))
    return results


def _checker_cell(nb, checker_line: str) -> int:
    return next(i for i, cell in enumerate(nb.cells) if cell.cell_type == "code"
                and checker_line in (line.strip() for line in cell.source.splitlines()))


def _grade_cell(cell, index: int, exercise: Exercise, execution: Execution) -> ExerciseResult:
    name = exercise.name
    if index in execution.timed_out:
        return ExerciseResult(name, FAILED, f"the cell ran longer than the time limit and was stopped "
                                            f"(cell {_where(cell, index)})")
    if cell.get("execution_count") is None:
        return ExerciseResult(name, NOT_RUN, f"the notebook stopped before this cell ran: {execution.stop_reason} "
                                             f"in cell {_number(execution.stopped_at)}")
    if exercise.success in _stdout(cell):
        return ExerciseResult(name, PASSED, exercise.success)
    error = _error(cell)
    if error is None:
        return ExerciseResult(name, FAILED, "the checker reported no result: was its cell changed?")
    ename, evalue = error
    if ename in _STUB_ERRORS:
        return ExerciseResult(name, NOT_ATTEMPTED, evalue or "the exercise still raises NotImplementedError")
    if ename == "AssertionError":
        return ExerciseResult(name, FAILED, evalue)
    return ExerciseResult(name, FAILED, f"{ename}: {evalue}")


def _stdout(cell) -> str:
    return "".join(o.get("text", "") for o in cell.get("outputs", [])
                   if o.get("output_type") == "stream" and o.get("name") == "stdout")


def _error(cell) -> Optional[tuple[str, str]]:
    for output in cell.get("outputs", []):
        if output.get("output_type") == "error":
            return output.get("ename", "Error"), _ANSI.sub("", output.get("evalue", ""))
    return None


def notebook_problems(nb, exercises: Sequence[Exercise], execution: Execution) -> list[str]:
    """What went wrong outside the checker cells: time-outs, a dead kernel, errors."""
    problems = [f"cell {_where(nb.cells[i], i)} ran longer than the time limit and was stopped"
                for i in execution.timed_out]
    if execution.stop_reason:
        what = {"kernel died": "the kernel died (the Python process crashed or exited)",
                "kernel stuck": "the kernel ignored the interrupt after the time limit"}[execution.stop_reason]
        stopped = execution.stopped_at
        where = "" if stopped is None else f" in cell {_where(nb.cells[stopped], stopped)}"
        problems.append(f"{what}{where}; the cells after it did not run")
    for i in _error_cells(nb, exercises, execution):
        ename, evalue = _error(nb.cells[i])
        problems.append(f"cell {_where(nb.cells[i], i)} raised {ename}: {_one_line(evalue)}")
    return problems


def short_status(nb, exercises: Sequence[Exercise], execution: Execution) -> str:
    """One line for the gradebook: "ok", or what stopped or broke the notebook, by cell number."""
    parts = []
    if execution.stop_reason == "kernel died":
        parts.append(f"kernel died in cell {_number(execution.stopped_at)}")
    if execution.timed_out:
        parts.append("timed out in cell " + ", ".join(_number(i) for i in execution.timed_out))
    if execution.stop_reason == "kernel stuck":
        parts[-1] += " (ignored the stop; later cells not run)"
    errors = _error_cells(nb, exercises, execution)
    if errors:
        parts.append(f"error{'s' if len(errors) > 1 else ''} in cell {', '.join(_number(i) for i in errors)}")
    return "; ".join(parts) or "ok"


def _error_cells(nb, exercises: Sequence[Exercise], execution: Execution) -> list[int]:
    """Cells outside the exercises' checker cells that raised (time-outs are reported apart)."""
    present = set(labs.checker_lines(nb))
    checker_cells = {_checker_cell(nb, e.checker_line) for e in exercises if e.checker_line in present}
    return [i for i, cell in enumerate(nb.cells) if cell.cell_type == "code" and i not in checker_cells
            and i not in execution.timed_out and _error(cell)]


def _number(index: Optional[int]) -> str:
    return "?" if index is None else str(index + 1)  # cells are numbered from 1 for people


def _where(cell, index: int) -> str:
    first = next((line.strip() for line in cell.source.splitlines() if line.strip()), "")
    return f"{index + 1} (`{first[:60]}`)"


def _one_line(text: str) -> str:
    text = " ".join(_ANSI.sub("", text).split())
    return text if len(text) <= 300 else text[:297] + "..."


# ----------------------------------------------------------------------------------------------
# One student, the whole class
# ----------------------------------------------------------------------------------------------
def grade_submission(path: Path, lab: str, exercises: Sequence[Exercise], profile: str = DEFAULT_PROFILE,
                     timeout: int = DEFAULT_TIMEOUT, threads: Optional[int] = None) -> StudentResult:
    start, student = time.time(), Path(path).stem
    try:
        nb = read_submission(path, lab)
        missing = labs.verify_submission(lab, path)
        execution = run_submission(nb, profile, timeout, threads)
        results = grade_exercises(nb, exercises, missing, execution)
        status, problems = short_status(nb, exercises, execution), notebook_problems(nb, exercises, execution)
    except Ungradable as why:
        return _not_graded(student, exercises, str(why), start)
    except Exception as err:  # whatever breaks on one notebook must not stop the class
        return _not_graded(student, exercises, f"could not be graded ({type(err).__name__}: {_one_line(str(err))})", start)
    return StudentResult(student, status, results, problems, time.time() - start, nb)


def _not_graded(student: str, exercises: Sequence[Exercise], why: str, start: float) -> StudentResult:
    results = [ExerciseResult(e.name, NOT_GRADED, f"the submission was not graded: {why}") for e in exercises]
    return StudentResult(student, why, results, [f"the submission was not graded: {why}"], time.time() - start)


def grade_class(lab: str, submissions: Sequence[Path], profile: str = DEFAULT_PROFILE, timeout: int = DEFAULT_TIMEOUT,
                threads: Optional[int] = None, progress: bool = True) -> tuple[list[Exercise], list[StudentResult]]:
    if lab not in labs.lab_names():
        raise ValueError(f"unknown lab {lab!r}; labs: {', '.join(labs.lab_names())}")
    exercises = lab_exercises(lab)
    students = []
    for number, path in enumerate(submissions, 1):
        result = grade_submission(path, lab, exercises, profile, timeout, threads)
        students.append(result)
        if progress:
            print(f"[{number}/{len(submissions)}] {result.student}: {result.passed}/{len(exercises)} passed, "
                  f"{result.status} ({result.seconds:.0f} s)", flush=True)
    return exercises, students


# ----------------------------------------------------------------------------------------------
# Gradebook, feedback, JUnit XML
# ----------------------------------------------------------------------------------------------
def gradebook_rows(exercises: Sequence[Exercise], students: Sequence[StudentResult]) -> list[list[str]]:
    """Header and one row per student: status, one outcome per exercise, passed, out_of."""
    header = ["student", "status", *(e.name for e in exercises), "passed", "out_of"]
    rows = [[s.student, s.status, *(r.outcome for r in s.results), str(s.passed), str(len(exercises))] for s in students]
    return [header, *rows]


def write_gradebook(path: Path, rows: Sequence[Sequence[str]]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows(rows)


def format_gradebook(rows: Sequence[Sequence[str]], exercises: Sequence[Exercise], students: Sequence[StudentResult]) -> str:
    """The gradebook as a plain-text table, with how many students passed each exercise."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    for index, exercise in enumerate(exercises):
        count = sum(s.results[index].outcome == PASSED for s in students)
        lines.append(f"{exercise.name}: passed by {count} of {len(students)}")
    return "\n".join(lines)


def feedback_markdown(lab: str, student: StudentResult, profile: str) -> str:
    lines = [f"# {lab}: feedback for {student.student}", "",
             f"**{student.passed} of {len(student.results)} exercises passed** (run in the `{profile}` profile).", ""]
    if student.problems:
        lines += ["**Problems with the notebook:**", ""] + [f"* {p}" for p in student.problems] + [""]
    else:
        lines += ["The notebook ran from top to bottom without errors outside the exercises.", ""]
    lines += ["| exercise | result |", "|---|---|"] + [f"| {r.exercise} | {r.outcome} |" for r in student.results]
    for r in student.results:
        lines += ["", f"## {r.exercise}: {r.outcome}", "", "```", r.message.strip() or "(no message)", "```"]
    return "\n".join(lines) + "\n"


def junit_xml(lab: str, exercises: Sequence[Exercise], students: Sequence[StudentResult]) -> bytes:
    """One test suite per student, one test case per exercise; failed and not attempted are failures."""
    root = ET.Element("testsuites", name=f"plmkit grade {lab}")
    for student in students:
        suite = ET.SubElement(root, "testsuite", name=student.student, tests=str(len(student.results)),
                              time=f"{student.seconds:.2f}")
        properties = ET.SubElement(suite, "properties")
        ET.SubElement(properties, "property", name="status", value=_xml_text(student.status))
        failures = errors = 0
        for result in student.results:
            case = ET.SubElement(suite, "testcase", classname=f"{lab}.{student.student}", name=result.exercise)
            if result.outcome in (FAILED, NOT_ATTEMPTED):
                failures += 1
                node = ET.SubElement(case, "failure", type=result.outcome, message=_xml_text(_one_line(result.message)))
            elif result.outcome != PASSED:
                errors += 1
                node = ET.SubElement(case, "error", type=result.outcome, message=_xml_text(_one_line(result.message)))
            else:
                continue
            node.text = _xml_text(result.message)
        suite.set("failures", str(failures))
        suite.set("errors", str(errors))
        if student.problems:
            ET.SubElement(suite, "system-out").text = _xml_text("\n".join(student.problems))
    root.set("tests", str(sum(len(s.results) for s in students)))
    ET.indent(root)  # one element per line: readable, and diffs between gradings stay small
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


def _xml_text(text: str) -> str:
    return _NOT_XML.sub("", _ANSI.sub("", text))


def write_outputs(out: Path, lab: str, profile: str, exercises: Sequence[Exercise],
                  students: Sequence[StudentResult]) -> list[list[str]]:
    out = Path(out)
    if (out / "gradebook.csv").exists():  # a previous grading: drop its per-student files, keep nothing stale
        for sub in ("feedback", "executed"):
            shutil.rmtree(out / sub, ignore_errors=True)
    (out / "feedback").mkdir(parents=True, exist_ok=True)
    (out / "executed").mkdir(parents=True, exist_ok=True)
    rows = gradebook_rows(exercises, students)
    write_gradebook(out / "gradebook.csv", rows)
    for student in students:
        (out / "feedback" / f"{student.student}.md").write_text(feedback_markdown(lab, student, profile), encoding="utf-8")
        if student.executed is not None:
            import nbformat

            nbformat.write(student.executed, str(out / "executed" / f"{student.student}.ipynb"))
    (out / "junit.xml").write_bytes(junit_xml(lab, exercises, students))
    return rows


# ----------------------------------------------------------------------------------------------
# Command line: python -m plmkit grade LAB SUBMISSIONS_DIR
# ----------------------------------------------------------------------------------------------
def add_arguments(parser: argparse.ArgumentParser) -> None:
    from .profiles import PROFILES

    parser.description = "Run every submitted notebook of one lab and grade its exercises."
    parser.add_argument("lab", metavar="LAB", help="lab name, e.g. 00_tour")
    parser.add_argument("submissions", type=Path, metavar="SUBMISSIONS_DIR",
                        help="folder of submitted .ipynb files (one per student), or one file")
    parser.add_argument("--profile", choices=PROFILES, default=DEFAULT_PROFILE,
                        help=f"profile the notebooks run in (default {DEFAULT_PROFILE}: seconds per notebook)")
    parser.add_argument("--timeout-per-cell", type=_positive_int, default=DEFAULT_TIMEOUT, metavar="S",
                        help=f"seconds a cell may run before it is stopped (default {DEFAULT_TIMEOUT})")
    parser.add_argument("--out", type=Path, default=None, metavar="DIR", help="output folder (default: grades-LAB)")
    parser.add_argument("--threads", type=_positive_int, default=None, metavar="N",
                        help="CPU threads per kernel (default: $PLMKIT_THREADS, else measured by each notebook)")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got {value}")
    return value


def main(args: argparse.Namespace) -> int:
    try:
        if args.lab not in labs.lab_names():
            raise ValueError(f"unknown lab {args.lab!r}; labs: {', '.join(labs.lab_names())}")
        submissions = find_submissions(args.submissions)
    except (ValueError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    out = args.out or Path(f"grades-{args.lab}")
    print(f"grading {len(submissions)} submission(s) of {args.lab} in the {args.profile} profile, "
          f"{args.timeout_per_cell} s per cell", flush=True)
    start = time.time()
    exercises, students = grade_class(args.lab, submissions, args.profile, args.timeout_per_cell, args.threads)
    rows = write_outputs(out, args.lab, args.profile, exercises, students)
    print()
    print(format_gradebook(rows, exercises, students))
    print(f"\ngraded in {time.time() - start:.0f} s; wrote {out}/gradebook.csv, {out}/junit.xml, "
          f"{out}/feedback/ (one .md per student) and {out}/executed/ (the notebooks as they ran)")
    return 0


def run_cli(argv: Optional[Sequence[str]] = None) -> int:
    """Parse ``argv`` and grade; argparse errors return 2."""
    from plmkit.cli import run_tool

    return run_tool("python -m plmkit grade", None, add_arguments, main, argv)


if __name__ == "__main__":
    sys.exit(run_cli())
