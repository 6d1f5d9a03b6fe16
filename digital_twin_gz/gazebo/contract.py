"""What the commands will use on a description, found the way they find it.

``check`` is the contract: when it passes, demo, replay and calibrate run on the description.
So it builds the embedded model and the kinematics as those commands do, and says what each
will use: the links Gazebo lumps, the mimic joints, the joint roles and the motions they allow,
the key links the gap is measured on (and which are missing), the trajectory gains, and
whether the robot stands on them for two seconds.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from lxml import etree
from scipy.spatial.transform import Rotation

from digital_twin_gz import gap
from digital_twin_gz.emulator import motions
from digital_twin_gz.gazebo.findings import Finding
from digital_twin_gz.robot import (
    DescriptionError,
    JointRoles,
    RobotDescription,
    RoleError,
    WorldSettings,
    load_roles,
)
from digital_twin_gz.sim import Simulator
from digital_twin_gz.sim.builder import build_model

# gz-sim's <gazebo reference="JOINT"> tags that keep a fixed joint (and its child link) in the model.
KEEP_FIXED = ("preserveFixedJoint", "disableFixedJointLumping")
STAND_S = 2.0
# Fallen: the base sank below this fraction of its standing height, or tilted past this angle.
FALLEN_HEIGHT = 0.7
FALLEN_TILT_DEG = 30.0


def kept_fixed_joints(description: RobotDescription) -> set[str]:
    robot = etree.fromstring(description.urdf.encode())
    return {g.get("reference") for g in robot.findall("gazebo") for tag in KEEP_FIXED
            if (g.findtext(tag) or "").strip().lower() in ("true", "1")}


def lumped_links(description: RobotDescription) -> dict[str, str]:
    """Link -> the link sdformat's URDF->SDF conversion lumps it into (under a fixed joint that
    no <preserveFixedJoint> keeps); those links are gone from Gazebo's model, their frames stay
    the twin's (its kinematics and the embedded model keep them)."""
    kept = kept_fixed_joints(description)
    lumped = {}
    for link in description.below(description.root_link):
        joint, body = description.parent_joint(link), link
        while joint is not None and joint.type == "fixed" and joint.name not in kept:
            body = joint.parent
            joint = description.parent_joint(body)
        if body != link:
            lumped[link] = body
    return lumped


def _lumping(description: RobotDescription, shown_as: str) -> list[Finding]:
    lumped = lumped_links(description)
    massless = [link for link in lumped if not description.links[link].has_inertial]
    if not lumped:
        return []
    listed = ", ".join(f"{link} -> {lumped[link]}" for link in massless[:12]) + (" ..." if len(massless) > 12 else "")
    return [Finding("note", shown_as, f"{len(lumped)} link(s) on fixed joints are lumped into their parents by "
                    f"Gazebo's URDF->SDF conversion, {len(massless)} of them without <inertial>"
                    + (f" ({listed})" if massless else "") + "; their frames stay usable as key links")]


def _mimics(description: RobotDescription, shown_as: str) -> list[Finding]:
    if not description.mimic_joints:
        return []
    listed = ", ".join(f"{n} = {m.multiplier:g} {m.joint} {m.offset:+g}"
                       for n in description.mimic_joints for m in [description.joints[n].mimic])
    return [Finding("note", shown_as, f"{len(description.mimic_joints)} mimic joint(s), held to their leaders by the "
                    f"simulator and never commanded (twin_sync leaves them out, derived gains skip them): {listed}")]


