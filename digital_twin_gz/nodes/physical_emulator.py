"""physical_emulator: an emulated physical robot (a perturbed copy of the model).

It performs a motion on its own controller in real time and publishes what a real
humanoid's drivers and mocap would: /physical/joint_states and /physical/odom at
``rate`` Hz, stamped with its own clock at the moment of measurement, delivered
``latency_s`` later, with ``drop_rate`` of the messages lost (all from the profile). Its
clock is ROS time, or with ``clock: boot`` one that starts at zero, as the clock of a robot that
counts from its boot (restarted, it goes back to zero).
It obeys /physical/joint_commands, for the joints a command names, and holds them at the last
command when the commands stop; a command stamped more than ``command_max_age`` s ago is ignored,
as a real robot's command timeout refuses a late one.
"""

from __future__ import annotations

import time
from collections import deque
from pathlib import Path

from nav_msgs.msg import Odometry
from rclpy.node import Node
from sensor_msgs.msg import JointState
from trajectory_msgs.msg import JointTrajectory

from digital_twin_gz.emulator import (
    COMMAND_BANDWIDTH_HZ,
    Measurement,
    Motion,
    PhysicalRobot,
    command_refusal,
    load_profile,
)
from digital_twin_gz.nodes import convert
from digital_twin_gz.nodes.common import (
    PHYSICAL_COMMANDS,
    PHYSICAL_JOINT_STATES,
    PHYSICAL_ODOM,
    STATE_QOS,
    declare_robot,
    run,
)
from digital_twin_gz.robot import load_roles
from digital_twin_gz.sim import TrajectoryError

# s the emulator waits for its subscribers at most (start_after_subscribers)
START_WAIT_S = 10.0
CLOCKS = ("ros", "boot")


class PhysicalEmulator(Node):
    def __init__(self) -> None:
        super().__init__("physical_emulator")
        description, world, _ = declare_robot(self)
        profile = load_profile(self.declare_parameter("profile", "default").value)
        motion_name = self.declare_parameter("motion", "tour").value
        role_map = self.declare_parameter("joint_roles", "").value
        rate = float(self.declare_parameter("rate", 500.0).value)
        self.command_max_age = float(self.declare_parameter("command_max_age", 0.1).value)
        command_servo = float(self.declare_parameter("command_servo_hz", COMMAND_BANDWIDTH_HZ).value)
        self.odom_frame = self.declare_parameter("odom_frame", "odom").value
        self.start_after = int(self.declare_parameter("start_after_subscribers", 0).value)
        self.clock = self.declare_parameter("clock", "ros").value
        position = tuple(self.declare_parameter("position", [0.0, 0.0]).value)
        if rate <= 0:
            raise ValueError(f"parameter rate must be positive, got {rate}")
        if self.clock not in CLOCKS:
            raise ValueError(f"parameter clock: '{self.clock}' is not one of {CLOCKS}")
        if len(position) != 2:
            raise ValueError(f"parameter position: expected [x, y] in m, got {list(position)}")

        roles = load_roles(description, Path(role_map) if role_map else None)
        self.robot = PhysicalRobot(description, world, profile, Motion(motion_name, description, roles), roles,
                                   position, command_servo)
        self.names = description.joint_names
        self.joint_index = {name: k for k, name in enumerate(self.names)}
        self.base_frame = description.root_link
        self.latency = profile.measurement.latency_s
        self._created = time.monotonic()
        self._wall_start: float | None = None
        self.origin = 0.0  # the stamp (s) of the motion's start, set when it starts
        self._period = 1.0 / rate
        self._samples = 0
        self._in_flight: deque[Measurement] = deque()
        self.published = self.dropped = 0
        self.commands = self.refused = 0

        self.pub_joints = self.create_publisher(JointState, PHYSICAL_JOINT_STATES, STATE_QOS)
        self.commands_topic = self.resolve_topic_name(PHYSICAL_COMMANDS)
        self.pub_odom = self.create_publisher(Odometry, PHYSICAL_ODOM, STATE_QOS)
        self.create_subscription(JointTrajectory, PHYSICAL_COMMANDS, self.on_command, 10)
        self.create_timer(1.0 / rate, self.on_tick)
        self.get_logger().info(
            f"emulating {description.name} with profile '{profile.name}' ({profile.summary or 'as modelled'}), "
            f"motion '{motion_name}' ({self.robot.motion.duration:g} s loop), publishing "
            f"{self.pub_joints.topic_name} and {self.pub_odom.topic_name} at {rate:g} Hz")

    def _started(self) -> bool:
        """The motion starts once ``start_after_subscribers`` subscriptions hear the joint states and
        as many the base poses (the twin's nodes, so none misses the first samples to discovery: its
        endpoints match one by one, and a gap_monitor that heard the joints but not yet the poses
        could pair none of the first virtual states), or after START_WAIT_S."""
        if self._wall_start is not None:
            return True
        waited = time.monotonic() - self._created
        heard = min(self.pub_joints.get_subscription_count(), self.pub_odom.get_subscription_count())
        if heard < self.start_after and waited < START_WAIT_S:
            return False
        if waited >= START_WAIT_S:
            self.get_logger().warning(f"started after {START_WAIT_S:g} s with fewer than {self.start_after} "
                                      f"subscribers on {self.pub_joints.topic_name} or {self.pub_odom.topic_name}")
        self.origin = convert.now_seconds(self) if self.clock == "ros" else 0.0
        self._wall_start = time.monotonic()
        return True

    def on_tick(self) -> None:
        if not self._started():
            return
        now = time.monotonic() - self._wall_start
        # A robot's control loop measures every period. When this process was held up (a
        # busy machine), catch up period by period so that no measurement goes missing.
        while (self._samples + 0.5) * self._period <= now:
            self.robot.advance((self._samples + 0.5) * self._period)
            self._in_flight.append(self.robot.measure(self.origin))
            self._samples += 1
        while self._in_flight and self._in_flight[0].stamp - self.origin + self.latency <= now:
            sample = self._in_flight.popleft()
            if self.robot.sensors.dropped():
                self.dropped += 1
                continue
            self.pub_joints.publish(convert.joint_state(sample.stamp, self.names, sample.joint_positions,
                                                        sample.joint_velocities, sample.joint_efforts))
            self.pub_odom.publish(convert.odometry(sample.stamp, sample, self.odom_frame, self.base_frame))
            self.published += 1

    def on_command(self, msg: JointTrajectory) -> None:
        try:
            command = convert.trajectory(msg, self.joint_index)
        except TrajectoryError as err:
            self.get_logger().warning(f"rejected command on {self.commands_topic}: {err}", throttle_duration_sec=1.0)
            return
        refusal = command_refusal(convert.to_seconds(msg.header.stamp), convert.now_seconds(self),
                                  self.command_max_age)
        if refusal is not None:
            self.refused += 1
            self.get_logger().warning(f"ignored command on {self.commands_topic}: {refusal}", throttle_duration_sec=1.0)
            return
        self.commands += 1
        self.robot.command(command.joint_index, command.positions[-1])

    def finish(self, hurry: bool = False) -> None:
        self.get_logger().info(f"published {self.published} samples, dropped {self.dropped}; obeyed {self.commands} "
                               f"commands, ignored {self.refused} stale ones")


def main(args: list[str] | None = None) -> None:
    run(PhysicalEmulator, args)


if __name__ == "__main__":
    main()
