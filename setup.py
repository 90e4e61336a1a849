"""Package layout; everything else is in pyproject.toml.

The top-level data/ folder ships inside the package as plmkit._data (see plmkit/paths.py). Each of
its sub-folders is declared as a package too, so setuptools installs the files in them as package
data without warnings. Both lists are computed, so a new module or data folder is never left out.
"""
from pathlib import Path

from setuptools import find_packages, setup

DATA = Path(__file__).resolve().parent / "data"
data_packages = ["plmkit._data"] + [
    "plmkit._data." + ".".join(path.relative_to(DATA).parts) for path in sorted(DATA.rglob("*")) if path.is_dir()
]
package_dir = {"plmkit._data": "data"}
package_dir.update({name: "data/" + "/".join(name.split(".")[2:]) for name in data_packages[1:]})

setup(
    packages=find_packages(include=["plmkit", "plmkit.*"]) + data_packages,
    package_dir=package_dir,
    package_data={name: ["*"] for name in data_packages},
)