def _roles(description: RobotDescription, roles: JointRoles, shown_as: str) -> list[Finding]:
    names = description.joint_names
    findings = [Finding("uses", shown_as, "joint roles (motions, teleop groups): " + (", ".join(
        f"{role}={names[index]}" for role, (index, _) in sorted(roles.joints.items())) or "none"))]
    able = [m for m in motions.NAMES if not roles.missing(sorted(motions.roles_used(m)))]
    lacking = {m: roles.missing(sorted(motions.roles_used(m))) for m in motions.NAMES if m not in able}
    findings.append(Finding("uses", shown_as, f"motions (demo --motion): {', '.join(able)}" + "".join(
        f"; {m} needs {', '.join(r)}" for m, r in lacking.items()) + (
        " (name them in a joint-role file, role: joint_name)" if lacking else "")))
    if not np.allclose(roles.heading, np.eye(3)):
        forward = roles.heading.T @ np.array([1.0, 0.0, 0.0])
        findings.append(Finding("note", shown_as, f"the zero pose faces ({forward[0]:+.2f}, {forward[1]:+.2f}, 0) in "
                                "the world, not +x (REP 103): roles and motions are taken in the robot's own frame"))
    return findings


def _key_links(description: RobotDescription, roles: JointRoles, given: tuple[str, ...],
               shown_as: str) -> list[Finding]:
    links = list(given) or gap.key_links(description, roles)
    try:
        gap.GapMeter(description, links)
    except ValueError as err:
        return [Finding("error", shown_as, f"--key-links: {err}")]
    findings = [Finding("uses", shown_as, "key links (gap_monitor, replay, calibrate): "
                        + (", ".join(links) if links else "none: the gap is the base and the joints"))]
    missing = None if given else gap.missing_key_links(description, roles)
    if missing:
        findings.append(Finding("note", shown_as, f"key links: {missing}"))
    return findings


def _gains(description: RobotDescription, shown_as: str) -> Finding:
    g = description.gains
    kd = g.position_d_gain + g.velocity_p_gain
    listed = ", ".join(f"{n} {g.position_p_gain[k]:.4g}/{kd[k]:.3g}" for k, n in enumerate(description.joint_names)
                       if n in description.commanded_joints)
    return Finding("uses", shown_as, ("trajectory gains kp/damping (position D + velocity P; "
                   f"N m/rad, N m s/rad): {listed}"))


def _stand(description: RobotDescription, world: WorldSettings, shown_as: str) -> list[Finding]:
    started = time.perf_counter()
    try:
        built = build_model(description, world)
    except DescriptionError as err:
        return [Finding("error", shown_as, f"the embedded simulator cannot build the robot: {err}")]
    seconds = time.perf_counter() - started
    sim = Simulator(description, world, built)
    height = float(sim.state().base_position[2])
    sim.step(int(round(STAND_S / sim.timestep)))
    state = sim.state()
    tilt = float(np.degrees(Rotation.from_quat(state.base_orientation).magnitude()))
    z = float(state.base_position[2])
    model = built.model
    summary = (f"embedded model: {model.nbody - 1} bodies, {model.nmesh} meshes, {model.neq} mimic constraints, "
               f"built in {seconds:.2f} s; standing {STAND_S:g} s on its gains: base height {height:.3f} -> "
               f"{z:.3f} m, tilt {tilt:.1f} deg")
    if np.isfinite(z) and z >= FALLEN_HEIGHT * height and tilt <= FALLEN_TILT_DEG:
        return [Finding("uses", shown_as, summary)]
    return [Finding("warning", shown_as, f"{summary}: it falls, and a twin that falls measures chaos; stiffen the "
                    "leg joints (the description's JointTrajectoryController, or overrides in "
                    "config/derived_gains.yaml for derived gains)")]


def contract_findings(description: RobotDescription, world: WorldSettings, joint_roles: Path | None = None,
                      key_links: tuple[str, ...] = ()) -> list[Finding]:
    """What demo, replay and calibrate will use on ``description``, and what stops them."""
    shown_as = str(description.source)
    findings = _lumping(description, shown_as) + _mimics(description, shown_as)
    try:
        roles = load_roles(description, joint_roles)
    except RoleError as err:
        return findings + [Finding("error", shown_as, str(err))]
    findings += _roles(description, roles, shown_as) + _key_links(description, roles, key_links, shown_as)
    return findings + [_gains(description, shown_as)] + _stand(description, world, shown_as)
