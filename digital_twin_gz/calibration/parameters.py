"""What calibration can fit: the parameters, their bounds, and the physics a set of values makes.

The catalogue and the settings are ``config/calibration.yaml``. A parameter is a field of
:class:`~digital_twin_gz.emulator.PhysicsPerturbation` (the one way the emulator and a calibrated
twin change MuJoCo), for the whole robot or one body group (``joint_damping.legs``), or
``joint_delay``: the joint feed measured that long before its stamps, a profile's
``measurement.joint_delay_s``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml

from digital_twin_gz.calibration.shooting import ShootingSettings
from digital_twin_gz.emulator import PhysicsPerturbation
from digital_twin_gz.robot import GROUPS, BodyParts, share_dir
from digital_twin_gz.sim.builder import BuiltModel

# Fields that take a group (NAME.group), and the model array each one adds to.
GROUPED = ("mass_scale", "joint_damping", "joint_friction", "joint_armature")
_JOINT_ARRAYS = {"joint_damping": "dof_damping", "joint_friction": "dof_frictionloss", "joint_armature": "dof_armature"}
DELAY = "joint_delay"


class CalibrationError(ValueError):
    """Options or a recording that calibration cannot use; the message says what to change."""


@dataclass(frozen=True)
class Parameter:
    """One fitted value: ``field`` of the physics (or the joint delay), for ``group`` or all."""

    name: str
    field: str
    group: str | None
    lower: float
    upper: float
    nominal: float
    scale: float
    unit: str
    meaning: str
    resolution: float = 0.0  # the finest difference the twin can act on (intervals are no narrower)


@dataclass(frozen=True)
class CalibrationSettings:
    """``config/calibration.yaml``."""

    params: tuple[str, ...]
    holdout: float
    shooting: ShootingSettings
    max_iterations: int
    confidence: float
    determined: float
    catalogue: dict[str, dict] = field(default_factory=dict)


def settings_path() -> Path:
    return share_dir() / "config" / "calibration.yaml"


def load_settings(path: Path | None = None) -> CalibrationSettings:
    path = path or settings_path()
    try:
        data = yaml.safe_load(path.read_text()) or {}
        shooting = ShootingSettings(
            segment_s=float(data["segment_s"]), skip_s=float(data["skip_s"]), stride=int(data["stride"]),
            smooth_s=float(data["smooth_s"]), joint_lever_m=float(data["joint_lever_m"]))
        return CalibrationSettings(
            params=parse_params(str(data["params"]), data["parameters"]), holdout=float(data["holdout"]),
            shooting=shooting, max_iterations=int(data["max_iterations"]), confidence=float(data["confidence"]),
            determined=float(data["determined"]), catalogue=dict(data["parameters"]))
    except (OSError, yaml.YAMLError, KeyError, TypeError, ValueError) as err:
        raise CalibrationError(f"{path}: cannot read the calibration settings: {err}") from err


def parse_params(text: str, catalogue: dict[str, dict]) -> tuple[str, ...]:
    """``"mass_scale.legs,joint_delay"`` -> the names, checked against the catalogue's fields and groups."""
    names = tuple(dict.fromkeys(n.strip() for n in text.split(",") if n.strip()))
    choices = ", ".join(catalogue) + f" (and {', '.join(f'{g}.GROUP' for g in GROUPED)}; groups {', '.join(GROUPS)})"
    if not names:
        raise CalibrationError(f"no parameters given; choose from {choices}")
    unknown = []
    for name in names:
        base, _, group = name.partition(".")
        if base not in catalogue or (group and (base not in GROUPED or group not in GROUPS)):
            unknown.append(name)
    if unknown:
        raise CalibrationError(f"unknown parameters {unknown}; choose from {choices}")
    for base in GROUPED:
        if base in names and any(n.startswith(f"{base}.") for n in names):
            raise CalibrationError(f"{base} (the whole robot) and {base}.GROUP cannot be fitted together: "
                                   f"choose one or the other")
    return names


def resolve(names: tuple[str, ...], settings: CalibrationSettings, built: BuiltModel,
            parts: BodyParts) -> list[Parameter]:
    """The parameters with their nominal values and bounds on this robot: the feet's friction as
    the description has it, joint additions bounded below so that no joint's total goes negative."""
    present = parts.groups()
    model = built.model
    parameters = []
    for name in names:
        base, _, group = name.partition(".")
        entry = settings.catalogue[base]
        if group and group not in present:
            raise CalibrationError(f"{name}: '{group}' is not a body group of this robot (its joint roles give "
                                   f"{', '.join(present)}); name the joints in a joint-role file (--joint-roles)")
        lower, nominal = float(entry["lower"]), 0.0
        if base in ("mass_scale", "actuator_gain"):
            nominal = 1.0
        elif base == "foot_friction":
            if not parts.feet:
                raise CalibrationError("foot_friction: no feet found (no ankle joint roles); name the ankle joints "
                                       "in a joint-role file (--joint-roles)")
            foot_bodies = [model.body(link).id for link in parts.feet]
            geoms = np.isin(model.geom_bodyid, foot_bodies) & (model.geom_priority > 0)
            nominal = float(np.mean(model.geom_friction[geoms, 0])) if geoms.any() else 1.0
        elif base in _JOINT_ARRAYS:
            joints = [k for k, g in enumerate(parts.joints) if not group or g == group]
            lower = max(lower, -float(np.min(getattr(model, _JOINT_ARRAYS[base])[built.dof_index[joints]])))
        # The twin acts on samples at whole physics steps: a delay finer than half a step changes nothing.
        resolution = 0.5 * float(model.opt.timestep) if base == DELAY else 0.0
        parameters.append(Parameter(name, base, group or None, lower, float(entry["upper"]),
                                    float(np.clip(nominal, lower, float(entry["upper"]))), float(entry["scale"]),
                                    str(entry["unit"]), str(entry["meaning"]), resolution))
    return parameters


def physics_of(parameters: list[Parameter], values: np.ndarray) -> tuple[PhysicsPerturbation, float]:
    """The physics and the joint delay (s) that ``values`` (one per parameter) make."""
    fields: dict[str, object] = {}
    delay = 0.0
    for parameter, value in zip(parameters, values):
        if parameter.field == DELAY:
            delay = float(value)
        elif parameter.group is None:
            fields[parameter.field] = float(value)
        else:
            fields.setdefault(parameter.field, {})[parameter.group] = float(value)
    return PhysicsPerturbation(**fields), delay
