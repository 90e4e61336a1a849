"""Grading a class of submitted notebooks: one grading run over a fixture class built from lab 00.

The class has one submission of each kind an instructor meets: complete, untouched, a wrong exercise
(plus a broken cell outside the exercises), a deleted checker cell, an endless loop, a file that is not
JSON, a notebook of another lab and one whose kernel dies. To keep the run to seconds, every fixture
notebook drops the cells that train and probe the model: the exercises do not use them.
"""
import contextlib
import csv
import io
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import nbformat
import pytest

from plmkit import grade, labs

LAB = "00_tour"
TIMEOUT = 5
EXERCISES = ["entropy of one step", "causal mask", "rotary embedding", "linear probe", "bracket to close: probe labels"]
P, F, NA, CR, NR, NG = "passed", "failed", "not attempted", "checker removed", "not run", "not graded"
EXPECTED = {  # student -> outcome per exercise
    "complete": [P, P, P, P, P],
    "untouched": [NA, NA, NA, NA, NA],
    "wrong_mask": [P, F, P, P, P],
    "deleted_checker": [P, P, CR, P, P],
    "endless_loop": [P, P, F, P, P],
    "not_json": [NG, NG, NG, NG, NG],
    "other_lab": [NG, NG, NG, NG, NG],
    "kernel_dies": [P, P, NR, NR, NR],
}


# ----------------------------------------------------------------------------------------------
# The fixture class
# ----------------------------------------------------------------------------------------------
def _trimmed(nb):
    """Drop the code cells that train and probe the model (all but the checker cells after training starts)."""
    first_training = next(i for i, c in enumerate(nb.cells) if "tour.train_model" in c.source)
    nb.cells = [c for i, c in enumerate(nb.cells)
                if i < first_training or c.cell_type != "code" or "checker" in c.metadata.get("tags", [])]
    return nb


def _solution():
    return _trimmed(labs.render(LAB, "solution"))


def _cell(nb, text: str) -> int:
    return next(i for i, c in enumerate(nb.cells) if c.cell_type == "code" and text in c.source)


def _replace_body(nb, signature: str, new_body: str):
    """Put ``new_body`` in place of the solution of the function defined by ``signature``."""
    cell = nb.cells[_cell(nb, signature)]
    head, rest = cell.source.split(signature, 1)
    doc_end = rest.index('"""', rest.index('"""') + 3) + 3  # end of the docstring
    checker = next(line for line in rest.splitlines() if labs.CHECKER_RE.match(line))
    cell.source = head + signature + rest[:doc_end] + "\n" + new_body + "\n\n\n" + checker
    return nb


def build_class(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)

    def save(name, nb):
        nbformat.write(nb, str(folder / f"{name}.ipynb"))

    save("complete", _solution())
    save("untouched", _trimmed(labs.render(LAB, "student")))

    wrong = _replace_body(_solution(), "def causal_mask(", "    return torch.ones(T, T, dtype=torch.bool).triu()")
    wrong.cells.append(nbformat.v4.new_code_cell("print(undefined_name)"))  # raises outside any exercise
    save("wrong_mask", wrong)

    deleted = _solution()
    del deleted.cells[_cell(deleted, "checks.rotary(")]
    save("deleted_checker", deleted)

    save("endless_loop", _replace_body(_solution(), "def rotate(", "    while True:\n        pass"))

    (folder / "not_json.ipynb").write_text(nbformat.writes(labs.render(LAB, "student"))[:500])

    save("other_lab", labs.render("01_cfg", "student"))

    dies = _solution()
    dies.cells.insert(_cell(dies, "checks.causal_mask(") + 1, nbformat.v4.new_code_cell("import os\nos._exit(1)"))
    save("kernel_dies", dies)


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """Grade the fixture class once; every test reads its outputs."""
    root = tmp_path_factory.mktemp("class")
    build_class(root / "submissions")
    printed = io.StringIO()
    start = time.time()
    with contextlib.redirect_stdout(printed):
        rc = grade.run_cli([LAB, str(root / "submissions"), "--timeout-per-cell", str(TIMEOUT),
                            "--out", str(root / "grades"), "--threads", "1"])
    return {"rc": rc, "out": root / "grades", "printed": printed.getvalue(), "seconds": time.time() - start}


def _gradebook(graded) -> dict:
    with open(graded["out"] / "gradebook.csv", newline="") as f:
        rows = list(csv.reader(f))
    return {"header": rows[0], **{row[0]: dict(zip(rows[0], row)) for row in rows[1:]}}


# ----------------------------------------------------------------------------------------------
# The grading run
# ----------------------------------------------------------------------------------------------
def test_every_student_is_graded_as_what_they_submitted(graded):
    assert graded["rc"] == 0
    book = _gradebook(graded)
    assert book["header"] == ["student", "status", *EXERCISES, "passed", "out_of"]
    assert set(book) - {"header"} == set(EXPECTED)
    for student, outcomes in EXPECTED.items():
        row = book[student]
        assert [row[e] for e in EXERCISES] == outcomes, (student, row)
        assert row["passed"] == str(outcomes.count(P)) and row["out_of"] == str(len(EXERCISES))


