"""``digital-twin-gz teleop`` driven through tmux against the running twin: keys in, screen and topics out."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time

import numpy as np
import pytest
from diagnostic_msgs.msg import DiagnosticArray
from helpers import BIN, cli, require_tool
from sensor_msgs.msg import JointState
from std_msgs.msg import Float64
from trajectory_msgs.msg import JointTrajectory

from digital_twin_gz.nodes import convert
from digital_twin_gz.nodes.common import LATEST_QOS, STATE_QOS
from digital_twin_gz.robot import params_file
from digital_twin_gz.teleop import MirrorLimiter

pytestmark = pytest.mark.ros

SPEED = 0.25  # teleop's default fraction of the velocity limits
MIRROR_RATE = 50.0
# The mirror's rules do not depend on the feed rate; 100 Hz leaves the 2 cores to what is tested.
EMULATOR_RATE = 100.0


class Terminal:
    """A program in a detached tmux session on a private tmux server."""

    def __init__(self, socket: str, env: dict[str, str], args: list[str]) -> None:
        self.socket = socket
        self.env = env
        ros = [f"{k}={env[k]}" for k in ("ROS_DOMAIN_ID", "ROS_AUTOMATIC_DISCOVERY_RANGE", "ROS_LOG_DIR")]
        command = "exec " + " ".join([str(BIN / "digital-twin-gz"), *args])
        self._tmux("-f", "/dev/null", "new-session", "-d", "-s", "teleop", "-x", "160", "-y", "50",
                   *(a for var in ros for a in ("-e", var)), command, ";", "set-option", "-t", "teleop",
                   "remain-on-exit", "on")

    def _tmux(self, *args: str) -> str:
        return subprocess.run([require_tool("tmux"), "-S", self.socket, *args], env=self.env, check=True,
                              capture_output=True, text=True, timeout=10).stdout

    def keys(self, *keys: str) -> None:
        for key in keys:  # one at a time, as typed
            self._tmux("send-keys", "-t", "teleop", key)

    def screen(self) -> str:
        return self._tmux("capture-pane", "-p", "-t", "teleop")

    def pane(self) -> tuple[bool, int | None, int]:
        """(exited, exit status or -signal, pid)."""
        dead, pid, status, sig = self._tmux("display-message", "-p", "-t", "teleop",
                                            "#{pane_dead}|#{pane_pid}|#{pane_dead_status}|#{pane_dead_signal}"
                                            ).strip().split("|")
        if dead != "1":
            return False, None, int(pid)
        if status or sig:
            return True, int(status) if status else -int(sig), int(pid)
        # tmux on these machines does not always reap its panes' processes: read the zombie's status.
        try:
            fields = open(f"/proc/{pid}/stat").read().rpartition(")")[2].split()
        except FileNotFoundError:
            return False, None, int(pid)  # reaped since: tmux has the status now
        if fields[0] != "Z":
            return False, None, int(pid)
        code = int(fields[49])  # field 52, exit_code, as waitpid reports it
        return True, (code >> 8) & 0xFF if code & 0x7F == 0 else -(code & 0x7F), int(pid)

    def wait_for(self, probe, text: str, timeout: float = 15.0) -> str:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            probe.spin_for(0.15)
            screen = self.screen()
            if text in screen:
                return screen
        raise AssertionError(f"timed out after {timeout} s waiting for {text!r} on the screen:\n{self.screen()}")

    def wait_for_goal(self, probe, joint: str, above: float = -np.inf, timeout: float = 15.0) -> float:
        """The goal teleop reports for ``joint`` once it is above ``above`` (the nudges were taken)."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            probe.spin_for(0.15)
            found = re.search(rf"> {joint} goal ([+-][0-9.]+)", self.screen())
            if found and float(found.group(1)) > above:
                return float(found.group(1))
        raise AssertionError(f"timed out after {timeout} s waiting for the goal of {joint} above {above}:\n"
                             f"{self.screen()}")

    def wait_exit(self, probe, timeout: float = 15.0) -> int:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            probe.spin_for(0.2)
            exited, status, _ = self.pane()
            if exited:
                return status
        raise AssertionError(f"teleop did not exit within {timeout} s:\n{self.screen()}")

    def close(self) -> None:
        subprocess.run([require_tool("tmux"), "-S", self.socket, "kill-server"], env=self.env, capture_output=True,
                       timeout=10)


