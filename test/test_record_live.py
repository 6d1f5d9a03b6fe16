"""gap_monitor's ``record`` parameter over real DDS: the MCAP holds every topic, and replays."""

from __future__ import annotations

import json

import pytest
from rosbags.rosbag2 import Reader
from std_msgs.msg import Float64

from digital_twin_gz.replay import replay_file
from digital_twin_gz.robot import load_description, load_world, params_file

pytestmark = pytest.mark.ros

KEY_LINKS = ("l_sole_link", "r_sole_link", "l_hand_link", "r_hand_link", "head_link")
RECORDED = {
    "/physical/joint_states": "sensor_msgs/msg/JointState", "/physical/odom": "nav_msgs/msg/Odometry",
    "/virtual/joint_states": "sensor_msgs/msg/JointState", "/virtual/odom": "nav_msgs/msg/Odometry",
    "/virtual/joint_trajectory": "trajectory_msgs/msg/JointTrajectory",
    "/twin/gap/base_position": "std_msgs/msg/Float64", "/twin/gap/base_orientation": "std_msgs/msg/Float64",
    "/twin/gap/mpjpe": "std_msgs/msg/Float64", "/twin/gap/joint_position": "sensor_msgs/msg/JointState",
    **{f"/twin/gap/key_link/{link}": "std_msgs/msg/Float64" for link in KEY_LINKS},
}


def test_gap_monitor_records_the_twin_and_the_recording_replays(nodes, probe, tmp_path):
    recording, out = tmp_path / "run.mcap", tmp_path / "live"
    twin = {name: nodes(name, params, params_file=params_file()) for name, params in (
        ("embedded_sim", {}), ("twin_sync", {}),
        ("gap_monitor", {"out_dir": str(out), "record": str(recording), "motion": "squat"}))}
    probe.wait_for(lambda: probe.node.count_subscribers("/physical/joint_states") >= 3
                   and probe.node.count_publishers("/virtual/joint_states") >= 1, timeout=30, what="the twin's nodes")
    gaps = probe.collect(Float64, "/twin/gap/base_position")
    emulator = nodes("physical_emulator", {"profile": "nominal", "motion": "squat"}, params_file=params_file())
    probe.wait_for(lambda: len(gaps) > 40, timeout=40, what="gap samples")
    assert emulator.stop() == 0
    for name in ("twin_sync", "embedded_sim", "gap_monitor"):
        assert twin[name].stop() == 0, twin[name].output()
    assert f"recording {len(RECORDED)} topics to {recording}" in twin["gap_monitor"].output()

    with Reader(recording) as reader:
        counts = {c.topic: (c.msgtype, c.msgcount) for c in reader.connections}
    assert {topic: kind for topic, (kind, _) in counts.items()} == RECORDED
    assert all(count > 0 for _, count in counts.values()), counts
    assert counts["/physical/joint_states"][1] > 200 and counts["/twin/gap/base_position"][1] > 40
    # The live run's own report, in both forms.
    live = json.loads((out / "report.json").read_text())
    assert (out / "report.html").is_file() and live["source"] == "live"

    # The recording replays through the twin without ROS, with the run's labels.
    run = replay_file(recording, load_description(), load_world(), tmp_path / "replay")
    assert run.metadata["motion"] == "squat" and run.report["motion"] == "squat"
    assert run.stats.accepted > 200 and run.report["samples"]["paired"] > 200
    assert run.report["base_position_error_m"]["rms"] < 0.01