def test_statuses_say_what_went_wrong(graded):
    book = _gradebook(graded)
    status = {student: book[student]["status"] for student in EXPECTED}
    for fine in ("complete", "untouched", "deleted_checker"):
        assert status[fine] == "ok", (fine, status[fine])
    assert status["wrong_mask"].startswith("error in cell ")
    assert status["endless_loop"].startswith("timed out in cell ")
    assert status["kernel_dies"].startswith("kernel died in cell ")
    assert status["not_json"].startswith("invalid JSON")
    assert status["other_lab"] == "wrong lab (01_cfg, not 00_tour)"


def test_the_terminal_table_is_the_gradebook(graded):
    printed_rows = [line.split() for line in graded["printed"].splitlines()]
    with open(graded["out"] / "gradebook.csv", newline="") as f:
        for row in csv.reader(f):
            assert " ".join(row).split() in printed_rows, row
    assert "causal mask: passed by 4 of 8" in graded["printed"]


def test_feedback_gives_each_exercise_its_checker_message(graded):
    feedback = {s: (graded["out"] / "feedback" / f"{s}.md").read_text() for s in EXPECTED}
    assert "5 of 5 exercises passed" in feedback["complete"]
    assert "\u2714 linear probe: all checks passed." in feedback["complete"]
    assert feedback["untouched"].count("not implemented yet") == 5
    assert "causal_mask looks transposed" in feedback["wrong_mask"]
    assert "NameError" in feedback["wrong_mask"] and "undefined_name" in feedback["wrong_mask"]
    assert "`checks.rotary(rotate)` is missing or was changed" in feedback["deleted_checker"]
    assert "time limit" in feedback["endless_loop"]
    assert "kernel died" in feedback["kernel_dies"] and "(`import os`)" in feedback["kernel_dies"]
    assert "not graded: invalid JSON" in feedback["not_json"]
    assert "wrong lab" in feedback["other_lab"]


def test_junit_has_one_case_per_student_per_exercise(graded):
    root = ET.parse(graded["out"] / "junit.xml").getroot()
    suites = {s.get("name"): s for s in root.findall("testsuite")}
    assert set(suites) == set(EXPECTED) and root.get("tests") == str(5 * len(EXPECTED))
    for student, outcomes in EXPECTED.items():
        cases = suites[student].findall("testcase")
        assert [c.get("name") for c in cases] == EXERCISES
        for case, outcome in zip(cases, outcomes):
            failure, error = case.find("failure"), case.find("error")
            if outcome == P:
                assert failure is None and error is None
            else:
                assert (failure if failure is not None else error).get("type") == outcome
    wrong = suites["wrong_mask"].find("testcase/failure")
    assert "transposed" in wrong.get("message") and suites["wrong_mask"].get("failures") == "1"


def test_notebooks_are_saved_as_they_ran(graded):
    executed = {p.stem for p in (graded["out"] / "executed").glob("*.ipynb")}
    assert executed == set(EXPECTED) - {"not_json", "other_lab"}
    nb = nbformat.read(graded["out"] / "executed" / "complete.ipynb", as_version=4)
    assert all(c.execution_count is not None for c in nb.cells if c.cell_type == "code")


def test_an_endless_loop_costs_one_time_limit(graded):
    # 6 notebooks run; each takes a few seconds in ci, the loop adds one TIMEOUT
    assert graded["seconds"] < 6 * 15 + TIMEOUT


# ----------------------------------------------------------------------------------------------
# Pieces that need no kernel
# ----------------------------------------------------------------------------------------------
def test_exercises_are_named_by_their_checkers():
    exercises = grade.lab_exercises(LAB)
    assert [e.name for e in exercises] == EXERCISES
    assert exercises[1].checker_line == "checks.causal_mask(causal_mask)"


def _run(*argv):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = grade.run_cli(list(argv))
    return rc, out.getvalue(), err.getvalue()


def test_unknown_lab_names_the_valid_ones(tmp_path):
    rc, _, err = _run("99_nothing", str(tmp_path))
    assert rc == 2 and err.startswith("error: unknown lab") and "00_tour" in err and "Traceback" not in err


@pytest.mark.parametrize("argv, message", [
    (["{empty}"], "no .ipynb files"),
    (["{missing}"], "no such folder"),
    (["{empty}", "--timeout-per-cell", "0"], "at least 1"),
    (["{empty}", "--profile", "huge"], "invalid choice"),
])
def test_bad_input_exits_2_with_one_line(tmp_path, argv, message):
    (tmp_path / "empty").mkdir()
    argv = [a.format(empty=tmp_path / "empty", missing=tmp_path / "missing") for a in argv]
    rc, _, err = _run(LAB, *argv)
    assert rc == 2 and message in err and "Traceback" not in err


def test_a_kernel_that_ignores_the_interrupt_stops_that_notebook_only():
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("x = 1"),
        nbformat.v4.new_code_cell("import time\nwhile True:\n    try:\n        time.sleep(0.1)\n"
                                  "    except KeyboardInterrupt:\n        pass"),
        nbformat.v4.new_code_cell("print(x)"),
    ])
    execution = grade.run_submission(nb, "ci", timeout=1, threads=1)
    assert execution.timed_out == [1] and execution.stop_reason == "kernel stuck" and execution.stopped_at == 1
    assert nb.cells[0].execution_count == 1 and nb.cells[2].execution_count is None
    assert grade.short_status(nb, [], execution) == "timed out in cell 2 (ignored the stop; later cells not run)"
