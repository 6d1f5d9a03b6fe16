"""The robot: its description (URDF/xacro), joint roles, kinematics, derived gains and the world.

Everything here is plain Python over the description; the simulators and the twin read it.
"""

from digital_twin_gz.robot.description import (
    ACTUATED_TYPES,
    CONTRACT_SYSTEMS,
    JSP_PLUGIN,
    JTC_PLUGIN,
    ODOM_PLUGIN,
    DescriptionError,
    GzSystem,
    Joint,
    Link,
    Mimic,
    RobotDescription,
    TrajectoryGains,
    parse_description,
)
from digital_twin_gz.robot.groups import GROUPS, BodyParts, foot_links, joint_groups, link_groups
from digital_twin_gz.robot.kinematics import ForwardKinematics, zero_pose_frames
from digital_twin_gz.robot.loader import bundled_urdf, expand_xacro, load_description
from digital_twin_gz.robot.roles import JointRoles, RoleError, load_roles
from digital_twin_gz.robot.share import (
    ALL_NODES,
    PackageNotFound,
    node_params,
    params_file,
    register_packages,
    resolve_uri,
    share_dir,
)
from digital_twin_gz.robot.world import WorldError, WorldSettings, bundled_world, load_world

__all__ = [
    "ALL_NODES", "ACTUATED_TYPES", "GROUPS", "BodyParts", "CONTRACT_SYSTEMS", "JSP_PLUGIN", "JTC_PLUGIN", "ODOM_PLUGIN",
    "DescriptionError", "ForwardKinematics", "GzSystem", "Joint", "JointRoles", "Link", "Mimic", "PackageNotFound",
    "RobotDescription", "RoleError", "TrajectoryGains", "WorldError", "WorldSettings",
    "bundled_urdf", "bundled_world", "expand_xacro", "foot_links", "joint_groups", "link_groups",
    "load_description", "load_roles", "load_world",
    "node_params", "params_file", "parse_description", "register_packages", "resolve_uri", "share_dir",
    "zero_pose_frames",
]
