"""The loop :meth:`Simulator.play` stands for, row by row: the reference its batch is held to."""

from __future__ import annotations

import numpy as np

from digital_twin_gz.sim import Simulator


def play_step_by_step(sim: Simulator, times: np.ndarray, joints: np.ndarray, positions: np.ndarray,
                      velocities: np.ndarray, efforts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """step_to each time, take the pose reached, then hold the row's targets (a row of NaN
    velocities or efforts is a sample without them)."""
    reached, poses = np.empty(len(times)), []
    for k, t in enumerate(times):
        sim.step_to(t)
        reached[k] = sim.time
        poses.append(sim.pose().copy())
        given = [None if np.isnan(row).all() else row for row in (velocities[k], efforts[k])]
        sim.hold(joints, positions[k], *given)
    return reached, np.array(poses)
