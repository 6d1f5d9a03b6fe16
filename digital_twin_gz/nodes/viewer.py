"""MuJoCo's interactive viewer on the running embedded simulation: the stand-in for the
Gazebo GUI. Optionally draws the physical robot as a translucent ghost."""

from __future__ import annotations

import threading
import time

import numpy as np
from nav_msgs.msg import Odometry
from rclpy.node import Node
from sensor_msgs.msg import JointState

from digital_twin_gz.nodes import convert
from digital_twin_gz.nodes.common import STATE_QOS
from digital_twin_gz.sim import Simulator
from digital_twin_gz.sim.view import Ghost

FRAME_PERIOD = 1.0 / 60.0


class SimViewer:
    def __init__(self, node: Node, sim: Simulator, lock: threading.Lock, ghost_topics: tuple[str, str]) -> None:
        import mujoco.viewer

        self.sim = sim
        self.lock = lock
        self.viewer = mujoco.viewer.launch_passive(sim.model, sim.data, show_left_ui=False, show_right_ui=False)
        self.viewer.cam.lookat[:] = sim.state().base_position
        self.viewer.cam.distance = 3.5
        self.viewer.cam.azimuth = 150
        self.viewer.cam.elevation = -15
        self._last = 0.0
        self.ghost = None
        joints_topic, odom_topic = ghost_topics
        if joints_topic and odom_topic:
            self.ghost = Ghost(sim)
            self._base = (sim.state().base_position, sim.state().base_orientation)
            self._joints = sim.state().joint_positions
            self._index = {n: k for k, n in enumerate(sim.joint_names)}
            node.create_subscription(JointState, joints_topic, self.on_joints, STATE_QOS)
            node.create_subscription(Odometry, odom_topic, self.on_odom, STATE_QOS)

    def on_joints(self, msg: JointState) -> None:
        positions = self._joints.copy()
        for name, value in zip(msg.name, msg.position):
            if name in self._index and np.isfinite(value):
                positions[self._index[name]] = value
        self._joints = positions

    def on_odom(self, msg: Odometry) -> None:
        self._base = convert.base_pose(msg)

    def sync(self) -> None:
        now = time.monotonic()
        if now - self._last < FRAME_PERIOD or not self.viewer.is_running():
            return
        self._last = now
        with self.lock:
            if self.ghost is not None:
                self.ghost.pose(*self._base, self._joints)
                self.viewer.user_scn.ngeom = 0
                self.ghost.draw(self.viewer.user_scn)
            self.viewer.sync()

    def close(self) -> None:
        self.viewer.close()