@pytest.fixture
def terminal(domain, tmp_path):
    started: list[Terminal] = []

    def start(*args: str) -> Terminal:
        started.append(Terminal(str(tmp_path / f"tmux{len(started)}.sock"), domain.env, list(args)))
        return started[-1]

    yield start
    for t in started:
        t.close()


@pytest.fixture
def twin(nodes, probe):
    """The embedded simulator and twin_sync, fed by an emulated physical robot standing still."""
    started = {name: nodes(name, params, params_file=params_file()) for name, params in (
        ("embedded_sim", {}), ("twin_sync", {}), ("physical_emulator",
         {"profile": "nominal", "motion": "stand", "rate": EMULATOR_RATE}))}
    probe.wait_for(lambda: probe.node.count_publishers("/virtual/joint_states") >= 1
                   and probe.node.count_subscribers("/physical/joint_states") >= 1
                   and probe.node.count_subscribers("/physical/joint_commands") >= 1, timeout=30,
                   what="the twin's nodes")
    return started


def _paused(diagnostics: list[DiagnosticArray]) -> str | None:
    """twin_sync's last word on /diagnostics: "true" or "false"."""
    values = [kv.value for m in diagnostics for s in m.status if s.name == "twin_sync"
              for kv in s.values if kv.key == "paused"]
    return values[-1] if values else None


def _position(messages: list[JointState | JointTrajectory], joint: str) -> float:
    """The joint's position in the last message (a joint state or a one-point trajectory)."""
    last = messages[-1]
    if isinstance(last, JointState):
        return last.position[list(last.name).index(joint)]
    return last.points[0].positions[list(last.joint_names).index(joint)]


def _select(terminal: Terminal, probe, tabs: int, downs: int, joint: str) -> None:
    terminal.keys(*["Tab"] * tabs, *["Down"] * downs)
    terminal.wait_for(probe, f"[{joint}]")
    terminal.keys("]", "]", "]")
    terminal.wait_for(probe, "step: 0.5")


def _assert_rate_limited(messages: list[JointTrajectory], description, speed: float) -> None:
    """Every message within the joint limits; consecutive ones no faster than speed x velocity limit."""
    assert messages
    lower, upper, velocity = description.lower, description.upper, speed * description.velocity_limit
    previous = None
    for msg in messages:
        assert list(msg.joint_names) == list(description.joint_names)
        q = np.array(msg.points[0].positions)
        assert np.all(q >= lower) and np.all(q <= upper), "a target past a joint limit was sent"
        stamp = convert.to_seconds(msg.header.stamp)
        if previous is not None:
            dt = stamp - previous[0]
            assert dt > 0
            excess = np.abs(q - previous[1]) - velocity * dt  # stamps are epoch seconds: ~0.2 us resolution
            assert excess.max() <= 1e-6, f"{description.joint_names[excess.argmax()]} moved faster than allowed"
        previous = (stamp, q)


def test_teleop_nudges_the_virtual_robot_within_limits_and_pauses_twin_sync(twin, probe, terminal, description):
    diagnostics = probe.collect(DiagnosticArray, "/diagnostics")
    virtual = probe.collect(JointState, "/virtual/joint_states", LATEST_QOS)
    targets = probe.collect(JointTrajectory, "/virtual/joint_trajectory", STATE_QOS)
    probe.wait_for(lambda: _paused(diagnostics) == "false" and len(targets) > 100, timeout=30,
                   what="twin_sync forwarding")

    teleop = terminal("teleop")
    terminal_screen = teleop.wait_for(probe, "teleop has the virtual robot", timeout=30)
    assert "twin_sync: paused" in terminal_screen
    probe.wait_for(lambda: _paused(diagnostics) == "true", timeout=10, what="twin_sync to report paused")
    probe.spin_for(0.5)
    targets.clear()  # from now on only teleop drives the virtual robot

    neck, upper = description.index("neck_yaw"), description.upper[description.index("neck_yaw")]
    start = _position(virtual, "neck_yaw")
    _select(teleop, probe, tabs=2, downs=1, joint="neck_yaw")
    teleop.keys("Right")
    goal = teleop.wait_for_goal(probe, "neck_yaw")
    assert goal == pytest.approx(start + 0.5, abs=0.01)
    probe.wait_for(lambda: abs(_position(virtual, "neck_yaw") - goal) < 0.01, timeout=10,
                   what="the virtual neck to follow the nudge")

    teleop.keys(*["Right"] * 5)
    teleop.wait_for(probe, "held at a limit: neck_yaw")
    probe.wait_for(lambda: abs(_position(virtual, "neck_yaw") - upper) < 0.02, timeout=10,
                   what="the virtual neck at its limit")
    probe.spin_for(1.0)
    assert max(m.position[neck] for m in virtual) <= upper + 0.01
    assert _position(targets, "neck_yaw") == upper
    _assert_rate_limited(targets, description, SPEED)
    assert _paused(diagnostics) == "true"

    teleop.keys("C-c")
    assert teleop.wait_exit(probe) == 0
    assert "twin_sync resumed" in teleop.screen()
    probe.wait_for(lambda: _paused(diagnostics) == "false", timeout=10, what="twin_sync to resume")
    assert all(p.alive() for p in twin.values())


