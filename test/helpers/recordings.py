"""Recordings for the tests: the emulated robot recorded without ROS, copied into rosbag2
directories with rosbags' writer, and hand-made JointState streams."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from rosbags.rosbag2 import Reader, StoragePlugin, Writer

from digital_twin_gz.emulator import load_profile
from digital_twin_gz.recording import EPOCH_NS, JOINT_STATE, ODOMETRY, McapRecorder, record_emulated, typestore
from digital_twin_gz.robot import load_description, load_world


def emulated(path: Path, profile: str = "default", motion: str = "squat", seconds: float = 3.0) -> Path:
    record_emulated(path, load_description(), load_world(), load_profile(profile), motion, seconds)
    return path


def raw_messages(path: Path) -> list[tuple[str, str, int, bytes]]:
    """(topic, type, log time, CDR bytes) of every message, through rosbags' reader."""
    with Reader(path) as reader:
        return [(c.topic, c.msgtype, t, bytes(d)) for c, t, d in reader.messages()]


def to_rosbag2(source: Path, target: Path, storage: StoragePlugin, log_offset_ns: int = 0) -> Path:
    """A rosbag2 directory (metadata.yaml + storage file) written by rosbags' writer; ``log_offset_ns``
    moves the recorder's clock (the log times), not the messages' stamps."""
    messages = raw_messages(source)
    with Writer(target, version=9, storage_plugin=storage) as writer:
        connections = {}
        for topic, kind, _, _ in messages:
            if topic not in connections:
                connections[topic] = writer.add_connection(topic, kind, typestore=typestore())
        for topic, _, t, data in messages:
            writer.write(connections[topic], t + log_offset_ns, data)
    return target


def stamp(k: int, rate: float = 500.0):
    types = typestore().types
    sec, nanosec = divmod(EPOCH_NS + int(round(k / rate * 1e9)), 1_000_000_000)
    return types["builtin_interfaces/msg/Time"](sec=sec, nanosec=nanosec)


def joint_state(k: int, names: list[str], positions: np.ndarray, velocities=(), efforts=(), frame_id: str = ""):
    types = typestore().types
    header = types["std_msgs/msg/Header"](stamp=stamp(k), frame_id=frame_id)
    return types[JOINT_STATE](header=header, name=list(names), position=np.array(positions, dtype=float),
                              velocity=np.array(velocities, dtype=float), effort=np.array(efforts, dtype=float))


def odometry(k: int, position=(0.0, 0.0, 0.93), orientation=(0.0, 0.0, 0.0, 1.0)):
    types = typestore().types
    point, quaternion = types["geometry_msgs/msg/Point"], types["geometry_msgs/msg/Quaternion"]
    pose = types["geometry_msgs/msg/Pose"](position=point(*position), orientation=quaternion(*orientation))
    vector = types["geometry_msgs/msg/Vector3"](x=0.0, y=0.0, z=0.0)
    twist = types["geometry_msgs/msg/Twist"](linear=vector, angular=vector)
    return types[ODOMETRY](
        header=types["std_msgs/msg/Header"](stamp=stamp(k), frame_id="odom"), child_frame_id="base_link",
        pose=types["geometry_msgs/msg/PoseWithCovariance"](pose=pose, covariance=np.zeros(36)),
        twist=types["geometry_msgs/msg/TwistWithCovariance"](twist=twist, covariance=np.zeros(36)))


def write_messages(path: Path, messages: list[tuple[str, object]]) -> Path:
    """Messages (topic, rosbags message) into one of our MCAP files, logged 1 ms apart."""
    serialize = typestore().serialize_cdr
    with McapRecorder(path) as recorder:
        for k, (topic, msg) in enumerate(messages):
            channel = recorder.channel(topic, msg.__msgtype__)
            recorder.write(channel, serialize(msg, msg.__msgtype__), EPOCH_NS + k * 1_000_000)
    return path
