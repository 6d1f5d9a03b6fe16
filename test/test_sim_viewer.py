"""The embedded simulator's interactive viewer (the Gazebo GUI's stand-in) on a virtual display."""

from __future__ import annotations

import subprocess
import time

import numpy as np
import pytest
from helpers import require_tool
from helpers.xwd import read_xwd

pytestmark = pytest.mark.ros


@pytest.fixture
def display(tmp_path):
    require_tool("Xvfb")
    server = subprocess.Popen(["Xvfb", "-displayfd", "1", "-screen", "0", "1024x768x24", "-fbdir", str(tmp_path),
                               "-nolisten", "tcp"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    number = server.stdout.readline().decode().strip()
    yield f":{number}", tmp_path / "Xvfb_screen0"
    server.terminate()
    server.wait(10)


def torso_pixels(image: np.ndarray) -> int:
    """Pixels of the robot's blue torso (rgb 0.25 0.45 0.8 under the scene's light)."""
    r, g, b = (image[:, :, k].astype(int) for k in range(3))
    return int(np.sum((b > 140) & (r < 110) & (g < 150) & (b - r > 80)))


def test_gui_shows_the_robot_on_a_display(nodes, probe, display):
    name, framebuffer = display
    assert torso_pixels(read_xwd(framebuffer)) == 0
    sim = nodes("embedded_sim", params={"gui": True}, env={"DISPLAY": name})
    probe.wait_for(lambda: "/virtual/joint_states" in probe.topics(), timeout=20, what="embedded_sim")
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and torso_pixels(read_xwd(framebuffer)) < 2000:
        probe.spin_for(0.5)
    screenshot = read_xwd(framebuffer)
    assert torso_pixels(screenshot) >= 2000, "the robot's torso is not on screen"
    assert sim.alive()
    assert sim.stop() == 0


def test_gui_without_display_stays_headless(nodes, probe):
    sim = nodes("embedded_sim", params={"gui": True}, env={"DISPLAY": ""})
    probe.wait_for(lambda: "/virtual/joint_states" in probe.topics(), timeout=20, what="embedded_sim")
    probe.spin_for(1.0)
    assert sim.alive()
    assert "no display: running headless" in sim.output()
