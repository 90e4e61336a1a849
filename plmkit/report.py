"""One HTML page of every reproduced run: its figures, its targets table, and how it was made.

    python -m plmkit report runs/ --out report.html

Every run folder under ``runs/`` (what ``python -m plmkit reproduce`` writes: ``manifest.json``,
``metrics.json``, ``figures/*.png``) becomes one section of the page:

* **targets**: every row of the run's targets table, met and missed alike, with its note; a run
  without a targets table says so;
* **figures**: each PNG, embedded in the page itself (base64), so the file can be mailed or attached
  to a course page and still shows everything;
* **how it was made**: part, profile, seed, git commit, device, wall time, command, versions.

A reader who wants to check a claim finds, in one place, what was measured, against which
threshold, and the exact command to run it again.
"""
from __future__ import annotations

import argparse
import base64
import html
import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Sequence

METRICS_SHOWN = 20_000  # characters of metrics.json shown per run; the file itself has the rest
RESULT_WORDS = {True: "met", False: "MISSED", None: "not measured"}


# ----------------------------------------------------------------------------------------------
# Reading run folders
# ----------------------------------------------------------------------------------------------
@dataclass
class Run:
    path: Path
    name: str  # the folder relative to the runs folder, e.g. "tour" or "cfg/cpu"
    manifest: dict = field(default_factory=dict)
    metrics: dict = field(default_factory=dict)
    figures: list[Path] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # files missing or unreadable

    @property
    def targets(self) -> Optional[list[dict]]:
        rows = self.metrics.get("targets")
        return rows if isinstance(rows, list) and rows else None


def is_run_folder(folder: Path) -> bool:
    """A folder ``reproduce`` wrote: it has metrics.json, or a manifest.json that names its part.

    (Shipped checkpoint groups also have a manifest.json, but no part and no metrics.)
    """
    if (folder / "metrics.json").is_file():
        return True
    manifest = _read_json(folder / "manifest.json")
    return isinstance(manifest, dict) and "part" in manifest


def find_runs(root: Path) -> list[Path]:
    """Every run folder under ``root`` (``root`` itself included), sorted by path."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"no such folder: {root}")
    found = []
    for folder, subfolders, _ in os.walk(root):
        subfolders[:] = sorted(d for d in subfolders if d != "checkpoints" and not d.startswith("."))  # skip weights
        if is_run_folder(Path(folder)):
            found.append(Path(folder))
    if not found:
        raise FileNotFoundError(f"no run folders under {root} (a run folder holds manifest.json and metrics.json, "
                                "as written by: python -m plmkit reproduce PART --out FOLDER)")
    return sorted(found)


def load_run(folder: Path, root: Path) -> Run:
    name = folder.relative_to(root).as_posix() if folder != root else folder.resolve().name
    run = Run(folder, name)
    for attribute, file in (("manifest", "manifest.json"), ("metrics", "metrics.json")):
        data = _read_json(folder / file)
        if isinstance(data, dict):
            setattr(run, attribute, data)
        else:
            run.problems.append(f"{file} is missing" if data is None else f"{file} is unreadable: {data}")
    run.figures = sorted((folder / "figures").glob("*.png"))
    return run


def _read_json(path: Path):
    """The parsed file, None when it does not exist, or the error's text when it cannot be read."""
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        return str(err)


