"""Fleets: many recordings through real Ray (a Ray of the command's own, and a cluster started with
`ray start`), each recording's result the same as a single command's, the fleet report, a broken
recording reported while the others finish, and Ctrl-C keeping what finished, for real."""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
from helpers import BIN, cli, require_tool, same_report
from helpers.recordings import to_rosbag2
from lxml import html as lxml_html
from rosbags.rosbag2 import StoragePlugin

from digital_twin_gz.emulator import load_profile
from digital_twin_gz.fleet import DiscoveryError, find_recordings, output_folders, robot_summary
from digital_twin_gz.fleet.html import render_html
from digital_twin_gz.recording import EPOCH_NS, record_emulated
from digital_twin_gz.robot import load_description, load_world

DAY_NS = 86400 * 1_000_000_000
# Fields that say when and where a file was written, and how long it took.
TIMES = ("written_at", "written_by", "wall_s", "evaluations_per_s")


def record(path: Path, robot: str, day: float, profile: str = "default", seconds: float = 2.0) -> Path:
    """An emulated squat of robot ``robot`` (its metadata), recorded ``day`` days after EPOCH_NS."""
    record_emulated(path, load_description(), load_world(), load_profile(profile), "squat", seconds,
                    start_ns=EPOCH_NS + round(day * DAY_NS), metadata={"robot": robot})
    return path


def without_times(value):
    if isinstance(value, dict):
        return {k: without_times(v) for k, v in value.items() if k not in TIMES}
    if isinstance(value, list):
        return [without_times(v) for v in value]
    return value


def start(*args: str, env: dict | None = None) -> subprocess.Popen:
    """A command in a session of its own, as from a terminal (its session id is its pid)."""
    return subprocess.Popen([str(BIN / args[0]), *args[1:]], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True, env=env or {**os.environ, "COLUMNS": "200"})


def end_session(process: subprocess.Popen, signum: int = signal.SIGINT) -> None:
    """After a test that failed half way: the command is asked to stop, then whatever is left of its
    session is killed, so no Ray process outlives the test."""
    if process.poll() is None:
        os.killpg(process.pid, signum)
        try:
            process.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            pass
    for pid in session_processes(process.pid):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    if process.poll() is None:
        process.wait(10)


def run_fleet(*args: str, timeout: float = 600) -> tuple[int, str, int]:
    """The fleet command run to its end: exit code, stderr, its session id."""
    process = start("digital-twin-gz", "fleet", *args)
    try:
        _, err = process.communicate(timeout=timeout)
    except BaseException:
        end_session(process)
        raise
    return process.returncode, err, process.pid


def session_processes(sid: int) -> dict[int, str]:
    """Live processes of session ``sid`` (what a command started, wherever they were reparented): pid -> name."""
    found = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            name, rest = stat.read_text().rsplit(")", 1)
            fields = rest.split()
            if int(fields[3]) == sid and fields[0] != "Z":
                found[int(stat.parent.name)] = name.split("(", 1)[1]
        except (OSError, IndexError, ValueError):
            continue
    return found


def assert_nothing_left(sid: int) -> None:
    """Ray stops its processes before the command exits; a few may take a moment to go."""
    deadline = time.monotonic() + 20
    while session_processes(sid) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not session_processes(sid), f"left running: {session_processes(sid)}"


def listening_addresses(pids) -> list[str]:
    """Local addresses (hex, as /proc/net/tcp* has them) of the TCP sockets the processes listen on."""
    inodes = set()
    for pid in pids:
        for fd in Path(f"/proc/{pid}/fd").glob("*"):
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    addresses = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and fields[9] in inodes:  # LISTEN
                addresses.append(fields[1].split(":")[0])
    return addresses


LOOPBACK = {"0100007F", "00000000000000000000000001000000", "0000000000000000FFFF00000100007F"}


