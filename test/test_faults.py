"""Faults survived and nothing measured lost, for real: real processes, real signals."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
from diagnostic_msgs.msg import DiagnosticArray
from helpers import BIN, children, cli
from helpers.ros_harness import status_values, statuses
from sensor_msgs.msg import JointState
from std_msgs.msg import Float64
from trajectory_msgs.msg import JointTrajectory

from digital_twin_gz.nodes import convert
from digital_twin_gz.nodes.common import LATEST_QOS
from digital_twin_gz.robot import params_file
from digital_twin_gz.run import prepare_outputs


def _start_demo(out: Path, *extra: str) -> subprocess.Popen:
    """A long nominal demo in a session of its own (as `setsid digital-twin-gz demo ...`)."""
    return subprocess.Popen([str(BIN / "digital-twin-gz"), "demo", "--duration", "120", "--profile", "nominal",
                             "--motion", "stand", "--out", str(out), *extra], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)


def _wait_for_checkpoint(out: Path, demo: subprocess.Popen, timeout: float = 120.0, paired: int = 0) -> dict:
    """The first report.json gap_monitor writes while running (a checkpoint) with more than ``paired``
    paired samples."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert demo.poll() is None, demo.communicate()[0]
        try:
            report = json.loads((out / "report.json").read_text())
            if report["partial"] and report["samples"]["paired"] > paired:
                return report
        except (OSError, ValueError):
            pass
        time.sleep(0.2)
    raise AssertionError(f"no checkpoint with paired samples in {out} within {timeout:g} s")


def _alive(pids) -> list[int]:
    alive = []
    for pid in pids:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        if stat.rsplit(")", 1)[1].split()[0] != "Z":
            alive.append(pid)
    return alive


@pytest.mark.ros
def test_a_demo_killed_as_a_whole_leaves_its_report_and_no_node_behind(tmp_path):
    out = tmp_path / "killed"
    demo = _start_demo(out)
    checkpoint = _wait_for_checkpoint(out, demo)
    nodes = children(demo.pid)
    assert {Path(argv[1]).name for argv in nodes.values()} >= {"twin_container", "physical_emulator"}, nodes
    os.killpg(demo.pid, signal.SIGKILL)  # the demo's process group; its nodes run in sessions of their own
    demo.wait(10)
    killed = time.monotonic()
    while _alive(nodes) and time.monotonic() - killed < 60:
        time.sleep(0.05)
    assert not _alive(nodes), f"nodes left running orphaned: {_alive(nodes)}"
    print(f"nodes gone {time.monotonic() - killed:.2f} s after the demo was killed")
    # Their parent's death hangs them up: they take what is queued and write the final report, fast.
    report = json.loads((out / "report.json").read_text())
    assert report["partial"] is False and report["samples"]["paired"] >= checkpoint["samples"]["paired"]
    assert report["base_position_error_m"]["max"] < 0.005
    assert "pictures left out" in (out / "report.html").read_text()


