"""What every twin node declares: the robot, the world, the topic contract, DDS hygiene."""

from __future__ import annotations

from pathlib import Path

from rclpy.node import Node
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy

from digital_twin_gz import bridge
from digital_twin_gz.description import RobotDescription, load_description
from digital_twin_gz.world import WorldSettings, load_world

# Reliable like ros_gz_bridge's publishers (depth 10 there); deeper so 1 kHz bursts survive.
STATE_QOS = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE, history=HistoryPolicy.KEEP_LAST)


def declare_robot(node: Node) -> tuple[RobotDescription, WorldSettings, bridge.VirtualTopics]:
    """Declare urdf, xacro_args, packages, world and bridge; load what they name."""
    urdf = node.declare_parameter("urdf", "").value
    xacro_args = node.declare_parameter("xacro_args", [""]).value
    packages = node.declare_parameter("packages", [""]).value
    world = node.declare_parameter("world", "").value
    bridge_file = node.declare_parameter("bridge", "").value
    description = load_description(
        urdf or None,
        xacro_args=dict(a.split(":=", 1) for a in xacro_args if a),
        packages={k: Path(v) for k, v in (p.split("=", 1) for p in packages if p)},
    )
    world_settings = load_world(world or None)
    entries = bridge.load_bridge(Path(bridge_file) if bridge_file else bridge.bundled_bridge())
    return description, world_settings, bridge.virtual_topics(entries)


def run(node_class: type[Node], args: list[str] | None = None) -> Node:
    """Spin a node until Ctrl-C or SIGTERM, then let it finish its work and shut down."""
    import rclpy
    from rclpy.executors import ExternalShutdownException

    rclpy.init(args=args)
    node = node_class()
    try:
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        finish = getattr(node, "finish", None)
        if finish is not None:
            finish()
        node.destroy_node()
        if rclpy.ok():
            rclpy.shutdown()
    return node
