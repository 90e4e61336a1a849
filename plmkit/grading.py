"""A pytest plugin for grading lab notebooks with nbval.

Load it with ``-p plmkit.grading`` (the repository's own conftest.py does). It makes two things
that legitimately vary between runs never fail a ``# NBVAL_CHECK_OUTPUT`` comparison:

* anything written to stderr: warnings, progress bars, library log lines;
* the profile: notebooks run in the ``ci`` profile unless ``PLMKIT_PROFILE`` says otherwise.

Addresses, timings and similar text on stdout are handled by ``notebooks/nbval_sanitize.cfg``.
"""
from __future__ import annotations

import os


def _without_stderr(outputs):
    return [o for o in outputs if not (o.get("output_type") == "stream" and o.get("name") == "stderr")]


def pytest_configure(config):
    os.environ.setdefault("PLMKIT_PROFILE", "ci")
    try:
        from nbval.plugin import IPyNbCell
    except ImportError:  # nbval not installed: nothing to patch
        return
    if getattr(IPyNbCell.compare_outputs, "_plmkit_patched", False):
        return
    original = IPyNbCell.compare_outputs

    def compare_outputs(self, test, ref, skip_compare=None):
        return original(self, _without_stderr(test), _without_stderr(ref), skip_compare)

    compare_outputs._plmkit_patched = True
    IPyNbCell.compare_outputs = compare_outputs
