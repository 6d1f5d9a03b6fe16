"""What every twin node declares: the robot, the world, the topic contract, DDS hygiene."""

from __future__ import annotations

import math
from pathlib import Path

from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy

from digital_twin_gz.gazebo import bridge
from digital_twin_gz.robot import ALL_NODES, RobotDescription, WorldSettings, load_description, load_world, node_params

# Reliable like ros_gz_bridge's publishers (depth 10 there), and deep: a subscriber held up
# for a while (a busy machine, a report being written) takes the samples late, not never, so
# a lockstep twin lags instead of dropping. Measured: depth 100 lost 19 % of a 250 Hz demo's
# samples in bursts; depth 2000 lost 5 % of a 500 Hz demo on a machine at load 8 (the twin ran
# 18 s behind). 20000 samples are 40 s at 500 Hz; Fast DDS allocates them only when they queue
# (4 publishers and subscriptions: 3.5 MB at either depth).
# s a node keeps taking queued messages after Ctrl-C/SIGTERM, and the quiet that ends it (see _drain)
DRAIN_LIMIT_S = 10.0
QUIET_S = 0.2
# What every node logs at exit, before its CPU time (bench_load reads it)
CPU_LOG = "CPU time used:"
# s between the spin loop's looks at the stop request
SPIN_TIMEOUT_S = 0.2
STATE_QOS = QoSProfile(depth=20000, reliability=ReliabilityPolicy.RELIABLE, history=HistoryPolicy.KEEP_LAST)
# For consumers that need only the newest state (teleop, a resync's base pose): a backlog is stale.
LATEST_QOS = QoSProfile(depth=5, reliability=ReliabilityPolicy.RELIABLE, history=HistoryPolicy.KEEP_LAST)
TAKE_QOS = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE, history=HistoryPolicy.KEEP_LAST)

# Every name of a robot's twin is relative, so the nodes' namespace (``--ros-args -r __ns:=/robot_1``,
# launch's ``namespace:=``) puts all of it under /<robot>/; without one they are /physical/..., /virtual/...
# The physical side of the twin: point the twin at a real robot by remapping these
# (``--ros-args -r physical/joint_states:=/joint_states``), not by editing code.
PHYSICAL_JOINT_STATES = "physical/joint_states"
PHYSICAL_ODOM = "physical/odom"
PHYSICAL_COMMANDS = "physical/joint_commands"
# The embedded simulator's control interface (Gazebo's is gz-transport: gz_control.py).
SET_BASE_POSE = "virtual/set_base_pose"
# Each pose set, as it was asked for, once the simulator holds it: what is sent after hearing it
# reaches the simulator after the pose (two topics keep no order between them).
BASE_POSE_SET = "virtual/base_pose_set"
BASE_POSE_SET_QOS = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE, history=HistoryPolicy.KEEP_LAST,
                               durability=DurabilityPolicy.TRANSIENT_LOCAL)
RESET = "virtual/reset"
# gap_monitor's live gap: GAP_TOPICS/base_position, .../key_link/<link>
GAP_TOPICS = "twin/gap"
# One /diagnostics for every robot on the domain: each status names its node with the namespace
# (``robot_1/twin_sync``) and the robot in ``hardware_id``.
DIAGNOSTICS = "/diagnostics"


class TakenMessages:
    """A topic's messages, serialized, taken when asked instead of handed to a callback.

    A node that needs only the latest of a 500 Hz stream (twin_sync's base poses, for a resync),
    or takes its streams in batches anyway (gap_monitor), would pay a callback for every message:
    ~60 us of CPU each, measured here. This subscription lives on a side node that no executor
    spins, so its messages wait in their history (``qos``) until taken: ~30 us each, Fast DDS's own
    receiving (``bench/bench_message_cost.py`` measures both). Taking from the subscription itself
    also leaves nothing to an executor's events, which rclpy's EventsExecutor in these wheels was
    seen to lose: a subscription then stalled for good while the writer it matched was restarted.
    """

    def __init__(self, node: Node, msg_type: type, topic: str, qos: QoSProfile = TAKE_QOS) -> None:
        side = getattr(node, "_taken_side_node", None)
        if side is None:
            side = node._taken_side_node = Node(f"{node.get_name()}_taken", context=node.context,
                                                namespace=node.get_namespace())
        self.topic = side.resolve_topic_name(topic)  # in the node's namespace, remapped: what it says
        self._msg_type = msg_type
        self._subscription = side.create_subscription(msg_type, topic, _never_called, qos, raw=True)

    def take_all(self) -> list[bytes]:
        """Every message since the last take, oldest first."""
        taken = []
        while (message := self._subscription.handle.take_message(self._msg_type, True)) is not None:
            taken.append(message[0])
        return taken

    def take(self) -> bytes | None:
        """The newest message since the last take, None if none came."""
        taken = self.take_all()
        return taken[-1] if taken else None


def _never_called(_data: bytes) -> None:
    raise AssertionError("a LatestMessage subscription is taken from, never spun")


def declare_strings(node: Node, name: str) -> list[str]:
    """A string-array parameter that may be empty (ROS cannot infer the type of [])."""
    return [v for v in node.declare_parameter(name, [""]).value if v]


def declare_clock_jump(node: Node) -> float:
    """``clock_jump`` (s), which every node of the twin must read alike: its default is twin.yaml's."""
    value = float(node.declare_parameter("clock_jump", float(node_params(ALL_NODES)["clock_jump"])).value)
    if value <= 0:
        raise ValueError(f"parameter clock_jump must be positive, got {value}")
    return value


