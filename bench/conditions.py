"""The machine's load during a benchmark: "idle", or "stress-ng --cpu N" (Debian's stress-ng beside it,
as the suite is checked)."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager


def stress_ng() -> str:
    """stress-ng's path; exits with how to install it when it is missing."""
    path = shutil.which("stress-ng")
    if path is None:
        raise SystemExit("stress-ng is not installed: apt-get install stress-ng (bash .ci/setup --test does)")
    return path


@contextmanager
def under(condition: str, seconds: float) -> Iterator[None]:
    """Run the body under ``condition``: "idle" as the machine is, "stress-ng --cpu N" beside N CPU
    hogs, stopped when the body ends (after ``seconds`` at the latest)."""
    if condition == "idle":
        yield
        return
    hog = subprocess.Popen([stress_ng(), *condition.split()[1:], "--timeout", f"{int(seconds)}s"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield
    finally:
        hog.terminate()
        hog.wait()
