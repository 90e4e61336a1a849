"""The package ships every subpackage and the data folder (pyproject lists them by hand)."""
from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib")  # Python 3.11+

ROOT = Path(__file__).resolve().parent.parent


def test_every_subpackage_is_listed_in_pyproject():
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "plmkit").rglob("__init__.py")}
    assert found <= listed, f"add to [tool.setuptools] packages: {sorted(found - listed)}"
    assert "plmkit._data" in listed


def test_data_folder_is_found():
    from plmkit.paths import data_path, data_root

    assert data_root().is_dir()
    with pytest.raises(FileNotFoundError, match="not found"):
        data_path("no-such-file.txt")
