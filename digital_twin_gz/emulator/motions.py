"""The motion library: joint targets over time, written against joint roles.

Every motion starts and ends each cycle in the default pose, so motions can be strung
together (``tour``) without jumps. Angles are rotations about world axes (see
:mod:`digital_twin_gz.robot.roles`), so a squat bends every humanoid's knees forward.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from digital_twin_gz.robot import JointRoles, RobotDescription

Offsets = Callable[[float], dict[str, float]]


def _cycle(t: float, period: float) -> float:
    """0 -> 1 -> 0 smoothly over one period."""
    return 0.5 * (1.0 - np.cos(2.0 * np.pi * t / period))


def _wave(t: float, period: float) -> float:
    """0 -> 1 -> 0 -> -1 -> 0 over one period."""
    return float(np.sin(2.0 * np.pi * t / period))


def stand(t: float) -> dict[str, float]:
    return {}


def squat(t: float, depth: float = 0.45, period: float = 4.0) -> dict[str, float]:
    a = depth * _cycle(t, period)
    offsets = {}
    for side in ("left", "right"):
        offsets |= {f"{side}_hip_pitch": -a, f"{side}_knee": 2.0 * a, f"{side}_ankle_pitch": -a}
    return offsets


def _ramp(t: float, start: float, end: float) -> float:
    """0 before ``start``, 1 after ``end``, smooth in between."""
    x = min(max((t - start) / (end - start), 0.0), 1.0)
    return x * x * (3.0 - 2.0 * x)


def arm_wave(t: float, period: float = 1.0) -> dict[str, float]:
    """Raise the right arm sideways, wave the forearm for 4.5 s, lower it."""
    up = _ramp(t, 0.0, 1.5) - _ramp(t, 6.0, 7.5)
    return {"right_shoulder_roll": -1.3 * up, "right_elbow": -up * (0.6 + 0.4 * _wave(t - 1.5, period))}


def torso_twist(t: float, amplitude: float = 0.5, period: float = 4.0) -> dict[str, float]:
    return {"waist_yaw": amplitude * _wave(t, period), "neck_yaw": -0.5 * amplitude * _wave(t, period)}


def weight_shift(t: float, amplitude: float = 0.07, period: float = 4.0) -> dict[str, float]:
    b = amplitude * _wave(t, period)
    return {"left_hip_roll": b, "right_hip_roll": b, "left_ankle_roll": -b, "right_ankle_roll": -b}


# name -> (offsets of time, duration of one pass)
MOTIONS: dict[str, tuple[Offsets, float]] = {
    "stand": (stand, 4.0),
    "squat": (squat, 8.0),
    "arm_wave": (arm_wave, 7.5),
    "torso_twist": (torso_twist, 8.0),
    "weight_shift": (weight_shift, 8.0),
}
TOUR = ("stand", "squat", "arm_wave", "torso_twist", "weight_shift")
NAMES = (*MOTIONS, "tour")


def roles_used(name: str) -> set[str]:
    """Roles a motion moves (sampled over its pass)."""
    if name == "tour":
        return set().union(*(roles_used(part) for part in TOUR))
    offsets, duration = MOTIONS[name]
    return set().union(*(offsets(t) for t in np.linspace(0.0, duration, 31)))


class Motion:
    """Joint position targets of a named motion at any time, looping after its last pass."""

    def __init__(self, name: str, description: RobotDescription, roles: JointRoles) -> None:
        if name not in NAMES:
            raise ValueError(f"unknown motion '{name}' (known: {', '.join(NAMES)})")
        missing = roles.missing(sorted(roles_used(name)))
        if missing:
            raise ValueError(f"motion '{name}' needs joint roles this robot lacks: {', '.join(missing)} "
                             "(map them in a joint-role file, role: joint_name)")
        self.name = name
        self.roles = roles
        self.default = description.default_positions
        parts = TOUR if name == "tour" else (name,)
        self._segments = [MOTIONS[p] for p in parts]
        self.duration = sum(d for _, d in self._segments)

    def positions(self, t: float) -> np.ndarray:
        t = t % self.duration
        for offsets, duration in self._segments:
            if t < duration:
                return self.roles.apply(self.default, offsets(t))
            t -= duration
        return self.default.copy()
