"""Faults survived and nothing measured lost, for real: real processes, real signals."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from helpers import BIN, children, cli

from digital_twin_gz.run import prepare_outputs


def _start_demo(out: Path, *extra: str) -> subprocess.Popen:
    """A long nominal demo in a session of its own (as `setsid digital-twin-gz demo ...`)."""
    return subprocess.Popen([str(BIN / "digital-twin-gz"), "demo", "--duration", "120", "--profile", "nominal",
                             "--motion", "stand", "--out", str(out), *extra], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)


def _wait_for_checkpoint(out: Path, demo: subprocess.Popen, timeout: float = 120.0) -> dict:
    """The first report.json gap_monitor writes while running (a checkpoint) with paired samples."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert demo.poll() is None, demo.communicate()[0]
        try:
            report = json.loads((out / "report.json").read_text())
            if report["partial"] and report["samples"]["paired"] > 0:
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
def test_a_killed_monitor_leaves_a_complete_checkpoint_and_a_recording_that_replays(tmp_path):
    out, recording = tmp_path / "monitor", tmp_path / "run.mcap"
    demo = _start_demo(out, "--record", str(recording))
    _wait_for_checkpoint(out, demo)
    time.sleep(6.0)  # let a second checkpoint replace the first
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
