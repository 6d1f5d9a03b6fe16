"""embedded_sim: the MuJoCo stand-in for Gazebo + ros_gz_bridge.

It publishes and subscribes exactly the ROS side of the bridge config (clock, joint
states, odometry; joint trajectories), with the same message types and what Gazebo puts in
them, so the twin's nodes cannot tell it from Gazebo: the joint states of the joints gz-sim's
JointStatePublisher would publish for the description, in its order, with effort 0 (nothing
in gz-sim 8 fills the joint force it publishes); the odometry twist as OdometryPublisher
computes it (finite differences of poses, averaged). Pacing ``realtime`` follows the wall
clock; ``lockstep`` steps to the stamp of each trajectory it receives, as fast as the CPU
allows, and starts its clock again where the trajectories' stamps jump (``clock_jump``: the
physical robot restarted). Started while the twin runs (after a crash), it begins in the pose its
first trajectory commands, not in the default pose, and twin_sync then moves its base.
"""

from __future__ import annotations

import os
import threading
import time

import numpy as np
from geometry_msgs.msg import PoseStamped
from nav_msgs.msg import Odometry
from rclpy.node import Node
from rclpy.serialization import serialize_message
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import JointState
from std_srvs.srv import Trigger
from trajectory_msgs.msg import JointTrajectory

from digital_twin_gz.emulator import apply_physics, load_profile
from digital_twin_gz.nodes import convert
from digital_twin_gz.nodes.common import (
    BASE_POSE_SET,
    BASE_POSE_SET_QOS,
    RESET,
    SET_BASE_POSE,
    STATE_QOS,
    declare_clock_jump,
    declare_robot,
    run,
)
from digital_twin_gz.recording import cdr
from digital_twin_gz.robot import BodyParts, load_roles
from digital_twin_gz.sim import SimClock, Simulator, Trajectory, TrajectoryError

PACINGS = ("realtime", "lockstep")
# States one realtime tick publishes at most while catching up with the wall clock (0.1 s at 500 Hz).
CATCH_UP_STATES = 50
# rad: a first trajectory further than this from the standing pose puts the robot in its pose first.
START_POSE_TOLERANCE = 0.05


