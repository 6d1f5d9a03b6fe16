"""The twin's rules, free of ROS: what twin_sync does to a physical sample, how virtual samples
are paired with physical ones in time, and where the virtual base starts."""

from digital_twin_gz.twin.resync import ResyncWatch
from digital_twin_gz.twin.startpose import LiveStart, StartWindow, pose_at_start, start_base_pose
from digital_twin_gz.twin.sync import (
    Command,
    JointMap,
    JointMapError,
    SampleError,
    SampleGate,
    StaleWatch,
    usable_poses,
)
from digital_twin_gz.twin.timeline import PairedStates, Pairing, PairingCounts, Stream

__all__ = ["Command", "JointMap", "JointMapError", "LiveStart", "PairedStates", "Pairing", "PairingCounts",
           "ResyncWatch", "SampleError", "SampleGate", "StaleWatch", "StartWindow", "Stream", "pose_at_start",
           "start_base_pose", "usable_poses"]
