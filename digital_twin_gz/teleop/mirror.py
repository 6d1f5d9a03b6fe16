"""Mirroring the virtual robot's commands to the physical robot, within its limits (no ROS).

:class:`MirrorLimiter` turns the teleop's command stream into commands the physical robot
may receive, :class:`MirrorGate` says whether any may be sent at all. The limits come from
the robot description, applied in this order to every outgoing command:

1. effort: a position command cannot carry an effort limit, so the command is kept within
   ``effort_limit / position_p_gain`` (the description's JointTrajectoryController gain) of
   the measured position: the position controller's P term then asks for no more than the
   joint's rated effort. Where the robot fell behind earlier commands, the commands come
   back towards it at the velocity limit, never leading it further. The message carries no
   effort (feed-forward) field.
2. velocity: each command differs from the previous one by at most ``velocity_limit`` times
   the time between them (one period at most), and is sent with that time as its
   ``time_from_start``, so a controller that interpolates moves no faster either.
3. position: clamped to the joint limits, last, so that no other rule can undo it (a
   clamp towards a previous command that was within limits keeps the velocity bound).
4. rate: no two commands closer in time than ``1 / rate``.

The first command after mirroring engages starts from the measured physical positions,
so a physical robot far from the virtual one is brought over at the velocity limit.
"""

from __future__ import annotations

import numpy as np

from digital_twin_gz.robot import RobotDescription
from digital_twin_gz.teleop.rules import joint_speeds

# Tolerance on command spacing (s): tick times are seconds since the epoch, whose doubles
# resolve ~0.2 us.
_SPACING_EPS = 1e-6


class MirrorLimiter:
    """Physical actuator limits and a rate limit on the commands sent to the physical robot."""

    def __init__(self, description: RobotDescription, rate: float, speed: float = 1.0) -> None:
        if rate <= 0:
            raise ValueError(f"mirror rate must be positive, got {rate}")
        self.lower, self.upper = description.lower, description.upper
        self.max_velocity = joint_speeds(description, speed)
        kp, effort = description.gains.position_p_gain, description.effort_limit
        usable = (kp > 0) & np.isfinite(effort) & (effort > 0)
        self.max_lead = np.where(usable, effort / np.where(usable, kp, 1.0), np.inf)
        self.period = 1.0 / rate
        self._last: np.ndarray | None = None
        self._last_time = -np.inf

    @property
    def running(self) -> bool:
        return self._last is not None

    def start(self, now: float, measured: np.ndarray) -> None:
        """Begin at the measured physical positions; the first command may follow at once."""
        self._last = np.clip(np.asarray(measured, dtype=float), self.lower, self.upper)
        self._last_time = now - self.period

    def stop(self) -> None:
        self._last = None

    def command(self, now: float, target: np.ndarray, measured: np.ndarray) -> tuple[np.ndarray, float] | None:
        """(command, seconds since the previous one) for the physical robot at ``now``, or
        None when the rate limit holds it back. Raises ValueError on non-finite input."""
        if self._last is None:
            raise RuntimeError("MirrorLimiter.command before start")
        elapsed = now - self._last_time
        if elapsed < self.period - _SPACING_EPS:
            return None
        if not (np.isfinite(target).all() and np.isfinite(measured).all()):
            raise ValueError("mirror target or measured physical positions contain NaN or inf")
        dt = min(elapsed, self.period)
        command = np.clip(target, measured - self.max_lead, measured + self.max_lead)
        step = self.max_velocity * dt
        command = np.clip(command, self._last - step, self._last + step)
        command = np.clip(command, self.lower, self.upper)
        self._last, self._last_time = command, now
        return command, dt


class MirrorGate:
    """Whether mirroring may run: the operator engaged it, the gap is fresh and within
    ``max_gap`` (m, base position), and the physical joint states are fresh.

    Mirroring stops at once, and stays stopped until the operator engages it again, when
    the gap passes the threshold, a reading is not finite, or either feed goes quiet
    (``gap_timeout``, ``feed_timeout`` s): without them nothing says the robots agree.
    """

    def __init__(self, max_gap: float, gap_timeout: float = 1.0, feed_timeout: float = 0.5) -> None:
        if max_gap <= 0:
            raise ValueError(f"max_gap must be positive, got {max_gap}")
        self.max_gap = max_gap
        self.gap_timeout = gap_timeout
        self.feed_timeout = feed_timeout
        self.engaged = False
        self.reason = "off"
        self.gap: float | None = None
        self._gap_time = -np.inf
        self._feed_time = -np.inf

    def on_gap(self, now: float, value: float) -> None:
        self.gap, self._gap_time = value, now
        if self.engaged and not value <= self.max_gap:
            self._stop(f"gap {value:.3f} m > {self.max_gap:.3f} m")

    def on_feed(self, now: float) -> None:
        self._feed_time = now

    def engage(self, now: float) -> bool:
        """Start mirroring if nothing stands against it; otherwise say why in ``reason``."""
        problem = self.problem(now)
        if problem is not None:
            self.reason = f"refused: {problem}"
            return False
        self.engaged, self.reason = True, "on"
        return True

    def release(self, why: str = "released by the operator") -> None:
        if self.engaged:
            self.engaged, self.reason = False, why

    def allows(self, now: float) -> bool:
        """Whether a command may be sent now; stops mirroring if a feed went quiet."""
        if self.engaged:
            problem = self.problem(now)
            if problem is not None:
                self._stop(problem)
        return self.engaged

    def _stop(self, problem: str) -> None:
        self.engaged, self.reason = False, f"stopped: {problem}"

    def problem(self, now: float) -> str | None:
        """What stands against mirroring now, or None."""
        if self.gap is None:
            return "no gap reading yet (is gap_monitor running?)"
        if now - self._gap_time > self.gap_timeout:
            return f"no gap reading for {now - self._gap_time:.1f} s"
        if not self.gap <= self.max_gap:
            return f"gap {self.gap:.3f} m > {self.max_gap:.3f} m"
        if not np.isfinite(self._feed_time):
            return "no physical joint states yet"
        if now - self._feed_time > self.feed_timeout:
            return f"no physical joint states for {now - self._feed_time:.1f} s"
        return None
