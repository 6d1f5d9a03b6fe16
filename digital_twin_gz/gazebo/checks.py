"""``digital-twin-gz check``: the description, world and bridge, checked by Gazebo's own tools.

Each check returns findings instead of raising, so one run reports every problem it can
see. ``ign sdf -k`` exits 0 on some real errors, so any ``Error`` it prints counts.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from functools import lru_cache
from pathlib import Path

from lxml import etree

from digital_twin_gz.gazebo import bridge
from digital_twin_gz.gazebo.contract import contract_findings, lumped_links
from digital_twin_gz.gazebo.findings import Finding
from digital_twin_gz.robot import (
    JTC_PLUGIN,
    DescriptionError,
    PackageNotFound,
    RobotDescription,
    WorldError,
    WorldSettings,
    bundled_world,
    expand_xacro,
    load_description,
    load_world,
    resolve_uri,
)

INSTALL_HINT = "apt-get install --no-install-recommends libsdformat-dev ignition-tools liburdfdom-tools"


class ToolMissing(RuntimeError):
    """A Gazebo or urdfdom command-line tool is not installed."""


def _tool(*candidates: list[str]) -> list[str]:
    for command in candidates:
        if shutil.which(command[0]):
            return command
    raise ToolMissing(f"none of {[' '.join(c) for c in candidates]} is installed ({INSTALL_HINT})")


def _run(command: list[str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*command, *args], capture_output=True, text=True, timeout=120)


def sdf_command() -> list[str]:
    return _tool(["gz", "sdf"], ["ign", "sdf"])


@lru_cache(maxsize=1)
def newest_sdf_version() -> tuple[int, ...]:
    """The SDF version the installed sdformat describes by default (1.9 for sdformat 12)."""
    found = re.search(r"Default version \((\d+(?:\.\d+)+)\)", _run(sdf_command(), "--help").stdout)
    return _version(found.group(1)) if found else (1, 9)


def _version(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(p) for p in text.split("."))
    except ValueError:
        return (0,)


def sdf_errors(stderr: str) -> list[str]:
    """Lines of sdformat's stderr that report an error (its exit code is not reliable), without
    the terminal colour codes it adds."""
    plain = re.sub(r"\x1b\[[0-9;]*m", "", stderr)
    return [line.strip() for line in plain.splitlines() if "Error" in line]


def sdf_check(path: Path) -> list[str]:
    """``sdf -k`` problems of one file; empty when it is valid."""
    result = _run(sdf_command(), "-k", str(path))
    errors = sdf_errors(result.stderr) + sdf_errors(result.stdout)
    if result.returncode != 0 and not errors:
        errors = [f"sdf -k exited {result.returncode}: {(result.stderr or result.stdout).strip()}"]
    return errors


def _check_urdf_tool(urdf_file: Path, shown_as: str) -> list[Finding]:
    result = _run(_tool(["check_urdf"]), str(urdf_file))
    if result.returncode == 0:
        return []
    lines = [line for line in (result.stderr + result.stdout).splitlines() if line.strip()]
    return [Finding("error", shown_as, "check_urdf: " + "; ".join(lines[-4:]))]


def _converted_names(sdf_text: str) -> set[str]:
    root = etree.fromstring(sdf_text.encode())
    return {e.get("name") for e in root.iter("link", "frame")}


def _check_conversion(urdf_file: Path, description: RobotDescription, shown_as: str) -> list[Finding]:
    """Convert like Gazebo does on spawn and check nothing was lost or rejected."""
    findings = [Finding("error", shown_as, f"ign sdf -k (URDF): {e}") for e in sdf_check(urdf_file)]
    result = _run(sdf_command(), "-p", str(urdf_file))
    errors = sdf_errors(result.stderr)
    if result.returncode != 0 or errors or not result.stdout.strip():
        detail = "; ".join(errors) or result.stderr.strip() or "no output"
        return findings + [Finding("error", shown_as, f"ign sdf -p could not convert the URDF: {detail}")]
    try:
        converted = _converted_names(result.stdout)
    except etree.XMLSyntaxError as err:
        return findings + [Finding("error", shown_as, f"ign sdf -p printed no valid SDF: {err}")]
    lumped = lumped_links(description)
    for name in description.links:
        if name not in converted and name not in lumped:
            findings.append(Finding("error", shown_as, f"link '{name}' was dropped by the URDF->SDF conversion"))
    with tempfile.TemporaryDirectory() as tmp:
        sdf_file = Path(tmp) / "converted.sdf"
        sdf_file.write_text(result.stdout)
        findings += [Finding("error", shown_as, f"ign sdf -k (converted SDF): {e}") for e in sdf_check(sdf_file)]
    return findings


def joint_state_problem(description: RobotDescription) -> str | None:
    """What is wrong with the joint states Gazebo would publish for the description, if anything:
    joints the twin does not know make gap_monitor refuse every virtual sample."""
    unknown = [j for j in description.published_joints if j not in description.joint_names]
    unpublished = [j for j in description.joint_names if j not in description.published_joints]
    if unpublished:
        return (f"gz-sim's JointStatePublisher would not publish {len(unpublished)} of the "
                f"{len(description.joint_names)} actuated joints: {', '.join(unpublished)} (not in its <joint_name> "
                "list, or dropped by the URDF->SDF conversion); gap_monitor cannot measure them")
    if not unknown:
        return None
    return (f"gz-sim's JointStatePublisher would publish joints the twin does not know: {', '.join(unknown)} "
            "(without <joint_name> it publishes every joint of the model, the fixed joints preserveFixedJoint "
            "keeps included); list the actuated joints with <joint_name>")


def _check_meshes(description: RobotDescription, shown_as: str) -> list[Finding]:
    """Every missing mesh at once (building the model stops at the first, and reads the others)."""
    findings = []
    for link in description.links.values():
        for uri in link.meshes:
            try:
                mesh = resolve_uri(uri, description.source.parent, description.packages)
            except PackageNotFound as err:
                findings.append(Finding("error", shown_as, f"line {link.line}: link '{link.name}': mesh {uri}: {err}"))
                continue
            if not mesh.is_file():
                findings.append(Finding("error", shown_as, f"line {link.line}: link '{link.name}': mesh {uri} "
                                        f"does not exist ({mesh})"))
    return findings


def _check_model(description: RobotDescription, shown_as: str) -> list[Finding]:
    findings = [Finding("note", shown_as, note) for note in description.notes]
    problem = joint_state_problem(description)
    if problem:
        findings.append(Finding("error", shown_as, problem))
    jtc = description.system(JTC_PLUGIN)
    driven = set(jtc.params.get("joint_name", [])) if jtc else set()
    for name in description.commanded_joints:
        joint = description.joints[name]
        if joint.type != "continuous" and not joint.lower < joint.upper:
            findings.append(Finding("error", shown_as, f"line {joint.line}: joint '{name}': limits "
                                    f"[{joint.lower}, {joint.upper}] are empty"))
        if name not in driven:
            findings.append(Finding("error", shown_as, f"line {joint.line}: joint '{name}' is not driven by the "
                                    "JointTrajectoryController"))
    return findings


def check_description(path: Path | None = None, packages: dict[str, Path] | None = None,
                      xacro_args: dict[str, str] | None = None, *, world: WorldSettings | None = None,
                      joint_roles: Path | None = None, key_links: tuple[str, ...] = ()
                      ) -> tuple[list[Finding], RobotDescription | None]:
    """Expand, check with check_urdf, parse, convert with ign sdf, then build what the commands
    build (:mod:`digital_twin_gz.gazebo.contract`); return findings and the model."""
    description = None
    shown_as = str(path) if path else "bundled humanoid"
    try:
        description = load_description(path, xacro_args=xacro_args, packages=packages)
        shown_as = str(description.source)
        urdf_text = description.urdf
    except DescriptionError as err:
        findings = [Finding("error", shown_as, str(err))]
        if path is None or not Path(path).is_file():
            return findings, None
        try:
            urdf_text = (expand_xacro(Path(path), xacro_args, packages) if str(path).endswith(".xacro")
                         else Path(path).read_text())
        except DescriptionError:
            return findings, None
    else:
        findings = []
    with tempfile.TemporaryDirectory() as tmp:
        urdf_file = Path(tmp) / "robot.urdf"
        urdf_file.write_text(urdf_text)
        findings += _check_urdf_tool(urdf_file, shown_as)
        if description is not None:
            meshes = _check_meshes(description, shown_as)
            findings += meshes + _check_model(description, shown_as)
            findings += _check_conversion(urdf_file, description, shown_as)
            if not meshes:
                findings += contract_findings(description, world or load_world(), joint_roles, key_links)
    return findings, description


def _declared_version(path: Path) -> str:
    try:
        return etree.parse(str(path)).getroot().get("version", "")
    except (OSError, etree.XMLSyntaxError):
        return ""


def check_world(path: Path | None = None) -> list[Finding]:
    """``ign sdf -k`` on the world, then what the embedded simulator reads from it."""
    path = Path(path) if path else bundled_world()
    if not path.is_file():
        return [Finding("error", str(path), "no such file")]
    version = _declared_version(path)
    newest = newest_sdf_version()
    if version and _version(version) > newest:
        return [Finding("unchecked", str(path), f"SDF {version} is newer than the installed sdformat "
                        f"checks ({'.'.join(map(str, newest))}): not checked, not known to be valid")]
    findings = [Finding("error", str(path), f"ign sdf -k: {e}") for e in sdf_check(path)]
    try:
        load_world(path)
    except WorldError as err:
        findings.append(Finding("error", str(path), str(err)))
    return findings


def check_bridge(path: Path | None, robot_name: str, world_name: str) -> list[Finding]:
    """Check a bridge file; without one, the bundled contract retargeted to this robot and world."""
    source = Path(path) if path else bridge.bundled_bridge()
    try:
        entries = bridge.load_bridge(source)
    except bridge.BridgeError as err:
        return [Finding("error", str(source), str(err))]
    findings = []
    if path is None:
        retargeted = bridge.retarget(entries, robot_name, world_name)
        if retargeted != entries:
            findings.append(Finding("note", str(source), f"gz topics renamed for robot '{robot_name}' in world "
                                    f"'{world_name}' (the launch files do the same)"))
        entries = retargeted
    return findings + [Finding("error", str(source), problem)
                       for problem in bridge.problems(entries, robot_name, world_name)]
