import json

import nbformat
import pytest

from plmkit import labs

LABS = labs.lab_names()


def test_there_are_labs():
    assert "00_tour" in LABS


def test_generated_notebooks_are_up_to_date():
    assert labs.stale() == [], "run: python -m plmkit notebooks build"


@pytest.mark.parametrize("lab", LABS)
def test_student_notebook_has_stubs_not_solutions_and_no_outputs(lab):
    student = nbformat.read(labs.student_path(lab), as_version=4)
    text = json.dumps(student.dict())
    assert labs.BEGIN not in text and labs.END not in text
    assert labs.STUB in text
    for cell in student.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None


@pytest.mark.parametrize("lab", LABS)
def test_solution_notebook_is_executed_with_figures(lab):
    solution = nbformat.read(labs.solution_path(lab), as_version=4)
    assert solution.metadata["plmkit"]["executed_profile"] == "cpu"
    code = [c for c in solution.cells if c.cell_type == "code"]
    assert all(c.execution_count is not None for c in code), "every cell of the solution must have run"
    assert any("image/png" in o.get("data", {}) for c in code for o in c.outputs), "the solution shows no figure"
    errors = [o for c in code for o in c.outputs if o.get("output_type") == "error"]
    assert not errors, errors[:1]


@pytest.mark.parametrize("lab", LABS)
def test_first_code_cell_installs_only_plmkit_on_colab_and_reports(lab):
    first = next(c for c in labs.render(lab, "student").cells if c.cell_type == "code")
    assert "google.colab" in first.source and "--no-deps" in first.source
    for package in ("torch", "numpy", "matplotlib", "ipywidgets"):
        assert f"install {package}" not in first.source and f'"{package}"' not in first.source
    assert "ctx = start_lab()" in first.source  # the lab's run context; prints profile, device and threads


@pytest.mark.parametrize("lab", LABS)
def test_checker_cells_are_protected_and_verified(lab, tmp_path):
    student = labs.render(lab, "student")
    checker_cells = [c for c in student.cells if "checker" in c.metadata.get("tags", [])]
    assert checker_cells and all(c.metadata["deletable"] is False for c in checker_cells)
    intact = tmp_path / "intact.ipynb"
    nbformat.write(student, intact)
    assert labs.verify_submission(lab, intact) == []
    student.cells.remove(checker_cells[0])
    tampered = tmp_path / "tampered.ipynb"
    nbformat.write(student, tampered)
    missing = labs.verify_submission(lab, tampered)
    assert len(missing) == 1 and missing[0].startswith("checks.")


def test_solution_markers_must_balance():
    with pytest.raises(ValueError, match="never closed"):
        labs.strip_solutions("x = 1\n# BEGIN SOLUTION\ny = 2", keep=True)
    with pytest.raises(ValueError, match="without a matching"):
        labs.strip_solutions("# END SOLUTION", keep=False)
    assert labs.strip_solutions("def f():\n    # BEGIN SOLUTION\n    return 1\n    # END SOLUTION", keep=False) == \
        "def f():\n    " + labs.STUB


def test_unknown_lab_names_the_valid_ones():
    with pytest.raises(ValueError, match="00_tour"):
        labs.render("99_nothing", "student")