@pytest.fixture(scope="module")
def recordings(tmp_path_factory) -> Path:
    """Two robots' recordings a week apart, one cut short by a full disk, a rosbag2 (sqlite3) of a
    robot stamping with its boot clock, without our metadata, recorded a week later, and one that is
    no recording."""
    scratch = tmp_path_factory.mktemp("fleet")
    root = scratch / "lab"
    record(root / "alpha" / "a.mcap", "alpha", 0)
    record(root / "beta" / "b.mcap", "beta", 7, "nominal")
    data = record(scratch / "c_whole.mcap", "alpha", 14).read_bytes()
    (root / "alpha" / "late").mkdir()
    (root / "alpha" / "late" / "c.mcap").write_bytes(data[: int(len(data) * 0.6)])
    boot = record(scratch / "boot.mcap", "-", -EPOCH_NS / DAY_NS)  # stamps from 0
    to_rosbag2(boot, root / "bags" / "d", StoragePlugin.SQLITE3, log_offset_ns=EPOCH_NS + 21 * DAY_NS)
    (root / "broken.mcap").write_bytes(os.urandom(3000))
    return root


@pytest.fixture(scope="module")
def fleet_run(recordings, tmp_path_factory):
    """`fleet replay` of the lab directory on a Ray of its own."""
    out = tmp_path_factory.mktemp("fleet_out") / "report"
    code, err, sid = run_fleet("replay", str(recordings), "--out", str(out))
    return out, code, err, sid


def test_recordings_are_found_in_files_directories_rosbag2_and_globs(tmp_path):
    for name in ("a/x.mcap", "a/y.db3", "a/notes.txt", "a/deep/z.mcap", "bag/metadata.yaml", "bag/bag_0.mcap",
                 "other/run.mcap", "other/run.db3"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"")
    found = find_recordings([str(tmp_path)])
    assert [p.relative_to(tmp_path).as_posix() for p in found] == [
        "a/deep/z.mcap", "a/x.mcap", "a/y.db3", "bag", "other/run.db3", "other/run.mcap"]
    # A glob, a file named twice, a bag's storage file (the bag is the recording): each recording once.
    found = find_recordings([f"{tmp_path}/**/*.mcap", str(tmp_path / "a" / "x.mcap")])
    assert [p.relative_to(tmp_path).as_posix() for p in found] == ["a/deep/z.mcap", "a/x.mcap", "bag",
                                                                   "other/run.mcap"]
    # A file named on its own is taken whatever its name: the reader will say what is wrong with it.
    assert find_recordings([str(tmp_path / "a" / "notes.txt")]) == [tmp_path / "a" / "notes.txt"]
    for argument, message in ((tmp_path / "nowhere", "no such file or directory"),
                              (tmp_path / "*.bag", "the pattern matches nothing")):
        with pytest.raises(DiscoveryError, match=re.escape(f"{argument}: {message}")):
            find_recordings([str(argument)])
    (tmp_path / "empty").mkdir()
    with pytest.raises(DiscoveryError, match="empty: no recording found"):
        find_recordings([str(tmp_path / "empty")])
    # Folders mirror the recordings below their common directory; run.mcap and run.db3 keep their suffixes.
    folders = output_folders(find_recordings([str(tmp_path)]))
    assert [r.folder for r in folders] == ["a/deep/z", "a/x", "a/y", "bag", "other/run_db3", "other/run_mcap"]
    assert [r.folder for r in output_folders([tmp_path / "a" / "x.mcap"])] == ["x"]


def _row(robot: str, day: float, key_links: float | None, status: str = "done") -> dict:
    date = None if day is None else f"2024-03-{1 + int(day):02d}T{int(day % 1 * 24):02d}:00:00+00:00"
    return {"recording": f"/r/{robot}{day}.mcap", "folder": f"{robot}/{day}", "status": status,
            "reason": None if status == "done" else "it broke", "robot": robot, "date": date,
            "date_source": "first stamp", "values": {"key_links_mm": key_links}, "verdict": "OK", "warnings": [],
            "host": "h", "wall_s": 1.0, "files": [f"{robot}/{day}/report.html"] if status == "done" else []}