@pytest.mark.ros
@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_demo_started_in_the_background_stops_on_a_signal_as_on_ctrl_c(tmp_path, stop):
    """`nohup digital-twin-gz demo &` starts it with SIGINT ignored; `kill` and `docker stop` send
    SIGTERM. Either way it stops its nodes in order and writes the final report, pictures and all."""
    out = tmp_path / "stopped"
    demo = subprocess.Popen([str(BIN / "digital-twin-gz"), "demo", "--duration", "120", "--profile", "nominal",
                             "--motion", "stand", "--out", str(out)], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    checkpoint = _wait_for_checkpoint(out, demo)
    demo.send_signal(stop)
    output = demo.communicate(timeout=120)[0]
    assert demo.returncode == 0 and "interrupted: stopping the twin" in output, output
    report = json.loads((out / "report.json").read_text())
    assert report["partial"] is False and report["samples"]["paired"] >= checkpoint["samples"]["paired"]
    assert "pictures left out" not in (out / "report.html").read_text()


@pytest.mark.ros
def test_a_signal_while_the_demo_starts_stops_its_nodes_in_order(tmp_path):
    """SIGTERM while the demo still waits to hear the physical robot (on a busy machine the twin can
    be measuring by then): the nodes stop upstream first, none is aborted for draining a stream
    that is still coming, and gap_monitor writes its final report. (The demo once stopped them all
    at once with 10 s each: twin_container, draining the emulator's 500 Hz, was aborted.)"""
    out = tmp_path / "starting"
    demo = _start_demo(out)
    deadline = time.monotonic() + 120
    while not any(Path(argv[1]).name == "physical_emulator" for argv in children(demo.pid).values()):
        assert demo.poll() is None and time.monotonic() < deadline, demo.communicate()[0]
        time.sleep(0.05)
    demo.send_signal(signal.SIGTERM)
    output = demo.communicate(timeout=180)[0]
    assert "interrupted: stopping the twin" in output, output
    assert demo.returncode == 0 or "paired no sample" in output, output  # stopped before a sample was paired
    for log in (out / "logs").glob("*.log"):
        assert "Fatal Python error: Aborted" not in log.read_text(), log  # by the demo, at its stop timeout
    assert json.loads((out / "report.json").read_text())["partial"] is False


@pytest.mark.ros
def test_a_killed_monitor_leaves_a_complete_checkpoint_and_a_recording_that_replays(tmp_path):
    out, recording = tmp_path / "monitor", tmp_path / "run.mcap"
    demo = _start_demo(out, "--record", str(recording))
    # A later checkpoint than the first, however fast the twin runs on a busy machine.
    _wait_for_checkpoint(out, demo, paired=2500)
    container = next(pid for pid, argv in children(demo.pid).items() if Path(argv[1]).name == "twin_container")
    os.kill(container, signal.SIGKILL)
    output = demo.communicate(timeout=120)[0]
    assert demo.returncode == 1 and "twin_container exited with code -9" in output, output
    report = json.loads((out / "report.json").read_text())  # valid JSON: written, then renamed
    assert report["partial"] is True and report["schema"] == "digital_twin_gz.report/1"
    assert report["samples"]["paired"] > 2500 and report["duration_s"] > 5.0  # the span up to the last checkpoint
    assert report["base_position_error_m"]["max"] < 0.005 and report["status"] == "OK"
    # The recorder died with it, between two MCAP chunks: what the file holds replays, with a warning.
    replay = cli("replay", str(recording), "--out", str(tmp_path / "replay"))
    assert replay.returncode == 0, replay.stdout + replay.stderr
    assert "truncated" in replay.stdout + replay.stderr
    replayed = json.loads((tmp_path / "replay" / "report.json").read_text())
    assert replayed["duration_s"] > report["duration_s"] - 1.0  # chunks of 1 MB: ~0.4 s of the twin's topics


@pytest.mark.ros
def test_an_out_that_cannot_be_written_is_refused_before_any_node_starts(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a directory\n")
    result = cli("demo", "--duration", "2", "--out", str(blocker / "report"))
    assert result.returncode == 2
    assert f"--out {blocker / 'report'} cannot be written" in result.stdout + result.stderr
    assert "ROS_DOMAIN_ID" not in result.stdout + result.stderr  # nothing started
    result = cli("demo", "--duration", "2", "--out", str(tmp_path / "ok"), "--record", str(blocker / "run.mcap"))
    assert result.returncode == 2 and "cannot be written" in result.stdout + result.stderr


def test_an_earlier_run_is_kept_not_overwritten(tmp_path):
    out, record = tmp_path / "out", tmp_path / "run.mcap"
    assert prepare_outputs(out, record) == []
    (out / "logs").mkdir()
    (out / "logs" / "gap_monitor-1.log").write_text("earlier\n")
    (out / "report.json").write_text(json.dumps({"written_at": "2026-12-03T10:11:12+00:00"}))
    (out / "report.html").write_text("<html></html>")
    record.write_bytes(b"mcap")
    notes = prepare_outputs(out, record)
    kept = out / "previous" / "20261203T101112Z"
    assert sorted(p.name for p in kept.iterdir()) == ["logs", "report.html", "report.json"]
    assert (kept / "logs" / "gap_monitor-1.log").read_text() == "earlier\n"
    assert not (out / "report.json").exists() and not record.exists()
    assert [p.read_bytes() for p in tmp_path.glob("run.*.mcap")] == [b"mcap"]
    assert len(notes) == 2 and str(kept) in notes[0] and "run." in notes[1]


def _twin_sync(diagnostics: list) -> dict[str, str]:
    """twin_sync's newest diagnostic values (empty before the first)."""
    found = statuses(diagnostics, "twin_sync")
    return status_values(found[-1]) if found else {}


@pytest.mark.ros
def test_a_physical_robot_that_restarts_begins_a_new_session(virtual_side, nodes, probe, tmp_path):
    """The robot reboots twice: its clock goes back to zero (a clock since boot), then forwards to
    ROS time. Each jump is a new session: resynced, measured, never paired across."""
    diagnostics = probe.collect(DiagnosticArray, "/diagnostics")
    gaps = probe.collect(Float64, "/twin/gap/base_position")
    virtual = probe.collect(JointState, "/virtual/joint_states", LATEST_QOS)
    robot = {"profile": "nominal", "motion": "stand"}
    for session, clock in enumerate(("ros", "boot", "ros"), start=1):
        emulator = nodes("physical_emulator", robot | {"clock": clock}, params_file=params_file())
        expected = {"sessions": str(session), "resyncs": str(session), "resync": "confirmed"}
        probe.wait_for(lambda want=expected: _twin_sync(diagnostics).items() >= want.items(), timeout=60,
                       what=f"session {session} begun and resynced")
        gaps.clear()
        probe.wait_for(lambda: len(gaps) > 40, timeout=30, what=f"session {session} measured")
        stamp = convert.to_seconds(virtual[-1].header.stamp)
        assert (stamp < 1000.0) == (clock == "boot")  # the simulator's clock followed the robot's
        emulator.stop(signal.SIGKILL)
    values = _twin_sync(diagnostics)
    assert values["resyncs"] == "3" and values["last_resync"] == "physical clock jump"
    assert all(p.alive() for p in virtual_side.values())
    assert virtual_side["gap_monitor"].stop() == 0
    report = json.loads((tmp_path / "report" / "report.json").read_text())
    assert report["samples"]["sessions"] == 3
    jumps = [e for e in report["events"] if e["kind"] == "clock_jump" and e["stream"] == "physical_joints"]
    assert [e["session"] for e in jumps] == [2, 3]
    # A clock since boot: its first samples heard a few seconds in (those before discovery are lost).
    assert jumps[0]["to_stamp_s"] < 60.0 < 1e9 < jumps[0]["from_stamp_s"] and jumps[1]["to_stamp_s"] > 1e9
    assert [e["why"] for e in report["events"] if e["kind"] == "resync"] == ["start", "physical clock jump",
                                                                             "physical clock jump"]
    assert report["base_position_error_m"]["max"] < 0.01 and report["samples"]["paired"] > 120
    assert "the physical clock jumped" in virtual_side["twin_sync"].output()
    assert "the simulation's clock starts again" in virtual_side["embedded_sim"].output()


@pytest.mark.ros
def test_a_simulator_killed_and_started_again_is_resynced_and_the_hole_reported(virtual_side, nodes, probe,
                                                                               tmp_path):
    diagnostics = probe.collect(DiagnosticArray, "/diagnostics")
    gaps = probe.collect(Float64, "/twin/gap/base_position")
    nodes("physical_emulator", {"profile": "nominal", "motion": "tour"}, params_file=params_file())
    probe.wait_for(lambda: len(gaps) > 100, timeout=60, what="the gap measured")
    killed = time.monotonic()
    virtual_side["embedded_sim"].stop(signal.SIGKILL)
    probe.wait_for(lambda: _twin_sync(diagnostics).get("simulator") == "silent", timeout=10,
                   what="twin_sync to notice the simulator is gone")
    assert any(s.level == b"\x02" and "simulator running" in s.message for s in statuses(diagnostics, "twin_sync"))
    restarted = nodes("embedded_sim", {}, params_file=params_file())
    probe.wait_for(lambda: _twin_sync(diagnostics).get("last_resync") == "simulator back"
                   and _twin_sync(diagnostics).get("resync") == "confirmed", timeout=60,
                   what="the simulator back and resynced")
    down = time.monotonic() - killed
    gaps.clear()
    probe.wait_for(lambda: len(gaps) > 100, timeout=30, what="the gap measured again")
    after = np.array([g.data for g in gaps])
    print(f"simulator down {down:.1f} s; base gap after the resync: max {after.max() * 1e3:.2f} mm")
    assert after.max() < 0.05  # within WARN of config/twin.yaml: the twin is back on the robot
    assert restarted.alive() and virtual_side["twin_sync"].alive() and virtual_side["gap_monitor"].alive()
    assert virtual_side["gap_monitor"].stop() == 0
    report = json.loads((tmp_path / "report" / "report.json").read_text())
    holes = [e for e in report["events"] if e["kind"] == "hole" and e["stream"] == "virtual_joints"]
    assert len(holes) == 1 and holes[0]["duration_s"] > 1.0, report["events"]
    resyncs = [e for e in report["events"] if e["kind"] == "resync"]
    assert [e["why"] for e in resyncs] == ["start", "simulator back"]
    assert resyncs[1]["time_s"] >= holes[0]["time_s"]
    assert report["samples"]["sessions"] == 1 and report["base_position_error_m"]["max"] < 0.05


@pytest.fixture
def small_disk(tmp_path):
    """A 3 MB filesystem of its own (tmpfs), which a recording fills within seconds."""
    mount = tmp_path / "small"
    mount.mkdir()
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mount)], capture_output=True,
                          text=True)
    if made.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here (root is needed): {made.stderr.strip()}")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=True)


