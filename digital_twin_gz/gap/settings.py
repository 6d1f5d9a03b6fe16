"""gap_monitor's settings, from ``config/twin.yaml``: the one place their defaults live.

The node declares its parameters with these values as defaults; replay and calibration measure
with the same values, so a replay measures like the live twin.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from digital_twin_gz.gap.metrics import Thresholds
from digital_twin_gz.robot import ALL_NODES, node_params

NODE = "gap_monitor"


def monitor_params(path: Path | None = None) -> dict:
    """gap_monitor's ``ros__parameters`` in the params file (default: config/twin.yaml), with
    those every node takes."""
    return node_params(ALL_NODES, path) | node_params(NODE, path)


@dataclass(frozen=True)
class MonitorSettings:
    """gap_monitor's parameters that shape the metrics."""

    thresholds: Thresholds
    max_gap: float
    max_wait: float
    window: float
    key_links: tuple[str, ...]
    clock_jump: float

    @classmethod
    def from_params(cls, params: Mapping[str, object]) -> MonitorSettings:
        """From parameters named as in twin.yaml (all of them present)."""
        thresholds = Thresholds(
            base_position_warn_m=float(params["base_position_warn"]),
            base_position_error_m=float(params["base_position_error"]),
            base_orientation_warn_rad=float(params["base_orientation_warn"]),
            base_orientation_error_rad=float(params["base_orientation_error"]))
        links = tuple(link for link in params.get("key_links") or () if link)
        return cls(thresholds, float(params["max_gap"]), float(params["max_wait"]), float(params["window"]), links,
                   float(params["clock_jump"]))


def monitor_settings(path: Path | None = None) -> MonitorSettings:
    """What gap_monitor uses with the params file's values (default: config/twin.yaml)."""
    return MonitorSettings.from_params(monitor_params(path))
