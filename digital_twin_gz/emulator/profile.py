"""Profiles: how a physical robot differs from its model, and how it is measured.

A profile (``config/physical_profiles/<name>.yaml``, or calibrate's ``calibrated.yaml``) has a
``physics`` section (link masses, foot friction, joint damping, friction and armature, actuator
gain) and a ``measurement`` section (encoder and mocap noise, latency, dropped messages, a joint
feed measured before its stamp). Joint and mass values are one number for the whole robot or a
mapping per body group (``legs``, ``arms``, ``torso``: :mod:`digital_twin_gz.robot.groups`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from pathlib import Path

import yaml

from digital_twin_gz.robot import share_dir
from digital_twin_gz.robot.groups import GROUPS

# A value for the whole robot, or per body group (groups left out: the whole-robot default).
PerGroup = float | dict[str, float]


class ProfileError(ValueError):
    """A profile that cannot be used; the message names the file and the field."""


@dataclass(frozen=True)
class PhysicsPerturbation:
    """How the physical robot's physics differ from the description (1.0 / 0.0 = as modelled).
    ``mass_scale`` and the joint values: one number, or ``{group: value}``; joint values are added
    to the description's (a joint's total stays at zero or above)."""

    mass_scale: PerGroup = 1.0
    link_mass_scale: dict[str, float] = field(default_factory=dict)
    foot_friction: float | None = None
    joint_damping: PerGroup = 0.0
    joint_friction: PerGroup = 0.0
    joint_armature: PerGroup = 0.0
    actuator_gain: float = 1.0
    actuator_gain_spread: float = 0.0


@dataclass(frozen=True)
class MeasurementPerturbation:
    """How the physical robot is measured. ``joint_delay_s``: each joint sample holds the joints
    as they were that long before its stamp (a slow encoder bus), the base pose does not."""

    encoder_noise_rad: float = 0.0
    mocap_noise_position_m: float = 0.0
    mocap_noise_orientation_rad: float = 0.0
    latency_s: float = 0.0
    drop_rate: float = 0.0
    joint_delay_s: float = 0.0


@dataclass(frozen=True)
class Profile:
    name: str
    physics: PhysicsPerturbation
    measurement: MeasurementPerturbation
    seed: int = 0
    summary: str = ""


def group_value(value: PerGroup, group: str, default: float) -> float:
    """A per-group field's value for ``group``."""
    return float(value.get(group, default)) if isinstance(value, dict) else float(value)


def profiles_dir() -> Path:
    return share_dir() / "config" / "physical_profiles"


def profile_names() -> list[str]:
    return sorted(p.stem for p in profiles_dir().glob("*.yaml"))


def load_profile(name_or_path: str | Path) -> Profile:
    """A profile by name (bundled) or by path to a YAML file."""
    path = Path(name_or_path)
    if path.suffix not in (".yaml", ".yml"):
        path = profiles_dir() / f"{name_or_path}.yaml"
        if not path.is_file():
            raise ProfileError(f"no profile '{name_or_path}' (bundled: {', '.join(profile_names())}; "
                               "or give a path to a .yaml file)")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as err:
        raise ProfileError(f"{path}: cannot read profile: {err}") from err
    if not isinstance(data, dict):
        raise ProfileError(f"{path}: expected a mapping of profile fields")
    sections = {"physics": PhysicsPerturbation, "measurement": MeasurementPerturbation}
    unknown = set(data) - set(sections) - {"seed", "summary"}
    if unknown:
        raise ProfileError(f"{path}: unknown fields {sorted(unknown)} (expected physics, measurement, seed, summary)")
    parts = {}
    for key, cls in sections.items():
        values = data.get(key) or {}
        allowed = {f.name for f in fields(cls)}
        if not isinstance(values, dict) or set(values) - allowed:
            raise ProfileError(f"{path}: {key}: unknown fields {sorted(set(values) - allowed)} "
                               f"(allowed: {', '.join(sorted(allowed))})")
        try:
            parts[key] = cls(**values)
        except TypeError as err:
            raise ProfileError(f"{path}: {key}: {err}") from err
    _validate(path, parts["physics"], parts["measurement"])
    return Profile(path.stem, parts["physics"], parts["measurement"], int(data.get("seed", 0)),
                   str(data.get("summary", "")))


def _entries(name: str, value: PerGroup, path: Path) -> dict[str, object]:
    """A field's values by the name an error gives them; a mapping's keys must be groups."""
    if not isinstance(value, dict):
        return {name: value}
    unknown = set(value) - set(GROUPS)
    if unknown:
        raise ProfileError(f"{path}: {name}: unknown body groups {sorted(unknown)} (groups: {', '.join(GROUPS)})")
    return {f"{name}.{group}": v for group, v in value.items()}


def _validate(path: Path, physics: PhysicsPerturbation, measurement: MeasurementPerturbation) -> None:
    positive = {**_entries("physics.mass_scale", physics.mass_scale, path),
                "physics.actuator_gain": physics.actuator_gain,
                **{f"physics.link_mass_scale['{k}']": v for k, v in physics.link_mass_scale.items()}}
    if physics.foot_friction is not None:
        positive["physics.foot_friction"] = physics.foot_friction
    # Joint values are added to the description's (a calibrated model may have less than it); the
    # sum is kept at zero or above where they are applied.
    finite = {**_entries("physics.joint_damping", physics.joint_damping, path),
              **_entries("physics.joint_friction", physics.joint_friction, path),
              **_entries("physics.joint_armature", physics.joint_armature, path)}
    # A fitted joint delay may come out negative: the base pose then is the later one.
    finite["measurement.joint_delay_s"] = measurement.joint_delay_s
    non_negative = {"physics.actuator_gain_spread": physics.actuator_gain_spread,
                    **{f"measurement.{f.name}": getattr(measurement, f.name) for f in fields(measurement)
                       if f.name != "joint_delay_s"}}
    for name, value in positive.items():
        if not (isinstance(value, (int, float)) and value > 0):
            raise ProfileError(f"{path}: {name} must be a positive number, got {value!r}")
    for name, value in finite.items():
        if not (isinstance(value, (int, float)) and math.isfinite(value)):
            raise ProfileError(f"{path}: {name} must be a number, got {value!r}")
    for name, value in non_negative.items():
        if not (isinstance(value, (int, float)) and value >= 0):
            raise ProfileError(f"{path}: {name} must be a number >= 0, got {value!r}")
    if measurement.drop_rate >= 1:
        raise ProfileError(f"{path}: measurement.drop_rate must be below 1, got {measurement.drop_rate}")
