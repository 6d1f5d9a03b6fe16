"""Embedded simulator speed: microseconds per 1 ms physics step and real-time factor.

Three loops on the bundled humanoid, interleaved in one run (the machine is shared and
noisy, so compare within a run, not across runs):
  mujoco      bare mj_step, the floor
  lockstep    what embedded_sim does in lockstep: a new one-point trajectory every 2 ms
              (500 Hz physical samples) and stepping to its stamp
  trajectory  multi-point trajectories (50 points, 2 ms apart), the point checked at every physics step
Usage: .venv/bin/python bench/bench_sim.py [--seconds 10] [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import time

import mujoco
import numpy as np

from digital_twin_gz.emulator import Motion
from digital_twin_gz.robot import load_description, load_roles
from digital_twin_gz.sim import Simulator, Trajectory


def bare(sim: Simulator, seconds: float) -> float:
    steps = int(seconds / sim.timestep)
    start = time.perf_counter()
    for _ in range(steps):
        mujoco.mj_step(sim.model, sim.data)
    return time.perf_counter() - start


def lockstep(sim: Simulator, targets: np.ndarray, rate: float) -> float:
    index = np.arange(targets.shape[1])
    start = time.perf_counter()
    for k, positions in enumerate(targets):
        sim.follow(Trajectory.hold(index, positions))
        sim.step_to((k + 1) / rate)
    return time.perf_counter() - start


def trajectory(sim: Simulator, targets: np.ndarray, rate: float) -> float:
    index = np.arange(targets.shape[1])
    chunk = 50
    start = time.perf_counter()
    for k in range(0, len(targets), chunk):
        points = targets[k:k + chunk]
        sim.follow(Trajectory(index, (np.arange(len(points)) + 1) / rate, points))
        sim.step_to((k + len(points)) / rate)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10.0, help="simulated seconds per loop")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    description = load_description()
    motion = Motion("tour", description, load_roles(description))
    rate = 500.0
    targets = np.array([motion.positions(k / rate) for k in range(int(args.seconds * rate))])
    loops = {"mujoco": lambda s: bare(s, args.seconds), "lockstep": lambda s: lockstep(s, targets, rate),
             "trajectory": lambda s: trajectory(s, targets, rate)}
    walls: dict[str, list[float]] = {name: [] for name in loops}
    for _ in range(args.repeats):
        for name, loop in loops.items():
            walls[name].append(loop(Simulator(description)))
    steps = args.seconds / Simulator(description).timestep
    print(f"bundled humanoid, {len(description.joint_names)} joints, 1 ms step, {args.seconds:g} s simulated, "
          f"median of {args.repeats}")
    print(f"{'loop':<12} {'us/step':>8} {'x real time':>12} {'vs mujoco':>10}")
    floor = statistics.median(walls["mujoco"])
    for name, values in walls.items():
        wall = statistics.median(values)
        print(f"{name:<12} {wall / steps * 1e6:8.1f} {args.seconds / wall:12.1f} {wall / floor:10.2f}")


if __name__ == "__main__":
    main()
