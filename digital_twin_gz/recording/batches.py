"""Batches of serialized messages decoded as arrays: what a recording holds, and what queues up
in a live subscriber between two measurements.

:func:`joint_batch` maps many JointState messages at once into full joint vectors in the
description's order; :func:`pose_batch` does the same for base poses. Both take the CDR bytes
rclpy hands a ``raw=True`` subscription (or a recording stores), so a node pays for decoding once
per batch, not once per message.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from digital_twin_gz.recording.cdr import decode_joint_states, decode_poses
from digital_twin_gz.twin import JointMap, SampleError, usable_poses


@dataclass(frozen=True)
class JointBatch:
    """The usable messages of a batch, in message order: ``positions`` (M, n) in the description's
    order, joints a message does not name held from the message before (or ``before``);
    ``velocities``/``efforts`` NaN where a message did not carry them. ``usable`` marks the
    messages used among all given, ``covered`` the joints any of them named, ``errors`` the name
    sets that do not fit the robot (their messages are left out)."""

    stamps_ns: np.ndarray
    positions: np.ndarray
    velocities: np.ndarray
    efforts: np.ndarray
    usable: np.ndarray
    covered: np.ndarray
    errors: tuple[SampleError, ...]

    def __len__(self) -> int:
        return len(self.stamps_ns)


def joint_batch(datas: list[bytes], joint_map: JointMap, before: np.ndarray) -> JointBatch:
    """JointState messages (CDR bytes) as joint vectors. Messages that do not decode, that name
    no joint, whose position count differs from their names, or whose names do not fit the
    robot are left out."""
    n = len(joint_map.joint_names)
    count = len(datas)
    positions = np.full((count, n), np.nan)
    velocities = np.full((count, n), np.nan)
    efforts = np.full((count, n), np.nan)
    present = np.zeros((count, n), dtype=bool)
    stamps = np.zeros(count, dtype=np.int64)
    usable = np.zeros(count, dtype=bool)
    errors: list[SampleError] = []
    for block in decode_joint_states(datas):
        if not block.names or block.positions.shape[1] != len(block.names):
            continue
        try:
            used, index = joint_map.order(block.names)
        except SampleError as err:
            errors.append(err)
            continue
        # One block of every message, in order (the usual case): a column scatter, not a 2-D one.
        grid = (slice(None), index) if len(block.rows) == count else np.ix_(block.rows, index)
        present[grid] = True
        usable[block.rows] = True
        stamps[block.rows] = block.stamps_ns
        positions[grid] = block.positions[:, used]
        for target, values in ((velocities, block.velocities), (efforts, block.efforts)):
            if values is not None and values.shape[1] == len(block.names):
                target[grid] = values[:, used]
    covered = present.any(axis=0)
    positions, velocities, efforts, present = positions[usable], velocities[usable], efforts[usable], present[usable]
    if not present.all():
        # Messages that name only some joints: the others keep their last reported position,
        # as twin_sync keeps the targets of joints a sample does not name.
        rows = len(positions)
        last = np.where(present, np.arange(rows)[:, None], -1)
        np.maximum.accumulate(last, axis=0, out=last)
        held = np.where(last >= 0, positions[np.maximum(last, 0), np.arange(n)], before)
        positions = np.where(present, positions, held)
    return JointBatch(stamps[usable], positions, velocities, efforts, usable, covered, tuple(errors))


def pose_batch(datas: list[bytes], kind: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Header stamps (ns), positions (M, 3) and x, y, z, w orientations (M, 4) of the usable
    pose messages (Odometry, PoseStamped or PoseWithCovarianceStamped), in message order, and
    which of the given messages decoded at all (a pose with NaN or a zero quaternion decodes but
    is not usable)."""
    stamps, poses, decoded = decode_poses(datas, kind)
    usable = decoded & usable_poses(poses[:, :3], poses[:, 3:])
    return stamps[usable], poses[usable, :3], poses[usable, 3:], decoded
