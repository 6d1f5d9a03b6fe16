"""Teleoperation of the virtual robot, free of ROS: selection, nudges, presets, rate limiting.

The operator moves a *goal* (where the joints should go, always within the description's
joint limits); :meth:`Teleop.advance` moves the *command* (what is sent each tick) towards
it so that no joint moves faster than ``speed`` times its velocity limit. All joints move
on one straight line in joint space and arrive together, so a posture change keeps its
shape on the way.

Groups and presets are written against joint roles (:mod:`digital_twin_gz.robot.roles`), so
teleop works on any humanoid whose roles are known; joints without a role are still
reachable one by one in the group of all joints.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from digital_twin_gz.emulator import motions
from digital_twin_gz.robot import JointRoles, RobotDescription

# Step sizes the operator cycles through (rad; m for prismatic joints).
STEPS = (0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5)
DEFAULT_STEP = 0.05
# Speed of joints whose description gives no usable velocity limit (rad/s or m/s).
FALLBACK_VELOCITY = 1.0

ARM_ROLES = ("shoulder_pitch", "shoulder_roll", "shoulder_yaw", "elbow", "wrist")
LEG_ROLES = ("hip_yaw", "hip_roll", "hip_pitch", "knee", "ankle_pitch", "ankle_roll")
TORSO_ROLES = ("waist_yaw", "waist_roll", "waist_pitch")
HEAD_ROLES = ("neck_yaw", "neck_pitch")
GROUP_ROLES = {
    "torso": TORSO_ROLES,
    "head": HEAD_ROLES,
    "left arm": tuple(f"left_{r}" for r in ARM_ROLES),
    "right arm": tuple(f"right_{r}" for r in ARM_ROLES),
    "left leg": tuple(f"left_{r}" for r in LEG_ROLES),
    "right leg": tuple(f"right_{r}" for r in LEG_ROLES),
}
ALL_JOINTS = "all joints"
LEGS = GROUP_ROLES["left leg"] + GROUP_ROLES["right leg"]
ARMS = GROUP_ROLES["left arm"] + GROUP_ROLES["right arm"]


@dataclass(frozen=True)
class Preset:
    """A posture: each joint of the ``covers`` roles the robot has goes to its default plus
    ``offsets`` (world-axis rotations by role). A preset naming a ``motion`` of
    :data:`~digital_twin_gz.emulator.motions.MOTIONS` plays one pass of it instead, on top of the goal
    it starts from, and ends where it started."""

    covers: tuple[str, ...] = ()
    offsets: dict[str, float] = field(default_factory=dict)
    motion: str | None = None

    def needs(self) -> list[str]:
        """The roles without which the preset means nothing."""
        return sorted(motions.roles_used(self.motion) if self.motion else self.offsets)


PRESETS = {
    "stand": Preset(LEGS + TORSO_ROLES),
    # Half a period of the squat motion is its deepest point.
    "squat": Preset(LEGS, motions.squat(0.5, period=1.0)),
    "arms up": Preset(ARMS, {"left_shoulder_pitch": -2.5, "right_shoulder_pitch": -2.5}),
    "wave": Preset(motion="arm_wave"),
}


@dataclass(frozen=True)
class Group:
    """Joints picked together. ``signs`` turn a nudge into each joint's direction (the role's
    world axis); ``whole`` says whether the group can be nudged as one."""

    name: str
    joints: tuple[int, ...]
    signs: tuple[float, ...]
    whole: bool


def build_groups(description: RobotDescription, roles: JointRoles) -> tuple[Group, ...]:
    """All joints, then torso, head, arms and legs, each with the roles this robot has."""
    n = len(description.joint_names)
    groups = [Group(ALL_JOINTS, tuple(range(n)), (1.0,) * n, whole=False)]
    for name, group_roles in GROUP_ROLES.items():
        present = [roles.joints[r] for r in group_roles if r in roles.joints]
        if present:
            groups.append(Group(name, tuple(j for j, _ in present), tuple(s for _, s in present), whole=True))
    return tuple(groups)


def joint_speeds(description: RobotDescription, speed: float = 1.0) -> np.ndarray:
    """``speed`` times each joint's velocity limit (:data:`FALLBACK_VELOCITY` where it has none)."""
    if not 0 < speed <= 1:
        raise ValueError(f"speed must be a fraction of the velocity limits in (0, 1], got {speed}")
    limit = description.velocity_limit
    return speed * np.where(np.isfinite(limit) & (limit > 0), limit, FALLBACK_VELOCITY)


class Ticks:
    """Tick times on a fixed grid from ``start``: a late tick keeps its slot, a missed one is
    skipped, so time steps are whole periods however the ticks are scheduled."""

    def __init__(self, rate: float, start: float) -> None:
        if rate <= 0:
            raise ValueError(f"rate must be positive, got {rate}")
        self.rate = rate
        self.start = start
        self._last = -1

    def tick(self, now: float) -> tuple[float, float] | None:
        """(time of this tick's slot, time since the last tick), or None if the slot was taken."""
        k = int(round((now - self.start) * self.rate))
        if k <= self._last:
            return None
        dt = (k - self._last) / self.rate if self._last >= 0 else 1.0 / self.rate
        self._last = k
        return self.start + k / self.rate, dt


