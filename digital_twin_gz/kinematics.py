"""Link frames of a description from its joint origins (no simulator needed)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from scipy.spatial.transform import Rotation

if TYPE_CHECKING:
    from digital_twin_gz.description import RobotDescription


def zero_pose_frames(description: RobotDescription) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """World position and rotation matrix of every link with all joints at zero."""
    frames = {description.root_link: (np.zeros(3), np.eye(3))}
    stack = [description.root_link]
    while stack:
        parent = stack.pop()
        position, rotation = frames[parent]
        for joint in description.children(parent):
            # URDF rpy is fixed-axis roll, pitch, yaw: scipy's extrinsic "xyz".
            local = Rotation.from_euler("xyz", joint.rpy).as_matrix()
            frames[joint.child] = (position + rotation @ joint.xyz, rotation @ local)
            stack.append(joint.child)
    return frames
