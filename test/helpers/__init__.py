"""What the tests share besides fixtures: where things are, running the CLI, tools that must exist.

Test robots (``helpers.robots``), recordings (``helpers.recordings``), the ROS probe
(``helpers.ros_harness``) and the X window dump reader (``helpers.xwd``) live beside this file.
"""

from __future__ import annotations

import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def require_tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed: run bash .ci/setup --test")
    return path


def children(pid: int) -> dict[int, list[str]]:
    """The running processes whose parent is ``pid``: pid -> command line. A child that has exited
    and is not yet reaped (a zombie) has an empty command line and is left out."""
    found = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            if parent == pid:
                argv = (stat.parent / "cmdline").read_bytes().decode().split("\0")[:-1]
                if argv:
                    found[int(stat.parent.name)] = argv
        except (OSError, IndexError, ValueError):
            continue
    return found


def cli(*args: str) -> subprocess.CompletedProcess:
    """Run the installed ``digital-twin-gz`` entry point as a user would."""
    return subprocess.run([str(BIN / "digital-twin-gz"), *args], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "COLUMNS": "200"})


def same_report(a, b, ignore: tuple[str, ...] = ("written_at", "written_by")) -> bool:
    """Two reports' contents equal, floats to a relative 1e-9, keys in ``ignore`` aside: a sum
    taken in another order (chunks, BLAS threads) differs in its last bits, and a value on a
    rounding boundary would round two ways."""
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-15)
    if isinstance(a, dict) and isinstance(b, dict):
        keys = set(a) - set(ignore)
        return keys == set(b) - set(ignore) and all(same_report(a[k], b[k], ignore) for k in keys)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same_report(x, y, ignore) for x, y in zip(a, b))
    return a == b
