"""What every twin node declares: the robot, the world, the topic contract, DDS hygiene."""

from __future__ import annotations

from pathlib import Path

from rclpy.node import Node
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy

from digital_twin_gz.gazebo import bridge
from digital_twin_gz.robot import RobotDescription, WorldSettings, load_description, load_world

# Reliable like ros_gz_bridge's publishers (depth 10 there), and deep: a subscriber held up
# for a while (a busy machine, a report being written) takes the samples late, not never.
# Measured in a 20 s demo recording at 250 Hz: depth 100 lost 19 % of the samples in bursts,
# depth 2000 none. 2000 samples are 2 s at 1 kHz.
# s a node keeps taking queued messages after Ctrl-C/SIGTERM (see _drain)
DRAIN_LIMIT_S = 10.0
STATE_QOS = QoSProfile(depth=2000, reliability=ReliabilityPolicy.RELIABLE, history=HistoryPolicy.KEEP_LAST)

# The physical side of the twin. Point the twin at a real robot by remapping these
# (``--ros-args -r /physical/joint_states:=/joint_states``), not by editing code.
PHYSICAL_JOINT_STATES = "/physical/joint_states"
PHYSICAL_ODOM = "/physical/odom"
PHYSICAL_COMMANDS = "/physical/joint_commands"
# The embedded simulator's control interface (Gazebo's is gz-transport: gz_control.py).
SET_BASE_POSE = "/virtual/set_base_pose"
RESET = "/virtual/reset"
DIAGNOSTICS = "/diagnostics"


def declare_strings(node: Node, name: str) -> list[str]:
    """A string-array parameter that may be empty (ROS cannot infer the type of [])."""
    return [v for v in node.declare_parameter(name, [""]).value if v]


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
    """Spin a node until Ctrl-C or SIGTERM, then let it finish its work and shut down.

    The signals only set a flag that the spin loop checks: rclpy's own handler shuts the
    context down under the executor's feet, and a signal landing while a message is being
    taken then surfaces as an arbitrary RuntimeError instead of a clean exit.
    """
    import signal
    import threading

    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.signals import SignalHandlerOptions

    rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    node = node_class()
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    try:
        while not stop.is_set():
            executor.spin_once(timeout_sec=0.1)
        _drain(executor, node)
    finally:
        finish = getattr(node, "finish", None)
        if finish is not None:
            finish()
        executor.shutdown()
        node.destroy_node()
        rclpy.shutdown()
    return node



def take_ready(executor, wait: float = 0.0, limit: float = 0.02) -> int:
    """Run the callbacks that are ready, waiting up to ``wait`` s for each next one, until none
    comes or ``limit`` s have passed; returns how many ran. ``spin_once`` runs one: a loop that
    also draws a screen or watches a flag falls behind two 500 Hz feeds with it."""
    import time

    from rclpy.executors import TimeoutException

    end = time.monotonic() + limit
    count = 0
    while time.monotonic() < end:
        try:
            handler, _, _ = executor.wait_for_ready_callbacks(timeout_sec=wait)
        except TimeoutException:
            break
        handler()
        if handler.exception() is not None:
            raise handler.exception()
        count += 1
    return count


def _drain(executor, node: Node) -> None:
    """Take the messages already queued before finishing (timers stopped), until none comes
    for 0.2 s or DRAIN_LIMIT_S have passed. On a busy machine a node runs behind its input:
    gap_monitor was 2 s behind in a 500 Hz demo on 2 cores, and without this the report and
    the recording lost that tail."""
    for timer in node.timers:
        timer.cancel()
    take_ready(executor, wait=0.2, limit=DRAIN_LIMIT_S)
