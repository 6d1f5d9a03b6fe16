"""Joint trajectory tracking with gz-sim JointTrajectoryController semantics (no MuJoCo here).

A trajectory starts when it arrives. Between points, position, velocity and effort
targets are interpolated linearly by ``time_from_start``; before the first point they
move from the targets held when the trajectory arrived; after the last point the last
point is held. Joints a trajectory does not name keep their targets.

The force law per joint is the sum of a position PID on ``q - q_target`` and a velocity
PID on ``qdot - qdot_target`` (gz::math::PID, output ``-(p e + i integral(e) + d de/dt)``),
plus the effort target as feed-forward, clamped to the effort limit. The simulator applies
the P and D parts through MuJoCo actuators (implicit integration); this module supplies
the rest as the actuator input.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from digital_twin_gz.robot import TrajectoryGains


class TrajectoryError(ValueError):
    """A trajectory that cannot be followed; the message says what is wrong."""


@dataclass(frozen=True)
class Trajectory:
    """Points for a subset of joints: ``positions[k, j]`` is for ``joint_index[j]`` at ``times[k]``."""

    joint_index: np.ndarray
    times: np.ndarray
    positions: np.ndarray
    velocities: np.ndarray | None = None
    efforts: np.ndarray | None = None

    def __post_init__(self) -> None:
        k, m = len(self.times), len(self.joint_index)
        if k == 0:
            raise TrajectoryError("trajectory has no points")
        if self.positions.shape != (k, m):
            raise TrajectoryError(f"positions have shape {self.positions.shape}, expected ({k}, {m})")
        for name, values in (("velocities", self.velocities), ("efforts", self.efforts)):
            if values is not None and values.shape != (k, m):
                raise TrajectoryError(f"{name} have shape {values.shape}, expected ({k}, {m})")
        for name, values in (("times", self.times), ("positions", self.positions),
                             ("velocities", self.velocities), ("efforts", self.efforts)):
            if values is not None and not np.isfinite(values).all():
                raise TrajectoryError(f"{name} contain NaN or inf")
        if k > 1 and (self.times[1:] < self.times[:-1]).any():
            raise TrajectoryError("time_from_start of the points decreases")
        if len(set(self.joint_index.tolist())) != m:
            raise TrajectoryError("a joint is named twice")

    @classmethod
    def hold(cls, joint_index: np.ndarray, positions: np.ndarray, velocities: np.ndarray | None = None,
             efforts: np.ndarray | None = None) -> Trajectory:
        """One point, reached at once: what twin_sync sends for each physical sample."""
        return cls(np.asarray(joint_index), np.zeros(1), _row(positions), _row(velocities), _row(efforts))


def _row(values: np.ndarray | None) -> np.ndarray | None:
    return None if values is None else np.asarray(values, dtype=float)[None, :]


class TrajectoryController:
    """Targets and feed-forward for every actuated joint, in the description's order."""

    def __init__(self, gains: TrajectoryGains, dt: float) -> None:
        self.gains = gains
        self.dt = dt
        n = len(gains.position_p_gain)
        self.target_position = gains.initial_position.copy()
        self.target_velocity = np.zeros(n)
        self.target_effort = np.zeros(n)
        self._kd = gains.position_d_gain + gains.velocity_p_gain
        self._offset = gains.position_cmd_offset + gains.velocity_cmd_offset
        self._integral_gains = bool(np.any(gains.position_i_gain) or np.any(gains.velocity_i_gain))
        self._position_integral = np.zeros(n)
        self._velocity_integral = np.zeros(n)
        self._trajectory: Trajectory | None = None
        self._start = 0.0
        self._from = (self.target_position.copy(), self.target_velocity.copy(), self.target_effort.copy())

    @property
    def tracking(self) -> bool:
        """A trajectory is still being interpolated (targets change with time)."""
        return self._trajectory is not None

    @property
    def needs_every_step(self) -> bool:
        return self.tracking or self._integral_gains

    def reset(self, positions: np.ndarray) -> None:
        self.target_position = positions.astype(float).copy()
        self.target_velocity[:] = 0.0
        self.target_effort[:] = 0.0
        self._position_integral[:] = 0.0
        self._velocity_integral[:] = 0.0
        self._trajectory = None

    def start(self, trajectory: Trajectory, now: float) -> None:
        self._trajectory = trajectory
        self._start = now
        j = trajectory.joint_index
        self._from = (self.target_position[j].copy(), self.target_velocity[j].copy(), self.target_effort[j].copy())
        self.update_targets(now)

    def hold(self, joint_index: np.ndarray, positions: np.ndarray, velocities: np.ndarray | None = None,
             efforts: np.ndarray | None = None) -> None:
        """Targets reached at once and held: the end of every trajectory, and what a one-point
        trajectory with ``time_from_start`` 0 amounts to, for values already checked."""
        self._trajectory = None
        self.target_position[joint_index] = positions
        self.target_velocity[joint_index] = 0.0 if velocities is None else velocities
        self.target_effort[joint_index] = 0.0 if efforts is None else efforts

    def update_targets(self, now: float) -> None:
        trajectory = self._trajectory
        if trajectory is None:
            return
        j = trajectory.joint_index
        elapsed = now - self._start
        times = trajectory.times
        if elapsed >= times[-1]:
            velocities, efforts = trajectory.velocities, trajectory.efforts
            self.hold(j, trajectory.positions[-1], None if velocities is None else velocities[-1],
                      None if efforts is None else efforts[-1])
            return
        columns = (trajectory.positions, trajectory.velocities, trajectory.efforts)
        targets = (self.target_position, self.target_velocity, self.target_effort)
        k = int(np.searchsorted(times, elapsed, side="right"))
        t0 = times[k - 1] if k > 0 else 0.0
        weight = (elapsed - t0) / (times[k] - t0) if times[k] > t0 else 1.0
        for target, start, points in zip(targets, self._from, columns):
            after = points[k] if points is not None else np.zeros(len(j))
            before = (points[k - 1] if points is not None else np.zeros(len(j))) if k > 0 else start
            target[j] = before + weight * (after - before)

    def inputs(self, positions: np.ndarray, velocities: np.ndarray, efforts: np.ndarray) -> np.ndarray:
        """Input of the affine actuators (whose bias is ``-kp q - kd qdot``) for full target
        vectors, or (k, n) rows of them, without the integral terms."""
        ctrl = self.gains.position_p_gain * positions + self._kd * velocities
        ctrl += efforts
        ctrl += self._offset
        return ctrl

    def actuator_input(self, q: np.ndarray, qdot: np.ndarray) -> np.ndarray:
        """Input of the affine actuators for the current targets and state."""
        g = self.gains
        ctrl = self.inputs(self.target_position, self.target_velocity, self.target_effort)
        if self._integral_gains:
            self._position_integral += self.dt * (q - self.target_position)
            self._velocity_integral += self.dt * (qdot - self.target_velocity)
            ctrl -= self._clamped_integral(g.position_i_gain, self._position_integral, g.position_i_min,
                                           g.position_i_max)
            ctrl -= self._clamped_integral(g.velocity_i_gain, self._velocity_integral, g.velocity_i_min,
                                           g.velocity_i_max)
        return ctrl

    @staticmethod
    def _clamped_integral(gain: np.ndarray, integral: np.ndarray, low: np.ndarray, high: np.ndarray) -> np.ndarray:
        """gz::math::PID keeps ``i_gain * integral`` within [i_min, i_max] when i_max >= i_min."""
        term = gain * integral
        bounded = high >= low
        term[bounded] = np.clip(term[bounded], low[bounded], high[bounded])
        with np.errstate(divide="ignore", invalid="ignore"):
            integral[:] = np.where(gain != 0, term / gain, integral)
        return term
