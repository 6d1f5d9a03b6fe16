"""twin_sync: pushes the physical robot's measured joint states into the virtual robot.

Each sample on /physical/joint_states is mapped (joint map), checked and clamped
(:mod:`digital_twin_gz.twin.sync`) and sent on /virtual/joint_trajectory with its stamp.
``~/set_paused`` (std_srvs/SetBool) lets teleop take the virtual robot; ``~/resync``
(std_srvs/Trigger) asks the simulator to put the virtual base at the physical base pose;
neither simulator's answer says it happened (gz-sim's set_pose only queues it), so the
virtual odometry that follows confirms it, or not within 2 s. Stale feeds, rejected samples
and the resync's outcome are reported on /diagnostics.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray
from geometry_msgs.msg import PoseStamped
from nav_msgs.msg import Odometry
from rclpy.node import Node
from rclpy.serialization import deserialize_message, serialize_message
from sensor_msgs.msg import JointState
from std_srvs.srv import SetBool, Trigger
from trajectory_msgs.msg import JointTrajectory

from digital_twin_gz.gap import ERROR, OK, WARN
from digital_twin_gz.gazebo import SIMULATORS, GazeboControl, SimControlError
from digital_twin_gz.nodes import convert
from digital_twin_gz.nodes.common import (
    DIAGNOSTICS,
    PHYSICAL_JOINT_STATES,
    PHYSICAL_ODOM,
    SET_BASE_POSE,
    STATE_QOS,
    LatestMessage,
    declare_robot,
    run,
)
from digital_twin_gz.recording import cdr
from digital_twin_gz.twin import Command, JointMap, ResyncWatch, SampleError, SampleGate, StaleWatch


class EmbeddedControl:
    """The embedded simulator's base-pose input, behind the same call as :class:`GazeboControl`."""

    def __init__(self, node: Node, frame: str) -> None:
        self.publisher = node.create_publisher(PoseStamped, SET_BASE_POSE, 10)
        self.node = node
        self.frame = frame

    def set_base_pose(self, position: np.ndarray, orientation: np.ndarray) -> None:
        stamp = convert.now_seconds(self.node)
        self.publisher.publish(convert.pose_stamped(stamp, self.frame, position, orientation))


