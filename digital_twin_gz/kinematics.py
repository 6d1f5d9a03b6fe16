"""Link frames of a description from its joint origins (no simulator needed).

Forward kinematics here is numpy over batches of states, so the gap monitor can place
the key links of both robots for hundreds of samples in one call.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from scipy.spatial.transform import Rotation

if TYPE_CHECKING:
    from digital_twin_gz.description import Joint, RobotDescription


def _origin_rotation(joint: Joint) -> np.ndarray:
    # URDF rpy is fixed-axis roll, pitch, yaw: scipy's extrinsic "xyz".
    return Rotation.from_euler("xyz", joint.rpy).as_matrix()


def zero_pose_frames(description: RobotDescription) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """World position and rotation matrix of every link with all joints at zero."""
    frames = {description.root_link: (np.zeros(3), np.eye(3))}
    stack = [description.root_link]
    while stack:
        parent = stack.pop()
        position, rotation = frames[parent]
        for joint in description.children(parent):
            frames[joint.child] = (position + rotation @ joint.xyz, rotation @ _origin_rotation(joint))
            stack.append(joint.child)
    return frames


def _axis_rotations(axis: np.ndarray, angles: np.ndarray) -> np.ndarray:
    """Rotation matrices (N, 3, 3) about a unit axis by N angles (Rodrigues)."""
    k = np.array([[0.0, -axis[2], axis[1]], [axis[2], 0.0, -axis[0]], [-axis[1], axis[0], 0.0]])
    s, c = np.sin(angles)[:, None, None], np.cos(angles)[:, None, None]
    return np.eye(3) + s * k + (1.0 - c) * (k @ k)


class ForwardKinematics:
    """World positions of chosen links for batches of (base pose, joint positions)."""

    def __init__(self, description: RobotDescription, links: list[str] | tuple[str, ...]) -> None:
        unknown = [link for link in links if link not in description.links]
        if unknown:
            raise KeyError(f"robot '{description.name}' has no links {unknown}")
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
        # (joint, origin rotation, index into joint positions or -1 for a fixed joint)
        self._chain = [(j, _origin_rotation(j), actuated.get(j.name, -1)) for j in chain]
        self._root = description.root_link

    def positions(self, base_position: np.ndarray, base_orientation: np.ndarray,
                  joint_positions: np.ndarray) -> np.ndarray:
        """(N, k, 3) link positions from base positions (N, 3), orientations (N, 4) as
        x, y, z, w, and joint positions (N, n) in the description's joint order."""
        base_position = np.atleast_2d(base_position)
        n = len(base_position)
        frames = {self._root: (base_position, Rotation.from_quat(np.atleast_2d(base_orientation)).as_matrix())}
        for joint, origin, index in self._chain:
            position, rotation = frames[joint.parent]
            position = position + rotation @ joint.xyz
            rotation = rotation @ origin
            if index >= 0:
                q = np.atleast_2d(joint_positions)[:, index]
                if joint.type == "prismatic":
                    position = position + q[:, None] * (rotation @ joint.axis)
                else:
                    rotation = rotation @ _axis_rotations(joint.axis, q)
            frames[joint.child] = (np.broadcast_to(position, (n, 3)), rotation)
        return np.stack([frames[link][0] for link in self.links], axis=1)
