"""twin_sync's hold on the embedded simulator (embedded_sim's base-pose topic), behind the same calls
as :class:`~digital_twin_gz.gazebo.GazeboControl` has for Gazebo's services."""

from __future__ import annotations

import numpy as np
from geometry_msgs.msg import PoseStamped
from rclpy.duration import Duration
from rclpy.node import Node

from digital_twin_gz.gazebo import SimControlError
from digital_twin_gz.nodes import convert
from digital_twin_gz.nodes.common import SET_BASE_POSE


class EmbeddedControl:
    """The embedded simulator's base-pose input, behind the same call as :class:`GazeboControl`."""

    def __init__(self, node: Node, frame: str) -> None:
        self.publisher = node.create_publisher(PoseStamped, SET_BASE_POSE, 10)
        self.node = node
        self.frame = frame

    def ready(self) -> bool:
        """Whether the simulator subscribes the pose (a pose sent before it does is lost)."""
        return self.publisher.get_subscription_count() > 0

    def set_base_pose(self, position: np.ndarray, orientation: np.ndarray) -> None:
        if not self.ready():
            raise SimControlError(f"nothing subscribes {self.publisher.topic_name}: is the simulator running?")
        stamp = convert.now_seconds(self.node)
        self.publisher.publish(convert.pose_stamped(stamp, self.frame, position, orientation))

    def taken(self) -> bool:
        """Whether embedded_sim's subscription has acknowledged the poses sent: what is sent after
        that reaches its executor after them (events in arrival order)."""
        return self.publisher.wait_for_all_acked(Duration(seconds=0))
