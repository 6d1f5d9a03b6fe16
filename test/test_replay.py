"""Replay: a recording of the emulated robot through the twin in lockstep, without ROS."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from helpers import cli, same_report
from helpers.recordings import emulated
from scipy.spatial.transform import Rotation

from digital_twin_gz.emulator import PhysicsPerturbation, apply_physics
from digital_twin_gz.gap import GapTracker, monitor_settings
from digital_twin_gz.recording import BaseSamples, JointSamples, PhysicalRecording, read_physical, stream_physical
from digital_twin_gz.replay import read_ahead, replay, start_pose
from digital_twin_gz.robot import BodyParts, load_world
from digital_twin_gz.sim import Simulator
from digital_twin_gz.twin import LiveStart, StartWindow, pose_at_start, start_base_pose


@pytest.fixture(scope="module")
def recordings(tmp_path_factory):
    folder = tmp_path_factory.mktemp("replay")
    return {profile: emulated(folder / f"{profile}.mcap", profile, "squat", 3.0) for profile in ("nominal", "default")}


def run(path, description, sim=None, pieces=None):
    """Replay the whole recording, or (``pieces``: seconds) read in pieces while it runs."""
    tracker = GapTracker(description, monitor_settings())
    recording = (read_physical(path, description) if pieces is None
                 else read_ahead(stream_physical(path, description, seconds=pieces)))
    stats = replay(recording, sim or Simulator(description, load_world()), tracker)
    report = tracker.report(profile="p", motion="m", simulator="embedded", source="test")
    return report, tracker, stats


def test_replay_measures_a_plausible_gap(recordings, description):
    nominal, tracker, stats = run(recordings["nominal"], description)
    assert stats.samples == stats.accepted > 1400 and stats.rejected == {}
    assert nominal["samples"]["paired"] == stats.accepted and nominal["samples"]["unpaired"] == 0
    # The physical robot is exactly its model: the twin follows it to a fraction of a millimetre.
    assert nominal["base_position_error_m"]["rms"] < 0.002
    assert nominal["mpjpe_mm"]["rms"] < 2.0
    assert max(s["rms"] for s in nominal["per_joint_position_error_rad"].values()) < 0.005
    assert nominal["status"] == "OK"
    # Heavier, weaker, slippier and noisier: a gap of millimetres to centimetres.
    default, _, _ = run(recordings["default"], description)
    assert 0.003 < default["base_position_error_m"]["rms"] < 0.05
    assert default["mpjpe_mm"]["rms"] > 3 * nominal["mpjpe_mm"]["rms"]
    # The squat is there: the paired physical knees bend by ~0.9 rad.
    knee = description.index("l_knee_pitch")
    snapshots, _ = tracker.snapshots.states
    assert np.ptp(snapshots.physical_joints[:, knee]) > 0.6


def test_replay_is_deterministic_and_uses_the_simulator_given(recordings, description):
    first, tracker_a, _ = run(recordings["default"], description)
    second, tracker_b, _ = run(recordings["default"], description)
    assert np.array_equal(tracker_a.log.samples.base_position_m, tracker_b.log.samples.base_position_m)
    strip = lambda r: {k: v for k, v in r.items() if k not in ("written_at", "written_by")}  # noqa: E731
    assert strip(first) == strip(second)
    # Calibration replays through simulators with other physics: the one given is the one used.
    heavy = Simulator(description, load_world())
    apply_physics(heavy.model, heavy.built, PhysicsPerturbation(mass_scale=1.5, actuator_gain=0.6),
                  BodyParts.whole(description))
    heavy.reset()
    changed, _, _ = run(recordings["default"], description, heavy)
    assert changed["mpjpe_mm"]["rms"] != pytest.approx(first["mpjpe_mm"]["rms"], rel=0.05)


def test_replay_while_reading_in_pieces_is_the_same_replay(recordings, description):
    """``digital-twin-gz replay`` reads the next piece of the recording while the physics of
    this one runs: the same gap, sample for sample, as replaying the recording read whole."""
    whole, tracker_a, stats_a = run(recordings["default"], description)
    pieces, tracker_b, stats_b = run(recordings["default"], description, pieces=0.4)
    assert np.array_equal(tracker_a.log.samples.base_position_m, tracker_b.log.samples.base_position_m)
    assert np.array_equal(tracker_a.log.samples.link_mm, tracker_b.log.samples.link_mm)
    # The report's sums run over the samples in the order they were measured, in chunks that differ:
    # the same to the last few bits.
    assert same_report(whole, pieces) and stats_a == stats_b


@pytest.mark.slow
@pytest.mark.ros
def test_cli_replay_writes_the_same_report_every_time(recordings, tmp_path):
    reports = []
    for name in ("a", "b"):
        result = cli("replay", str(recordings["default"]), "--out", str(tmp_path / name))
        assert result.returncode == 0, result.stderr
        assert "Reality gap: humanoid · profile default · motion squat" in result.stderr
        assert (tmp_path / name / "report.html").is_file()
        reports.append(json.loads((tmp_path / name / "report.json").read_text()))
    assert reports[0]["source"] == "replay of default.mcap"
    for report in reports:
        del report["written_at"], report["written_by"]
    assert reports[0] == reports[1]


@pytest.mark.slow
@pytest.mark.ros
def test_cli_replay_says_what_is_wrong(recordings, tmp_path):
    result = cli("replay", str(recordings["nominal"]), "--joint-states", "/joint_states", "--out", str(tmp_path))
    assert result.returncode == 1
    assert "no topic /joint_states" in result.stderr and "/physical/joint_states" in result.stderr
    cut = tmp_path / "cut.mcap"
    data = recordings["nominal"].read_bytes()
    cut.write_bytes(data[: int(len(data) * 0.6)])
    result = cli("replay", str(cut), "--out", str(tmp_path / "cut"))
    assert result.returncode == 0, result.stderr
    assert "warning:" in result.stderr and "truncated" in result.stderr
    assert json.loads((tmp_path / "cut" / "report.json").read_text())["samples"]["paired"] > 100
    assert cli("replay", str(tmp_path / "none.mcap")).returncode == 1


def test_bulk_feeding_and_pose_match_what_the_live_nodes_use(description):
    """Replay hands samples to the pairing in bulk and reads the robot with Simulator.pose:
    the same as one ``add`` per message and Simulator.state."""
    from digital_twin_gz.twin import Pairing

    rng = np.random.default_rng(0)
    times = np.cumsum(rng.uniform(-0.001, 0.003, 400))  # some samples go back in time
    values = rng.normal(size=(400, 3))
    one, bulk = Pairing(3, 0.1, 1.0), Pairing(3, 0.1, 1.0)
    kept = [one.add("physical_joints", t, v) for t, v in zip(times, values)]
    for part in np.array_split(np.arange(400), 7):
        bulk.extend("physical_joints", times[part], values[part])
    assert bulk.counts == one.counts and 0 < one.counts.out_of_order["physical_joints"] < 400
    assert np.array_equal(bulk.streams["physical_joints"].values[:, :-1], values[kept])  # last column: the session
    sim = Simulator(description, load_world())
    sim.step(200)
    state = sim.state()
    assert np.array_equal(sim.pose(), np.r_[state.base_position, state.base_orientation, state.joint_positions])


def standing(description, seconds: float = 0.3, rate: float = 500.0, seed: int = 3):
    """A robot standing still at a known pose, seen through the default profile's mocap
    noise (2 mm, 3 mrad), with one NaN pose among them."""
    rng = np.random.default_rng(seed)
    count = int(seconds * rate)
    stamps = (np.arange(count) * 1e9 / rate).astype(np.int64) + 10**18
    truth_position, truth_rotation = np.array([0.4, -0.2, 0.93]), Rotation.from_euler("z", 0.3)
    positions = truth_position + rng.normal(0.0, 0.002, (count, 3))
    orientations = (Rotation.from_rotvec(rng.normal(0.0, 0.003, (count, 3))) * truth_rotation).as_quat()
    positions[1] = np.nan
    joints = np.tile(description.default_positions, (count, 1))
    recording = PhysicalRecording(Path("standing.mcap"), "/physical/joint_states", "/physical/odom",
                                  JointSamples(stamps, joints, joints * np.nan, joints * np.nan),
                                  BaseSamples(stamps, positions, orientations), ())
    return recording, truth_position, truth_rotation


def test_the_twin_starts_at_a_fit_through_the_start_window_not_at_one_noisy_sample(description):
    errors = {"one sample": [], "fit": []}
    for seed in range(100):
        recording, truth_position, _ = standing(description, seed=seed)
        joints, position, orientation = start_pose(recording, description.default_positions)
        errors["one sample"].append(np.linalg.norm(recording.base.positions[0] - truth_position))
        errors["fit"].append(np.linalg.norm(position - truth_position))
    assert np.array_equal(joints, description.default_positions)
    # A line through 10 poses taken at its first stamp: ~0.6 sigma per axis instead of 1.
    assert np.sqrt(np.mean(np.square(errors["fit"]))) < 0.7 * np.sqrt(np.mean(np.square(errors["one sample"])))
    window = StartWindow(0.02)
    stamps = recording.base.stamps_ns * 1e-9
    fed = [window.add(t, p, q) for t, p, q in zip(stamps[2:], recording.base.positions[2:],
                                                     recording.base.orientations[2:])]
    assert all(pose is None for pose in fed[:10]) and fed[10] is not None and all(p is None for p in fed[11:])


def test_the_live_twin_decides_its_start_pose_as_replay_does(description):
    """twin_sync holds its commands back until LiveStart decides: with the poses as they come (some
    before the first joint sample, a NaN among them), undecided until the window is covered, then
    exactly the pose a replay of the same recording starts from."""
    recording, _, _ = standing(description, seed=3)
    base = recording.base
    stamps = base.stamps_ns * 1e-9
    first = stamps[5] + 0.0007  # the first joint sample comes between two poses
    positions = base.positions.copy()
    positions[6] = np.nan
    live, decided = LiveStart(first, wait=0.5), []
    for k in range(len(stamps)):
        live.add(stamps[k], positions[k], base.orientations[k])
        decided.append(live.pose(stamps[k]))
    k = next(i for i, pose in enumerate(decided) if pose is not None)
    assert stamps[k] - stamps[5] == pytest.approx(0.02, abs=1e-6)  # the window from the nearest pose
    nearest = 5
    replayed = start_base_pose(first, stamps, positions, base.orientations)
    assert all(np.array_equal(a, b) for a, b in zip(decided[k], replayed, strict=True))
    # A feed of poses that went quiet early: decided from what came once the wait is over; none at all: None.
    short = LiveStart(first, wait=0.5)
    for k in range(nearest, nearest + 3):
        short.add(stamps[k], positions[k], base.orientations[k])
    assert short.pose(first + 0.1) is None and short.pose(first + 0.6) is not None
    assert LiveStart(first, wait=0.5).pose(first + 0.6) is None


def test_the_start_fit_has_no_lag_on_a_robot_already_moving():
    """A mean of the window would lag a moving robot by half the window; the fit does not."""
    t = np.arange(10) * 0.002
    velocity, spin = np.array([0.3, 0.0, -0.05]), 0.5  # m/s, rad/s about z
    positions = np.array([1.0, 2.0, 0.9]) + t[:, None] * velocity
    orientations = Rotation.from_euler("z", 0.2 + spin * t[:, None]).as_quat()
    position, orientation = pose_at_start(t + 1700.0, positions, orientations)
    assert np.allclose(position, positions[0], atol=1e-9)
    assert Rotation.from_quat(orientation).as_euler("xyz")[2] == pytest.approx(0.2, abs=1e-6)
    assert np.linalg.norm(positions.mean(axis=0) - positions[0]) > 0.002
    # q and -q are the same rotation: a window mixing them must not cancel out.
    flipped = orientations.copy()
    flipped[::2] *= -1
    _, same = pose_at_start(t, positions, flipped)
    assert Rotation.from_quat(same).as_euler("xyz")[2] == pytest.approx(0.2, abs=1e-6)
