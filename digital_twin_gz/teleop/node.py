"""The teleop's ROS side: takes the virtual robot from twin_sync and streams the operator's targets.

On start it pauses twin_sync (``twin_sync/set_paused``); once twin_sync is paused, or
found absent after ``sync_wait`` s, it publishes the rate-limited command of
:class:`~digital_twin_gz.teleop.rules.Teleop` on virtual/joint_trajectory every tick, starting
from the virtual robot's pose. :meth:`TeleopNode.resume_sync` hands the robot back. Every name
is relative: in the robot's namespace (``TeleopOptions.namespace``, ``--namespace robot_1``) it
speaks to that robot's twin alone (/robot_1/twin_sync/set_paused, ...). It
speaks only the topic contract, so it drives Gazebo as it drives the embedded simulator.

With mirroring, the same command also goes to physical/joint_commands through
:class:`~digital_twin_gz.teleop.mirror.MirrorLimiter`, while :class:`~digital_twin_gz.teleop.mirror.MirrorGate`
allows it: the operator's key, twin/gap/base_position within its threshold, fresh
physical/joint_states (named as in the description).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.executors import Executor
from rclpy.node import Node
from rclpy.task import Future
from sensor_msgs.msg import JointState
from std_msgs.msg import Float64
from std_srvs.srv import SetBool
from trajectory_msgs.msg import JointTrajectory

from digital_twin_gz.gap import level_name
from digital_twin_gz.gazebo import bridge
from digital_twin_gz.nodes import convert
from digital_twin_gz.nodes.common import (
    DIAGNOSTICS,
    GAP_TOPICS,
    LATEST_QOS,
    PHYSICAL_COMMANDS,
    PHYSICAL_JOINT_STATES,
    STATE_QOS,
    status_name,
)
from digital_twin_gz.robot import JointRoles, RobotDescription
from digital_twin_gz.teleop.mirror import MirrorGate, MirrorLimiter
from digital_twin_gz.teleop.rules import Teleop, Ticks
from digital_twin_gz.twin import JointMap, SampleError

SET_PAUSED = "twin_sync/set_paused"
GAP_TOPIC = f"{GAP_TOPICS}/base_position"

# What the teleop knows of twin_sync.
LOOKING = "looking for twin_sync"
PAUSING = "pausing twin_sync"
PAUSED = "paused"
ABSENT = "no twin_sync"
RESUMED_ELSEWHERE = "twin_sync resumed by someone else: pausing it again"
PAUSE_FAILED = "pause failed"
# Sync states in which teleop publishes (twin_sync is not forwarding, as far as it can tell).
PUBLISHING = (PAUSED, ABSENT, PAUSE_FAILED)


@dataclass(frozen=True)
class TeleopOptions:
    rate: float = 50.0          # Hz of /virtual/joint_trajectory
    speed: float = 0.25         # fraction of each joint's velocity limit the command moves at
    mirror: bool = False        # offer mirroring to /physical/joint_commands
    mirror_rate: float = 50.0   # Hz, at most, of /physical/joint_commands
    max_gap: float = 0.05       # m of /twin/gap/base_position beyond which mirroring stops
    sync_wait: float = 5.0      # s to look for twin_sync before going on without it (discovery takes up to ~3 s)
    state_wait: float = 5.0     # s to wait for /virtual/joint_states before starting from the default pose
    namespace: str = ""         # the robot's ROS namespace: its twin's topics and services are under it


class TeleopNode(Node):
    def __init__(self, description: RobotDescription, roles: JointRoles, options: TeleopOptions) -> None:
        super().__init__("teleop", namespace=options.namespace)
        topics = bridge.virtual_topics(bridge.load_bridge(bridge.bundled_bridge()))
        self.description = description
        self.roles = roles
        self.options = options
        self.names = description.joint_names
        self.joint_map = JointMap(description)
        self.started = time.monotonic()
        self.ticks = Ticks(options.rate, convert.now_seconds(self))
        self.teleop: Teleop | None = None
        self.virtual: np.ndarray | None = None
        self.virtual_time = -np.inf
        self.physical: np.ndarray | None = None
        self.sync_state = LOOKING
        self.gap_monitor = ""
        self.message = "waiting for twin_sync to pause"
        self.sent = self.mirrored = 0
        self._pause: Future | None = None
        self._paused_once = False

        self.pub_virtual = self.create_publisher(JointTrajectory, topics.joint_trajectory, STATE_QOS)
        self.virtual_topic = self.create_subscription(JointState, topics.joint_states, self.on_virtual,
                                                      LATEST_QOS).topic_name
        self.create_subscription(DiagnosticArray, DIAGNOSTICS, self.on_diagnostics, 10)
        self.create_subscription(Float64, GAP_TOPIC, self.on_gap, 10)
        self.sync_client = self.create_client(SetBool, SET_PAUSED)
        self.set_paused = self.resolve_service_name(SET_PAUSED)  # in the namespace: what teleop says
        # This robot's statuses among every robot's on the one /diagnostics.
        self.statuses = {status_name(self.get_namespace(), name): name for name in ("gap_monitor", "twin_sync")}
        self.gate = MirrorGate(options.max_gap)
        self.limiter: MirrorLimiter | None = None
        if options.mirror:
            self.limiter = MirrorLimiter(description, options.mirror_rate)
            self.pub_physical = self.create_publisher(JointTrajectory, PHYSICAL_COMMANDS, 10)
            self.create_subscription(JointState, PHYSICAL_JOINT_STATES, self.on_physical, LATEST_QOS)
        self.create_timer(1.0 / options.rate, self.on_tick)
        self.create_timer(0.25, self.on_sync)

    def _joints(self, msg: JointState, fill: np.ndarray | None) -> np.ndarray | None:
        try:
            return convert.joint_positions(msg, self.joint_map,
                                           fill if fill is not None else self.description.default_positions)
        except SampleError as err:
            self.message = f"ignored a joint state: {err}"
            return None

    # Subscriptions ---------------------------------------------------------------------

    def on_virtual(self, msg: JointState) -> None:
        vector = self._joints(msg, self.virtual)
        if vector is not None:
            self.virtual, self.virtual_time = vector, time.monotonic()

    def on_physical(self, msg: JointState) -> None:
        vector = self._joints(msg, self.physical)
        if vector is not None:
            self.physical = vector
            self.gate.on_feed(time.monotonic())

    def on_gap(self, msg: Float64) -> None:
        self.gate.on_gap(time.monotonic(), msg.data)

    def on_diagnostics(self, msg: DiagnosticArray) -> None:
        for status in msg.status:
            node = self.statuses.get(status.name)
            if node == "gap_monitor":
                self.gap_monitor = f"{level_name(status.level[0])}: {status.message}"
            elif node == "twin_sync":
                paused = next((kv.value for kv in status.values if kv.key == "paused"), None)
                if paused == "false" and self.sync_state == PAUSED and self._pause is None:
                    self.sync_state = RESUMED_ELSEWHERE

    # twin_sync -------------------------------------------------------------------------

    def on_sync(self) -> None:
        """Pause twin_sync whenever it is there and not paused by us; give up looking after
        ``sync_wait`` s (and pause it should it appear later). The first pause waits for the
        virtual robot's state (or ``state_wait``): a lockstep simulator stops publishing it
        as soon as twin_sync stops forwarding."""
        waited = time.monotonic() - self.started
        if self._pause is not None or (self.virtual is None and waited < self.options.state_wait):
            return
        ready = self.sync_client.service_is_ready()
        if self.sync_state in (LOOKING, ABSENT, RESUMED_ELSEWHERE) and ready:
            self.sync_state = PAUSING
            self._pause = self.sync_client.call_async(SetBool.Request(data=True))
            self._pause.add_done_callback(self._on_paused)
        elif self.sync_state == LOOKING and waited > self.options.sync_wait:
            self.sync_state = ABSENT
            self.message = f"no {self.set_paused} after {self.options.sync_wait:g} s: driving the virtual robot anyway"
        elif self.sync_state == PAUSED and not ready:
            self.sync_state = ABSENT
            self.message = "twin_sync is gone"

    def _on_paused(self, future: Future) -> None:
        self._pause = None
        response = future.result()
        if response is not None and response.success:
            self.sync_state, self._paused_once = PAUSED, True
        else:
            self.sync_state = PAUSE_FAILED
            self.message = f"twin_sync did not pause: {response.message if response else 'no response'}"

    def resume_sync(self, executor: Executor, timeout: float = 3.0) -> tuple[bool, str]:
        """Resume twin_sync if this teleop paused it: (ok, what happened)."""
        if self._pause is not None:
            executor.spin_until_future_complete(self._pause, timeout_sec=timeout)
        if not self._paused_once:
            return True, "twin_sync was not paused by teleop"
        if not self.sync_client.wait_for_service(timeout_sec=timeout):
            return False, f"twin_sync is gone ({self.set_paused} not found): nothing resumed"
        future = self.sync_client.call_async(SetBool.Request(data=False))
        executor.spin_until_future_complete(future, timeout_sec=timeout)
        response = future.result() if future.done() else None
        if response is None or not response.success:
            return False, (f"could not resume twin_sync ({response.message if response else 'no response'}): run "
                           f"ros2 service call {self.set_paused} std_srvs/srv/SetBool '{{data: false}}'")
        return True, "twin_sync resumed"

    # Commands --------------------------------------------------------------------------

    def on_tick(self) -> None:
        tick = self.ticks.tick(convert.now_seconds(self))
        if tick is None or self.sync_state not in PUBLISHING:
            return
        stamp, dt = tick
        if self.teleop is None:  # on_sync waited for the virtual robot's state before pausing twin_sync
            start = self.virtual if self.virtual is not None else self.description.default_positions
            self.teleop = Teleop(self.description, self.roles, start, self.options.speed)
            self.message = ("teleop has the virtual robot" if self.virtual is not None else
                            f"no {self.virtual_topic}: starting from the default pose")
        command = self.teleop.advance(dt)
        self.pub_virtual.publish(convert.trajectory_message(stamp, self.names, command, time_from_start=dt))
        self.sent += 1
        if self.limiter is not None:
            self._mirror(stamp, command)

    def _mirror(self, stamp: float, command: np.ndarray) -> None:
        if not self.gate.allows(time.monotonic()):
            if self.limiter.running:
                self.limiter.stop()
                self.message = f"mirroring {self.gate.reason}"
            return
        if not self.limiter.running:
            self.limiter.start(stamp, self.physical)
        limited = self.limiter.command(stamp, command, self.physical)
        if limited is not None:
            positions, dt = limited
            self.pub_physical.publish(convert.trajectory_message(stamp, self.names, positions, time_from_start=dt))
            self.mirrored += 1

    def toggle_mirror(self) -> None:
        """The operator's mirror key: engage mirroring, or release it."""
        if self.limiter is None:
            self.message = "mirroring is off: start teleop with --mirror"
        elif self.gate.engaged:
            self.release_mirror()
        elif self.teleop is None:
            self.message = "teleop has not taken the virtual robot yet"
        elif self.gate.engage(time.monotonic()):
            self.message = f"mirroring to {self.pub_physical.topic_name}"
        else:
            self.message = f"mirroring {self.gate.reason}"

    def release_mirror(self) -> None:
        if self.gate.engaged:
            self.gate.release()
            self.message = "mirroring released"

    @property
    def mirror_state(self) -> str:
        if self.limiter is None:
            return "disabled (--mirror)"
        if self.gate.engaged:
            return f"ON ({self.mirrored} sent)"
        state = "OFF" if self.gate.reason == "off" else self.gate.reason
        problem = self.gate.problem(time.monotonic())
        if problem is None:
            return f"{state} (ready)"
        return f"OFF (not ready: {problem})" if state == "OFF" else f"{state} (not ready)"
