"""Recordings of the twin's topics, without ROS: reading the physical robot out of MCAP files and
rosbag2 directories as arrays, writing MCAP in the ROS 2 profile, and recordings of the emulated robot."""

from digital_twin_gz.recording.batches import JointBatch, joint_batch, pose_batch
from digital_twin_gz.recording.emulated import EPOCH_NS, record_emulated
from digital_twin_gz.recording.readers import (
    PIECE_SECONDS,
    list_topics,
    log_start_ns,
    read_physical,
    resolve_topic,
    stream_physical,
)
from digital_twin_gz.recording.samples import (
    BASE_POSE_TYPES,
    JOINT_STATE,
    ODOMETRY,
    BaseSamples,
    JointSamples,
    PhysicalRecording,
    RecordingError,
    Topic,
    typestore,
)
from digital_twin_gz.recording.writer import McapRecorder

__all__ = ["BASE_POSE_TYPES", "EPOCH_NS", "JOINT_STATE", "ODOMETRY", "PIECE_SECONDS", "BaseSamples", "joint_batch",
           "JointBatch", "JointSamples", "list_topics", "log_start_ns", "McapRecorder", "PhysicalRecording",
           "pose_batch", "read_physical", "record_emulated", "RecordingError", "resolve_topic", "stream_physical",
           "Topic", "typestore"]
