"""The HTML report, opened in headless Chromium: the plots and pictures are on the page."""

from __future__ import annotations

import re
import subprocess

import numpy as np
import pytest
from helpers import require_tool
from helpers.recordings import emulated
from PIL import Image

from digital_twin_gz.gap import GapTracker, monitor_settings
from digital_twin_gz.gap import html as html_report
from digital_twin_gz.recording import read_physical
from digital_twin_gz.replay import replay
from digital_twin_gz.robot import load_description, load_world
from digital_twin_gz.sim import Simulator


@pytest.fixture(scope="module")
def report_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("html")
    description, world = load_description(), load_world()
    tracker = GapTracker(description, monitor_settings())
    replay(read_physical(emulated(folder / "run.mcap", "default", "squat", 3.0), description),
           Simulator(description, world), tracker)
    report = tracker.report(profile="default", motion="squat", simulator="embedded",
                            source="test")
    tracker.write(folder / "out", report, world)
    return folder / "out"


def screenshot(html, png, height: int) -> np.ndarray:
    chromium = require_tool("chromium")
    subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                    f"--window-size=1100,{height}", f"--screenshot={png}", html.as_uri()],
                   check=True, capture_output=True, timeout=120)
    return np.asarray(Image.open(png).convert("RGB")).astype(int)


def pixels_of(image: np.ndarray, color: str, tolerance: int = 12) -> int:
    rgb = np.array([int(color[k: k + 2], 16) for k in (1, 3, 5)])
    return int(np.all(np.abs(image - rgb) <= tolerance, axis=2).sum())


def test_html_is_self_contained(report_dir):
    page = (report_dir / "report.html").read_text()
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)
    assert page.count("<svg") == 4 and page.count("data:image/png;base64,") == 3
    assert "Threshold crossings" in page and "l_knee_pitch" in page and "l_sole_link" in page


@pytest.mark.slow
@pytest.mark.ros
def test_chromium_renders_the_plots_and_pictures(report_dir, tmp_path):
    image = screenshot(report_dir / "report.html", tmp_path / "page.png", 5200)
    assert image.shape[:2] == (5200, 1100)
    # Each plot's own colour, drawn as lines or bars, in quantity.
    assert pixels_of(image, html_report.POSITION_COLOR) > 1500
    assert pixels_of(image, html_report.ORIENTATION_COLOR) > 1500
    assert pixels_of(image, html_report.BAR_COLOR) > 3000
    # The rendered robots stand in front of a blue sky.
    r, g, b = image[..., 0], image[..., 1], image[..., 2]
    sky = (b > 200) & (b - r > 25) & (g > 150) & (b > g)
    assert sky.sum() > 100_000
    # And the page is not blank: a good share of it is not white.
    assert (image.sum(axis=2) < 700).mean() > 0.1
