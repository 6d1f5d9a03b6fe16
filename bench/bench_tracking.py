"""How closely the embedded twin tracks the physical robot: the gap with nominal physics (the
twin's own artefact) and with the default profile, on emulated recordings replayed in lockstep.

Each profile: record the emulated robot (``record_emulated``), replay the recording through the
twin (twin_sync's rules, the embedded simulator, gap_monitor's metrics), print the gap. The
result does not depend on the machine's load (lockstep, no wall clock).
Usage: .venv/bin/python bench/bench_tracking.py [--seconds 40] [--motion tour] [--profiles nominal default]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

from digital_twin_gz.emulator import load_profile
from digital_twin_gz.gap import GapTracker, monitor_settings
from digital_twin_gz.recording import read_physical, record_emulated
from digital_twin_gz.replay import replay
from digital_twin_gz.robot import load_description, load_world
from digital_twin_gz.sim import Simulator


def tracking(profile: str, motion: str, seconds: float, tmp: Path) -> dict:
    description, world = load_description(), load_world()
    path = tmp / f"{profile}.mcap"
    record_emulated(path, description, world, load_profile(profile), motion, seconds)
    tracker = GapTracker(description, monitor_settings())
    replay(read_physical(path, description), Simulator(description, world), tracker)
    report = tracker.report(profile=profile, motion=motion, simulator="embedded", source="bench")
    joints = np.array([s["rms"] for s in report["per_joint_position_error_rad"].values()])
    worst = max(report["per_joint_position_error_rad"].items(), key=lambda kv: kv[1]["rms"])
    return {"base mean (mm)": 1e3 * report["base_position_error_m"]["mean"],
            "base p95 (mm)": 1e3 * report["base_position_error_m"]["p95"],
            "base max (mm)": 1e3 * report["base_position_error_m"]["max"],
            "key links MPJPE (mm)": report["mpjpe_mm"]["mean"],
            "joint rms, mean over joints (mrad)": 1e3 * float(joints.mean()),
            f"joint rms, worst ({worst[0]}) (mrad)": 1e3 * worst[1]["rms"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=40.0)
    parser.add_argument("--motion", default="tour")
    parser.add_argument("--profiles", nargs="+", default=["nominal", "default"])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for profile in args.profiles:
            print(f"{profile}, {args.motion}, {args.seconds:g} s:")
            for name, value in tracking(profile, args.motion, args.seconds, Path(tmp)).items():
                print(f"  {name:48s} {value:8.2f}")


if __name__ == "__main__":
    main()