def test_robot_summary_gives_the_drift_per_week_and_the_page_links_every_report():
    # alpha's gap grows 1 mm a day: 7 mm a week; beta has one dated recording, so no drift.
    rows = [_row("alpha", d, 5.0 + d) for d in (0, 1, 3, 6)] + [_row("beta", 2, 1.0), _row("beta", 4, None, "failed")]
    robots = robot_summary(rows, ["key_links_mm"])
    assert robots["alpha"]["drift_per_week"]["key_links_mm"] == pytest.approx(7.0)
    assert robots["alpha"]["median"]["key_links_mm"] == pytest.approx(7.0)
    assert robots["alpha"]["first"].startswith("2024-03-01") and robots["alpha"]["last"].startswith("2024-03-07")
    assert robots["beta"] == {"recordings": 2, "done": 1, "failed": 1, "first": rows[4]["date"],
                              "last": rows[5]["date"], "median": {"key_links_mm": 1.0},
                              "drift_per_week": {"key_links_mm": None}}
    report = {"command": "fleet replay", "partial": False, "interrupted": False, "written_at": "now", "wall_s": 1.0,
              "ray": {"version": "2.60.0", "address": "local", "nodes": 1, "cpus": 2.0, "start_s": 3.0},
              "counts": {"recordings": 6, "done": 5, "failed": 1, "interrupted": 0}, "robots": robots,
              "metrics": [{"key": "key_links_mm", "label": "key links (mm)", "digits": 2, "plotted": True}],
              "recordings": rows}
    page = lxml_html.fromstring(render_html(report))
    table = page.xpath("//table[@class='sortable']")[0]
    assert [th.get("data-key") for th in table.xpath("thead/tr/th")][:5] == [
        "robot", "recording", "date", "status", "key_links_mm"]
    assert [a.get("href") for a in table.xpath(".//a")] == [row["files"][0] for row in rows[:5]]
    cells = [tr.xpath("td")[4] for tr in table.xpath("tbody/tr")]
    assert [c.get("data-sort") for c in cells] == ["5.0", "6.0", "8.0", "11.0", "1.0", ""]
    assert len(page.xpath("//svg")) == 2  # the distribution and the gap against the date
    assert "it broke" in page.xpath("string(//ul)")


@pytest.mark.ros
def test_fleet_replay_gives_each_recording_the_report_a_single_replay_gives(recordings, fleet_run, tmp_path):
    out, code, err, sid = fleet_run
    assert code == 1, err  # one recording failed; the others were replayed
    assert_nothing_left(sid)
    assert re.search(r"failed: broken: .*broken\.mcap: not a readable MCAP file", err), err
    assert "warning:" in err and "truncated" in err
    # MCAP read in pieces, MCAP read whole up to the damage, rosbag2 through its index.
    for folder, source in (("alpha/a", "alpha/a.mcap"), ("alpha/late/c", "alpha/late/c.mcap"), ("bags/d", "bags/d")):
        result = cli("replay", str(recordings / source), "--out", str(tmp_path / folder))
        assert result.returncode == 0, result.stderr
        single = json.loads((tmp_path / folder / "report.json").read_text())
        fleet = json.loads((out / folder / "report.json").read_text())
        assert without_times(fleet) == without_times(single), folder
        # report.html too, pictures rendered on a Ray worker included.
        pages = [re.sub(r" · written \S+", "", (root / folder / "report.html").read_text()) for root in (out, tmp_path)]
        assert pages[0] == pages[1] and "data:image/png;base64," in pages[0], folder


