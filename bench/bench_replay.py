"""Replay speed as a multiple of real time, on a generated 10-minute, 500 Hz recording.

The recording is made without ROS by the emulated physical robot (profile ``default``,
motion ``tour``) in lockstep (digital_twin_gz.recording.emulated): 300 000 JointState and 300 000
Odometry messages, exactly what physical_emulator publishes, in our MCAP format. Then
one run of what ``digital-twin-gz replay`` does, stage by stage, and in the same run the
bare MuJoCo stepping of the same simulated time as the floor (the machine is shared and
noisy: compare stages within a run, not across runs; each stage is timed ``--repeat`` times,
one round after the other, and its best time is the one compared, as timeit does: the
noise of a shared machine only ever adds time):
  replay   the recording read while the lockstep twin runs (stream_physical, read_ahead):
           twin_sync's rules, physics, virtual state, pairing, metrics
  report   report.json, report.html with plots and rendered pictures
  read     MCAP -> arrays alone (read_physical), for reference: the replay hides most of it
  mujoco   mj_step alone for the recording's duration at the world's 1 ms step (the floor)
Usage: MUJOCO_GL=egl .venv/bin/python bench/bench_replay.py [--seconds 600] [--recording FILE.mcap] [--repeat 3]
(--recording: reuse that file if it exists, else write it there; default: a temporary file.)
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import mujoco

from digital_twin_gz.emulator import load_profile
from digital_twin_gz.gap import GapTracker, monitor_settings
from digital_twin_gz.recording import PhysicalRecording, read_physical, record_emulated, stream_physical
from digital_twin_gz.replay import ReplayStats, read_ahead, replay
from digital_twin_gz.robot import RobotDescription, WorldSettings, load_description, load_world
from digital_twin_gz.sim import Simulator


def one_round(path: Path, description: RobotDescription, world: WorldSettings,
              scratch: Path) -> tuple[dict[str, float], ReplayStats, dict, PhysicalRecording]:
    """Wall times of the stages (replay and report, then read and bare MuJoCo on their own)."""
    walls = {}
    tracker = GapTracker(description, monitor_settings())
    sim = Simulator(description, world)
    start = time.perf_counter()
    stats = replay(read_ahead(stream_physical(path, description)), sim, tracker)
    walls["replay"] = time.perf_counter() - start
    start = time.perf_counter()
    report = tracker.report(profile="default", motion="tour", simulator="embedded",
                            source="bench")
    tracker.write(scratch / "report", report, world)
    walls["report"] = time.perf_counter() - start
    start = time.perf_counter()
    recording = read_physical(path, description)
    walls["read"] = time.perf_counter() - start
    floor = Simulator(description, world)
    steps = int(round(recording.duration / floor.timestep))
    start = time.perf_counter()
    for _ in range(steps):
        mujoco.mj_step(floor.model, floor.data)
    walls["mujoco"] = time.perf_counter() - start
    return walls, stats, report, recording


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=600.0, help="length of the generated recording")
    parser.add_argument("--recording", type=Path, help="MCAP file to reuse or to write")
    parser.add_argument("--repeat", type=int, default=3, help="rounds; each stage's best time is kept")
    args = parser.parse_args()
    os.environ.setdefault("MUJOCO_GL", "egl")
    description, world = load_description(), load_world()
    with tempfile.TemporaryDirectory() as scratch:
        path = args.recording or Path(scratch) / "bench.mcap"
        if not path.is_file():
            start = time.perf_counter()
            count = record_emulated(path, description, world, load_profile("default"), "tour", args.seconds)
            print(f"generated {path}: {count} joint samples ({args.seconds:g} s at 500 Hz, emulated robot, lockstep) "
                  f"in {time.perf_counter() - start:.1f} s, {path.stat().st_size / 1e6:.0f} MB")

        rounds = [one_round(path, description, world, Path(scratch)) for _ in range(args.repeat)]

    walls = {stage: min(r[0][stage] for r in rounds) for stage in rounds[0][0]}
    spread = {stage: max(r[0][stage] for r in rounds) for stage in walls}
    stats, report, recording = rounds[-1][1:]
    duration = recording.duration
    total = walls["replay"] + walls["report"]
    print(f"recording: {duration:.1f} s, {len(recording.joints)} joint samples, {stats.accepted} accepted; "
          f"{report['samples']['paired']} paired; base position error rms "
          f"{report['base_position_error_m']['rms'] * 1e3:.1f} mm; best of {len(rounds)} rounds")
    print(f"{'stage':<8} {'wall s':>8} {'worst s':>8} {'x real time':>12} {'share':>7} {'us/sample':>10}")
    for name, wall in (("replay", walls["replay"]), ("report", walls["report"]), ("total", total),
                       ("read", walls["read"]), ("mujoco", walls["mujoco"])):
        share = f"{wall / total:7.0%}" if name in ("replay", "report") else f"{'':>7}"
        worst = f"{spread[name]:8.1f}" if name in spread else f"{'':>8}"
        per_sample = wall / len(recording.joints) * 1e6
        print(f"{name:<8} {wall:8.1f} {worst} {duration / wall:12.1f} {share} {per_sample:10.1f}")
    print(f"replay speed: {duration / total:.1f}x real time (target >= 20x); reading and replaying cost "
          f"{walls['replay'] / walls['mujoco']:.2f}x bare MuJoCo stepping, the whole {total / walls['mujoco']:.2f}x")


if __name__ == "__main__":
    main()
