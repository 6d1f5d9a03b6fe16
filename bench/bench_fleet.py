"""A fleet's recordings replayed one after another with `digital-twin-gz replay` against one
`digital-twin-gz fleet replay` on a Ray of its own, side by side in one run.

The recordings (default 8 of 30 s, 500 Hz) are made without ROS by the emulated robot (profile
``default``), two robots a week apart each (their metadata), motions in turn. Then, one after the
other on the same machine:
  serial   `digital-twin-gz replay REC --out ...` for each recording in turn, as a user would
           (each a fresh process: Python and the model load, the replay, the report with pictures)
  fleet    `digital-twin-gz fleet replay DIR --out ...`: Ray started once (its start-up cost is
           fleet.json's ray.start_s, stated apart), one task per recording on every CPU
and each recording's report.json from both is checked to be the same apart from when it was
written. The machine is shared: the load average before and after is printed; compare within a run.
The last line is JSON.
Usage: MUJOCO_GL=egl .venv/bin/python bench/bench_fleet.py [--count 8] [--seconds 30] [--recordings DIR]
       [--cpus N] (--recordings: reuse the recordings there, else write them there; default: a temporary folder.)
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from digital_twin_gz.emulator import load_profile
from digital_twin_gz.recording import EPOCH_NS, record_emulated
from digital_twin_gz.robot import load_description, load_world

BIN = Path(sys.executable).parent
MOTIONS = ("squat", "arm_wave", "torso_twist", "weight_shift")
WEEK_NS = 7 * 86400 * 1_000_000_000


def make_recordings(folder: Path, count: int, seconds: float) -> list[Path]:
    """``count`` recordings of two robots, a week apart each, reused when they are already there."""
    description, world, profile = load_description(), load_world(), load_profile("default")
    paths = []
    for k in range(count):
        robot, week = ("alpha", "beta")[k % 2], k // 2
        path = folder / robot / f"week{week}.mcap"
        if not path.is_file():
            start = time.perf_counter()
            record_emulated(path, description, world, profile, MOTIONS[k % len(MOTIONS)], seconds,
                            start_ns=EPOCH_NS + week * WEEK_NS, metadata={"robot": robot})
            print(f"generated {path} ({seconds:g} s) in {time.perf_counter() - start:.1f} s", flush=True)
        paths.append(path)
    return paths


def timed(command: list[str]) -> float:
    start = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({result.returncode}):\n{result.stderr}")
    return wall


def without_times(report: dict) -> dict:
    return {k: v for k, v in report.items() if k not in ("written_at", "written_by")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=8, help="recordings")
    parser.add_argument("--seconds", type=float, default=30.0, help="length of each generated recording")
    parser.add_argument("--recordings", type=Path, help="folder of recordings to reuse or to write")
    parser.add_argument("--cpus", type=int, help="CPUs of the fleet's Ray (default: all)")
    args = parser.parse_args()
    os.environ.setdefault("MUJOCO_GL", "egl")
    with tempfile.TemporaryDirectory() as scratch:
        folder = args.recordings or Path(scratch) / "recordings"
        recordings = make_recordings(folder, args.count, args.seconds)
        out = Path(scratch)
        load_before = os.getloadavg()

        serial = []
        for path in recordings:
            target = out / "serial" / path.relative_to(folder).with_suffix("")
            serial.append(timed([str(BIN / "digital-twin-gz"), "replay", str(path), "--out", str(target)]))
            print(f"serial replay {path.relative_to(folder)}: {serial[-1]:.1f} s", flush=True)
        command = [str(BIN / "digital-twin-gz"), "fleet", "replay", str(folder), "--out", str(out / "fleet")]
        command += ["--cpus", str(args.cpus)] if args.cpus else []
        fleet_wall = timed(command)
        load_after = os.getloadavg()

        fleet = json.loads((out / "fleet" / "fleet.json").read_text())
        same = 0
        for path in recordings:
            relative = path.relative_to(folder).with_suffix("")
            one = json.loads((out / "serial" / relative / "report.json").read_text())
            many = json.loads((out / "fleet" / relative / "report.json").read_text())
            same += without_times(one) == without_times(many)
    if same != len(recordings):
        raise SystemExit(f"only {same} of {len(recordings)} fleet reports are the same as the single replays'")

    serial_wall, start_s = sum(serial), fleet["ray"]["start_s"]
    tasks = [row["wall_s"] for row in fleet["recordings"]]
    recorded = sum(row["values"]["duration_s"] for row in fleet["recordings"])
    print(f"{len(recordings)} recordings, {recorded:.0f} s recorded in all; {os.cpu_count()} CPUs, Ray "
          f"{fleet['ray']['version']} with {fleet['ray']['cpus']:g}; load average {load_before[0]:.1f} before, "
          f"{load_after[0]:.1f} after (1 min)")
    print(f"{'':<28} {'wall s':>8} {'x serial':>9}")
    for label, wall in (("serial replay, one by one", serial_wall), ("fleet replay, in all", fleet_wall),
                        ("  of which Ray's start-up", start_s), ("  the rest", fleet_wall - start_s)):
        print(f"{label:<28} {wall:8.1f} {serial_wall / wall:9.2f}")
    print(f"a replay in a fresh process {min(serial):.1f}-{max(serial):.1f} s; as a Ray task "
          f"{min(tasks):.1f}-{max(tasks):.1f} s ({fleet['ray']['cpus']:g} at a time); "
          f"every report.json the same apart from when it was written")
    print(json.dumps({"recordings": len(recordings), "seconds_each": args.seconds, "cpus": os.cpu_count(),
                      "serial_s": round(serial_wall, 2), "fleet_s": round(fleet_wall, 2),
                      "ray_start_s": round(start_s, 2), "speedup": round(serial_wall / fleet_wall, 3),
                      "speedup_without_start": round(serial_wall / (fleet_wall - start_s), 3),
                      "task_s": [round(t, 2) for t in tasks], "serial_each_s": [round(s, 2) for s in serial],
                      "load_before": [round(v, 2) for v in load_before],
                      "load_after": [round(v, 2) for v in load_after], "reports_same": same}))


if __name__ == "__main__":
    main()
