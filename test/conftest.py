"""Shared fixtures. Every ROS 2 process a test starts stays on this machine."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


@pytest.fixture
def other_humanoid(tmp_path):
    from robots import write_other_humanoid

    return write_other_humanoid(tmp_path)


def require_tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed: run bash .ci/setup --test")
    return path


def cli(*args: str):
    """Run the installed ``digital-twin-gz`` entry point as a user would."""
    import subprocess

    return subprocess.run([str(BIN / "digital-twin-gz"), *args], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "COLUMNS": "200"})


os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
os.environ.setdefault("MUJOCO_GL", "egl")


@pytest.fixture
def domain(tmp_path):
    from digital_twin_gz.run import Domain

    held = Domain(tmp_path)
    yield held
    held.release()


@pytest.fixture
def nodes(domain, tmp_path):
    """Start node processes on the test's domain; all are stopped (SIGINT) at teardown."""
    from digital_twin_gz.run import NodeProcess, NodeSpec

    started: list[NodeProcess] = []

    def start(executable: str, params: dict | None = None, **kwargs) -> NodeProcess:
        process = NodeProcess(NodeSpec(executable, params or {}), domain, **kwargs)
        started.append(process)
        return process

    yield start
    for process in started:
        process.stop()


@pytest.fixture
def probe(domain):
    from ros_harness import Probe

    node = Probe(domain)
    yield node
    node.close()
