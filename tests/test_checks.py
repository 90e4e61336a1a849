"""Every exercise checker fails on its stub and passes on the lab's own solution.

The per-lab checker tests (test_checks_<lab>.py) import ``exercise_cells`` and ``run_cell`` from here.
"""
from __future__ import annotations

import contextlib
import io

import pytest
import torch

from plmkit import checks, labs

PREAMBLE = "import numpy as np\nimport torch\nimport torch.nn.functional as F\nfrom plmkit import checks\n"


def lab_imports(notebook) -> str:
    """The lab's own top-level import lines: an exercise cell may use any module the lab imported."""
    lines = [line for cell in notebook.cells if cell.cell_type == "code" for line in cell.source.splitlines()
             if line.startswith(("import ", "from ")) and "plmkit @" not in line]
    return "\n".join(lines) + "\n"


def exercise_cells(only: str | None = None):
    """(lab imports, solution source, stub source) of every checker cell, of one lab or of all."""
    for lab in [only] if only else labs.lab_names():
        solution, student = labs.render(lab, "solution"), labs.render(lab, "student")
        imports = lab_imports(solution)
        for sol, stub in zip(solution.cells, student.cells):
            if "checker" in sol.metadata.get("tags", []):
                yield pytest.param(imports, sol.source, stub.source, id=f"{lab}:{sol.id}")


def run_cell(source: str, imports: str = "", namespace: dict | None = None) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(PREAMBLE + imports + source, {} if namespace is None else namespace)
    return out.getvalue()


@pytest.mark.parametrize("imports,solution,stub", list(exercise_cells()))
def test_checker_passes_on_solution_and_fails_on_stub(imports, solution, stub):
    assert "\u2714" in run_cell(solution, imports)
    with pytest.raises(checks.ExerciseNotDone, match="not implemented yet"):
        run_cell(stub, imports)


def test_every_lab_has_exercises():
    assert len(list(exercise_cells())) >= 3


def test_causal_mask_checker_explains_common_mistakes():
    with pytest.raises(AssertionError, match="transposed"):
        checks.causal_mask(lambda T: torch.ones(T, T, dtype=torch.bool).triu())
    with pytest.raises(AssertionError, match="diagonal"):
        checks.causal_mask(lambda T: torch.ones(T, T, dtype=torch.bool).tril(-1))
    with pytest.raises(AssertionError, match="bool"):
        checks.causal_mask(lambda T: torch.ones(T, T).tril())


def test_rotary_checker_catches_wrong_signs_and_offsets():
    def wrong_sign(x, base=10000.0):
        T, d = x.shape
        angles = torch.arange(T)[:, None] * base ** (-torch.arange(0, d, 2) / d)
        a, b = x[:, 0::2], x[:, 1::2]
        return torch.stack((a * angles.cos() + b * angles.sin(), a * angles.sin() + b * angles.cos()), -1).flatten(-2)

    with pytest.raises(AssertionError):
        checks.rotary(wrong_sign)
    with pytest.raises(AssertionError, match="position 0"):
        checks.rotary(lambda x, base=10000.0: torch.roll(x, 1, dims=0))


def test_probe_checker_catches_a_probe_that_does_not_learn():
    with pytest.raises(AssertionError, match="reaches"):
        checks.linear_probe(lambda x, y, k: (torch.zeros(x.shape[1], k), torch.zeros(k)))