# ----------------------------------------------------------------------------------------------
# Pieces of the page
# ----------------------------------------------------------------------------------------------
STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 75em; padding: 0 1em; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; vertical-align: top; }
th { background: #f3f3f3; }
tr.met td.result { background: #d9f2d9; }
tr.missed td.result { background: #f7d4d4; font-weight: bold; }
tr.unmeasured td.result { background: #eee; }
code, pre { font-family: ui-monospace, monospace; font-size: 0.9em; }
pre { background: #f7f7f7; padding: 0.6em; overflow-x: auto; }
figure { display: inline-block; margin: 0.5em 1em 1em 0; vertical-align: top; }
figure img { max-width: 100%; border: 1px solid #ddd; }
figcaption { font-size: 0.9em; color: #555; }
section.run { border-top: 2px solid #999; margin-top: 2em; }
p.note { color: #555; font-style: italic; }
"""


def _e(value) -> str:
    return html.escape("" if value is None else str(value))


def _anchor(run: Run) -> str:
    return "run-" + "".join(c if c.isalnum() else "-" for c in run.name)


def format_seconds(seconds) -> str:
    if not isinstance(seconds, (int, float)):
        return "-"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if hours else f"{minutes} min {secs} s"


def targets_summary(rows: Optional[Sequence[dict]]) -> str:
    if not rows:
        return "no targets"
    met = sum(r.get("met") is True for r in rows)
    missed = sum(r.get("met") is False for r in rows)
    rest = len(rows) - met - missed
    return f"{met} met, {missed} missed" + (f", {rest} not measured" if rest else "")


def targets_table(rows: Optional[Sequence[dict]]) -> str:
    if not rows:
        return "<p class='note'>This run has no targets table: it recorded no expectations to check.</p>"
    body = []
    for row in rows:
        met = row.get("met")
        measured = row.get("measured")
        measured = "-" if measured is None else f"{measured:.4g}" if isinstance(measured, (int, float)) else measured
        css = {True: "met", False: "missed"}.get(met, "unmeasured")
        body.append(f"<tr class='{css}'><td>{_e(row.get('name'))}</td><td>{_e(measured)}</td>"
                    f"<td>{_e(row.get('threshold'))}</td><td class='result'>{RESULT_WORDS.get(met, _e(met))}</td>"
                    f"<td>{_e(row.get('note'))}</td></tr>")
    return ("<table class='targets'><tr><th>target</th><th>measured</th><th>threshold</th><th>result</th><th>note</th></tr>"
            + "".join(body) + f"</table><p>{_e(targets_summary(rows))}</p>")


def provenance_table(run: Run) -> str:
    m = run.manifest
    versions = m.get("versions")
    rows = [
        ("part", m.get("part") or run.metrics.get("part")), ("profile", m.get("profile") or run.metrics.get("profile")),
        ("seed", m.get("seed")), ("git commit", m.get("git_commit")), ("device", m.get("device")),
        ("CPU threads", m.get("torch_threads")), ("wall time", format_seconds(m.get("wall_seconds"))),
        ("finished (UTC)", m.get("finished_utc")),
        ("versions", ", ".join(f"{k} {v}" for k, v in versions.items()) if isinstance(versions, dict) else versions),
        ("platform", m.get("platform")), ("folder", run.path),
    ]
    cells = "".join(f"<tr><th>{_e(k)}</th><td>{_e('-' if v is None else v)}</td></tr>" for k, v in rows)
    command = f"<p>Command:</p><pre>{_e(m.get('command') or '(not recorded)')}</pre>"
    return f"<table class='provenance'>{cells}</table>{command}"


def figures_html(figures: Sequence[Path]) -> str:
    if not figures:
        return "<p class='note'>This run saved no figures.</p>"
    return "".join(
        f"<figure><img alt='{_e(p.stem)}' src='data:image/png;base64,{base64.b64encode(p.read_bytes()).decode('ascii')}'>"
        f"<figcaption>{_e(p.name)}</figcaption></figure>" for p in figures)


def metrics_html(metrics: dict) -> str:
    rest = {k: v for k, v in metrics.items() if k != "targets"}
    if not rest:
        return ""
    text = json.dumps(rest, indent=1)
    if len(text) > METRICS_SHOWN:
        text = text[:METRICS_SHOWN] + f"\n... ({len(text) - METRICS_SHOWN} more characters in metrics.json)"
    return f"<details><summary>all measured numbers (metrics.json)</summary><pre>{_e(text)}</pre></details>"


def run_section(run: Run) -> str:
    problems = "".join(f"<p class='note'>{_e(p)}</p>" for p in run.problems)
    return (f"<section class='run' id='{_anchor(run)}'><h2>{_e(run.name)}</h2>{problems}"
            f"<h3>Targets</h3>{targets_table(run.targets)}"
            f"<h3>Figures</h3>{figures_html(run.figures)}"
            f"<h3>How it was made</h3>{provenance_table(run)}{metrics_html(run.metrics)}</section>")


def overview_table(runs: Sequence[Run]) -> str:
    rows = "".join(
        f"<tr><td><a href='#{_anchor(r)}'>{_e(r.name)}</a></td><td>{_e(r.manifest.get('part', '-'))}</td>"
        f"<td>{_e(r.manifest.get('profile', '-'))}</td><td>{_e(targets_summary(r.targets))}</td>"
        f"<td>{len(r.figures)}</td><td>{_e(format_seconds(r.manifest.get('wall_seconds')))}</td></tr>" for r in runs)
    return ("<table class='overview'><tr><th>run</th><th>part</th><th>profile</th><th>targets</th><th>figures</th>"
            f"<th>wall time</th></tr>{rows}</table>")


def render_report(runs: Sequence[Run], title: str) -> str:
    all_rows = [row for r in runs for row in (r.targets or [])]
    intro = (f"<p>{len(runs)} run(s); targets over all runs: {_e(targets_summary(all_rows))}. Every run below lists "
             "its targets (met and missed), its figures, and the command that made it.</p>")
    return ("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
            f"<title>{_e(title)}</title><style>{STYLE}</style></head><body>"
            f"<h1>{_e(title)}</h1>{intro}{overview_table(runs)}"
            + "".join(run_section(r) for r in runs) + "</body></html>\n")


def write_report(runs_dir: Path, out: Path, title: Optional[str] = None) -> list[Run]:
    root = Path(runs_dir)
    runs = [load_run(folder, root) for folder in find_runs(root)]
    page = render_report(runs, title or f"plmkit reproduction report: {root.resolve().name}")
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text(page, encoding="utf-8")
    return runs


# ----------------------------------------------------------------------------------------------
# Command line: python -m plmkit report RUNS_DIR --out report.html
# ----------------------------------------------------------------------------------------------
def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = "Write one self-contained HTML page of every run folder under RUNS_DIR."
    parser.add_argument("runs_dir", type=Path, metavar="RUNS_DIR", help="folder holding run folders (or one run folder)")
    parser.add_argument("--out", type=Path, default=Path("report.html"), metavar="FILE",
                        help="HTML file to write (default report.html)")
    parser.add_argument("--title", default=None, help="page title (default: named after RUNS_DIR)")


def main(args: argparse.Namespace) -> int:
    try:
        runs = write_report(args.runs_dir, args.out, args.title)
    except (ValueError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    rows = [row for r in runs for row in (r.targets or [])]
    print(f"wrote {args.out}: {len(runs)} run(s), {sum(len(r.figures) for r in runs)} figure(s), "
          f"targets {targets_summary(rows)}")
    return 0


def run_cli(argv: Optional[Sequence[str]] = None) -> int:
    """Parse ``argv`` and write the report; argparse errors return 2."""
    from plmkit.cli import run_tool

    return run_tool("python -m plmkit report", None, add_arguments, main, argv)


if __name__ == "__main__":
    sys.exit(run_cli())
