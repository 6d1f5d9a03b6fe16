"""twin_sync's hold on the embedded simulator (embedded_sim's base-pose topic), behind the same calls
as :class:`~digital_twin_gz.gazebo.GazeboControl` has for Gazebo's services."""

from __future__ import annotations

import numpy as np
from geometry_msgs.msg import PoseStamped
from rclpy.node import Node

from digital_twin_gz.gazebo import SimControlError
from digital_twin_gz.nodes import convert
from digital_twin_gz.nodes.common import BASE_POSE_SET, BASE_POSE_SET_QOS, SET_BASE_POSE


class EmbeddedControl:
    """The embedded simulator's base-pose input, behind the same call as :class:`GazeboControl`."""

    def __init__(self, node: Node, frame: str) -> None:
        self.publisher = node.create_publisher(PoseStamped, SET_BASE_POSE, 10)
        node.create_subscription(PoseStamped, BASE_POSE_SET, self._on_pose_set, BASE_POSE_SET_QOS)
        self.node = node
        self.frame = frame
        self._sent = None  # the stamp of the last pose sent, until the simulator says it holds it

    def ready(self) -> bool:
        """Whether the simulator subscribes the pose (a pose sent before it does is lost)."""
        return self.publisher.get_subscription_count() > 0

    def set_base_pose(self, position: np.ndarray, orientation: np.ndarray) -> None:
        if not self.ready():
            raise SimControlError(f"nothing subscribes {self.publisher.topic_name}: is the simulator running?")
        msg = convert.pose_stamped(convert.now_seconds(self.node), self.frame, position, orientation)
        self._sent = msg.header.stamp
        self.publisher.publish(msg)

    def _on_pose_set(self, msg: PoseStamped) -> None:
        if msg.header.stamp == self._sent:
            self._sent = None

    def taken(self) -> bool:
        """Whether the simulator holds the last pose sent (it says so on BASE_POSE_SET): what is
        sent after that reaches it after the pose. Its subscription's acknowledgement is not
        enough: the executor of the simulator took a trajectory sent after an acknowledged pose
        before the pose."""
        return self._sent is None
