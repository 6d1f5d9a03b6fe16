"""A long run of the twin: does anything grow, lag or drift with time?

Runs ``digital-twin-gz demo`` (500 Hz, the default profile and motion) for ``--minutes`` and, every
``--interval`` seconds, records each of its processes' resident memory (RSS) and CPU share, and
from gap_monitor's latest checkpoint (report.json, every 5 s) what that interval added: the share
of virtual samples paired, the base position and orientation and the joints' RMS gap over the
interval (from the running sums of squares the report's RMS and sample counts give) and the
measurement's lag behind the physical clock. At the end: RSS growth after the warm-up (``--warmup``
minutes; the peaks of the second half against those of the first, see ``_summarise``), the lag's and
the gaps' trends. Nothing here is
timed against a limit; the figures are for the README.

Usage: .venv/bin/python bench/soak.py [--minutes 60] [--interval 60] [--profile default] [--separate-processes]
The last line is one JSON object: the rows and the summary.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from digital_twin_gz.cli.common import stop_as_ctrl_c

BIN = Path(sys.executable).parent
TICK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def _processes(parent: int) -> dict[int, str]:
    """The demo's node processes: pid -> executable name."""
    found = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) != parent:
                continue
            argv = (stat.parent / "cmdline").read_bytes().decode().split("\0")
        except (OSError, IndexError, ValueError):
            continue
        script = argv[1] if len(argv) > 1 and Path(argv[0]).name.startswith("python") else argv[0]
        found[int(stat.parent.name)] = Path(script).name
    return found


