"""Link frames of a description from its joint origins (no simulator needed).

Forward kinematics here is numpy over batches of states, so the gap monitor can place
the key links of both robots for hundreds of samples in one call.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from scipy.spatial.transform import Rotation

if TYPE_CHECKING:
    from digital_twin_gz.robot.description import Joint, RobotDescription


def _origin_rotation(joint: Joint) -> np.ndarray:
    """URDF rpy: fixed-axis roll, pitch, yaw, i.e. R = Rz(yaw) Ry(pitch) Rx(roll) (scipy's extrinsic
    "xyz"), written out: scipy's per-call overhead was most of loading a 200-link robot."""
    (cr, cp, cy), (sr, sp, sy) = np.cos(joint.rpy), np.sin(joint.rpy)
    return np.array([[cy * cp, cy * sp * sr - sy * cr, cy * sp * cr + sy * sr],
                     [sy * cp, sy * sp * sr + cy * cr, sy * sp * cr - cy * sr],
                     [-sp, cp * sr, cp * cr]])


def zero_pose_frames(description: RobotDescription) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """World position and rotation matrix of every link with all joints at zero (computed once
    per description; read-only)."""
    cached = description.__dict__.get("_zero_pose_frames")
    if cached is not None:
        return cached
    frames = {description.root_link: (np.zeros(3), np.eye(3))}
    stack = [description.root_link]
    while stack:
        parent = stack.pop()
        position, rotation = frames[parent]
        for joint in description.children(parent):
            frames[joint.child] = (position + rotation @ joint.xyz, rotation @ _origin_rotation(joint))
            stack.append(joint.child)
    description.__dict__["_zero_pose_frames"] = frames  # a frozen dataclass: as functools.cached_property does
    return frames


def _skew(axis: np.ndarray) -> np.ndarray:
    return np.array([[0.0, -axis[2], axis[1]], [axis[2], 0.0, -axis[0]], [-axis[1], axis[0], 0.0]])


def _joint_factors(joint: Joint) -> np.ndarray:
    """(3, 3 m) blocks whose combination is the joint's rotation after its origin: for a
    revolute joint ``O (I + sin(q) K + (1 - cos(q)) K^2)`` (Rodrigues) is ``[O, O K, O K^2]``
    weighted 1, sin(q), 1 - cos(q); a fixed or prismatic joint has ``[O]`` alone."""
    origin = _origin_rotation(joint)
    if joint.type in ("revolute", "continuous"):
        k = _skew(joint.axis)
        return np.hstack([origin, origin @ k, origin @ k @ k])
    return origin


class ForwardKinematics:
    """World positions of chosen links for batches of (base pose, joint positions)."""

    def __init__(self, description: RobotDescription, links: list[str] | tuple[str, ...]) -> None:
        unknown = [link for link in links if link not in description.links]
        if unknown:
            raise ValueError(f"key links: robot '{description.name}' has no link {', '.join(map(repr, unknown))}")
        self.links = tuple(links)
        parent_joint = {j.child: j for j in description.joints.values()}
        chain: list[Joint] = []
        for link in self.links:
            path = []
            while link != description.root_link:
                joint = parent_joint[link]
                path.append(joint)
                link = joint.parent
            chain += [j for j in reversed(path) if j not in chain]
        actuated = {name: k for k, name in enumerate(description.joint_names)}
        # (joint, rotation factors, index into joint positions or -1 for a fixed joint)
        self._chain = [(j, _joint_factors(j), actuated.get(j.name, -1)) for j in chain]
        self._root = description.root_link

    def positions(self, base_position: np.ndarray, base_orientation: np.ndarray,
                  joint_positions: np.ndarray) -> np.ndarray:
        """(N, k, 3) link positions from base positions (N, 3), orientations (N, 4) as
        x, y, z, w, and joint positions (N, n) in the description's joint order."""
        return self.poses(base_position, base_orientation, joint_positions)[0]

    def poses(self, base_position: np.ndarray, base_orientation: np.ndarray,
              joint_positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(N, k, 3) link positions and (N, k, 3, 3) rotation matrices (link to world), as
        :meth:`positions` takes its inputs.

        Each joint is one matrix product of all N rotations (stacked as (3 N, 3)) with its
        constant factors: BLAS does the work, not a loop over N small matrices."""
        base_position = np.atleast_2d(base_position)
        joint_positions = np.atleast_2d(joint_positions)
        n = len(base_position)
        frames = {self._root: (base_position, Rotation.from_quat(np.atleast_2d(base_orientation)).as_matrix())}
        for joint, factors, index in self._chain:
            position, rotation = frames[joint.parent]
            stacked = rotation.reshape(3 * n, 3)
            position = position + (stacked @ joint.xyz).reshape(n, 3)
            products = (stacked @ factors).reshape(n, 3, factors.shape[1])
            rotation = products[:, :, :3]
            if index >= 0:
                q = joint_positions[:, index, None, None]
                if joint.type == "prismatic":
                    position = position + q[:, :, 0] * (rotation @ joint.axis)
                else:
                    rotation = rotation + np.sin(q) * products[:, :, 3:6] + (1.0 - np.cos(q)) * products[:, :, 6:]
            frames[joint.child] = (position, np.ascontiguousarray(rotation))
        if not self.links:
            return np.zeros((n, 0, 3)), np.zeros((n, 0, 3, 3))
        return (np.stack([frames[link][0] for link in self.links], axis=1),
                np.stack([frames[link][1] for link in self.links], axis=1))
