"""bench/soak.py for two minutes: only that a long run does not crash and says what it measured
(the figures, 60 minutes of them, are the README's; nothing is timed here)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from helpers import REPO

pytestmark = pytest.mark.ros


def test_a_two_minute_soak_runs_to_the_end_and_reports_each_interval(domain):
    result = subprocess.run([sys.executable, str(REPO / "bench" / "soak.py"), "--minutes", "2", "--interval", "30",
                             "--warmup", "0.5"],
                            capture_output=True, text=True, timeout=600, env={**os.environ, **domain.env})
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    last = json.loads(result.stdout.strip().splitlines()[-1])
    assert last["bench"] == "soak" and len(last["rows"]) >= 3
    assert all(set(row["rss_mb"]) == {"twin_container", "physical_emulator"} for row in last["rows"])
    assert last["final"]["samples"]["paired"] > 0 and "rss_growth_pct_after_warmup" in last["summary"]