def test_teleop_drives_the_virtual_robot_without_twin_sync(nodes, probe, terminal, description):
    nodes("embedded_sim", {"pacing": "realtime", "state_rate": 100.0})
    virtual = probe.collect(JointState, "/virtual/joint_states", LATEST_QOS)
    probe.wait_for(lambda: len(virtual) > 10, timeout=30, what="the embedded simulator")

    teleop = terminal("teleop", "--speed", "1.0")
    screen = teleop.wait_for(probe, "teleop has the virtual robot", timeout=30)
    assert "twin_sync: no twin_sync" in screen
    _select(teleop, probe, tabs=2, downs=2, joint="neck_pitch")
    teleop.keys("Left")
    goal = teleop.wait_for_goal(probe, "neck_pitch")
    assert goal == pytest.approx(description.default_positions[description.index("neck_pitch")] - 0.5, abs=0.02)
    probe.wait_for(lambda: abs(_position(virtual, "neck_pitch") - goal) < 0.03, timeout=10,
                   what="the virtual neck to follow the nudge")
    teleop.keys("q")
    assert teleop.wait_exit(probe) == 0
    assert "twin_sync was not paused by teleop" in teleop.screen()


def test_mirror_drives_the_physical_robot_within_limits_and_stops_on_the_gap(twin, probe, terminal, description):
    diagnostics = probe.collect(DiagnosticArray, "/diagnostics")
    # The newest states only: a probe that queues every sample reads positions from seconds ago
    # when the machine is busy.
    virtual = probe.collect(JointState, "/virtual/joint_states", LATEST_QOS)
    physical = probe.collect(JointState, "/physical/joint_states", LATEST_QOS)
    commands = probe.collect(JointTrajectory, "/physical/joint_commands")
    gap = {"value": 0.01}
    gap_publisher = probe.node.create_publisher(Float64, "/twin/gap/base_position", 10)
    probe.node.create_timer(0.05, lambda: gap_publisher.publish(Float64(data=gap["value"])))

    teleop = terminal("teleop", "--mirror", "--max-gap", "0.05", "--mirror-rate", str(MIRROR_RATE))
    teleop.wait_for(probe, "teleop has the virtual robot", timeout=30)
    assert "mirror: OFF" in teleop.screen()
    joint = "l_shoulder_roll"
    j, default = description.index(joint), description.default_positions[description.index(joint)]
    _select(teleop, probe, tabs=3, downs=2, joint=joint)
    teleop.keys("Right", "Right")
    goal = teleop.wait_for_goal(probe, joint, above=default + 0.9)  # both nudges taken
    probe.wait_for(lambda: abs(_position(virtual, joint) - goal) < 0.1, timeout=10, what="the virtual arm to rise")
    probe.spin_for(0.5)
    assert commands == [] and abs(_position(physical, joint) - default) < 0.05  # mirroring is off

    # Mirroring is refused until teleop has heard a gap reading and the physical robot (its
    # discovery can take seconds on a busy machine); the screen says when it is ready.
    teleop.wait_for(probe, "mirror: OFF (ready)", timeout=60)
    at_engage = np.array(physical[-1].position)
    teleop.keys("m")
    teleop.wait_for(probe, "mirror: ON")
    # The mirror sends teleop's goal; the physical arm's servo holds it (the virtual arm, on the
    # description's trajectory controller without gravity feed-forward, sags a few hundredths below).
    probe.wait_for(lambda: commands and abs(commands[-1].points[0].positions[j] - goal) < 0.01  # goal as shown
                   and abs(_position(physical, joint) - commands[-1].points[0].positions[j]) < 0.03, timeout=10,
                   what="the physical arm to follow the virtual one's goal")
    teleop.keys(*["Right"] * 5)  # past the upper limit
    teleop.wait_for(probe, f"held at a limit: {joint}")
    upper = description.upper[j]
    probe.wait_for(lambda: commands[-1].points[0].positions[j] == upper, timeout=10,
                   what="the mirrored commands to reach the limit")
    probe.wait_for(lambda: abs(_position(physical, joint) - upper) < 0.1, timeout=10,
                   what="the physical arm at its limit")
    assert max(m.position[j] for m in physical) <= upper + 0.02

    # No command past a position, velocity, effort or rate limit reached the physical robot.
    limiter = MirrorLimiter(description, MIRROR_RATE)
    period = 1.0 / MIRROR_RATE
    first = np.array(commands[0].points[0].positions)
    assert np.all(np.abs(first - at_engage) <= np.minimum(limiter.max_lead, limiter.max_velocity * period) + 0.02)
    _assert_rate_limited(commands, description, 1.0)
    stamps = np.array([convert.to_seconds(m.header.stamp) for m in commands])
    assert np.all(np.diff(stamps) >= period - 1e-6)
    assert all(convert.to_seconds(m.points[0].time_from_start) == pytest.approx(period) for m in commands[1:])
    assert commands[-1].points[0].positions[j] == upper

    # The gap passes the threshold: mirroring stops at once, and stays stopped.
    gap["value"], tripped = 0.2, time.time()
    teleop.wait_for(probe, "mirror: stopped: gap 0.200 m > 0.050 m", timeout=5)
    probe.spin_for(1.0)  # commands already sent may still be on their way to the probe
    assert all(convert.to_seconds(m.header.stamp) < tripped + 0.2 for m in commands)
    sent = len(commands)
    teleop.keys("m")
    teleop.wait_for(probe, "mirror: refused: gap 0.200 m > 0.050 m")
    probe.spin_for(0.5)
    assert len(commands) == sent
    # Without commands the emulated robot holds where it was last sent, as a real one does.
    probe.spin_for(1.0)
    assert abs(_position(physical, joint) - upper) < 0.1

    # Engaged again once the gap is small, released with the key.
    gap["value"] = 0.01
    teleop.wait_for(probe, "gap: 0.010 m")
    teleop.keys("m")
    teleop.wait_for(probe, "mirror: ON")
    probe.wait_for(lambda: len(commands) > sent + 20, timeout=10, what="mirroring again")
    released = time.time()
    teleop.keys("Space")
    teleop.wait_for(probe, "mirror: released by the operator")
    probe.spin_for(1.0)
    assert convert.to_seconds(commands[-1].header.stamp) < time.time() - 0.8
    assert any(convert.to_seconds(m.header.stamp) >= released - 1.0 for m in commands)  # it was mirroring
    _assert_rate_limited(commands, description, 1.0)

    # SIGTERM ends teleop like q does: twin_sync is resumed.
    assert _paused(diagnostics) == "true"
    os.kill(teleop.pane()[2], signal.SIGTERM)
    assert teleop.wait_exit(probe) == 0
    assert "twin_sync resumed" in teleop.screen()
    probe.wait_for(lambda: _paused(diagnostics) == "false", timeout=10, what="twin_sync to resume")
    assert all(p.alive() for p in twin.values())


