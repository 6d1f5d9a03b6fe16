"""Gazebo: the ros_gz_bridge contract (config/bridge.yaml), world control over gz-transport, and
``digital-twin-gz check`` (the description, world and bridge through Gazebo's own tools)."""

from digital_twin_gz.gazebo.bridge import (
    SIMULATORS,
    BridgeEntry,
    BridgeError,
    VirtualTopics,
    bundled_bridge,
    load_bridge,
    retarget,
    virtual_topics,
)
from digital_twin_gz.gazebo.checks import joint_state_problem
from digital_twin_gz.gazebo.control import GazeboControl, SimControlError

__all__ = ["SIMULATORS", "BridgeEntry", "BridgeError", "GazeboControl", "SimControlError", "VirtualTopics",
           "bundled_bridge", "joint_state_problem", "load_bridge", "retarget", "virtual_topics"]
