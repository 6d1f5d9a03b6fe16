"""The edge between ROS messages and the project's arrays. Nothing else touches messages."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from builtin_interfaces.msg import Duration, Time
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from geometry_msgs.msg import PoseStamped
from nav_msgs.msg import Odometry
from rclpy.node import Node
from rclpy.serialization import deserialize_message
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import JointState
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

from digital_twin_gz.emulator import Measurement
from digital_twin_gz.sim import RobotState, Trajectory, TrajectoryError
from digital_twin_gz.twin import JointMap, SampleError


def split_seconds(seconds: float) -> tuple[int, int]:
    """(sec, nanosec) of a stamp in seconds, as builtin_interfaces/Time holds it."""
    sec = int(np.floor(seconds))
    return sec, min(int(round((seconds - sec) * 1e9)), 999_999_999)


def to_nanoseconds(seconds: float) -> int:
    sec, nanosec = split_seconds(seconds)
    return sec * 1_000_000_000 + nanosec


def to_time(seconds: float) -> Time:
    sec, nanosec = split_seconds(seconds)
    return Time(sec=sec, nanosec=nanosec)


def to_duration(seconds: float) -> Duration:
    time = to_time(seconds)
    return Duration(sec=time.sec, nanosec=time.nanosec)


def to_seconds(stamp: Time | Duration) -> float:
    return stamp.sec + stamp.nanosec * 1e-9


def now_seconds(node: Node) -> float:
    """The node's clock (ROS time: /clock under use_sim_time) in seconds."""
    return node.get_clock().now().nanoseconds * 1e-9


def joint_positions(msg: JointState, joint_map: JointMap, fill: np.ndarray) -> np.ndarray:
    """The message's positions as a full vector in the description's joint order, ``fill`` for the
    joints it does not name; SampleError for unknown joints, a length mismatch, NaN or inf."""
    try:
        vector = joint_map.vector(msg.name, np.asarray(msg.position, dtype=float), fill)
    except IndexError as err:
        raise SampleError("length_mismatch", f"{len(msg.name)} names but {len(msg.position)} positions") from err
    if not np.isfinite(vector).all():
        raise SampleError("nan", "NaN or inf")
    return vector


def decoder(msg_type: type) -> Callable[[bytes], object | None]:
    """Serialized ``msg_type`` to a message, None for bytes that are not one."""

    def decode(data: bytes):
        try:
            return deserialize_message(data, msg_type)
        except Exception:  # rclpy raises several kinds for bytes that are not the type
            return None

    return decode


def clock(seconds: float) -> Clock:
    return Clock(clock=to_time(seconds))


def joint_state(stamp: float, names: tuple[str, ...], positions: np.ndarray,
                velocities: np.ndarray | None = None, efforts: np.ndarray | None = None) -> JointState:
    msg = JointState()
    msg.header.stamp = to_time(stamp)
    msg.name = list(names)
    msg.position = positions.tolist()
    msg.velocity = velocities.tolist() if velocities is not None else []
    msg.effort = efforts.tolist() if efforts is not None else []
    return msg


def odometry(stamp: float, state: RobotState | Measurement, frame_id: str, child_frame_id: str) -> Odometry:
    msg = Odometry()
    msg.header.stamp = to_time(stamp)
    msg.header.frame_id = frame_id
    msg.child_frame_id = child_frame_id
    p, q = state.base_position, state.base_orientation
    pose = msg.pose.pose
    pose.position.x, pose.position.y, pose.position.z = (float(v) for v in p)
    pose.orientation.x, pose.orientation.y, pose.orientation.z, pose.orientation.w = (float(v) for v in q)
    twist = msg.twist.twist
    twist.linear.x, twist.linear.y, twist.linear.z = (float(v) for v in state.base_linear_velocity)
    twist.angular.x, twist.angular.y, twist.angular.z = (float(v) for v in state.base_angular_velocity)
    return msg


def base_pose(msg: Odometry) -> tuple[np.ndarray, np.ndarray]:
    """Position and (x, y, z, w) orientation of an Odometry message."""
    p, q = msg.pose.pose.position, msg.pose.pose.orientation
    return np.array([p.x, p.y, p.z]), np.array([q.x, q.y, q.z, q.w])


def pose_stamped(stamp: float, frame_id: str, position: np.ndarray, orientation: np.ndarray) -> PoseStamped:
    msg = PoseStamped()
    msg.header.stamp = to_time(stamp)
    msg.header.frame_id = frame_id
    pose = msg.pose
    pose.position.x, pose.position.y, pose.position.z = (float(v) for v in position)
    pose.orientation.x, pose.orientation.y, pose.orientation.z, pose.orientation.w = (float(v) for v in orientation)
    return msg


def diagnostics(stamp: float, statuses: list[tuple[str, int, str, dict[str, object]]],
                hardware_id: str) -> DiagnosticArray:
    """A DiagnosticArray from (name, level 0/1/2/3, message, values) tuples."""
    msg = DiagnosticArray()
    msg.header.stamp = to_time(stamp)
    msg.status = [DiagnosticStatus(level=bytes([level]), name=name, message=message, hardware_id=hardware_id,
                                   values=[KeyValue(key=k, value=str(v)) for k, v in values.items()])
                  for name, level, message, values in statuses]
    return msg


def trajectory_message(stamp: float, names: tuple[str, ...] | list[str], positions: np.ndarray,
                       velocities: np.ndarray | None = None, efforts: np.ndarray | None = None,
                       time_from_start: float = 0.0) -> JointTrajectory:
    """One point, reached ``time_from_start`` s after ``stamp`` (0: at once)."""
    msg = JointTrajectory()
    msg.header.stamp = to_time(stamp)
    msg.joint_names = list(names)
    point = JointTrajectoryPoint()
    point.positions = positions.tolist()
    point.time_from_start = to_duration(time_from_start)
    if velocities is not None:
        point.velocities = velocities.tolist()
    if efforts is not None:
        point.effort = efforts.tolist()
    msg.points = [point]
    return msg


def trajectory(msg: JointTrajectory, joint_index: dict[str, int]) -> Trajectory:
    """A :class:`Trajectory` for the joints of ``joint_index`` the message names (gz-sim's
    controller skips the others too: see ``unknown_joints``); a point without velocities or
    efforts gets a NaN row (it leaves those targets as they are). TrajectoryError says what
    is wrong with a message gz-sim would ignore or only partly apply."""
    if not msg.joint_names:
        raise TrajectoryError("no joint names")
    known = [k for k, name in enumerate(msg.joint_names) if name in joint_index]
    m = len(msg.joint_names)

    def column(field: str, required: bool) -> np.ndarray | None:
        rows = [list(getattr(p, field)) for p in msg.points]
        if not required and all(len(r) == 0 for r in rows):
            return None
        for k, row in enumerate(rows):
            if len(row) != m and (required or row):
                raise TrajectoryError(f"point {k} has {len(row)} {field} for {m} joint names")
        values = np.array([row or [np.nan] * m for row in rows], dtype=float).reshape(len(rows), m)
        return values[:, known]

    return Trajectory(
        joint_index=np.array([joint_index[msg.joint_names[k]] for k in known], dtype=int),
        times=np.array([to_seconds(p.time_from_start) for p in msg.points]),
        positions=column("positions", True),
        velocities=column("velocities", False),
        efforts=column("effort", False),
    )


def unknown_joints(msg: JointTrajectory, joint_index: dict[str, int]) -> list[str]:
    return [name for name in msg.joint_names if name not in joint_index]