@pytest.mark.ros
def test_a_disk_that_fills_up_is_a_warning_and_what_was_written_stays_readable(small_disk, tmp_path):
    out, recording = tmp_path / "out", small_disk / "run.mcap"
    result = cli("demo", "--duration", "25", "--profile", "nominal", "--motion", "stand", "--out", str(out),
                 "--record", str(recording))
    output = result.stdout + result.stderr
    assert result.returncode == 0, output  # every node ran to the end
    logs = "".join(path.read_text() for path in (out / "logs").glob("*.log"))
    assert f"recording to {recording} stopped" in logs and "No space left on device" in logs, logs[-3000:]
    report = json.loads((out / "report.json").read_text())  # measured to the end all the same
    assert report["partial"] is False and report["duration_s"] > 20.0
    assert report["base_position_error_m"]["max"] < 0.005
    replay = cli("replay", str(recording), "--out", str(tmp_path / "replay"))
    assert replay.returncode == 0, replay.stdout + replay.stderr
    assert "truncated" in replay.stdout + replay.stderr
    assert json.loads((tmp_path / "replay" / "report.json").read_text())["samples"]["paired"] > 500


@pytest.mark.ros
def test_the_physical_robot_ignores_a_stale_command_and_obeys_a_fresh_one(nodes, probe, description):
    emulator = nodes("physical_emulator", {"profile": "nominal", "motion": "stand", "rate": 100.0},
                     params_file=params_file())
    physical = probe.collect(JointState, "/physical/joint_states", LATEST_QOS)
    commands = probe.node.create_publisher(JointTrajectory, "/physical/joint_commands", 10)
    probe.wait_for(lambda: physical and commands.get_subscription_count() >= 1, timeout=30,
                   what="the emulated robot")  # matched, not only seen: every one of the 20 stale commands counts
    elbow = description.index("l_elbow_pitch")
    target = description.default_positions.copy()
    target[elbow] = -1.2

    def position() -> float:
        return physical[-1].position[list(physical[-1].name).index("l_elbow_pitch")]

    for _ in range(20):  # stamped half a second ago: a sender that fell behind
        commands.publish(convert.trajectory_message(time.time() - 0.5, description.joint_names, target))
        probe.spin_for(0.05)
    assert abs(position() - description.default_positions[elbow]) < 0.05
    assert "ignored command on /physical/joint_commands: stamped 0.5" in emulator.output()
    for _ in range(20):
        commands.publish(convert.trajectory_message(time.time(), description.joint_names, target))
        probe.spin_for(0.05)
    probe.wait_for(lambda: abs(position() + 1.2) < 0.1, timeout=10, what="the elbow to obey")
    assert emulator.stop() == 0
    assert "ignored 20 stale ones" in emulator.output()
