"""Joint trajectory tracking as gz-sim 8's JointTrajectoryController does it (no MuJoCo here).

Targets. A trajectory replaces the one before it when it arrives, and its time starts at the
next physics step. At every step the target is the first point whose ``time_from_start`` is
not yet past: nothing is interpolated, the controller aims at a point from the moment the
point before it is due; after the last point's time the last point stays. A point sets the
position target of the joints it names, and their velocity and effort targets only if it
carries velocities or efforts (without them the previous targets stay). Joints a trajectory
does not name keep their targets. A trajectory without points only stops the one before it.

Force, per joint and step (``ActuatedJoint::Update`` and gz::math::PID)::

    force = clamp(position PID of q - q_target) + clamp(velocity PID of qdot - qdot_target) + effort_target

and the sum is clipped to the joint's effort limit (DART clips a force command to it). Each PID
is ``cmd = offset - p e - I - d (e - e_last) / dt`` with ``I += i dt e`` kept within
[i_min, i_max] when i_max >= i_min, ``cmd`` clamped to [cmd_min, cmd_max] when cmd_max >=
cmd_min, and ``e_last`` the error of the step before (0 before the first).

The simulator applies it through three MuJoCo actuators per joint (:mod:`digital_twin_gz.sim.builder`):
the position PID ``ctrl - p q - d qdot`` and the velocity PID ``ctrl - p_v qdot``, each with its
cmd limits as force range, and the effort target ``ctrl``; the joint's actuator force is clamped to
its effort limit. This module computes the three ctrl values. With MuJoCo's Euler integrator a
step's actuator forces are those of the state the step starts from, held over the step, as a
force command is in DART, and ``q_t - q_(t-1) = dt qdot_t`` exactly for hinge and slide joints.
So the position D term ``-d (e_t - e_(t-1)) / dt`` is ``-d qdot_t`` (the actuator's bias) plus
``d (T_t - T_(t-1)) / dt``, a kick in ctrl on the step after the target moved. The integral
terms and the velocity PID's D term depend on the state: with any of their gains set, ctrl is
computed before every step.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from digital_twin_gz.robot import TrajectoryGains


class TrajectoryError(ValueError):
    """A trajectory that cannot be followed; the message says what is wrong."""


@dataclass(frozen=True)
class Trajectory:
    """Points for a subset of joints: ``positions[k, j]`` is for ``joint_index[j]`` at ``times[k]``.

    A row of ``velocities`` or ``efforts`` that is all NaN is a point without them."""

    joint_index: np.ndarray
    times: np.ndarray
    positions: np.ndarray
    velocities: np.ndarray | None = None
    efforts: np.ndarray | None = None

    def __post_init__(self) -> None:
        k, m = len(self.times), len(self.joint_index)
        if self.positions.shape != (k, m):
            raise TrajectoryError(f"positions have shape {self.positions.shape}, expected ({k}, {m})")
        for name, values in (("velocities", self.velocities), ("efforts", self.efforts)):
            if values is None:
                continue
            if values.shape != (k, m):
                raise TrajectoryError(f"{name} have shape {values.shape}, expected ({k}, {m})")
            given = ~np.isnan(values).all(axis=1)
            if not np.isfinite(values[given]).all():
                raise TrajectoryError(f"{name} contain NaN or inf")
        for name, values in (("times", self.times), ("positions", self.positions)):
            if not np.isfinite(values).all():
                raise TrajectoryError(f"{name} contain NaN or inf")
        if k > 1 and (self.times[1:] < self.times[:-1]).any():
            raise TrajectoryError("time_from_start of the points decreases")
        if len(set(self.joint_index.tolist())) != m:
            raise TrajectoryError("a joint is named twice")

    @classmethod
    def hold(cls, joint_index: np.ndarray, positions: np.ndarray, velocities: np.ndarray | None = None,
             efforts: np.ndarray | None = None) -> Trajectory:
        """One point, due at once: what twin_sync sends for each physical sample."""
        return cls(np.asarray(joint_index), np.zeros(1), _row(positions), _row(velocities), _row(efforts))


def _row(values: np.ndarray | None) -> np.ndarray | None:
    return None if values is None else np.asarray(values, dtype=float)[None, :]


def _nanoseconds(seconds: float | np.ndarray) -> np.ndarray:
    """gz-sim compares trajectory times as integer nanoseconds (std::chrono durations)."""
    return np.round(np.asarray(seconds) * 1e9).astype(np.int64)


class TrajectoryController:
    """Targets and actuator inputs for every actuated joint, in the description's order."""

    def __init__(self, gains: TrajectoryGains, dt: float) -> None:
        self.gains = gains
        self.dt = dt
        n = len(gains.position_p_gain)
        self.target_position = gains.initial_position.copy()
        self.target_velocity = np.zeros(n)
        self.target_effort = np.zeros(n)
        # The position target of the last step's update (its e_last, with the joint's motion).
        self._updated_position = self.target_position.copy()
        self._kicks = bool(np.any(gains.position_d_gain))
        self._state_terms = bool(np.any(gains.position_i_gain) or np.any(gains.velocity_i_gain)
                                 or np.any(gains.velocity_d_gain))
        self._position_integral = np.zeros(n)
        self._velocity_integral = np.zeros(n)
        self._velocity_error = np.zeros(n)
        self._trajectory: Trajectory | None = None
        self._times_ns = np.zeros(0, dtype=np.int64)
        self._start = 0.0
        self._point: int | None = None
        self.steady = True

    @property
    def tracking(self) -> bool:
        """A trajectory has points still to come (targets change with time)."""
        return self._trajectory is not None

    @property
    def needs_every_step(self) -> bool:
        """Inputs change from one step to the next even with targets held (the integral terms,
        the velocity PID's D term, a trajectory with points to come)."""
        return self._state_terms or self.tracking

    def reset(self, positions: np.ndarray) -> None:
        """Targets at ``positions`` and the PIDs cleared, for a robot put at rest there."""
        self.target_position = positions.astype(float).copy()
        self._updated_position = self.target_position.copy()
        self.target_velocity[:] = 0.0
        self.target_effort[:] = 0.0
        self._position_integral[:] = 0.0
        self._velocity_integral[:] = 0.0
        self._velocity_error[:] = 0.0
        self._trajectory = None

    def start(self, trajectory: Trajectory, now: float) -> None:
        """A trajectory arrives at sim time ``now``; it replaces the one being followed."""
        if len(trajectory.times) == 1:  # its point is due at once, whatever its time
            velocities, efforts = (None if v is None or np.isnan(v[0]).all() else v[0]
                                   for v in (trajectory.velocities, trajectory.efforts))
            self.hold(trajectory.joint_index, trajectory.positions[0], velocities, efforts)
            return
        self._trajectory = trajectory if len(trajectory.times) else None
        self._times_ns = _nanoseconds(trajectory.times)
        self._start = now
        self._point = None
        self.update_targets(now)

    def hold(self, joint_index: np.ndarray, positions: np.ndarray, velocities: np.ndarray | None = None,
             efforts: np.ndarray | None = None) -> None:
        """What a one-point trajectory does at once, for values already checked (``Trajectory.hold``)."""
        self._trajectory = None
        self.target_position[joint_index] = positions
        if velocities is not None:
            self.target_velocity[joint_index] = velocities
        if efforts is not None:
            self.target_effort[joint_index] = efforts

    def update_targets(self, now: float) -> None:
        """The targets of the physics step that starts at sim time ``now``."""
        trajectory = self._trajectory
        if trajectory is None:
            return
        elapsed = int(_nanoseconds(now - self._start))
        last = len(self._times_ns) - 1
        point = 0 if self._point is None else self._point
        while point < last and self._times_ns[point] < elapsed:
            point += 1
        if point != self._point:
            self._point = point
            j = trajectory.joint_index
            self.target_position[j] = trajectory.positions[point]
            for target, values in ((self.target_velocity, trajectory.velocities),
                                   (self.target_effort, trajectory.efforts)):
                if values is not None and not np.isnan(values[point]).all():
                    target[j] = values[point]
        if point == last:
            self._trajectory = None

    def held_inputs(self, positions: np.ndarray, velocities: np.ndarray, efforts: np.ndarray,
                    previous_positions: np.ndarray) -> np.ndarray:
        """Actuator inputs (..., 3, n), rows position PID, velocity PID, effort, for targets held
        since the step before (whose position targets were ``previous_positions``), without the
        state-dependent terms; full target vectors or (k, n) rows of them."""
        g = self.gains
        ctrl = np.empty((*np.shape(positions)[:-1], 3, len(g.position_p_gain)))
        position, velocity = ctrl[..., 0, :], ctrl[..., 1, :]
        np.multiply(g.position_p_gain, positions, out=position)
        if self._kicks:
            position += g.position_d_gain * (positions - previous_positions) / self.dt
        position += g.position_cmd_offset
        np.multiply(g.velocity_p_gain, velocities, out=velocity)
        velocity += g.velocity_cmd_offset
        ctrl[..., 2, :] = efforts
        return ctrl

    def run_inputs(self, positions: np.ndarray, velocities: np.ndarray, efforts: np.ndarray) -> np.ndarray:
        """Actuator inputs (k, 3, n) of ``k`` steps whose targets are the rows given, what
        ``inputs`` would give step by step without the state-dependent terms; advances the PIDs'
        memory to the last row."""
        previous = np.vstack([self._updated_position, positions[:-1]])
        self._updated_position[:] = positions[-1]
        return self.held_inputs(positions, velocities, efforts, previous)

    def inputs(self, q: np.ndarray, qdot: np.ndarray) -> np.ndarray:
        """Actuator inputs (3, n) of the step about to be taken from joint state ``q``, ``qdot``;
        advances the PIDs' memory. ``steady`` then says whether the following steps would get
        the same inputs as long as the targets stay."""
        ctrl = self.held_inputs(self.target_position, self.target_velocity, self.target_effort,
                                self._updated_position)
        kicked = self._kicks and not np.array_equal(self.target_position, self._updated_position)
        self._updated_position[:] = self.target_position
        if self._state_terms:
            g, dt = self.gains, self.dt
            error = q - self.target_position
            ctrl[0] -= self._integrate(self._position_integral, g.position_i_gain * dt * error,
                                       g.position_i_min, g.position_i_max)
            velocity_error = qdot - self.target_velocity
            ctrl[1] -= self._integrate(self._velocity_integral, g.velocity_i_gain * dt * velocity_error,
                                       g.velocity_i_min, g.velocity_i_max)
            ctrl[1] -= g.velocity_d_gain * (velocity_error - self._velocity_error) / dt
            self._velocity_error = velocity_error
        self.steady = not (kicked or self.needs_every_step)
        return ctrl

    @staticmethod
    def _integrate(integral: np.ndarray, increment: np.ndarray, low: np.ndarray, high: np.ndarray) -> np.ndarray:
        """gz::math::PID's I term: the gain is inside the sum, which is kept within [i_min, i_max]
        where i_max >= i_min."""
        integral += increment
        bounded = high >= low
        integral[bounded] = np.clip(integral[bounded], low[bounded], high[bounded])
        return integral
