"""The hot path's messages read and written as CDR bytes (recording.cdr) are the messages rclpy
makes: every byte string here is checked with rclpy's own (de)serializer."""

from __future__ import annotations

import numpy as np
import pytest
from nav_msgs.msg import Odometry
from rclpy.serialization import deserialize_message, serialize_message
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import JointState
from trajectory_msgs.msg import JointTrajectory

from digital_twin_gz.nodes import convert
from digital_twin_gz.recording import cdr
from digital_twin_gz.sim import RobotState

NAMES = ("l_hip_yaw", "l_knee_pitch", "waist", "neck_pitch_joint")


def _writer(msg, layout_of) -> cdr.Writer:
    template = serialize_message(msg)
    return cdr.Writer(template, layout_of(template, msg))


@pytest.mark.parametrize("velocities", [True, False])
@pytest.mark.parametrize("efforts", [True, False])
def test_a_trajectory_written_into_its_template_is_the_message_rclpy_reads(velocities, efforts):
    rng = np.random.default_rng(1)
    q, v, e = (rng.normal(size=len(NAMES)) for _ in range(3))
    writer = _writer(convert.trajectory_message(0.0, NAMES, np.zeros(4), np.zeros(4) if velocities else None,
                                                np.zeros(4) if efforts else None), cdr.trajectory_layout)
    fields = {"positions": q} | ({"velocities": v} if velocities else {}) | ({"effort": e} if efforts else {})
    stamp_ns = 1_796_305_258_735_071_009  # an epoch stamp float seconds cannot hold to the nanosecond
    msg = deserialize_message(writer.write(stamp_ns, **fields), JointTrajectory)
    assert (msg.header.stamp.sec, msg.header.stamp.nanosec) == (1_796_305_258, 735_071_009)
    assert tuple(msg.joint_names) == NAMES and len(msg.points) == 1
    point = msg.points[0]
    assert np.array_equal(point.positions, q)
    assert np.array_equal(point.velocities, v if velocities else [])
    assert np.array_equal(point.effort, e if efforts else [])
    assert len(point.accelerations) == 0 and (point.time_from_start.sec, point.time_from_start.nanosec) == (0, 0)
    q2 = q + 1.0
    again = deserialize_message(writer.write(stamp_ns + 2_000_000, positions=q2), JointTrajectory)
    assert np.array_equal(again.points[0].positions, q2) and again.header.stamp.nanosec == 737_071_009


def test_states_written_into_templates_are_the_messages_rclpy_reads():
    state = RobotState(time=0.0, base_position=np.array([0.1, -0.2, 0.9]),
                       base_orientation=np.array([0.0, 0.0, 0.38268343, 0.92387953]),
                       base_linear_velocity=np.zeros(3), base_angular_velocity=np.zeros(3),
                       joint_positions=np.zeros(4), joint_velocities=np.zeros(4), joint_efforts=np.zeros(4))
    stamp = convert.to_nanoseconds(12.345)
    odom = _writer(convert.odometry(0.0, state, "odom", "pelvis"), cdr.odometry_layout)
    pose, twist = np.arange(7.0), np.arange(6.0) + 10.0
    msg = deserialize_message(odom.write(stamp, pose=pose, twist=twist), Odometry)
    assert (msg.header.frame_id, msg.child_frame_id) == ("odom", "pelvis")
    assert (msg.header.stamp.sec, msg.header.stamp.nanosec) == (12, 345_000_000)
    p, o = msg.pose.pose.position, msg.pose.pose.orientation
    assert [p.x, p.y, p.z, o.x, o.y, o.z, o.w] == pose.tolist()
    t = msg.twist.twist
    assert [t.linear.x, t.linear.y, t.linear.z, t.angular.x, t.angular.y, t.angular.z] == twist.tolist()
    assert not np.any(msg.pose.covariance) and not np.any(msg.twist.covariance)

    zeros = np.zeros(len(NAMES))
    joints = _writer(convert.joint_state(0.0, NAMES, zeros, zeros, zeros), cdr.joint_state_layout)
    msg = deserialize_message(joints.write(stamp, position=np.ones(4), velocity=-np.ones(4)), JointState)
    assert tuple(msg.name) == NAMES and list(msg.position) == [1.0] * 4 and list(msg.velocity) == [-1.0] * 4
    assert list(msg.effort) == [0.0] * 4

    clock = deserialize_message(_writer(convert.clock(0.0), cdr.clock_layout).write(stamp), Clock)
    assert (clock.clock.sec, clock.clock.nanosec) == (12, 345_000_000)


def test_a_reader_learns_each_layout_once_and_never_misreads_another():
    reader = cdr.Reader(convert.decoder(JointState), cdr.joint_state_layout)
    q = np.array([0.1, 0.2, 0.3, 0.4])
    first = serialize_message(convert.joint_state(1.5, NAMES, q, q * 2, q * 3))
    layout, reference = reader.read(first)
    assert layout is not None and tuple(reference.name) == NAMES
    second = serialize_message(convert.joint_state(2.25, NAMES, -q, q, q))
    layout2, _ = reader.read(second)
    assert layout2 is layout
    assert layout.seconds(second) == 2.25 and layout.stamp_ns(second) == 2_250_000_000
    assert np.array_equal(layout.values(second, "position"), -q)
    # Same byte length, other names: not read with the learnt layout but decoded on its own.
    swapped = ("l_hip_yaw", "l_knee_pitch", "neck", "waist_pitch_joint")
    other = serialize_message(convert.joint_state(3.0, swapped, q, q, q))
    assert len(other) == len(first)
    layout3, msg = reader.read(other)
    assert layout3 is None and tuple(msg.name) == swapped
    # No velocities: another length, a layout of its own.
    layout4, _ = reader.read(serialize_message(convert.joint_state(4.0, NAMES, q)))
    assert layout4 is not None and layout4 is not layout and layout4.at["velocity"][1] == 0
    assert reader.read(b"\x00\x01\x00\x00" + b"\xff" * 40) == (None, None)
    assert reader.read(first[:20]) == (None, None)


def test_a_one_point_trajectory_is_read_out_of_its_bytes_and_others_are_not():
    reader = cdr.Reader(convert.decoder(JointTrajectory), cdr.trajectory_layout)
    q = np.array([0.5, -0.5, 0.25, 0.0])
    data = serialize_message(convert.trajectory_message(7.000000001, NAMES, q, None, q, time_from_start=0.25))
    layout, _ = reader.read(data)
    assert layout is not None and layout.seconds(data) == 7.000000001
    assert layout.seconds(data, "time_from_start") == 0.25
    assert np.array_equal(layout.values(data, "positions"), q) and layout.values(data, "velocities").size == 0
    two = convert.trajectory_message(7.0, NAMES, q)
    two.points = [two.points[0], two.points[0]]
    layout2, msg = reader.read(serialize_message(two))
    assert layout2 is None and len(msg.points) == 2
