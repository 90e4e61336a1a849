"""The reproduction report: one self-contained HTML page built from real run folders.

The fixture reproduces the tour in the ci profile (seconds), then adds two more run folders beside it:
a copy whose targets table has met, missed and unmeasured rows, and a run without targets or figures.
"""
import base64
import contextlib
import io
import json
import os
import shutil
import subprocess
import sys
from html.parser import HTMLParser

import pytest

from plmkit import report

MIXED_TARGETS = [
    {"name": "held-out loss near the floor", "measured": 0.0123, "threshold": "<= 0.05", "met": True, "note": ""},
    {"name": "well-formed generations", "measured": 0.41, "threshold": ">= 0.7", "met": False,
     "note": "needs the cpu profile"},
    {"name": "probe gap over random-init", "measured": None, "threshold": ">= 0.1", "met": None, "note": "not run"},
]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("report") / "runs"
    env = {**os.environ, "PLMKIT_THREADS": "1"}
    done = subprocess.run([sys.executable, "-m", "plmkit", "reproduce", "tour", "--profile", "ci", "--out",
                           str(root / "tour"), "--no-progress", "--threads", "1"],
                          env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    mixed = root / "tour-mixed"
    shutil.copytree(root / "tour", mixed, ignore=shutil.ignore_patterns("checkpoints"))
    metrics = json.loads((mixed / "metrics.json").read_text())
    (mixed / "metrics.json").write_text(json.dumps({**metrics, "targets": MIXED_TARGETS}))
    bare = root / "nested" / "bare"
    bare.mkdir(parents=True)
    (bare / "manifest.json").write_text(json.dumps({"part": "cfg", "profile": "ci", "seed": 3, "command": "by hand"}))
    (bare / "metrics.json").write_text(json.dumps({"part": "cfg", "accuracy": 0.5}))
    shipped = root / "shipped-weights"  # a checkpoint group: a manifest, but not a run
    shipped.mkdir()
    (shipped / "manifest.json").write_text(json.dumps({"made_by": "someone", "files": {}}))
    out = root.parent / "report.html"
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        rc = report.run_cli([str(root), "--out", str(out)])
    assert rc == 0
    return {"root": root, "html": out.read_text(), "printed": printed.getvalue()}


class _Images(HTMLParser):
    def __init__(self):
        super().__init__()
        self.sources, self.links = [], []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "img":
            self.sources.append(attrs.get("src", ""))
        if tag in ("link", "script", "iframe") or "href" in attrs and not attrs["href"].startswith("#"):
            self.links.append((tag, attrs))


def test_the_runs_found_are_the_run_folders(runs):
    assert [p.relative_to(runs["root"]).as_posix() for p in report.find_runs(runs["root"])] == \
        ["nested/bare", "tour", "tour-mixed"]
    assert "3 run(s)" in runs["printed"] and "6 figure(s)" in runs["printed"]


def test_every_figure_is_embedded(runs):
    figures = sorted((runs["root"] / "tour" / "figures").glob("*.png"))
    assert {p.name for p in figures} >= {"loss.png", "probe_depth.png"}
    for png in figures:
        assert base64.b64encode(png.read_bytes()).decode("ascii") in runs["html"], png.name
        assert runs["html"].count(f"<figcaption>{png.name}</figcaption>") == 2  # tour and its copy


def test_the_page_is_self_contained(runs):
    page = _Images()
    page.feed(runs["html"])
    assert len(page.sources) == 6 and all(s.startswith("data:image/png;base64,") for s in page.sources)
    assert page.links == []
    decoded = base64.b64decode(page.sources[0].split(",", 1)[1])
    assert decoded.startswith(b"\x89PNG")


def test_every_target_row_is_shown_met_and_missed(runs):
    html = runs["html"]
    tour_rows = json.loads((runs["root"] / "tour" / "metrics.json").read_text())["targets"]
    for row in tour_rows + MIXED_TARGETS:
        assert row["name"] in html and row["threshold"].replace(">", "&gt;").replace("<", "&lt;") in html
        if row["note"]:
            assert row["note"] in html
    assert "<tr class='missed'><td>well-formed generations</td><td>0.41</td>" in html
    assert "<td class='result'>MISSED</td>" in html and "<td class='result'>met</td>" in html
    assert "1 met, 1 missed, 1 not measured" in html


def test_a_run_without_targets_says_so(runs):
    html = runs["html"]
    bare = html[html.index("id='run-nested-bare'"):html.index("id='run-tour'")]
    assert "has no targets table" in bare and "saved no figures" in bare
    assert "by hand" in bare and "<th>seed</th><td>3</td>" in bare


def test_how_each_run_was_made(runs):
    manifest = json.loads((runs["root"] / "tour" / "manifest.json").read_text())
    html = runs["html"]
    tour = html[html.index("id='run-tour'"):html.index("id='run-tour-mixed'")]
    for key in ("command", "git_commit", "device", "profile", "part"):
        assert str(manifest[key]) in tour, key
    assert "<th>seed</th><td>0</td>" in tour
    assert report.format_seconds(manifest["wall_seconds"]) in tour


def test_wall_times_read_naturally():
    assert report.format_seconds(2.345) == "2.3 s"
    assert report.format_seconds(252) == "4 min 12 s"
    assert report.format_seconds(3 * 3600 + 125) == "3 h 2 min"
    assert report.format_seconds(None) == "-"


def test_bad_folders_exit_2_with_one_line(tmp_path):
    for folder in (tmp_path / "missing", tmp_path):
        err = io.StringIO()
        with contextlib.redirect_stderr(err):
            rc = report.run_cli([str(folder), "--out", str(tmp_path / "r.html")])
        assert rc == 2 and err.getvalue().startswith("error: ") and err.getvalue().count("\n") == 1
    assert not (tmp_path / "r.html").exists()