class Teleop:
    """The operator's goal and the rate-limited command stream, in the description's joint order."""

    def __init__(self, description: RobotDescription, roles: JointRoles, start: np.ndarray, speed: float = 0.25,
                 max_dt: float = 0.05) -> None:
        self.names = description.joint_names
        self.lower, self.upper = description.lower, description.upper
        self.default = np.clip(description.default_positions, self.lower, self.upper)
        self.speeds = joint_speeds(description, speed)
        self.max_dt = max_dt
        self.roles = roles
        self.groups = build_groups(description, roles)
        self.command = np.clip(np.asarray(start, dtype=float), self.lower, self.upper)
        self.goal = self.command.copy()
        self.group = 0
        self.item = 0
        self.step = DEFAULT_STEP
        self._playing: tuple[motions.Offsets, float, np.ndarray, float] | None = None

    # Selection -------------------------------------------------------------------------

    @property
    def selected(self) -> Group:
        return self.groups[self.group]

    @property
    def whole_group(self) -> bool:
        return self.item < 0

    def selected_joints(self) -> tuple[tuple[int, ...], tuple[float, ...]]:
        """Joint indices a nudge moves and their directions."""
        group = self.selected
        if self.whole_group:
            return group.joints, group.signs
        return (group.joints[self.item],), (1.0,)

    def select_group(self, delta: int) -> None:
        """The next (+1) or previous (-1) group, as a whole where it can be nudged as one."""
        self.group = (self.group + delta) % len(self.groups)
        self.item = -1 if self.selected.whole else 0

    def select_joint(self, delta: int) -> None:
        """The next or previous joint of the group; "whole group" comes before the first."""
        group = self.selected
        first = -1 if group.whole else 0
        span = len(group.joints) - first
        self.item = (self.item - first + delta) % span + first

    def change_step(self, delta: int) -> None:
        """A larger (+1) or smaller (-1) step from :data:`STEPS`."""
        k = int(np.argmin(np.abs(np.array(STEPS) - self.step)))
        self.step = STEPS[min(max(k + delta, 0), len(STEPS) - 1)]

    # Goals -----------------------------------------------------------------------------

    def nudge(self, direction: int) -> list[str]:
        """Move the selected joints' goals one step up (+1) or down (-1); returns the joints
        held at a limit."""
        self._playing = None
        joints, signs = self.selected_joints()
        index = np.array(joints)
        wanted = self.goal[index] + direction * self.step * np.array(signs)
        self.goal[index] = np.clip(wanted, self.lower[index], self.upper[index])
        return [self.names[j] for j, w, g in zip(joints, wanted, self.goal[index]) if w != g]

    def preset(self, name: str) -> None:
        """Go to a posture preset (see :data:`PRESETS`), or start playing it; raises
        ValueError naming the roles this robot lacks for it."""
        preset = PRESETS[name]
        missing = self.roles.missing(preset.needs())
        if missing:
            raise ValueError(f"preset '{name}' needs joint roles this robot lacks: {', '.join(missing)}")
        self._playing = None
        if preset.motion is not None:
            offsets, duration = motions.MOTIONS[preset.motion]
            self._playing = (offsets, duration, self.goal.copy(), 0.0)
            return
        index = np.array([self.roles.index(r) for r in preset.covers if r in self.roles.joints], dtype=int)
        pose = self.roles.apply(self.default, preset.offsets)
        self.goal[index] = np.clip(pose[index], self.lower[index], self.upper[index])

    def to_default(self) -> None:
        """Every joint back to the description's default position."""
        self._playing = None
        self.goal = self.default.copy()

    @property
    def playing(self) -> bool:
        return self._playing is not None

    # Command stream --------------------------------------------------------------------

    def advance(self, dt: float) -> np.ndarray:
        """The command after ``dt`` seconds (at most ``max_dt`` counts: a stalled loop slows
        the robot down rather than making it jump)."""
        dt = min(dt, self.max_dt)
        if self._playing is not None:
            offsets, duration, base, elapsed = self._playing
            elapsed = min(elapsed + dt, duration)
            self.goal = np.clip(self.roles.apply(base, offsets(elapsed)), self.lower, self.upper)
            self._playing = (offsets, duration, base, elapsed) if elapsed < duration else None
        self.command = limit_step(self.command, self.goal, self.speeds * dt)
        return self.command


def limit_step(current: np.ndarray, goal: np.ndarray, max_step: np.ndarray) -> np.ndarray:
    """Move from ``current`` towards ``goal`` along a straight line, no joint by more than its
    ``max_step``; every joint arrives at the same time."""
    delta = goal - current
    with np.errstate(divide="ignore", invalid="ignore"):
        ratios = np.where(np.abs(delta) > max_step, max_step / np.abs(delta), 1.0)
    return current + delta * float(ratios.min(initial=1.0))
