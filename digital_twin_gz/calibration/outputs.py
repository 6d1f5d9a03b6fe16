"""The calibration's files: the profile the twin loads, and the description with the fit written in."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import yaml
from lxml import etree

from digital_twin_gz.calibration.evaluation import Model
from digital_twin_gz.calibration.parameters import DELAY
from digital_twin_gz.emulator import PhysicsPerturbation, group_value, joint_values
from digital_twin_gz.robot import JTC_PLUGIN, BodyParts, RobotDescription

PROFILE_FILE, URDF_FILE, REPORT_FILE = "calibrated.yaml", "calibrated.urdf", "calibration.json"
XACRO = "{http://www.ros.org/wiki/xacro}"
# The trajectory controller's PID gains in the description (what actuator_gain scales for Gazebo).
GAIN_TAGS = ("position_p_gain", "position_i_gain", "position_d_gain",
             "velocity_p_gain", "velocity_i_gain", "velocity_d_gain")
# Names of the gain arguments of a xacro description (the bundled humanoid's leg_kp, arm_kv, ...).
GAIN_ARGUMENTS = ("_kp", "_kd", "_kv")


def profile_yaml(model: Model, report: dict) -> str:
    """A profile ``load_profile`` reads: the fitted physics, and the joint delay as ``measurement.joint_delay_s``."""
    fields = {p["field"] for p in report["parameters"].values()}
    physics = {k: v for k, v in asdict(model.physics).items() if k in fields}
    measurement = {"joint_delay_s": model.joint_delay} if DELAY in fields else {}
    holdout = report["gap"] and report["gap"]["holdout"]
    metric, what = ("key_link_mm", "key links") if report["key_links"] else ("base_position_mm", "base position")
    summary = (f"calibrated from {Path(report['recording']).name}"
               + (f": held-out gap {holdout['nominal'][metric]:.3g} -> "
                  f"{holdout['calibrated'][metric]:.3g} mm ({what}, RMS)" if holdout else ""))
    header = [f"# Calibrated by digital-twin-gz calibrate from {report['recording']} ({report['written_at']}).",
              "# The virtual model: digital-twin-gz replay/demo --virtual-profile THIS_FILE, or embedded_sim's",
              "# physics_profile parameter. Values, intervals and what the recording left open: calibration.json."]
    body = yaml.safe_dump({"summary": summary, "seed": 0, "physics": physics, "measurement": measurement},
                          sort_keys=False, width=1000)
    return "\n".join(header) + "\n" + body


def calibrated_urdf(description: RobotDescription, physics: PhysicsPerturbation, parts: BodyParts) -> str:
    """The expanded description with the fitted physics written in, for Gazebo: link masses and
    inertias scaled (per body group), joint damping and friction set to the model's plus the fit's,
    the feet's ``mu1``/``mu2`` set, the trajectory controller's PID gains scaled by the actuator gain
    (gz-sim has no gain on the effort feed-forward, so that part of ``actuator_gain`` has no URDF
    equivalent; nor has ``joint_armature``: SDF joints have no rotor inertia)."""
    robot = etree.fromstring(description.urdf.encode(), etree.XMLParser(remove_blank_text=True))
    for link in robot.iterfind("link"):
        scale = group_value(physics.mass_scale, parts.links.get(link.get("name"), "torso"), 1.0)
        inertial = link.find("inertial")
        if inertial is None or scale == 1.0:
            continue
        mass = inertial.find("mass")
        if mass is not None:
            mass.set("value", repr(float(mass.get("value", "0")) * scale))
        inertia = inertial.find("inertia")
        if inertia is not None:
            for key in ("ixx", "ixy", "ixz", "iyy", "iyz", "izz"):
                if inertia.get(key) is not None:
                    inertia.set(key, repr(float(inertia.get(key)) * scale))
    damping = dict(zip(description.joint_names, joint_values(physics.joint_damping, parts, 0.0)))
    friction = dict(zip(description.joint_names, joint_values(physics.joint_friction, parts, 0.0)))
    for joint in robot.iterfind("joint"):
        name = joint.get("name")
        if name in damping and (damping[name] or friction[name]):
            dynamics = joint.find("dynamics")
            if dynamics is None:
                dynamics = etree.SubElement(joint, "dynamics")
            model = description.joints[name]
            dynamics.set("damping", repr(max(model.damping + float(damping[name]), 0.0)))
            dynamics.set("friction", repr(max(model.friction + float(friction[name]), 0.0)))
    if physics.foot_friction is not None:
        touching = {link.get("name") for link in robot.iterfind("link") if link.find("collision") is not None}
        for link in (f for f in parts.feet if f in touching):
            block = robot.find(f"gazebo[@reference='{link}']")
            if block is None:
                block = etree.SubElement(robot, "gazebo", reference=link)
            for key in ("mu1", "mu2"):
                element = block.find(key)
                if element is None:
                    element = etree.SubElement(block, key)
                element.text = repr(physics.foot_friction)
    if physics.actuator_gain != 1.0:
        for plugin in robot.iterfind("gazebo/plugin"):
            if plugin.get("name") == JTC_PLUGIN:
                for element in plugin:
                    if element.tag in GAIN_TAGS and element.text:
                        element.text = repr(float(element.text) * physics.actuator_gain)
    etree.indent(robot, space="  ")
    return etree.tostring(robot, xml_declaration=True, encoding="utf-8").decode() + "\n"


def gain_xacro_args(description: RobotDescription, given: dict[str, str], gain: float) -> dict[str, str]:
    """The fitted actuator gain as xacro arguments: every numeric ``*_kp`` / ``*_kd`` / ``*_kv`` argument the
    description's top-level xacro file declares (the bundled humanoid's gain arguments), scaled.
    Empty for a plain URDF or one without such arguments."""
    if not description.source.name.endswith(".xacro"):
        return {}
    document = etree.parse(str(description.source))
    scaled = {}
    for arg in document.getroot().iterfind(f"{XACRO}arg"):
        name = arg.get("name", "")
        if not name.endswith(GAIN_ARGUMENTS):
            continue
        try:
            value = float(given.get(name, arg.get("default", "")))
        except ValueError:
            continue
        scaled[name] = f"{value * gain:.5g}"
    return scaled


def output_notes(fields: set[str], has_xacro_args: bool) -> list[str]:
    """How each fitted value reaches each simulator, and where it does not."""
    notes = ["embedded simulator: calibrated.yaml carries every fitted value "
             "(digital-twin-gz replay/demo --virtual-profile, embedded_sim parameter physics_profile)"]
    physics = sorted(fields - {DELAY})
    if physics:
        notes.append(f"Gazebo: calibrated.urdf carries {', '.join(f for f in physics if f != 'joint_armature')}"
                     + (" (actuator_gain as scaled PID gains only: gz-sim's JointTrajectoryController has no gain "
                        "on the effort feed-forward)" if "actuator_gain" in fields else ""))
    if "joint_armature" in fields:
        notes.append("joint_armature has no URDF or SDF form (no rotor inertia on a joint): embedded simulator only")
    if "actuator_gain" in fields:
        notes.append("xacro arguments: the scaled *_kp/*_kd/*_kv gain arguments (PID part of actuator_gain)"
                     if has_xacro_args else "xacro arguments: the description declares no *_kp/*_kd/*_kv gain "
                     "arguments")
    if DELAY in fields:
        notes.append("joint_delay: calibrated.yaml's measurement.joint_delay_s; replay restamps the joint samples "
                     "that much earlier, and the live twin takes it as twin_sync's and gap_monitor's joint_delay "
                     "parameter (demo --virtual-profile sets it)")
    return notes
