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
