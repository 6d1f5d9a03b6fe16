"""``report.json`` and the summary table, for the live twin and for replays.

``report.json`` is a stable interface for users' scripts (schema ``digital_twin_gz.report/1``):
``base_position_error_m`` and ``base_orientation_error_rad`` with ``mean``, ``rms``, ``p95``
and ``max``; ``per_joint_position_error_rad`` keyed by joint name and
``key_link_position_error_mm`` keyed by link name (each with the same four statistics);
``mpjpe_mm``; ``drift_rate_m_per_s`` (mean, RMS, max and drift over every sample; p95 over every
``samples.p95_and_plots_from_every``-th, 1 until a run's samples outgrow the log's memory);
``robot`` (the description's name), ``robot_name`` (the name the twin knows it by: the Gazebo model,
/diagnostics' hardware_id) and ``namespace`` (the ROS namespace of its topics, "" at the top);
``profile``, ``motion``, ``samples`` counts and ``duration_s``; ``thresholds``,
``threshold_crossings`` and the worst ``status`` (ERROR when no sample was paired); ``partial``:
true in the checkpoints gap_monitor writes while it runs (a complete report of the span so far,
which is what is left when the process is killed), false in the final one; ``events``: what
interrupted the streams, in time order (``hole``: an interval longer than ``max_gap`` in a stream;
``clock_jump``: a stream's clock restarted, a new session begins, nothing is paired across it;
``resync``: twin_sync sent the virtual base to the physical pose), each with ``time_s`` on the
report's time axis (negative before the first measured sample). Only ``written_at`` and
``written_by`` say when and where it was written.
"""

from __future__ import annotations

import json
import os
import socket
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from digital_twin_gz.gap.log import GapLog
from digital_twin_gz.gap.metrics import ERROR, LEVEL_NAMES, GapSamples, Thresholds
from digital_twin_gz.robot import RobotDescription, WorldSettings
from digital_twin_gz.twin import PairedStates, PairingCounts

SCHEMA = "digital_twin_gz.report/1"


def build_report(log: GapLog, counts: PairingCounts, thresholds: Thresholds, *, robot: str, profile: str,
                 motion: str, simulator: str, source: str, partial: bool = False,
                 events: list[dict] = (), robot_name: str = "", namespace: str = "") -> dict:
    metrics = log.summary()
    rms = (metrics["base_position_error_m"]["rms"], metrics["base_orientation_error_rad"]["rms"])
    status = max(thresholds.levels(*(float("nan") if v is None else v for v in rms)))
    if not len(log):
        status = ERROR  # nothing measured is no evidence of a small gap
    duration = log.last_time - log.first_time if len(log) > 1 else 0.0
    origin = log.first_time if len(log) else 0.0
    # An event before any physical sample (a resync at the very start) is placed at the start.
    timed = sorted(({"time_s": float(e["run_time"]) - origin if np.isfinite(e["run_time"]) else 0.0,
                     **{k: v for k, v in e.items() if k != "run_time"}} for e in events), key=lambda e: e["time_s"])
    return {
        "schema": SCHEMA,
        "robot": robot,
        "robot_name": robot_name or robot,
        "namespace": namespace,
        "profile": profile,
        "motion": motion,
        "simulator": simulator,
        "source": source,
        "partial": partial,
        "duration_s": duration,
        "samples": {"paired": counts.paired, "unpaired": counts.unpaired, **dict(counts.samples.items()),
                    "out_of_order": dict(counts.out_of_order), "missing": dict(counts.missing),
                    "p95_and_plots_from_every": log.stride,
                    "holes": dict(counts.holes), "sessions": counts.sessions},
        "status": LEVEL_NAMES[status],
        **metrics,
        "thresholds": asdict(thresholds),
        "threshold_crossings": list(log.crossings),
        "events": timed,
        "written_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "written_by": f"{socket.gethostname()}:{os.getpid()}",
    }


def write_report(report: dict, out_dir: Path) -> Path:
    """Write ``report.json`` atomically (a reader never sees half a report)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "report.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(report, indent=2) + "\n")
    tmp.replace(path)
    return path


def _fmt(value: float | None, scale: float = 1.0, digits: int = 2) -> str:
    return "-" if value is None else f"{value * scale:.{digits}f}"


def robot_label(report: dict) -> str:
    """The robot a report is of: its description's name, and its namespace when it has one."""
    namespace = report.get("namespace")  # reports before issue 19 have none
    return f"{report['robot']} in {namespace}" if namespace else report["robot"]


def summary_table(report: dict, worst_joints: int = 5) -> Table:
    """The reality gap at a glance: base, key links, and the joints furthest apart."""
    table = Table(title=f"Reality gap: {robot_label(report)} · profile {report['profile']} · "
                        f"motion {report['motion']} · "
                        f"{report['duration_s']:.1f} s, {report['samples']['paired']} paired samples · "
                        f"{report['status']}")
    table.add_column("metric")
    for name in ("mean", "rms", "p95", "max"):
        table.add_column(name, justify="right")
    rows = [("base position (mm)", report["base_position_error_m"], 1e3),
            ("base orientation (deg)", report["base_orientation_error_rad"], float(np.degrees(1.0))),
            ("key links MPJPE (mm)", report["mpjpe_mm"], 1.0)]
    rows += [(f"  {link} (mm)", s, 1.0) for link, s in report["key_link_position_error_mm"].items()]
    joints = sorted(report["per_joint_position_error_rad"].items(), key=lambda kv: -(kv[1]["rms"] or 0.0))
    rows += [(f"  joint {name} (deg)", s, float(np.degrees(1.0))) for name, s in joints[:worst_joints]]
    for label, s, scale in rows:
        table.add_row(label, *(_fmt(s[k], scale) for k in ("mean", "rms", "p95", "max")))
    drift = report["drift_rate_m_per_s"]
    table.caption = f"drift rate {_fmt(drift, 1e3)} mm/s; worst {worst_joints} joints by RMS shown"
    return table


def print_summary(report: dict, console: Console | None = None) -> None:
    (console or Console()).print(summary_table(report))


def write_outputs(out_dir: Path, report: dict, samples: GapSamples,
                  snapshots: tuple[PairedStates, GapSamples] | None,
                  description: RobotDescription, world: WorldSettings, pictures: bool = True) -> list[Path]:
    """Everything a run leaves behind: ``report.json`` and ``report.html`` with pictures of the
    largest gaps (``pictures``: rendered; a node whose parent died leaves them out, to be quick).
    Pictures need OpenGL; without it the HTML says why they are missing."""
    from digital_twin_gz.gap.html import write_html
    from digital_twin_gz.gap.pictures import render_moments

    paths = [write_report(report, out_dir)]
    rendered, note = [], "" if pictures else "pictures left out: the run was ended by its parent's death"
    if pictures and snapshots is not None and len(samples):
        try:
            rendered = render_moments(description, world, *snapshots, origin=float(samples.times[0]))
        except Exception as err:
            note = f"rendering failed ({type(err).__name__}: {err}); set MUJOCO_GL=egl or osmesa on a machine " \
                   "without a display"
    paths.append(write_html(out_dir, report, samples, rendered, note))
    return paths
