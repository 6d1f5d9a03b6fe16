"""Fleets: many recordings, of several robots or of one over weeks, replayed or calibrated as one
Ray task each (a Ray of the command's own on this machine, or a cluster), each recording's results in
its own folder and a fleet report over them all (``fleet.json``, ``fleet.html``).

Ray is the ``fleet`` extra (``pip install -e '.[fleet]'``); it is imported only when a fleet runs.
"""

from digital_twin_gz.fleet.discovery import DiscoveryError, Recording, find_recordings, output_folders
from digital_twin_gz.fleet.ray_session import RayInfo, RaySession, RayUnavailable, host_port
from digital_twin_gz.fleet.results import HTML_FILE, JSON_FILE, FleetResults, robot_summary
from digital_twin_gz.fleet.tasks import (
    DONE,
    FAILED,
    INTERRUPTED,
    CalibrationJob,
    Metric,
    Outcome,
    ReplayJob,
    Robot,
    calibrate_recording,
    reason,
    replay_recording,
)

__all__ = ["DONE", "FAILED", "HTML_FILE", "INTERRUPTED", "JSON_FILE", "CalibrationJob", "DiscoveryError",
           "FleetResults", "Metric", "Outcome", "RayInfo", "RaySession", "RayUnavailable", "Recording",
           "ReplayJob", "Robot", "calibrate_recording", "find_recordings", "host_port", "output_folders", "reason",
           "replay_recording", "robot_summary"]
