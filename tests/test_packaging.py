"""The built wheel ships every module and every data file."""
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_data_folder_is_found():
    from plmkit.paths import data_path, data_root

    assert data_root().is_dir()
    with pytest.raises(FileNotFoundError, match="not found"):
        data_path("no-such-file.txt")


def test_wheel_contains_all_modules_and_data(tmp_path):
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "--no-build-isolation",
                            "-q", "-w", str(tmp_path)], capture_output=True, text=True)
    if built.returncode != 0:
        pytest.skip(f"cannot build a wheel here: {built.stderr[-300:]}")
    names = set(zipfile.ZipFile(next(tmp_path.glob("*.whl"))).namelist())
    modules = {str(p.relative_to(ROOT)) for p in (ROOT / "plmkit").rglob("*.py")}
    data = {"plmkit/_data/" + str(p.relative_to(ROOT / "data")) for p in (ROOT / "data").rglob("*") if p.is_file()}
    assert modules - names == set(), "modules missing from the wheel"
    assert data - names == set(), "data files missing from the wheel"