@pytest.mark.ros
def test_the_fleet_report_tabulates_every_recording_with_its_robot_and_date(fleet_run):
    out, _, _, _ = fleet_run
    report = json.loads((out / "fleet.json").read_text())
    assert report["command"] == "fleet replay" and not report["partial"] and not report["interrupted"]
    assert report["counts"] == {"recordings": 5, "done": 4, "failed": 1, "interrupted": 0}
    assert report["ray"]["address"] == "local" and report["ray"]["version"] == "2.60.0"
    assert report["ray"]["cpus"] == os.cpu_count() and report["ray"]["start_s"] > 0
    rows = {row["folder"]: row for row in report["recordings"]}
    assert list(rows) == ["alpha/a", "alpha/late/c", "bags/d", "beta/b", "broken"]
    # Robot: the recording's metadata, else the description's name; date: the first stamp, else
    # (a boot clock) when the recorder logged the first message; neither for what cannot be read.
    assert [(rows[f]["robot"], rows[f]["date"], rows[f]["date_source"], rows[f]["status"]) for f in rows] == [
        ("alpha", "2023-11-14T22:13:20+00:00", "first stamp", "done"),
        ("alpha", "2023-11-28T22:13:20+00:00", "first stamp", "done"),
        ("humanoid", "2023-12-05T22:13:20+00:00", "recording start", "done"),
        ("beta", "2023-11-21T22:13:20+00:00", "first stamp", "done"), ("humanoid", None, None, "failed")]
    assert rows["broken"]["reason"].startswith(f"{rows['broken']['recording']}: not a readable MCAP file")
    assert any("truncated" in w for w in rows["alpha/late/c"]["warnings"])
    for folder in ("alpha/a", "alpha/late/c", "bags/d", "beta/b"):
        single = json.loads((out / folder / "report.json").read_text())
        values = rows[folder]["values"]
        assert values["key_links_mm"] == single["mpjpe_mm"]["rms"]
        assert values["base_position_mm"] == pytest.approx(single["base_position_error_m"]["rms"] * 1e3)
        orientation = math.degrees(single["base_orientation_error_rad"]["rms"])
        assert values["base_orientation_deg"] == pytest.approx(orientation)
        assert values["duration_s"] == single["duration_s"] and values["paired"] == single["samples"]["paired"]
        assert rows[folder]["verdict"] == single["status"]
        assert rows[folder]["files"] == [f"{folder}/report.html", f"{folder}/report.json"]
    # The truncated recording replays less of the same motion: a shorter run, the same robot.
    assert rows["alpha/late/c"]["values"]["samples"] < rows["alpha/a"]["values"]["samples"]
    alpha = report["robots"]["alpha"]
    assert alpha["done"] == 2 and alpha["drift_per_week"]["key_links_mm"] is not None
    assert report["robots"]["humanoid"]["done"] == report["robots"]["humanoid"]["failed"] == 1

    page_text = (out / "fleet.html").read_text()
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page_text)  # nothing fetched: it opens offline
    page = lxml_html.fromstring(page_text)
    links = page.xpath("//table[@class='sortable']//a/@href")
    assert links == ["alpha/a/report.html", "alpha/late/c/report.html", "bags/d/report.html", "beta/b/report.html"]
    assert all((out / link).is_file() for link in links)
    assert len(page.xpath("//svg")) == 6  # 3 distributions, 3 gaps against the date


@pytest.mark.ros
def test_chromium_sorts_the_table_as_the_link_asks(fleet_run):
    out, _, _, _ = fleet_run
    chromium = require_tool("chromium")
    orders = {}
    for sort in ("-key_links_mm", "key_links_mm", "date"):
        dom = subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom",
                              f"{(out / 'fleet.html').as_uri()}#sort={sort}"],
                             check=True, capture_output=True, text=True, timeout=120).stdout
        table = lxml_html.fromstring(dom).xpath("//table[@class='sortable']")[0]
        orders[sort] = [tr.xpath("string(td[2])") for tr in table.xpath("tbody/tr")]
    # The failed recording has no gap: last either way. beta (the nominal profile) has the smallest.
    assert orders["-key_links_mm"][3:] == ["beta/b", "broken"]
    assert orders["key_links_mm"][0] == "beta/b" and orders["key_links_mm"][-1] == "broken"
    assert orders["date"] == ["alpha/a", "beta/b", "alpha/late/c", "bags/d", "broken"]


@pytest.mark.ros
def test_ctrl_c_keeps_the_recordings_that_finished_and_stops_ray(recordings, tmp_path):
    source = recordings / "alpha" / "a.mcap"
    for k in range(4):
        shutil.copy(source, tmp_path / f"run{k}.mcap")
    out = tmp_path / "out"
    process = start("digital-twin-gz", "fleet", "replay", str(tmp_path / "run*.mcap"), "--cpus", "1", "--out", str(out))
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            assert process.poll() is None, process.communicate()[1]
            try:
                if json.loads((out / "fleet.json").read_text())["counts"]["done"] >= 1:
                    break
            except (OSError, ValueError):
                pass
            time.sleep(0.1)
        # Ray of the command's own listens on the loopback only.
        ray_processes = session_processes(process.pid)
        assert {"raylet", "gcs_server"} <= set(ray_processes.values()), ray_processes
        listening = listening_addresses(ray_processes)
        assert listening and set(listening) <= LOOPBACK, listening
        os.killpg(process.pid, signal.SIGINT)  # Ctrl-C in a terminal: the whole foreground group
        _, err = process.communicate(timeout=120)
        assert process.returncode == 130, err
        assert "interrupted:" in err
        assert_nothing_left(process.pid)
    finally:
        end_session(process)
    report = json.loads((out / "fleet.json").read_text())
    assert report["interrupted"] and not report["partial"]
    statuses = [row["status"] for row in report["recordings"]]
    assert 1 <= statuses.count("done") < 4 and statuses.count("done") + statuses.count("interrupted") == 4, statuses
    for row in report["recordings"]:
        finished = row["status"] == "done"
        assert (out / row["folder"] / "report.json").is_file() == finished
        if finished:
            assert json.loads((out / row["folder"] / "report.json").read_text())["samples"]["paired"] > 500
    assert "interrupted: the recordings that finished are reported" in (out / "fleet.html").read_text()