def test_a_teleop_killed_while_mirroring_leaves_the_physical_robot_holding(twin, probe, terminal, description):
    """SIGKILL, so nothing of teleop's own shutdown runs: the commands just stop, mid-motion, and
    the physical robot holds the last one (the emulator's command interface, as a real robot's)."""
    physical = probe.collect(JointState, "/physical/joint_states", STATE_QOS)  # every sample: the motion's end
    commands = probe.collect(JointTrajectory, "/physical/joint_commands")
    gap_publisher = probe.node.create_publisher(Float64, "/twin/gap/base_position", 10)
    probe.node.create_timer(0.05, lambda: gap_publisher.publish(Float64(data=0.01)))
    teleop = terminal("teleop", "--mirror", "--max-gap", "0.05", "--mirror-rate", str(MIRROR_RATE))
    teleop.wait_for(probe, "teleop has the virtual robot", timeout=30)
    joint = "l_shoulder_roll"
    j, default = description.index(joint), description.default_positions[description.index(joint)]
    _select(teleop, probe, tabs=3, downs=2, joint=joint)
    teleop.wait_for(probe, "mirror: OFF (ready)", timeout=60)
    teleop.keys("m")
    teleop.wait_for(probe, "mirror: ON")
    teleop.keys("Right", "Right", "Right", "Right")  # 2 rad at teleop's speed: about a second of motion
    probe.wait_for(lambda: _position(physical, joint) > default + 0.5, timeout=10, what="the physical arm moving")
    os.kill(teleop.pane()[2], signal.SIGKILL)
    killed = time.time()
    probe.spin_for(1.5)
    assert teleop.wait_exit(probe) == -signal.SIGKILL
    assert all(convert.to_seconds(m.header.stamp) < killed + 0.05 for m in commands)
    last = commands[-1].points[0].positions[j]
    stamps = np.array([convert.to_seconds(m.header.stamp) for m in physical])
    positions = np.array([m.position[list(m.name).index(joint)] for m in physical])
    moving = positions[(stamps > killed - 0.3) & (stamps < killed)]
    assert np.ptp(moving) > 0.05  # it was moving when the commands stopped
    held = positions[stamps >= killed + 0.5]
    assert len(held) > 0.8 * EMULATOR_RATE  # a second of samples
    settled = stamps[stamps > killed][np.flatnonzero(np.abs(positions[stamps > killed] - held[-1]) > 0.005)]
    print(f"held {held[-1] - last:+.4f} rad from the last command, within 5 mrad of it "
          f"{(settled.max() if len(settled) else killed) - killed:.3f} s after the kill")
    # Held where it was sent (its servo compensates gravity), not back to its own motion (standing,
    # the arm down). How soon is physics, tested without ROS (test_sync_rules); this is the wire.
    assert np.ptp(held) < 0.005 and abs(held.mean() - last) < 0.005 and held.min() > default + 0.4


