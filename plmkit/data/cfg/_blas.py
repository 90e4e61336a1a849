"""Run numpy's matrix products on one BLAS thread.

The inside pass multiplies many small blocks. Multi-threaded OpenBLAS gains nothing on blocks that
small, and on a busy machine (2 shared cores) it made a cfg3f sentence 2-5x slower in our
measurements. ``one_blas_thread()`` switches numpy's OpenBLAS to one thread for the duration of a
block of code and restores the previous setting. Where the library cannot be found (another BLAS,
another OS) it does nothing; set ``OPENBLAS_NUM_THREADS=1`` before starting Python instead.
"""
from __future__ import annotations

import contextlib
import ctypes
import re
from typing import Optional

_SETTERS = ("scipy_openblas_set_num_threads64_", "scipy_openblas_set_num_threads", "openblas_set_num_threads64_",
            "openblas_set_num_threads")
_state: dict = {}


def _openblas() -> Optional[tuple]:
    """(set_num_threads, get_num_threads) of the OpenBLAS that numpy loaded, or None."""
    if "lib" not in _state:
        _state["lib"] = None
        try:
            import numpy  # noqa: F401  (make sure numpy's BLAS is loaded)

            with open("/proc/self/maps") as maps:
                paths = sorted(set(re.findall(r"(/\S*openblas\S*\.so\S*)", maps.read())))
            for path in paths:
                lib = ctypes.CDLL(path)
                for setter in _SETTERS:
                    getter = setter.replace("set_", "get_")
                    if hasattr(lib, setter) and hasattr(lib, getter):
                        _state["lib"] = (getattr(lib, setter), getattr(lib, getter))
                        break
                if _state["lib"]:
                    break
        except (OSError, ValueError):  # no /proc (macOS, Windows) or a library ctypes cannot open
            _state["lib"] = None
    return _state["lib"]


@contextlib.contextmanager
def one_blas_thread():
    """Context manager: numpy matrix products use one OpenBLAS thread inside the block."""
    lib = _openblas()
    if lib is None:
        yield
        return
    set_threads, get_threads = lib
    before = int(get_threads())
    if before != 1:
        set_threads(1)
    try:
        yield
    finally:
        if before != 1:
            set_threads(before)