class TwinSync(Node):
    def __init__(self) -> None:
        super().__init__("twin_sync")
        description, world, topics = declare_robot(self)
        joint_map = self.declare_parameter("joint_map", "").value
        stale_timeout = float(self.declare_parameter("stale_timeout", 0.5).value)
        simulator = self.declare_parameter("simulator", "embedded").value
        self.resync_on_start = bool(self.declare_parameter("resync_on_start", True).value)
        odom_frame = self.declare_parameter("odom_frame", "odom").value
        if simulator not in SIMULATORS:
            raise ValueError(f"parameter simulator: '{simulator}' is not one of {SIMULATORS}")

        self.gate = SampleGate(description, JointMap.load(description, Path(joint_map) if joint_map else None))
        self.watch = StaleWatch(stale_timeout)
        self.resync_watch = ResyncWatch()
        self.control = (EmbeddedControl(self, odom_frame) if simulator == "embedded"
                        else GazeboControl(world.name, description.name))
        self.topic = topics.joint_trajectory
        self.paused = False
        self._odom: bytes | None = None  # the latest physical base pose taken
        self.clamped_samples = 0
        self.started = time.monotonic()
        self._was_stale = False

        self.pub = self.create_publisher(JointTrajectory, topics.joint_trajectory, STATE_QOS)
        self.pub_diag = self.create_publisher(DiagnosticArray, DIAGNOSTICS, 10)
        self.joint_states = cdr.Reader(convert.decoder(JointState), cdr.joint_state_layout)
        self._writers: dict[tuple, cdr.Writer] = {}
        self.create_subscription(JointState, PHYSICAL_JOINT_STATES, self.on_joint_state, STATE_QOS, raw=True)
        # Only the latest base poses matter (the physical one for a resync, the virtual one to
        # confirm it): taken when needed, so the two 500 Hz pose streams cost no callback.
        self.physical_odom = LatestMessage(self, Odometry, PHYSICAL_ODOM)
        self.virtual_odom = LatestMessage(self, Odometry, topics.odom)
        self._awaiting_first_pose = self.resync_on_start
        self.create_service(SetBool, "~/set_paused", self.on_set_paused)
        self.create_service(Trigger, "~/resync", self.on_resync)
        self.create_timer(0.1, self.on_watch)
        self.create_timer(1.0, self.publish_diagnostics)
        self.get_logger().info(f"forwarding {PHYSICAL_JOINT_STATES} to {topics.joint_trajectory} "
                               f"({simulator} simulator, stale after {stale_timeout:g} s)")

    def on_joint_state(self, data: bytes) -> None:
        """One physical sample, serialized: read out of its bytes and forwarded as bytes written
        into a template (the hot path; ~3x cheaper than message objects both ways)."""
        self.watch.feed(time.monotonic())
        if self._awaiting_first_pose:
            self._resync_at_first_pose()
        layout, msg = self.joint_states.read(data)
        if msg is None:
            self.gate.reject("undecodable")
            self.get_logger().warning(f"rejected sample on {PHYSICAL_JOINT_STATES}: not a JointState",
                                      throttle_duration_sec=1.0)
            return
        if layout is not None:
            stamp, stamp_ns = layout.seconds(data), layout.stamp_ns(data)
            fields = [layout.values(data, field) for field in ("position", "velocity", "effort")]
        else:
            stamp = convert.to_seconds(msg.header.stamp)
            stamp_ns = msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec
            fields = [np.asarray(values, dtype=float) for values in (msg.position, msg.velocity, msg.effort)]
        try:
            command = self.gate.accept(stamp, msg.name, *fields)
        except SampleError as err:
            self.get_logger().warning(f"rejected sample on {PHYSICAL_JOINT_STATES}: {err}", throttle_duration_sec=1.0)
            return
        if command.clamped:
            self.clamped_samples += 1
            self.get_logger().warning(f"clamped to joint limits: {', '.join(command.clamped)}",
                                      throttle_duration_sec=5.0)
        if not self.paused:
            self.pub.publish(self._trajectory(stamp_ns, command))

    def _trajectory(self, stamp_ns: int, command: Command) -> bytes:
        """The JointTrajectory of a command, serialized, with the physical sample's stamp as it came."""
        fields = {"positions": command.positions, "velocities": command.velocities, "effort": command.efforts}
        fields = {name: values for name, values in fields.items() if values is not None}
        key = (command.joint_index.tobytes(), *fields)
        writer = self._writers.get(key)
        if writer is None:
            names = [self.gate.description.joint_names[i] for i in command.joint_index]
            msg = convert.trajectory_message(command.stamp, names, command.positions, command.velocities,
                                             command.efforts)
            template = serialize_message(msg)
            writer = self._writers[key] = cdr.Writer(template, cdr.trajectory_layout(template, msg))
        return writer.write(stamp_ns, **fields)

    @property
    def physical_pose(self) -> tuple[np.ndarray, np.ndarray] | None:
        """The latest physical base pose (position, x, y, z, w orientation), None before the first."""
        self._odom = self.physical_odom.take() or self._odom
        return None if self._odom is None else convert.base_pose(deserialize_message(self._odom, Odometry))

    def _resync_at_first_pose(self) -> None:
        """Once, at the first pose, with the joints following from the first samples on. (A
        second, finer resync at a pose fitted over the first samples, as replay starts from,
        moves the base of a twin already in motion: one nominal demo in three then ended 20-30 mm
        off.)"""
        if self.physical_pose is None:
            return
        self._awaiting_first_pose = False
        try:
            self.resync("start")
        except SimControlError as err:
            self.get_logger().error(f"resync on start failed, the twin starts where it stands: {err}")

    def resync(self, why: str) -> str:
        if self.physical_pose is None:
            raise SimControlError(f"no physical base pose received on {PHYSICAL_ODOM} yet")
        position, orientation = self.physical_pose
        self.control.set_base_pose(position, orientation)
        self.resync_watch.requested(position, orientation, time.monotonic())
        message = (f"virtual base sent to the physical base pose ({why}): " + ", ".join(f"{v:.3f}" for v in position)
                   + f"; {self.virtual_odom.topic} will confirm it")
        self.get_logger().info(message)
        return message

    def _check_resync(self) -> None:
        data = self.virtual_odom.take() if self.resync_watch.pending else None
        if data is not None and self.resync_watch.confirms(*convert.base_pose(deserialize_message(data, Odometry))):
            self.get_logger().info(f"resync confirmed: {self.virtual_odom.topic} shows the virtual base at the "
                                   "physical base pose")
            self.publish_diagnostics()

    def on_set_paused(self, request: SetBool.Request, response: SetBool.Response) -> SetBool.Response:
        self.paused = bool(request.data)
        response.success = True
        response.message = "paused: the virtual robot is free for teleop" if self.paused else "resumed"
        self.get_logger().info(response.message)
        self.publish_diagnostics()
        return response

    def on_resync(self, request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        try:
            response.message = self.resync("requested")
            response.success = True
        except SimControlError as err:
            response.success, response.message = False, str(err)
            self.get_logger().error(f"resync failed: {err}")
        return response

    def on_watch(self) -> None:
        if self._awaiting_first_pose:
            self._resync_at_first_pose()
        self._check_resync()
        if self.resync_watch.expired(time.monotonic()):
            self.get_logger().error(f"resync not confirmed: {self.virtual_odom.topic} did not show the virtual base "
                                    f"at the requested pose within {self.resync_watch.timeout:g} s (is the simulator "
                                    "running, and not paused?)")
            self.publish_diagnostics()
        stale = self.watch.stale(time.monotonic())
        if stale != self._was_stale:
            self._was_stale = stale
            if stale:
                self.get_logger().warning(f"stale feed: no sample on {PHYSICAL_JOINT_STATES} for "
                                          f"{self.watch.age(time.monotonic()):.2f} s")
            else:
                self.get_logger().info(f"feed on {PHYSICAL_JOINT_STATES} is back")
            self.publish_diagnostics()

    def status(self) -> tuple[int, str]:
        now = time.monotonic()
        age = self.watch.age(now)
        if age is None:
            waited = now - self.started
            level = WARN if waited > self.watch.timeout else OK
            return level, f"waiting for the first sample on {PHYSICAL_JOINT_STATES}"
        if self.watch.stale(now):
            return ERROR, f"stale: no sample on {PHYSICAL_JOINT_STATES} for {age:.2f} s"
        if self.paused:
            return OK, "paused (teleop has the virtual robot)"
        if self.resync_watch.state == "not confirmed":
            return WARN, "syncing; the last resync was not confirmed by the virtual odometry"
        if self.gate.rejected:
            return WARN, "syncing; some samples rejected"
        return OK, "syncing"

    def publish_diagnostics(self) -> None:
        level, message = self.status()
        age = self.watch.age(time.monotonic())
        values = {"paused": str(self.paused).lower(), "accepted": self.gate.accepted,
                  "resync": self.resync_watch.state,
                  "clamped_samples": self.clamped_samples, "last_sample_age_s": "none" if age is None else f"{age:.3f}",
                  **{f"rejected_{reason}": n for reason, n in sorted(self.gate.rejected.items())}}
        stamp = convert.now_seconds(self)
        self.pub_diag.publish(convert.diagnostics(stamp, [("twin_sync", level, message, values)], self.get_name()))


def main(args: list[str] | None = None) -> None:
    run(TwinSync, args)


if __name__ == "__main__":
    main()
