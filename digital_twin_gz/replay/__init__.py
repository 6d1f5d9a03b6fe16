"""Replay: a recording of the physical robot driven through the twin in lockstep, without ROS,
with the same rules as twin_sync and the same report as gap_monitor."""

from digital_twin_gz.replay.lockstep import ReplayRun, ReplayStats, read_ahead, replay, replay_file, start_pose

__all__ = ["ReplayRun", "ReplayStats", "read_ahead", "replay", "replay_file", "start_pose"]
