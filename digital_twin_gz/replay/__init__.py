"""Replay: a recording of the physical robot driven through the twin in lockstep, without ROS,
with the same rules as twin_sync and the same report as gap_monitor."""

from digital_twin_gz.replay.lockstep import (
    MonitorSettings,
    ReplayRun,
    ReplayStats,
    monitor_settings,
    read_ahead,
    replay,
    replay_file,
    start_pose,
)

__all__ = ["MonitorSettings", "ReplayRun", "ReplayStats", "monitor_settings", "read_ahead", "replay", "replay_file",
           "start_pose"]
