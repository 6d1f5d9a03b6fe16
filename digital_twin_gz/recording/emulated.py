"""A recording of the emulated physical robot, made without ROS.

The physical robot (:class:`~digital_twin_gz.emulator.physical.PhysicalRobot`: a perturbed copy of
the model performing a motion) runs in lockstep, and each measurement becomes one
/physical/joint_states and one /physical/odom message, as physical_emulator publishes
them live: stamped with the robot's clock at the moment of measurement, received
``latency_s`` later (the log time), with the profile's dropped messages missing. Tests,
the replay benchmark and users without a robot get a realistic recording in seconds.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

import numpy as np

from digital_twin_gz.emulator import Motion, PhysicalRobot, Profile
from digital_twin_gz.recording.samples import JOINT_STATE, ODOMETRY, typestore
from digital_twin_gz.recording.writer import McapRecorder
from digital_twin_gz.robot import JointRoles, RobotDescription, WorldSettings, load_roles

# Stamps start at a wall-clock-like epoch, as a real robot's do (2023-11-14 22:13:20 UTC).
EPOCH_NS = 1_700_000_000 * 1_000_000_000


def record_emulated(path: Path, description: RobotDescription, world: WorldSettings, profile: Profile,
                    motion: str, seconds: float, rate: float = 500.0, roles: JointRoles | None = None,
                    progress: Callable[[float], None] | None = None, start_ns: int = EPOCH_NS,
                    metadata: dict[str, str] | None = None) -> int:
    """Write ``seconds`` of the emulated robot at ``rate`` Hz to an MCAP file; returns the
    number of joint-state messages written. ``progress`` gets the emulated time now and then.
    ``start_ns``: the robot's clock at the start (its stamps' epoch); ``metadata`` goes on top of
    the recording's own (``robot``: which robot of a fleet it is, the description's name by default)."""
    roles = roles or load_roles(description)
    robot = PhysicalRobot(description, world, profile, Motion(motion, description, roles), roles)
    types = typestore().types
    time_msg, header_msg = types["builtin_interfaces/msg/Time"], types["std_msgs/msg/Header"]
    joint_state, odometry = types[JOINT_STATE], types[ODOMETRY]
    point, quaternion = types["geometry_msgs/msg/Point"], types["geometry_msgs/msg/Quaternion"]
    pose, vector = types["geometry_msgs/msg/Pose"], types["geometry_msgs/msg/Vector3"]
    twist = types["geometry_msgs/msg/Twist"]
    pose_cov, twist_cov = types["geometry_msgs/msg/PoseWithCovariance"], types["geometry_msgs/msg/TwistWithCovariance"]
    serialize = typestore().serialize_cdr
    names = list(description.joint_names)
    covariance = np.zeros(36)
    latency_ns = int(round(profile.measurement.latency_s * 1e9))
    # The emulated robot's physics and measurement, for tools that compare a fit with the truth.
    metadata = {"robot": description.name, "profile": profile.name, "motion": motion, "source": "emulated, lockstep",
                "physics": json.dumps(asdict(profile.physics)), "measurement": json.dumps(asdict(profile.measurement)),
                **(metadata or {})}
    written = 0
    with McapRecorder(path, metadata) as recorder:
        joints_channel = recorder.channel("/physical/joint_states", JOINT_STATE)
        odom_channel = recorder.channel("/physical/odom", ODOMETRY)
        for k in range(int(round(seconds * rate))):
            before = robot.sim.time
            # Mid-period, so float rounding never makes a period do zero or two control steps.
            robot.advance((k + 0.5) / rate)
            if robot.sim.time <= before:
                continue
            sample = robot.measure()
            if robot.sensors.dropped():
                continue
            stamp_ns = start_ns + int(round(robot.sim.time * 1e9))
            sec, nanosec = divmod(stamp_ns, 1_000_000_000)
            stamp = time_msg(sec=sec, nanosec=nanosec)
            joints = joint_state(header=header_msg(stamp=stamp, frame_id=""), name=names,
                                 position=sample.joint_positions, velocity=sample.joint_velocities,
                                 effort=sample.joint_efforts)
            p, q = sample.base_position, sample.base_orientation
            v, w = sample.base_linear_velocity, sample.base_angular_velocity
            odom = odometry(
                header=header_msg(stamp=stamp, frame_id="odom"), child_frame_id=description.root_link,
                pose=pose_cov(pose=pose(position=point(x=p[0], y=p[1], z=p[2]),
                                        orientation=quaternion(x=q[0], y=q[1], z=q[2], w=q[3])), covariance=covariance),
                twist=twist_cov(twist=twist(linear=vector(x=v[0], y=v[1], z=v[2]),
                                            angular=vector(x=w[0], y=w[1], z=w[2])), covariance=covariance))
            recorder.write(joints_channel, serialize(joints, JOINT_STATE), stamp_ns + latency_ns)
            recorder.write(odom_channel, serialize(odom, ODOMETRY), stamp_ns + latency_ns)
            written += 1
            if progress is not None and k % int(rate) == 0:
                progress(k / rate)
    return written