def declare_joint_delay(node: Node) -> int:
    """``joint_delay`` (s, twin.yaml's /** section), which twin_sync and gap_monitor must read alike, in ns."""
    value = float(node.declare_parameter("joint_delay", float(node_params(ALL_NODES)["joint_delay"])).value)
    if not math.isfinite(value):
        raise ValueError(f"parameter joint_delay must be a number of seconds, got {value}")
    return int(round(value * 1e9))


def status_name(namespace: str, node_name: str) -> str:
    """The DiagnosticStatus name of the node ``node_name`` in ``namespace``: ``twin_sync`` at the top,
    ``robot_1/twin_sync`` in /robot_1 (the node's fully qualified name without its leading slash)."""
    return f"{namespace.strip('/')}/{node_name}".lstrip("/")


def diagnostic_name(node: Node) -> str:
    """This node's name in its DiagnosticStatus entries (:func:`status_name`)."""
    return status_name(node.get_namespace(), node.get_name())


def declare_robot_name(node: Node, description: RobotDescription) -> str:
    """``robot_name``: the robot's name (the Gazebo model, /diagnostics' hardware_id, report.json);
    empty: the description's <robot name>. The launch files and the demo give the namespace's."""
    return node.declare_parameter("robot_name", "").value or description.name


def declare_robot(node: Node) -> tuple[RobotDescription, WorldSettings, bridge.VirtualTopics]:
    """Declare urdf, xacro_args, packages, world and bridge; load what they name."""
    urdf = node.declare_parameter("urdf", "").value
    xacro_args = declare_strings(node, "xacro_args")
    packages = declare_strings(node, "packages")
    world = node.declare_parameter("world", "").value
    bridge_file = node.declare_parameter("bridge", "").value
    description = load_description(
        urdf or None,
        xacro_args=dict(a.split(":=", 1) for a in xacro_args),
        packages={k: Path(v) for k, v in (p.split("=", 1) for p in packages)},
    )
    world_settings = load_world(world or None)
    entries = bridge.load_bridge(Path(bridge_file) if bridge_file else bridge.bundled_bridge())
    return description, world_settings, bridge.virtual_topics(entries)


def run(node_class: type[Node], args: list[str] | None = None) -> Node:
    """Spin one node in this process (see :func:`run_nodes`)."""
    return run_nodes([node_class], args)[0]


def run_nodes(node_classes: list[type[Node]], args: list[str] | None = None) -> list[Node]:
    """Spin nodes on one rclpy EventsExecutor until Ctrl-C or SIGTERM, then let them take what
    is queued for them and finish in the order given (along the data flow), then shut down.

    EventsExecutor costs a fifth of the SingleThreadedExecutor per message (~70 against ~310 us
    for a 27-joint JointState, measured here). In these wheels its ``spin()`` and a
    ``spin_until_future_complete`` without a timeout busy-wait, fire no timer and ignore
    signals, so the loop spins with a timeout on a future that the signal handler completes.
    The signals only complete that future: rclpy's own handler shuts the context down under
    the executor's feet, and a signal landing while a message is taken then surfaces as an
    arbitrary RuntimeError instead of a clean exit. SIGHUP, which a node started by the demo gets
    when the demo dies (``run.rosenv.NodeProcess``), stops it the same way but in a hurry: each
    node's ``finish(hurry=True)`` keeps what was measured and skips what is slow (pictures).
    Several nodes share the process as in a ROS component container (``twin_container``); each
    reads its own section of the params file.
    """
    import signal
    import time

    import rclpy
    from rclpy.experimental import EventsExecutor
    from rclpy.signals import SignalHandlerOptions
    from rclpy.task import Future

    rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)
    stop = Future()

    def on_signal(signum: int, _frame) -> None:
        if not stop.done():
            stop.set_result(signum)

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_signal)
    nodes = []
    executor = EventsExecutor()
    try:
        for node_class in node_classes:
            nodes.append(node_class())
            executor.add_node(nodes[-1])
        while not stop.done():
            executor.spin_until_future_complete(stop, timeout_sec=SPIN_TIMEOUT_S)
        _drain(executor, nodes)
    finally:
        hurry = stop.done() and stop.result() == signal.SIGHUP
        for node in nodes:
            finish = getattr(node, "finish", None)
            if finish is not None:
                finish(hurry=hurry)
        if nodes:
            nodes[-1].get_logger().info(f"{CPU_LOG} {time.process_time():.3f} s")
        executor.shutdown()
        for node in nodes:
            node.destroy_node()
        rclpy.shutdown()
    return nodes


def _drain(executor, nodes: list[Node]) -> None:
    """Take the messages already queued before finishing (timers stopped), until none comes
    for QUIET_S or DRAIN_LIMIT_S have passed. On a busy machine a node runs behind its input:
    gap_monitor was 2 s behind in a 500 Hz demo on 2 cores, and without this the report and
    the recording lost that tail."""
    import time

    for node in nodes:
        for timer in node.timers:
            timer.cancel()
    end = time.monotonic() + DRAIN_LIMIT_S
    while time.monotonic() < end:
        started = time.monotonic()
        executor.spin_once(timeout_sec=QUIET_S)
        if time.monotonic() - started >= 0.95 * QUIET_S:
            break
