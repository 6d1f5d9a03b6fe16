"""A fleet command's results as they come in: each recording's files into its own folder, its row
into ``fleet.json`` and ``fleet.html``, which are rewritten as results arrive (write-then-rename),
so a command interrupted or killed leaves every recording that finished, reported.

``fleet.json`` (schema ``digital_twin_gz.fleet/1``): ``command``; ``partial`` (true while it runs);
``interrupted``; ``ray`` (address, version, CPUs, nodes, ``start_s``: how long starting or joining
Ray took); ``counts``; ``metrics`` (key and label of each number of a row); ``robots`` (per robot:
recordings, first and last date, the median of each plotted metric and its drift per week, a
least-squares slope over the recordings' dates); ``recordings``, one row each in path order:
``recording``, ``folder``, ``status`` (``done``, ``failed``, ``interrupted``), ``reason`` (why it
failed), ``robot`` (the recording's metadata, else the description's name), ``date`` (UTC) and
``date_source`` (``first stamp`` or ``recording start``: the recorder's clock), ``values``,
``verdict`` (the replay's status: OK, WARN, ERROR), ``warnings``, ``host``, ``wall_s`` and ``files``
(relative to the fleet's folder). Only ``started_at``, ``written_at`` and ``wall_s`` say when.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path
from statistics import median

import numpy as np

from digital_twin_gz.fleet.discovery import Recording
from digital_twin_gz.fleet.ray_session import RayInfo
from digital_twin_gz.fleet.tasks import DONE, FAILED, INTERRUPTED, CalibrationJob, Outcome, ReplayJob

SCHEMA = "digital_twin_gz.fleet/1"
JSON_FILE, HTML_FILE = "fleet.json", "fleet.html"
# fleet.json and fleet.html are rewritten at most this often while results arrive (and at the end).
CHECKPOINT_S = 2.0
WEEK_S = 7 * 86400.0


def _write(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)


def _when(date: str) -> float:
    return datetime.fromisoformat(date).timestamp()


def robot_summary(rows: list[dict], plotted: list[str]) -> dict:
    """Per robot: how many recordings, their dates, the median of each plotted metric, and its drift
    per week (least-squares slope over the dated recordings; None with fewer than two dates)."""
    robots: dict[str, dict] = {}
    for name in sorted({row["robot"] for row in rows}):
        mine = [row for row in rows if row["robot"] == name]
        dates = sorted(row["date"] for row in mine if row["date"])
        done = [row for row in mine if row["status"] == DONE]
        summary = {"recordings": len(mine), **{s: sum(r["status"] == s for r in mine) for s in (DONE, FAILED)},
                   "first": dates[0] if dates else None, "last": dates[-1] if dates else None,
                   "median": {}, "drift_per_week": {}}
        for key in plotted:
            values = [row["values"][key] for row in done if row["values"].get(key) is not None]
            summary["median"][key] = median(values) if values else None
            dated = [(_when(row["date"]), row["values"][key]) for row in done
                     if row["date"] and row["values"].get(key) is not None]
            slope = None
            if len({t for t, _ in dated}) > 1:
                t, v = np.array(dated).T
                slope = float(np.polyfit((t - t.min()) / WEEK_S, v, 1)[0])
            summary["drift_per_week"][key] = slope
        robots[name] = summary
    return robots


class FleetResults:
    """Collects the outcomes of a fleet command and keeps ``out`` up to date with them."""

    def __init__(self, job: ReplayJob | CalibrationJob, recordings: list[Recording], out: Path, ray: RayInfo) -> None:
        self.job, self.recordings, self.out, self.ray = job, recordings, Path(out), ray
        self.outcomes: dict[str, Outcome] = {}
        self.started = time.perf_counter()
        self.started_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
        self._written = 0.0
        self.out.mkdir(parents=True, exist_ok=True)

    def add(self, outcome: Outcome) -> None:
        """Write the recording's files into its folder and its row into the fleet report (now and
        then: :data:`CHECKPOINT_S`)."""
        outcome.robot = outcome.robot or self.job.robot.description.name
        if outcome.files:
            folder = self.out / outcome.folder
            folder.mkdir(parents=True, exist_ok=True)
            for name, data in outcome.files.items():
                _write(folder / name, data)
        self.outcomes[outcome.folder] = outcome
        if time.perf_counter() - self._written >= CHECKPOINT_S:
            self.write(partial=True)

    def finish(self, interrupted: bool) -> list[Path]:
        """The final fleet report; recordings without an outcome were interrupted."""
        for recording in self.recordings:
            self.outcomes.setdefault(recording.folder, Outcome(
                str(recording.path), recording.folder, INTERRUPTED, "the command was interrupted before it finished",
                self.job.robot.description.name))
        return self.write(partial=False, interrupted=interrupted)

    def rows(self) -> list[dict]:
        rows = []
        for recording in self.recordings:
            outcome = self.outcomes.get(recording.folder)
            if outcome is not None:
                row = {k: v for k, v in asdict(outcome).items() if k != "files"}
                row["files"] = [f"{outcome.folder}/{name}" for name in outcome.files]
                rows.append(row)
        return rows

    def report(self, partial: bool, interrupted: bool = False) -> dict:
        rows = self.rows()
        metrics = self.job.metrics
        return {
            "schema": SCHEMA,
            "command": f"fleet {self.job.kind}",
            "partial": partial,
            "interrupted": interrupted,
            "ray": asdict(self.ray),
            "counts": {"recordings": len(self.recordings),
                       **{s: sum(r["status"] == s for r in rows) for s in (DONE, FAILED, INTERRUPTED)}},
            "metrics": [asdict(m) for m in metrics],
            "robots": robot_summary(rows, [m.key for m in metrics if m.plotted]),
            "recordings": rows,
            "started_at": self.started_at,
            "written_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "wall_s": time.perf_counter() - self.started,
        }

    def write(self, partial: bool, interrupted: bool = False) -> list[Path]:
        """fleet.json and fleet.html, each replaced whole."""
        from digital_twin_gz.fleet.html import render_html

        report = self.report(partial, interrupted)
        paths = [self.out / JSON_FILE, self.out / HTML_FILE]
        _write(paths[0], (json.dumps(report, indent=2) + "\n").encode())
        _write(paths[1], render_html(report).encode())
        self._written = time.perf_counter()
        return paths
