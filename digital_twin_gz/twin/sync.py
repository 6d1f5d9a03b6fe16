"""From physical joint samples to virtual joint targets: name mapping, validation, limits.

This is what ``twin_sync`` does for every sample, free of ROS, so replay and tests use
the very same rules: physical names are mapped to the description's joints through a
joint map; a sample with NaN/inf, unknown names, mismatched lengths or a stamp that does
not move forward is rejected with the reason; accepted positions are clamped to the
joint limits. Mimic joints are left out of the commands (the simulator makes them follow).
A stamp that jumps (``clock_jump``) starts a new session instead: the physical robot restarted.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml

from digital_twin_gz.robot import RobotDescription
from digital_twin_gz.sim import clock_jumped


class JointMapError(ValueError):
    """A joint map file that cannot be used; the message names the file and the entry."""


def usable_poses(positions: np.ndarray, orientations: np.ndarray) -> np.ndarray:
    """Which base poses the twin can use: finite positions (..., 3) and finite, non-zero
    quaternions (..., 4); one bool per pose."""
    return (np.isfinite(positions).all(axis=-1) & np.isfinite(orientations).all(axis=-1)
            & (np.linalg.norm(orientations, axis=-1) > 0))


class SampleError(ValueError):
    """A physical sample that was rejected; ``reason`` is a short key for counting."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class JointMap:
    """Physical joint name -> index in the description's joint order.

    The map file is YAML: ``joints: {physical_name: description_joint}`` for names that
    differ, and ``ignore: [names]`` for joints the physical robot reports that the twin
    does not have (fingers, wheels). Names not in the map are used as they are.
    """

    def __init__(self, description: RobotDescription, renames: dict[str, str] | None = None,
                 ignore: list[str] | tuple[str, ...] = (), source: str = "joint map") -> None:
        self.joint_names = description.joint_names
        self._index = {name: k for k, name in enumerate(self.joint_names)}
        for physical, virtual in (renames or {}).items():
            if virtual not in self._index:
                raise JointMapError(f"{source}: '{physical}' maps to '{virtual}', which is not an actuated joint of "
                                    f"'{description.name}' (joints: {', '.join(self.joint_names)})")
        self._index |= {physical: self._index[virtual] for physical, virtual in (renames or {}).items()}
        self.ignore = frozenset(ignore)
        self._orders: dict[tuple[str, ...], tuple[np.ndarray, np.ndarray]] = {}

    @classmethod
    def load(cls, description: RobotDescription, path: Path | None) -> JointMap:
        if path is None:
            return cls(description)
        try:
            data = yaml.safe_load(Path(path).read_text()) or {}
        except (OSError, yaml.YAMLError) as err:
            raise JointMapError(f"{path}: cannot read joint map: {err}") from err
        if not isinstance(data, dict) or not set(data) <= {"joints", "ignore"}:
            raise JointMapError(f"{path}: expected a mapping with keys 'joints' and/or 'ignore'")
        renames, ignore = data.get("joints") or {}, data.get("ignore") or []
        if not isinstance(renames, dict) or not isinstance(ignore, list):
            raise JointMapError(f"{path}: 'joints' must be a mapping and 'ignore' a list")
        return cls(description, {str(k): str(v) for k, v in renames.items()}, [str(n) for n in ignore], str(path))

    def order(self, names: list[str] | tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
        """(positions in the message that are used, their joint indices); cached per name list."""
        key = tuple(names)
        found = self._orders.get(key)
        if found is None:
            unknown = [n for n in key if n not in self._index and n not in self.ignore]
            if unknown:
                raise SampleError("unknown_joint",
                                  f"unknown joints {unknown} (map them in the joint map, or ignore them)")
            used = [k for k, n in enumerate(key) if n not in self.ignore]
            indices = np.array([self._index[key[k]] for k in used], dtype=int)
            if len(set(indices.tolist())) != len(indices):
                raise SampleError("duplicate_joint", f"joints {list(key)} name the same twin joint twice")
            found = self._orders[key] = (np.array(used, dtype=int), indices)
        return found

    def vector(self, names: list[str] | tuple[str, ...], positions: np.ndarray, fill: np.ndarray) -> np.ndarray:
        """A full joint vector in the description's order; joints the sample lacks come from ``fill``."""
        used, indices = self.order(names)
        result = fill.copy()
        result[indices] = np.asarray(positions, dtype=float)[used]
        return result


@dataclass(frozen=True)
class Command:
    """Virtual joint targets for one physical sample (stamp kept)."""

    stamp: float
    joint_index: np.ndarray
    positions: np.ndarray
    velocities: np.ndarray | None
    efforts: np.ndarray | None
    clamped: tuple[str, ...]
    new_session: bool = False  # the first sample after a jump of the physical clock


@dataclass(frozen=True)
class Commands:
    """Virtual joint targets for many samples with the same joint names: row ``k`` answers
    input row ``rows[k]``. Where a sample gave no usable velocities or efforts, their rows
    are NaN and ``has_velocities``/``has_efforts`` False: the message carries none, and the
    controller keeps the targets it had (a zero target would stop it)."""

    rows: np.ndarray
    stamps: np.ndarray
    joint_index: np.ndarray
    positions: np.ndarray
    velocities: np.ndarray
    efforts: np.ndarray
    has_velocities: np.ndarray
    has_efforts: np.ndarray
    clamped: np.ndarray
    rejections: tuple[str, ...] = ()

    def __len__(self) -> int:
        return len(self.rows)


@dataclass(frozen=True)
class _Layout:
    """Where a message's joints go (see :meth:`JointMap.order`) and their limits, in message order."""

    used: np.ndarray
    indices: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    velocity_limit: np.ndarray
    effort_limit: np.ndarray


@dataclass
class SampleGate:
    """Validates, maps and clamps physical samples in arrival order.

    Measured velocities and efforts, when a sample has them for every joint, become
    velocity targets and effort feed-forward. A position target alone leaves the twin
    behind twice: its PD lags the motion, and it sags under gravity by as much again as
    the physical robot already did (``q = target - tau_gravity / kp``). With the physical
    robot's own velocity and torque fed forward, a twin with the same physics tracks it to
    a fraction of a millimetre, so what remains is the gap.

    A stamp more than ``clock_jump`` s before or after the last accepted one is not out of
    order but the physical clock restarting (a reboot: back to zero) or being set: the sample
    is accepted and starts a new session (``sessions`` counts them, ``jumps`` holds each
    (from, to)). Within ``clock_jump``, a stamp that does not move forward is rejected.
    """

    description: RobotDescription
    joint_map: JointMap
    clock_jump: float = np.inf
    last_stamp: float = -np.inf
    accepted: int = 0
    rejected: dict[str, int] = field(default_factory=dict)
    jumps: list[tuple[float, float]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._layouts: dict[tuple[str, ...], _Layout] = {}

    def _layout(self, names: list[str] | tuple[str, ...]) -> _Layout:
        key = tuple(names)
        layout = self._layouts.get(key)
        if layout is None:
            used, indices = self.joint_map.order(key)
            d = self.description
            # Mimic joints are not commanded: the simulator holds them to the joints they follow.
            commanded = np.array([d.joints[d.joint_names[i]].mimic is None for i in indices], dtype=bool)
            used, indices = used[commanded], indices[commanded]
            layout = self._layouts[key] = _Layout(used, indices, d.lower[indices], d.upper[indices],
                                                  d.velocity_limit[indices], d.effort_limit[indices])
        return layout

    def reject(self, reason: str, count: int = 1) -> None:
        """Count samples rejected for ``reason`` (also those rejected before reaching the gate)."""
        self.rejected[reason] = self.rejected.get(reason, 0) + count

    def _layout_counted(self, names: list[str] | tuple[str, ...], count: int) -> _Layout:
        try:
            return self._layout(names)
        except SampleError as err:
            self.reject(err.reason, count)
            raise

    def accept(self, stamp: float, names: list[str] | tuple[str, ...], positions: np.ndarray,
               velocities: np.ndarray | None = None, efforts: np.ndarray | None = None) -> Command:
        """The command for one sample, or SampleError saying why it was rejected: the rules of
        :meth:`accept_many` for one row, without building a batch (twin_sync's hot path)."""
        if len(names) != len(positions):
            self.reject("length_mismatch")
            raise SampleError("length_mismatch", f"{len(names)} names but {len(positions)} positions")
        layout = self._layout_counted(names, 1)
        if not math.isfinite(stamp):
            self.reject("bad_stamp")
            raise SampleError("bad_stamp", f"stamp {stamp} is not finite")
        jumped = clock_jumped(self.last_stamp, stamp, self.clock_jump)
        if stamp <= self.last_stamp and not jumped:
            self.reject("out_of_order")
            raise SampleError("out_of_order", f"stamp {stamp:.6f} s is not after the last accepted "
                                              f"{self.last_stamp:.6f} s")
        values = np.asarray(positions, dtype=float)[layout.used]
        finite = np.isfinite(values)
        if not finite.all():
            self.reject("not_finite")
            raise SampleError("not_finite", f"NaN or inf for joints {[names[k] for k in layout.used[~finite]]}")
        if jumped:
            self.jumps.append((self.last_stamp, stamp))
        self.last_stamp = stamp
        self.accepted += 1
        count = len(names)
        measured = [None if v is None or len(v) != count else np.asarray(v, dtype=float)[None]
                    for v in (velocities, efforts)]
        clamped, moved, (v, has_v), (e, has_e) = _targets(layout, values[None], measured)
        return Command(stamp, layout.indices, clamped[0], v[0] if has_v[0] else None, e[0] if has_e[0] else None,
                       tuple(self.description.joint_names[i] for i in layout.indices[moved[0]]) if moved.any() else (),
                       jumped)

    @property
    def sessions(self) -> int:
        """Sessions of the physical clock so far: 1 from the first accepted sample, one more per jump."""
        return (self.accepted > 0) + len(self.jumps)

    def accept_many(self, stamps: np.ndarray, names: list[str] | tuple[str, ...], positions: np.ndarray,
                    velocities: np.ndarray | None = None, efforts: np.ndarray | None = None) -> Commands:
        """The commands for samples (rows) that share their joint names, in arrival order, as
        one by one: rejected rows are counted by reason and left out. ``clamped`` marks, per
        row and joint, what was moved to a limit (its feed-forward is then 0)."""
        layout = self._layout_counted(names, len(stamps))
        used = layout.used
        values = positions[:, used]
        finite_rows = np.isfinite(values).all(axis=1).tolist()
        # The stamp rules are sequential (a rejected sample does not move the last stamp): a
        # loop over plain floats, cheap next to everything else done per sample.
        keep, reasons, last = [], [], self.last_stamp
        for k, (stamp, finite) in enumerate(zip(stamps.tolist(), finite_rows)):
            jumped = clock_jumped(last, stamp, self.clock_jump)
            if not math.isfinite(stamp):
                reasons.append("bad_stamp")
            elif stamp <= last and not jumped:
                reasons.append("out_of_order")
            elif not finite:
                reasons.append("not_finite")
            else:
                if jumped:
                    self.jumps.append((last, stamp))
                keep.append(k)
                last = stamp
        for reason in reasons:
            self.reject(reason)
        self.last_stamp = last
        self.accepted += len(keep)
        rows = np.array(keep, dtype=int)
        measured = [None if m is None else m[rows] for m in (velocities, efforts)]
        clamped, moved, (v, has_v), (e, has_e) = _targets(layout, values[rows], measured)
        return Commands(rows, stamps[rows], layout.indices, clamped, v, e, has_v, has_e, moved, tuple(reasons))


def _targets(layout: _Layout, values: np.ndarray, measured: list[np.ndarray | None]):
    """Accepted rows' positions (rows, used joints) clamped to the limits, which were moved, and
    per measured field (velocities, efforts: rows x message joints, or None) its bounded targets
    (NaN rows where unusable; 0 where the position was clamped) and which rows are usable."""
    # minimum/maximum rather than np.clip: the same for finite values, several times faster.
    clamped = np.minimum(np.maximum(values, layout.lower), layout.upper)
    moved = clamped != values
    feeds = []
    for given, bound in zip(measured, (layout.velocity_limit, layout.effort_limit)):
        if given is None:
            feeds.append((np.full_like(clamped, np.nan), np.zeros(len(clamped), dtype=bool)))
            continue
        given = given[:, layout.used]
        usable = np.isfinite(given).all(axis=1)
        bounded = np.minimum(np.maximum(given, -bound), bound)
        feeds.append((np.where(usable[:, None], np.where(moved, 0.0, bounded), np.nan), usable))
    return clamped, moved, *feeds


class StaleWatch:
    """Whether a feed has gone quiet: no sample for longer than ``timeout`` (monotonic seconds)."""

    def __init__(self, timeout: float) -> None:
        if timeout <= 0:
            raise ValueError(f"stale timeout must be positive, got {timeout}")
        self.timeout = timeout
        self.last: float | None = None
        self.since: float | None = None  # the start of the feed's current unbroken run

    def feed(self, now: float) -> None:
        if self.last is None or now - self.last > self.timeout:
            self.since = now
        self.last = now

    def age(self, now: float) -> float | None:
        """Seconds since the last sample (None before the first)."""
        return None if self.last is None else now - self.last

    def stale(self, now: float) -> bool:
        return self.last is not None and now - self.last > self.timeout

    def silent_while(self, feed: StaleWatch, now: float) -> bool:
        """Whether this feed, once heard, has been quiet for longer than its timeout during ``feed``'s
        current unbroken run. A simulator steps on the commands the physical feed drives, so it is not
        silent for the time before that feed (re)started: counted from the last sample alone, a
        simulator slow to answer the first commands of a new session on a busy machine was taken
        for one that had died."""
        if self.last is None or feed.last is None or feed.stale(now):
            return False
        return now - max(self.last, feed.since) > self.timeout