def test_teleop_explains_its_keys_and_needs_a_terminal():
    result = cli("teleop", "--help")
    assert result.returncode == 0
    for key in ("Left/Right", "Tab/Shift-Tab", "1 2 3 4", "m ", "q, Ctrl-C"):
        assert key in result.stdout
    result = cli("teleop")  # stdin and stdout are pipes here
    assert result.returncode == 2 and "teleop needs a terminal" in result.stderr
    result = cli("teleop", "--speed", "2")
    assert result.returncode == 2 and "--speed" in result.stderr


def test_teleop_in_a_namespace_takes_that_robots_twin_alone(nodes, probe, terminal, description):
    """Two robots' twin_syncs on one domain: teleop --namespace robot_2 pauses robot_2's, drives
    /robot_2/virtual/joint_trajectory, and leaves robot_1's twin alone; both statuses on one /diagnostics."""
    for robot in ("robot_1", "robot_2"):
        nodes("twin_sync", {"resync_on_start": False}, namespace=robot)
    nodes("embedded_sim", {"pacing": "realtime", "state_rate": 100.0}, namespace="robot_2")
    diagnostics = probe.collect(DiagnosticArray, "/diagnostics")
    virtual = probe.collect(JointState, "/robot_2/virtual/joint_states", LATEST_QOS)
    elsewhere = [probe.collect(JointTrajectory, topic, STATE_QOS) for topic in ("/robot_1/virtual/joint_trajectory",
                                                                                 "/virtual/joint_trajectory")]
    targets = probe.collect(JointTrajectory, "/robot_2/virtual/joint_trajectory", STATE_QOS)

    def paused(robot: str) -> str | None:
        values = [kv.value for m in diagnostics for s in m.status if s.name == f"{robot}/twin_sync"
                  for kv in s.values if kv.key == "paused"]
        return values[-1] if values else None

    probe.wait_for(lambda: paused("robot_1") == paused("robot_2") == "false" and virtual, timeout=30,
                   what="both twin_syncs and robot_2's simulator")
    teleop = terminal("teleop", "--namespace", "robot_2")
    screen = teleop.wait_for(probe, "teleop has the virtual robot", timeout=30)
    assert "twin_sync: paused" in screen
    probe.wait_for(lambda: paused("robot_2") == "true", timeout=10, what="robot_2's twin_sync to report paused")
    probe.wait_for(lambda: len(targets) > 20, timeout=10, what="teleop's targets for robot_2")
    assert paused("robot_1") == "false" and elsewhere == [[], []]
    assert all(s.name in ("robot_1/twin_sync", "robot_2/twin_sync") for m in diagnostics for s in m.status)
    assert {s.hardware_id for m in diagnostics for s in m.status} == {description.name}  # no robot_name given
    teleop.keys("q")
    assert teleop.wait_exit(probe) == 0
    assert "twin_sync resumed" in teleop.screen()
    probe.wait_for(lambda: paused("robot_2") == "false", timeout=10, what="robot_2's twin_sync to resume")