@pytest.mark.slow
@pytest.mark.ros
def test_fleet_calibrate_gives_each_recording_the_calibration_a_single_calibrate_gives(recordings, tmp_path):
    folder = tmp_path / "lab"
    x = record(folder / "x.mcap", "alpha", 0, seconds=3.5)
    shutil.copy(recordings / "alpha" / "a.mcap", folder / "short.mcap")  # 2 s: too short to hold a part out
    search = ("--params", "mass_scale", "--max-iterations", "2")
    code, err, sid = run_fleet("calibrate", str(folder), *search, "--out", str(tmp_path / "fleet"))
    assert code == 1, err
    assert_nothing_left(sid)
    assert re.search(r"failed: short: .*short\.mcap: the held-out part is 0\.60 s", err), err
    result = cli("calibrate", str(x), *search, "--threads", "1", "--out", str(tmp_path / "single"))
    assert result.returncode == 0, result.stderr
    for name in ("calibration.json", "calibrated.urdf"):
        fleet, single = ((tmp_path / part / name).read_text() for part in ("fleet/x", "single"))
        if name.endswith(".json"):  # its sums to the last bits: taken in Ray's worker, in another BLAS setting
            assert same_report(json.loads(fleet), json.loads(single), TIMES), name
        else:
            assert fleet == single, name
    report = json.loads((tmp_path / "fleet" / "fleet.json").read_text())
    rows = {row["folder"]: row for row in report["recordings"]}
    single = json.loads((tmp_path / "single" / "calibration.json").read_text())
    assert rows["x"]["values"]["mass_scale"] == single["parameters"]["mass_scale"]["value"]
    assert rows["x"]["values"]["holdout_calibrated_mm"] == single["gap"]["holdout"]["calibrated"]["key_link_mm"]
    assert rows["short"]["robot"] == "alpha" and rows["short"]["date"] == "2023-11-14T22:13:20+00:00"
    page = lxml_html.fromstring((tmp_path / "fleet" / "fleet.html").read_text())
    assert page.xpath("//table[@class='sortable']//a/@href") == ["x/calibration.html"]


@pytest.mark.ros
def test_fleet_replay_joins_a_running_ray_cluster(recordings, tmp_path):
    """A cluster of one node, started as a cluster's head is (`ray start --head`), on the loopback."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_USAGE_STATS_ENABLED": "0"}
    head = start("ray", "start", "--head", "--block", "--port", str(port), "--node-ip-address", "127.0.0.1",
                 "--num-cpus", "1", "--include-dashboard", "false", "--disable-usage-stats", env=env)
    try:
        deadline = time.monotonic() + 120
        while "raylet" not in session_processes(head.pid).values() and time.monotonic() < deadline:
            assert head.poll() is None, head.communicate()
            time.sleep(0.2)
        code, err, sid = run_fleet("replay", str(recordings / "beta" / "b.mcap"), "--address", f"127.0.0.1:{port}",
                                   "--out", str(tmp_path / "out"))
        assert code == 0, err
        assert_nothing_left(sid)  # the command only disconnected: the cluster's processes are the head's
        assert "raylet" in session_processes(head.pid).values()
        head.send_signal(signal.SIGTERM)  # `ray start --block` stops the processes it started
        head.communicate(timeout=60)
        assert_nothing_left(head.pid)
    finally:
        end_session(head, signal.SIGTERM)
    report = json.loads((tmp_path / "out" / "fleet.json").read_text())
    assert report["ray"]["address"] == f"127.0.0.1:{port}" and report["ray"]["cpus"] == 1.0
    assert report["counts"]["done"] == 1
    assert (tmp_path / "out" / "b" / "report.html").read_text().count("data:image/png;base64,") == 3
    gone = cli("fleet", "replay", str(recordings / "beta"), "--address", f"127.0.0.1:{port}", "--out",
               str(tmp_path / "gone"))
    assert gone.returncode == 1 and f"--address 127.0.0.1:{port}: no Ray head answers there" in gone.stderr
