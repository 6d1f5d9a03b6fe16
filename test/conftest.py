"""Shared fixtures. Every ROS 2 process a test starts stays on this machine.

Markers (declared in setup.cfg): ``ros`` on tests that start ROS 2 nodes or talk DDS, ``slow`` on
long physics runs (calibration searches); ``pytest -m "not ros and not slow"`` runs the pure logic.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from helpers import REPO

os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
os.environ.setdefault("MUJOCO_GL", "egl")

def pytest_sessionstart(session: pytest.Session) -> None:
    """Shared-memory files of DDS participants killed earlier (by anything on this machine) can
    hang the next participant's creation: clear the stale ones before any node starts."""
    from digital_twin_gz.run import remove_stale_shm

    remove_stale_shm()


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


@pytest.fixture(scope="module")
def description():
    """The bundled humanoid, loaded once per test module."""
    from digital_twin_gz.robot import load_description

    return load_description()


@pytest.fixture
def other_humanoid(tmp_path):
    from helpers.robots import write_other_humanoid

    return write_other_humanoid(tmp_path)


@pytest.fixture
def domain(tmp_path):
    from digital_twin_gz.run import Domain

    held = Domain(tmp_path)
    yield held
    held.release()


@pytest.fixture
def nodes(domain, tmp_path):
    """Start node processes on the test's domain (in ``namespace``: a robot's); all are stopped (SIGINT)
    at teardown."""
    from digital_twin_gz.run import NodeProcess, NodeSpec, check_namespace

    started: list[NodeProcess] = []

    def start(executable: str, params: dict | None = None, namespace: str = "", **kwargs) -> NodeProcess:
        spec = NodeSpec(executable, params or {}, namespace=check_namespace(namespace))
        process = NodeProcess(spec, domain, **kwargs)
        started.append(process)
        return process

    yield start
    for process in started:
        process.stop()


@pytest.fixture
def probe(domain):
    from helpers.ros_harness import Probe

    node = Probe(domain)
    yield node
    node.close()


@pytest.fixture
def virtual_side(nodes, probe, tmp_path):
    """The twin's nodes (embedded_sim, twin_sync, gap_monitor) from config/twin.yaml, one process
    each, gap_monitor's report into ``tmp_path / "report"``; waiting for the physical robot."""
    from digital_twin_gz.robot import params_file

    started = {name: nodes(name, params, params_file=params_file()) for name, params in (
        ("embedded_sim", {}), ("twin_sync", {}), ("gap_monitor", {"out_dir": str(tmp_path / "report")}))}
    probe.wait_for(lambda: probe.node.count_subscribers("/physical/joint_states") >= 2
                   and probe.node.count_publishers("/virtual/joint_states") >= 1, timeout=30, what="the twin's nodes")
    return started