class EmbeddedSim(Node):
    def __init__(self) -> None:
        super().__init__("embedded_sim")
        description, world, topics = declare_robot(self)
        self.pacing = self.declare_parameter("pacing", "realtime").value
        if self.pacing not in PACINGS:
            raise ValueError(f"parameter pacing: '{self.pacing}' is not one of {PACINGS}")
        rate = float(self.declare_parameter("state_rate", 500.0).value)
        self.odom_frame = self.declare_parameter("odom_frame", "odom").value
        gui = bool(self.declare_parameter("gui", False).value)
        ghost_topics = (self.declare_parameter("ghost_joint_states", "").value,
                        self.declare_parameter("ghost_odom", "").value)
        physics_profile = self.declare_parameter("physics_profile", "").value
        self.clock_jump = declare_clock_jump(self)

        self.sim = Simulator(description, world)
        if physics_profile:
            # A calibrated virtual model (digital-twin-gz calibrate): its physics section only.
            profile = load_profile(physics_profile)
            apply_physics(self.sim.model, self.sim.built, profile.physics,
                          BodyParts.of(description, load_roles(description)), profile.seed)
            self.sim.reset()  # at rest again, on the changed model
            self.get_logger().info(f"virtual model physics from {physics_profile}: {profile.physics}")
        self.sim.settle()
        self.odometry = self.sim.track_odometry()
        self.joint_index = {name: k for k, name in enumerate(description.joint_names)}
        # Joints gz-sim's JointStatePublisher publishes; a fixed one (index -1) reads 0.
        self.published = description.published_joints
        self._published_index = np.array([self.joint_index.get(n, -1) for n in self.published], dtype=int)
        self.base_frame = description.root_link
        self.lock = threading.Lock()
        self.clock = SimClock(convert.now_seconds(self) if self.pacing == "realtime" else None)
        self._base_request: tuple[np.ndarray, np.ndarray] | None = None  # the last base pose asked for
        self._wall_start = time.monotonic()

        self.pub_clock = self.create_publisher(Clock, topics.clock, 10)
        self.pub_joints = self.create_publisher(JointState, topics.joint_states, STATE_QOS)
        self.pub_odom = self.create_publisher(Odometry, topics.odom, STATE_QOS)
        # The hot path in and out as bytes: trajectories read out of their CDR, states written
        # into templates (recording.cdr), a fraction of rclpy's message objects both ways.
        self.trajectories = cdr.Reader(convert.decoder(JointTrajectory), cdr.trajectory_layout)
        self._plans: dict[cdr.Layout, np.ndarray | None] = {}
        self._writers = self._state_writers(len(self.published))
        self.trajectory_topic = self.resolve_topic_name(topics.joint_trajectory)
        self.create_subscription(JointTrajectory, topics.joint_trajectory, self.on_trajectory, STATE_QOS, raw=True)
        self.create_subscription(PoseStamped, SET_BASE_POSE, self.on_set_base_pose, 10)
        self.pub_pose_set = self.create_publisher(PoseStamped, BASE_POSE_SET, BASE_POSE_SET_QOS)
        self.create_service(Trigger, RESET, self.on_reset)
        self.state_period = 1.0 / rate
        if self.pacing == "realtime":
            self.create_timer(self.state_period, self.on_tick)
        self.viewer = None
        if gui:
            self.viewer = self._open_viewer(ghost_topics)
        self.get_logger().info(
            f"{description.name}: {len(description.joint_names)} joints, step {world.step * 1e3:g} ms, "
            f"pacing {self.pacing}; publishing {self.pub_joints.topic_name}, {self.pub_odom.topic_name}, "
            f"{self.pub_clock.topic_name}; following {self.trajectory_topic}")

    def _open_viewer(self, ghost_topics: tuple[str, str]):
        if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
            self.get_logger().warning("gui requested but there is no display: running headless")
            return None
        from digital_twin_gz.nodes.viewer import SimViewer

        return SimViewer(self, self.sim, self.lock, ghost_topics)

    def _state_writers(self, count: int) -> dict[str, cdr.Writer]:
        """Templates of the three state messages, serialized once with this robot's names and frames."""
        zeros = np.zeros(count)
        state = self.sim.state()
        messages = {"clock": (convert.clock(0.0), cdr.clock_layout),
                    "joints": (convert.joint_state(0.0, self.published, zeros, zeros, zeros), cdr.joint_state_layout),
                    "odom": (convert.odometry(0.0, state, self.odom_frame, self.base_frame), cdr.odometry_layout)}
        writers = {}
        for name, (msg, layout_of) in messages.items():
            template = serialize_message(msg)
            writers[name] = cdr.Writer(template, layout_of(template, msg))
        return writers

    def publish_state(self) -> None:
        state = self.sim.state()
        stamp = convert.to_nanoseconds(self.clock.stamp(state.time))
        self.pub_clock.publish(self._writers["clock"].write(stamp))
        index, fixed = self._published_index, self._published_index < 0
        positions, velocities = (np.where(fixed, 0.0, values[index]) for values in
                                 (state.joint_positions, state.joint_velocities))
        self.pub_joints.publish(self._writers["joints"].write(stamp, position=positions, velocity=velocities))
        linear, angular = self.odometry.twist()
        self.pub_odom.publish(self._writers["odom"].write(
            stamp, pose=np.concatenate([state.base_position, state.base_orientation]),
            twist=np.concatenate([linear, angular])))

    def on_tick(self) -> None:
        """Step towards the wall clock, publishing the state at every state period of simulation
        time on the way (as Gazebo's publishers run every iteration): a late tick on a busy machine
        delays states, it does not thin them out. At most CATCH_UP_STATES per tick, so trajectories
        are still taken while the simulation runs behind the wall clock."""
        with self.lock:
            target = time.monotonic() - self._wall_start
            for _ in range(CATCH_UP_STATES):
                if self.sim.time + self.state_period > target + 1e-9:
                    break
                self.sim.step_to(self.sim.time + self.state_period)
                self.publish_state()
        if self.viewer is not None:
            self.viewer.sync()

    def on_trajectory(self, data: bytes) -> None:
        layout, msg = self.trajectories.read(data)
        if msg is None:
            self.get_logger().warning(f"rejected trajectory on {self.trajectory_topic}: not a JointTrajectory",
                                      throttle_duration_sec=1.0)
            return
        known = self._plans.get(layout) if layout is not None else None
        if layout is not None and layout not in self._plans:
            known = self._plans[layout] = self._read_plan(msg)
        try:
            if known is not None:
                stamp, trajectory = layout.seconds(data), self._read(layout, data, known)
            else:
                unknown = convert.unknown_joints(msg, self.joint_index)
                if unknown:
                    self.get_logger().warning(f"ignored unknown joints {unknown} in a trajectory on "
                                              f"{self.trajectory_topic} (gz-sim's controller skips them too)",
                                              throttle_duration_sec=1.0)
                stamp, trajectory = convert.to_seconds(msg.header.stamp), convert.trajectory(msg, self.joint_index)
        except TrajectoryError as err:
            self.get_logger().warning(f"rejected trajectory on {self.trajectory_topic}: {err}",
                                      throttle_duration_sec=1.0)
            return
        with self.lock:
            if self.pacing == "lockstep":
                if not self.clock.started:
                    self._start_in(trajectory)
                    self.clock.start_at(stamp, self.sim.time)
                elif self.clock.restart_if_jumped(stamp, self.sim.time, self.clock_jump):
                    self.get_logger().warning(
                        f"trajectory stamps jumped by {stamp - self.clock.stamp(self.sim.time):+.3f} s "
                        f"(more than clock_jump {self.clock_jump:g} s): the physical clock restarted; the "
                        f"simulation's clock starts again at {stamp:.3f} s")
                self.sim.step_to(self.clock.sim_time(stamp))
                self.publish_state()
            self.sim.follow(trajectory)

    def _start_in(self, trajectory: Trajectory) -> None:
        """Where the first trajectory commands joints more than START_POSE_TOLERANCE from the pose
        the simulator stands in (started again while the physical robot is mid-motion), put the
        robot at rest in the commanded pose first (the other joints at their defaults), so that its
        controllers do not tear it there; a base pose asked for before (twin_sync's resync at the
        start) is kept. A twin started with its robot stands as it was settled."""
        commanded = trajectory.positions[-1]
        if np.max(np.abs(commanded - self.sim.state().joint_positions[trajectory.joint_index])) <= START_POSE_TOLERANCE:
            return
        positions = self.sim.description.default_positions.copy()
        positions[trajectory.joint_index] = commanded
        if self._base_request is not None:
            self.sim.reset(positions, *self._base_request)
        else:
            self.sim.reset(positions)
            self.sim.settle()
        self.odometry = self.sim.track_odometry()
        self.get_logger().info("started in the pose of the first trajectory, away from the default pose (the "
                               "physical robot is mid-motion)")

    def _read_plan(self, msg) -> np.ndarray | None:
        """For a one-point trajectory layout whose reference is a trajectory every joint of which
        the robot has, and whose fields have a value per joint or none: the joints' indices.
        Anything else takes the message path each time."""
        point = msg.points[0]
        m = len(msg.joint_names)
        if (not m or convert.unknown_joints(msg, self.joint_index) or len(point.positions) != m
                or any(len(getattr(point, f)) not in (0, m) for f in ("velocities", "effort"))):
            return None
        return np.array([self.joint_index[name] for name in msg.joint_names], dtype=int)

    @staticmethod
    def _read(layout: cdr.Layout, data: bytes, joint_index: np.ndarray) -> Trajectory:
        positions, velocities, efforts = (np.array(values)[None] if (values := layout.values(data, f)).size else None
                                          for f in ("positions", "velocities", "effort"))
        return Trajectory(joint_index=joint_index, times=np.array([layout.seconds(data, "time_from_start")]),
                          positions=positions, velocities=velocities, efforts=efforts)

    def on_set_base_pose(self, msg: PoseStamped) -> None:
        p, q = msg.pose.position, msg.pose.orientation
        with self.lock:
            self._base_request = (np.array([p.x, p.y, p.z]), np.array([q.x, q.y, q.z, q.w]))
            self.sim.set_base_pose(*self._base_request)
        self.pub_pose_set.publish(msg)
        self.get_logger().info(f"base pose set to ({p.x:.3f}, {p.y:.3f}, {p.z:.3f})")

    def on_reset(self, request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        with self.lock:
            self.sim.reset()
            self.sim.settle()
        response.success = True
        response.message = "robot reset to its default pose"
        return response

    def finish(self, hurry: bool = False) -> None:
        if self.viewer is not None:
            self.viewer.close()


def main(args: list[str] | None = None) -> None:
    node = run(EmbeddedSim, args)
    if node.viewer is not None:
        # MuJoCo's viewer thread can crash the interpreter's exit; nothing is left to flush.
        os._exit(0)


if __name__ == "__main__":
    main()
