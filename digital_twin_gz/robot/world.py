"""The few facts of a world SDF that both simulators must agree on."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from lxml import etree

from digital_twin_gz.robot.share import share_dir


class WorldError(ValueError):
    """A world file that cannot be read; the message names the file and line."""


def bundled_world() -> Path:
    return share_dir() / "worlds" / "twin.sdf"


@dataclass(frozen=True)
class WorldSettings:
    name: str
    sdf_version: str
    step: float
    gravity: np.ndarray
    ground_friction: float
    source: Path


def _text(element, path: str, default: str) -> tuple[str, int]:
    found = element.find(path)
    if found is None or found.text is None:
        return default, element.sourceline
    return found.text.strip(), found.sourceline


def load_world(path: Path | str | None = None) -> WorldSettings:
    """Name, SDF version, physics step, gravity and ground friction of the first world."""
    path = Path(path) if path else bundled_world()
    try:
        sdf = etree.parse(str(path)).getroot()
    except (OSError, etree.XMLSyntaxError) as err:
        raise WorldError(f"{path}: {err}") from err
    world = sdf.find("world")
    if sdf.tag != "sdf" or world is None:
        raise WorldError(f"{path}: expected <sdf><world>...</world></sdf>")
    step_text, step_line = _text(world, "physics/max_step_size", "0.001")
    gravity_text, gravity_line = _text(world, "gravity", "0 0 -9.8")
    friction_text, friction_line = _text(world, ".//collision/surface/friction/ode/mu", "1.0")
    try:
        step = float(step_text)
    except ValueError as err:
        raise WorldError(f"{path}: line {step_line}: max_step_size {step_text!r} is not a number") from err
    try:
        gravity = np.array([float(v) for v in gravity_text.split()])
        friction = float(friction_text)
    except ValueError as err:
        raise WorldError(f"{path}: line {gravity_line}/{friction_line}: gravity or friction is not numeric") from err
    if step <= 0 or gravity.shape != (3,):
        raise WorldError(f"{path}: line {step_line}: need max_step_size > 0 and a 3-vector gravity")
    return WorldSettings(world.get("name", "default"), sdf.get("version", ""), step, gravity, friction, path)
