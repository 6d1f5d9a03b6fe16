"""twin_sync: pushes the physical robot's measured joint states into the virtual robot.

Each sample on /physical/joint_states is mapped (joint map), checked and clamped
(:mod:`digital_twin_gz.twin.sync`) and sent on /virtual/joint_trajectory with its stamp.
``~/set_paused`` (std_srvs/SetBool) lets teleop take the virtual robot; ``~/resync``
(std_srvs/Trigger) asks the simulator to put the virtual base at the physical base pose;
neither simulator's answer says it happened (gz-sim's set_pose only queues it), so the
virtual odometry that follows confirms it, or not within 2 s. Stale feeds, rejected samples
and the resync's outcome are reported on /diagnostics.

Two faults are survived without a restart of the twin. The physical robot restarts: its clock
goes back to zero or jumps (more than ``clock_jump``), which starts a new session (the virtual base
is resynced at the first physical pose of the new session) instead of every later sample being
rejected as out of order. The simulator dies and comes back: its state stops while the physical
feed goes on, and when it is heard again the base is resynced (its joints follow the commands).

At the start (``resync_on_start``) the commands are held back until the base pose to start from
is decided (:class:`~digital_twin_gz.twin.startpose.LiveStart`: the pose fitted over the first
0.02 s of physical poses, as a replay starts), the simulator has taken it, and then sent in
order: the simulator's first step starts from that pose whatever the load.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray
from nav_msgs.msg import Odometry
from rclpy.node import Node
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
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
    STATE_QOS,
    TakenMessages,
    declare_clock_jump,
    declare_joint_delay,
    declare_robot,
    declare_robot_name,
    diagnostic_name,
    run,
)
from digital_twin_gz.nodes.embedded_control import EmbeddedControl
from digital_twin_gz.recording import cdr
from digital_twin_gz.twin import Command, JointMap, LiveStart, ResyncWatch, SampleError, SampleGate, StaleWatch

# Physical base poses kept until taken: the start's window (0.02 s) with room for a late take.
POSES_QOS = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE, history=HistoryPolicy.KEEP_LAST)
# s the start's held commands wait after its base pose at most: until the simulator says it holds
# the pose (embedded_sim on BASE_POSE_SET, usually within milliseconds; Gazebo's set_pose once it
# answered). Sent before, a command can reach the simulator first: it starts on the ground in its own
# guess of the pose, takes the base pose later, mid-motion, and can fall (a twin started while its
# robot squatted, 1 start in 5, when the commands went 0.25 s after the pose or once embedded_sim's
# subscription had acknowledged it: a reader just discovered drops what it is sent until it has
# matched the writer, seen 1.05 s, and the two topics keep no order between them).
TAKE_POSE_WAIT = 4.0
# s the start pose waits for a simulator that does not subscribe yet (discovery between processes takes
# seconds on a busy machine); then the twin starts where it stands.
SIMULATOR_WAIT = 10.0


class TwinSync(Node):
    def __init__(self) -> None:
        super().__init__("twin_sync")
        description, world, topics = declare_robot(self)
        self.robot_name = declare_robot_name(self, description)
        joint_map = self.declare_parameter("joint_map", "").value
        stale_timeout = float(self.declare_parameter("stale_timeout", 0.5).value)
        simulator = self.declare_parameter("simulator", "embedded").value
        self.resync_on_start = bool(self.declare_parameter("resync_on_start", True).value)
        odom_frame = self.declare_parameter("odom_frame", "odom").value
        clock_jump = declare_clock_jump(self)
        self.joint_delay_ns = declare_joint_delay(self)
        if simulator not in SIMULATORS:
            raise ValueError(f"parameter simulator: '{simulator}' is not one of {SIMULATORS}")

        self.gate = SampleGate(description, JointMap.load(description, Path(joint_map) if joint_map else None),
                               clock_jump=clock_jump)
        self.watch = StaleWatch(stale_timeout)
        self.virtual_watch = StaleWatch(stale_timeout)
        self.simulator_silent = False  # the virtual state stopped while the physical feed went on
        self.resync_watch = ResyncWatch()
        self.control = (EmbeddedControl(self, odom_frame) if simulator == "embedded"
                        else GazeboControl(world.name, self.robot_name))
        # Names as resolved in this node's namespace and remapped, for what it says.
        self.physical_topic = self.resolve_topic_name(PHYSICAL_JOINT_STATES)
        self.paused = False
        self._odom: Odometry | None = None  # the latest physical base pose taken
        # The start: its pose being decided, then sent and not yet taken by the simulator; the
        # commands are held back meanwhile.
        self._start: LiveStart | None = None
        self._start_pose: tuple[tuple[np.ndarray, np.ndarray], float] | None = None  # decided, at (monotonic)
        self._start_sent: float | None = None
        self._held: list[bytes] = []
        self._start_wait = stale_timeout
        self.clamped_samples = 0
        self.resyncs: list[str] = []  # why each resync was asked for
        self.started = time.monotonic()
        self._was_stale = False

        self.pub = self.create_publisher(JointTrajectory, topics.joint_trajectory, STATE_QOS)
        self.pub_diag = self.create_publisher(DiagnosticArray, DIAGNOSTICS, 10)
        self.joint_states = cdr.Reader(convert.decoder(JointState), cdr.joint_state_layout)
        self._writers: dict[tuple, cdr.Writer] = {}
        self.create_subscription(JointState, PHYSICAL_JOINT_STATES, self.on_joint_state, STATE_QOS, raw=True)
        # Only the latest base poses matter (the physical one for a resync, the virtual one to
        # confirm it): taken when needed, so the two 500 Hz pose streams cost no callback.
        self.physical_odom = TakenMessages(self, Odometry, PHYSICAL_ODOM, POSES_QOS)
        self.virtual_odom = TakenMessages(self, Odometry, topics.odom)
        # A resync waiting for a physical pose stamped in the session at hand: (why, session's first stamp).
        self._pending_resync: tuple[str, float] | None = None
        self.create_service(SetBool, "~/set_paused", self.on_set_paused)
        self.create_service(Trigger, "~/resync", self.on_resync)
        self.create_timer(0.1, self.on_watch)
        self.create_timer(1.0, self.publish_diagnostics)
        self.get_logger().info(f"forwarding {self.physical_topic} to {self.pub.topic_name} ({simulator} simulator, "
                               f"stale after {stale_timeout:g} s)")

    def on_joint_state(self, data: bytes) -> None:
        """One physical sample, serialized: read out of its bytes and forwarded as bytes written
        into a template (the hot path; ~3x cheaper than message objects both ways)."""
        self.watch.feed(time.monotonic())
        if self._pending_resync is not None:
            self._resync_when_posed()
        layout, msg = self.joint_states.read(data)
        if msg is None:
            self.gate.reject("undecodable")
            self.get_logger().warning(f"rejected sample on {self.physical_topic}: not a JointState",
                                      throttle_duration_sec=1.0)
            return
        if layout is not None:
            stamp_ns = layout.stamp_ns(data)
            fields = [layout.values(data, field) for field in ("position", "velocity", "effort")]
        else:
            stamp_ns = msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec
            fields = [np.asarray(values, dtype=float) for values in (msg.position, msg.velocity, msg.effort)]
        stamp_ns -= self.joint_delay_ns  # when the sample was measured
        stamp = stamp_ns * 1e-9
        try:
            command = self.gate.accept(stamp, msg.name, *fields)
        except SampleError as err:
            self.get_logger().warning(f"rejected sample on {self.physical_topic}: {err}", throttle_duration_sec=1.0)
            return
        if command.new_session:
            self._new_session(*self.gate.jumps[-1])
        if command.clamped:
            self.clamped_samples += 1
            self.get_logger().warning(f"clamped to joint limits: {', '.join(command.clamped)}",
                                      throttle_duration_sec=5.0)
        if self.resync_on_start and self.gate.accepted == 1:
            self._start = LiveStart(stamp, self._start_wait)
        if self.paused:
            return
        if not self._starting:
            self.pub.publish(self._trajectory(stamp_ns, command))
            return
        self._held.append(self._trajectory(stamp_ns, command))
        self._go_on_starting(stamp)

    @property
    def _starting(self) -> bool:
        return self._start is not None or self._start_pose is not None or self._start_sent is not None

    def _go_on_starting(self, stamp: float) -> None:
        """The start, one step further at physical time ``stamp``: take the physical poses that came;
        once the start pose is decided (or ``stamp`` is past the wait), send it to the simulator (once
        it subscribes); once the simulator has it (or it cannot be had), send the commands held back."""
        if self._start is not None:
            for data in self.physical_odom.take_all():
                self._odom = deserialize_message(data, Odometry)
                self._start.add(convert.to_seconds(self._odom.header.stamp), *convert.base_pose(self._odom))
            pose = self._start.pose(stamp)
            if pose is None and not self._start.expired(stamp):
                return
            self._start = None
            if pose is None:
                self.get_logger().warning(f"no usable base pose on {self.physical_odom.topic} within "
                                          f"{self._start_wait:g} s of the first sample: the twin starts where it "
                                          "stands and is resynced at the first pose")
                self._pending_resync = ("start", -np.inf)
                self._send_held()
                return
            self._start_pose = (pose, time.monotonic())
        if self._start_pose is not None:
            pose, decided = self._start_pose
            if not self.control.ready() and time.monotonic() - decided < SIMULATOR_WAIT:
                return  # tried again with the next sample, or by the watch
            self._start_pose = None
            try:
                self.resync("start", pose)
            except SimControlError as err:
                self.get_logger().error(f"resync (start) failed, the twin goes on where it stands: {err}")
                self._send_held()
                return
            self._start_sent = time.monotonic()
        waited = time.monotonic() - self._start_sent
        taken = self.control.taken()
        if taken:
            self.get_logger().info(f"start pose held by the simulator {waited:.3f} s after it was sent: "
                                   f"{len(self._held)} commands held back go now")
        elif waited > TAKE_POSE_WAIT:
            self.get_logger().warning(f"the simulator did not say it holds the start pose within {TAKE_POSE_WAIT:g} s: "
                                      f"{len(self._held)} commands held back go now")
        else:
            return
        self._send_held()

    def _send_held(self) -> None:
        for data in self._held:
            self.pub.publish(data)
        self._held.clear()
        self._start_sent = None
        self.resync_watch.wait_from(time.monotonic())

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

    def _new_session(self, last: float, stamp: float) -> None:
        self.get_logger().warning(
            f"the physical clock jumped from {last:.3f} s to {stamp:.3f} s (more than clock_jump "
            f"{self.gate.clock_jump:g} s): the physical robot restarted; session {self.gate.sessions} begins, "
            "the virtual base is resynced at its first pose")
        self._pending_resync = ("physical clock jump", stamp)
        self._resync_when_posed()
        self.publish_diagnostics()

    def _physical_pose(self, since: float = -np.inf) -> tuple[np.ndarray, np.ndarray] | None:
        """The latest physical base pose (position, x, y, z, w orientation); with ``since``, only
        one stamped within ``clock_jump`` of it (the session that began there), else None."""
        data = self.physical_odom.take()
        if data is not None:
            self._odom = deserialize_message(data, Odometry)
        if self._odom is None:
            return None
        if np.isfinite(since) and abs(convert.to_seconds(self._odom.header.stamp) - since) > self.gate.clock_jump:
            return None  # a pose of the session before
        return convert.base_pose(self._odom)

    def _resync_when_posed(self) -> None:
        """The pending resync, once a physical pose of its session is at hand: the latest one. (A
        second, finer resync at the start, after a first at the first pose heard, moved the base of a
        twin already in motion: one nominal demo in three then ended 20-30 mm off. The start is now
        one resync, before the first command: see the module's docstring.)"""
        why, since = self._pending_resync
        if self._physical_pose(since) is None or not self.control.ready():
            return  # tried again at the next watch: a simulator heard again may not subscribe the pose yet
        self._pending_resync = None
        try:
            self.resync(why)
        except SimControlError as err:
            self.get_logger().error(f"resync ({why}) failed, the twin goes on where it stands: {err}")

    def resync(self, why: str, pose: tuple[np.ndarray, np.ndarray] | None = None) -> str:
        """Put the virtual base at ``pose`` (default: the latest physical base pose)."""
        pose = pose if pose is not None else self._physical_pose()
        if pose is None:
            raise SimControlError(f"no physical base pose received on {self.physical_odom.topic} yet")
        self.control.set_base_pose(*pose)
        self.resync_watch.requested(*pose, time.monotonic())
        self.resyncs.append(why)
        message = (f"virtual base sent to the physical base pose ({why}): " + ", ".join(f"{v:.3f}" for v in pose[0])
                   + f"; {self.virtual_odom.topic} will confirm it")
        self.get_logger().info(message)
        self.publish_diagnostics()
        return message

    def _watch_simulator(self, now: float) -> None:
        """The virtual state, taken at each watch: a resync pending its confirmation reads it, and a
        simulator that fell silent while the physical feed went on is resynced when it is back."""
        data = self.virtual_odom.take()
        if data is None:
            if not self.paused and self.virtual_watch.silent_while(self.watch, now) and not self.simulator_silent:
                self.simulator_silent = True
                self.get_logger().error(f"no virtual state on {self.virtual_odom.topic} for "
                                        f"{self.virtual_watch.age(now):.2f} s while the physical feed goes on: is the "
                                        "simulator running?")
                self.publish_diagnostics()
            return
        self.virtual_watch.feed(now)
        if self.resync_watch.pending and self.resync_watch.confirms(
                *convert.base_pose(deserialize_message(data, Odometry))):
            self.get_logger().info(f"resync confirmed: {self.virtual_odom.topic} shows the virtual base at the "
                                   "physical base pose")
            self.publish_diagnostics()
        if self.simulator_silent:
            self.simulator_silent = False
            self.get_logger().warning(f"the simulator is back on {self.virtual_odom.topic}: resyncing")
            self._pending_resync = ("simulator back", -np.inf)
            self._resync_when_posed()

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
        now = time.monotonic()
        if self._starting and (self._start is None or self.watch.stale(now)):
            self._go_on_starting(np.inf)  # waiting on the simulator, or the feed went quiet while starting
        if self._pending_resync is not None:
            self._resync_when_posed()
        self._watch_simulator(now)
        if not self._starting and self.resync_watch.expired(now):
            self.get_logger().error(f"resync not confirmed: {self.virtual_odom.topic} did not show the virtual base "
                                    f"at the requested pose within {self.resync_watch.timeout:g} s (is the simulator "
                                    "running, and not paused?)")
            self.publish_diagnostics()
        stale = self.watch.stale(time.monotonic())
        if stale != self._was_stale:
            self._was_stale = stale
            if stale:
                self.get_logger().warning(f"stale feed: no sample on {self.physical_topic} for "
                                          f"{self.watch.age(time.monotonic()):.2f} s")
            else:
                self.get_logger().info(f"feed on {self.physical_topic} is back")
            self.publish_diagnostics()

    def status(self) -> tuple[int, str]:
        now = time.monotonic()
        age = self.watch.age(now)
        if age is None:
            waited = now - self.started
            level = WARN if waited > self.watch.timeout else OK
            return level, f"waiting for the first sample on {self.physical_topic}"
        if self.watch.stale(now):
            return ERROR, f"stale: no sample on {self.physical_topic} for {age:.2f} s"
        if self.simulator_silent:
            return ERROR, f"no virtual state on {self.virtual_odom.topic} for {self.virtual_watch.age(now):.2f} s: " \
                          "is the simulator running?"
        if self.paused:
            return OK, "paused (teleop has the virtual robot)"
        if self.resync_watch.state == "not confirmed":
            return WARN, "syncing; the last resync was not confirmed by the virtual odometry"
        if self.gate.rejected:
            return WARN, "syncing; some samples rejected"
        if self.gate.sessions > 1:
            return OK, f"syncing (session {self.gate.sessions}: the physical clock jumped)"
        return OK, "syncing"

    def publish_diagnostics(self) -> None:
        level, message = self.status()
        age = self.watch.age(time.monotonic())
        jump = "none" if not self.gate.jumps else "{:.3f} s -> {:.3f} s".format(*self.gate.jumps[-1])
        values = {"paused": str(self.paused).lower(), "accepted": self.gate.accepted,
                  "resync": self.resync_watch.state, "resyncs": len(self.resyncs),
                  "last_resync": self.resyncs[-1] if self.resyncs else "none", "sessions": self.gate.sessions,
                  "last_clock_jump": jump, "simulator": "silent" if self.simulator_silent else "heard",
                  "clamped_samples": self.clamped_samples, "last_sample_age_s": "none" if age is None else f"{age:.3f}",
                  **{f"rejected_{reason}": n for reason, n in sorted(self.gate.rejected.items())}}
        stamp = convert.now_seconds(self)
        self.pub_diag.publish(convert.diagnostics(stamp, [(diagnostic_name(self), level, message, values)],
                                                  self.robot_name))


def main(args: list[str] | None = None) -> None:
    run(TwinSync, args)


if __name__ == "__main__":
    main()
