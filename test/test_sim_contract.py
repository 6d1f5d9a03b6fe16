"""The embedded simulator over real DDS: held to config/bridge.yaml, robust to bad input."""

from __future__ import annotations

import math

import pytest
from sensor_msgs.msg import JointState
from std_srvs.srv import Trigger
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

from digital_twin_gz.gazebo import bridge
from digital_twin_gz.nodes.common import STATE_QOS
from digital_twin_gz.robot import load_description

pytestmark = pytest.mark.ros


@pytest.fixture
def sim_node(nodes, probe):
    sim = nodes("embedded_sim")
    probe.wait_for(lambda: "/virtual/joint_states" in probe.topics(), timeout=20, what="embedded_sim topics")
    return sim


@pytest.mark.parametrize("namespace", ["", "/robot_1"], ids=["no namespace", "in a namespace"])
def test_every_ros_side_topic_of_the_bridge_exists_with_type_and_direction(namespace, nodes, probe, repo):
    """The contract's ROS names are relative: /virtual/..., /clock without a namespace, all of them
    under it in one, and none outside."""
    nodes("embedded_sim", namespace=namespace)
    entries = bridge.load_bridge(repo / "config" / "bridge.yaml")
    assert len(entries) == 4
    names = {e.ros_topic: f"{namespace}/{e.ros_topic.lstrip('/')}" if not e.ros_topic.startswith("/") else e.ros_topic
             for e in entries}
    assert {e.ros_topic for e in entries} == {"clock", "virtual/joint_states", "virtual/odom",
                                               "virtual/joint_trajectory"}

    def complete() -> bool:
        topics = probe.topics()
        # Discovery names a participant's nodes a moment after its endpoints: wait for the names too.
        named = all("_NODE_NAME_UNKNOWN_" not in {i.node_name for i in
                                                   probe.node.get_publishers_info_by_topic(names[e.ros_topic])
                                                   + probe.node.get_subscriptions_info_by_topic(names[e.ros_topic])}
                    for e in entries)
        return named and all(names[e.ros_topic] in topics for e in entries) and all(
            (probe.node.count_publishers(names[e.ros_topic]) >= 1 if e.to_ros else True) and
            (probe.node.count_subscribers(names[e.ros_topic]) >= 1 if e.from_ros else True) for e in entries)

    probe.wait_for(complete, timeout=15, what="all contract topics")
    # Its control interface too (discovered apart from the topics): /virtual/reset, /virtual/set_base_pose.
    probe.wait_for(lambda: f"{namespace}/virtual/reset" in dict(probe.node.get_service_names_and_types())
                   and probe.node.count_subscribers(f"{namespace}/virtual/set_base_pose") >= 1, timeout=15,
                   what="the reset service and the set_base_pose subscription")
    topics = probe.topics()
    for e in entries:
        name = names[e.ros_topic]
        assert topics[name] == [e.ros_type], name
        publishers = {(i.node_name, i.node_namespace) for i in probe.node.get_publishers_info_by_topic(name)}
        subscribers = {(i.node_name, i.node_namespace) for i in probe.node.get_subscriptions_info_by_topic(name)}
        sim = ("embedded_sim", namespace or "/")
        if e.to_ros:
            assert sim in publishers, name
            assert sim not in subscribers, name
        if e.from_ros:
            assert sim in subscribers, name
            assert sim not in publishers, name
    # Nothing of the robot's outside its namespace (its services and set_base_pose included).
    outside = [t for t in (*topics, *dict(probe.node.get_service_names_and_types()))
               if t.startswith(("/virtual/", "/clock")) and namespace]
    assert outside == []


def test_publishes_state_at_500_hz_or_more(sim_node, probe):
    received = probe.collect(JointState, "/virtual/joint_states", STATE_QOS)  # every state, none dropped by the probe
    probe.wait_for(lambda: len(received) > 10, timeout=15, what="joint states")
    first = len(received)
    probe.spin_for(2.0)
    stamps = [m.header.stamp.sec + m.header.stamp.nanosec * 1e-9 for m in received[first:]]
    rate = (len(stamps) - 1) / (stamps[-1] - stamps[0])
    assert rate >= 450, f"{rate:.0f} Hz"
    # What gz-sim's JointStatePublisher publishes for this description: the actuated joints, in
    # the model's order, effort 0.
    description = load_description()
    assert received[-1].name == list(description.published_joints)
    assert sorted(received[-1].name) == sorted(description.joint_names)
    assert set(received[-1].effort) == {0.0}


def trajectory(names, positions, velocities=None) -> JointTrajectory:
    msg = JointTrajectory()
    msg.joint_names = names
    point = JointTrajectoryPoint()
    point.positions = positions
    if velocities is not None:
        point.velocities = velocities
    msg.points = [point]
    return msg


def test_bad_trajectories_are_rejected_and_the_simulation_keeps_running(sim_node, probe):
    received = probe.collect(JointState, "/virtual/joint_states")
    publisher = probe.node.create_publisher(JointTrajectory, "/virtual/joint_trajectory", 10)
    probe.wait_for(lambda: publisher.get_subscription_count() >= 1 and received, timeout=15, what="sim")
    bad = [
        (trajectory(["no_such_joint"], [0.1]), "unknown joints ['no_such_joint']"),
        (trajectory(["neck_yaw"], [math.nan]), "positions contain NaN or inf"),
        (trajectory(["neck_yaw"], [math.inf]), "positions contain NaN or inf"),
        (trajectory(["neck_yaw", "neck_pitch"], [0.1]), "point 0 has 1 positions for 2 joint names"),
        (trajectory(["neck_yaw"], [0.1], [0.0, 1.0]), "point 0 has 2 velocities for 1 joint names"),
    ]
    for msg, _ in bad:
        publisher.publish(msg)
        probe.spin_for(1.1)  # the warning is throttled to one a second
    publisher.publish(trajectory(["neck_yaw"], [0.6]))
    index = received[-1].name.index("neck_yaw")
    probe.wait_for(lambda: abs(received[-1].position[index] - 0.6) < 0.02, timeout=10, what="neck_yaw to 0.6")
    # As gz-sim's controller does, a joint it does not know is skipped and the others follow.
    publisher.publish(trajectory(["no_such_joint", "neck_yaw"], [0.1, -0.4]))
    probe.wait_for(lambda: abs(received[-1].position[index] + 0.4) < 0.02, timeout=10, what="neck_yaw to -0.4")
    assert sim_node.alive()
    log = sim_node.output()
    for _, reason in bad:
        assert reason in log, reason


def test_reset_service_returns_the_robot_to_its_default_pose(sim_node, probe):
    received = probe.collect(JointState, "/virtual/joint_states")
    publisher = probe.node.create_publisher(JointTrajectory, "/virtual/joint_trajectory", 10)
    client = probe.node.create_client(Trigger, "/virtual/reset")
    probe.wait_for(lambda: client.service_is_ready() and publisher.get_subscription_count() >= 1,
                   timeout=15, what="reset service")
    publisher.publish(trajectory(["neck_yaw"], [0.8]))
    probe.wait_for(lambda: received and abs(received[-1].position[received[-1].name.index("neck_yaw")] - 0.8) < 0.02,
                   timeout=10, what="neck_yaw to 0.8")
    future = client.call_async(Trigger.Request())
    probe.wait_for(future.done, timeout=10, what="reset reply")
    assert future.result().success
    probe.spin_for(0.3)
    assert abs(received[-1].position[received[-1].name.index("neck_yaw")]) < 0.02