def _usage(pid: int) -> tuple[float, float] | None:
    """(RSS in MB, CPU seconds used) of a process, None once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        rss_pages = int(Path(f"/proc/{pid}/statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return None
    return rss_pages * PAGE / 1e6, (int(fields[11]) + int(fields[12])) / TICK


def _report(out: Path) -> dict | None:
    try:
        return json.loads((out / "report.json").read_text())
    except (OSError, ValueError):
        return None


# Per-interval RMS of: the base position (mm) and orientation (mrad), which accumulate the two robots'
# different foot slip (the reality gap drifting), and the joints (mrad), which do not: a twin whose own
# measurement degrades would show in all of them.
RMS_METRICS = {"base_rms_mm": ("base_position_error_m", 1e3),
               "orientation_rms_mrad": ("base_orientation_error_rad", 1e3),
               "joint_rms_mrad": ("per_joint_position_error_rad", 1e3)}


def _mean_square(report: dict, key: str) -> float:
    value = report[key]
    if key == "per_joint_position_error_rad":  # the mean over joints of each one's mean square
        squares = [(s["rms"] or 0.0) ** 2 for s in value.values()]
        return float(np.mean(squares)) if squares else 0.0
    return (value["rms"] or 0.0) ** 2


def _interval(before: dict | None, after: dict) -> dict:
    """What one interval added to the cumulative checkpoint: paired share, RMS gaps, last lag."""
    p0, v0 = (before["samples"]["paired"], before["samples"]["virtual_joints"]) if before else (0, 0)
    p1, v1 = after["samples"]["paired"], after["samples"]["virtual_joints"]
    row = {"paired_pct": 100.0 * (p1 - p0) / max(v1 - v0, 1), "paired": p1 - p0,
           "lag_s": (after["transport"]["lag_s"] or {}).get("last")}
    for name, (key, scale) in RMS_METRICS.items():
        added = p1 * _mean_square(after, key) - (p0 * _mean_square(before, key) if before else 0.0)
        row[name] = scale * float(np.sqrt(max(added, 0.0) / max(p1 - p0, 1)))
    return row


def _slope(values: list[float], minutes: list[float]) -> float | None:
    """Least-squares change per minute (None with fewer than 3 points)."""
    points = [(m, v) for m, v in zip(minutes, values) if v is not None]
    if len(points) < 3:
        return None
    m, v = np.array(points).T
    return float(np.polyfit(m, v, 1)[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=60.0, help="length of the run")
    parser.add_argument("--interval", type=float, default=60.0, help="seconds between samples of the figures")
    parser.add_argument("--profile", default="default", help="the emulated robot's profile (nominal: no gap)")
    parser.add_argument("--warmup", type=float, default=10.0, help="minutes before RSS growth is counted")
    parser.add_argument("--separate-processes", action="store_true", help="one process per node")
    parser.add_argument("--out", type=Path, help="the demo's --out (default: a temporary directory)")
    args = parser.parse_args()
    stop_as_ctrl_c(signal.SIGTERM)  # started in the background (nohup ... &), it is stopped by kill
    console = Console(stderr=True)
    with tempfile.TemporaryDirectory(prefix="soak-") as scratch:
        out = args.out or Path(scratch) / "out"
        command = [str(BIN / "digital-twin-gz"), "demo", "--duration", f"{args.minutes * 60:g}", "--out", str(out),
                   "--profile", args.profile]
        if args.separate_processes:
            command.append("--separate-processes")
        log = open(Path(scratch) / "demo.log", "w")
        demo = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        rows: list[dict] = []
        previous_report, previous_cpu, previous_time = None, {}, time.monotonic()
        try:
            while demo.poll() is None:
                deadline = time.monotonic() + args.interval
                while demo.poll() is None and time.monotonic() < deadline:
                    time.sleep(1.0)
                if demo.poll() is not None:
                    break
                now = time.monotonic()
                report = _report(out)
                usage = {name: _usage(pid) for pid, name in _processes(demo.pid).items()}
                row = {"minute": round((len(rows) + 1) * args.interval / 60.0, 3),
                       "rss_mb": {n: u[0] for n, u in usage.items() if u},
                       "cpu_pct": {n: 100.0 * (u[1] - previous_cpu.get(n, 0.0)) / (now - previous_time)
                                   for n, u in usage.items() if u}}
                if report is not None:
                    row |= _interval(previous_report, report)
                    previous_report = report
                previous_cpu = {n: u[1] for n, u in usage.items() if u}
                previous_time = now
                rows.append(row)
                console.print(f"[{row['minute']:6.1f} min] RSS " + ", ".join(
                    f"{n} {v:.0f} MB" for n, v in row["rss_mb"].items()) + "; CPU " + ", ".join(
                    f"{n} {v:.0f} %" for n, v in row["cpu_pct"].items())
                    + (f"; paired {row['paired_pct']:.2f} %, base RMS {row['base_rms_mm']:.2f} mm, "
                       f"{row['orientation_rms_mrad']:.2f} mrad, joints {row['joint_rms_mrad']:.3f} mrad, lag "
                       f"{row['lag_s'] if row['lag_s'] is None else round(row['lag_s'], 3)} s"
                       if "paired_pct" in row else "; no checkpoint yet"))
            demo.wait()
        except KeyboardInterrupt:
            console.print("interrupted: stopping the demo; the summary covers the intervals so far")
        finally:
            if demo.poll() is None:
                os.killpg(demo.pid, signal.SIGINT)
                demo.wait(300)  # the final report of a long run, pictures and all
            log.close()
        final = _report(out)
        ended = (Path(scratch) / "demo.log").read_text(errors="replace")
    if demo.returncode != 0 or final is None or final.get("partial", True):
        console.print(ended[-4000:])
        raise SystemExit(f"the demo ended with code {demo.returncode} and {'no' if final is None else 'a partial'} "
                         "report")
    summary = _summarise(rows, args.warmup)
    table = Table(title=f"soak: {args.minutes:g} min, {final['samples']['paired']} paired samples, "
                        f"status {final['status']}")
    for column in ("figure", "value"):
        table.add_column(column)
    for key, value in summary.items():
        table.add_row(key, json.dumps(value))
    console.print(table)
    print(json.dumps({"bench": "soak", "minutes": args.minutes, "interval_s": args.interval, "profile": args.profile,
                      "layout": "separate processes" if args.separate_processes else "one process",
                      "summary": summary, "rows": rows,
                      "final": {k: final[k] for k in ("samples", "base_position_error_m", "status", "duration_s")}}))


def _summarise(rows: list[dict], warmup: float) -> dict:
    """RSS growth after warm-up, the lag's and the gaps' slopes, the least share paired.

    The growth compares the highest RSS of the second half of the rows after ``warmup`` minutes with
    the highest of the first half: gap_monitor's bounded logs halve their subsample whenever it
    fills (``gap/log.py``), so its RSS is a saw-tooth whose value at any one minute depends on the
    phase; its peaks grow only if something else does."""
    after = [r for r in rows if r["minute"] >= warmup]
    if len(after) < 2:
        return {"note": f"fewer than two intervals after the {warmup:g}-minute warm-up: nothing to compare"}
    early, late = after[: len(after) // 2], after[len(after) // 2:]
    peaks = [{n: max(r["rss_mb"].get(n, 0.0) for r in half) for n in after[0]["rss_mb"]} for half in (early, late)]
    minutes = [r["minute"] for r in rows]
    return {"rss_growth_pct_after_warmup": {n: 100.0 * (peaks[1][n] - mb) / mb for n, mb in peaks[0].items() if mb},
            "rss_peak_mb": {"minutes": [early[0]["minute"], late[0]["minute"], late[-1]["minute"]],
                            "first_half": peaks[0], "second_half": peaks[1]},
            "lag_s_per_min": _slope([r.get("lag_s") for r in rows], minutes),
            **{f"{name}_per_min": _slope([r.get(name) for r in rows], minutes) for name in RMS_METRICS},
            "paired_pct_min": min(r.get("paired_pct", 100.0) for r in rows)}

if __name__ == "__main__":
    main()
