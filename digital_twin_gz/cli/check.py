"""``digital-twin-gz check``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from digital_twin_gz.cli.app import app, console
from digital_twin_gz.cli.common import (
    JointRolesOption,
    KeyLinksOption,
    PackageOption,
    UrdfOption,
    XacroArgOption,
    fail,
    parse_packages,
    parse_xacro_args,
)


@app.command()
def check(
    urdf: UrdfOption = None,
    package: PackageOption = None,
    xacro_arg: XacroArgOption = None,
    world: Annotated[Optional[Path], typer.Option(help="World SDF. Default: worlds/twin.sdf.")] = None,
    bridge: Annotated[Optional[Path], typer.Option(help="ros_gz_bridge YAML. Default: config/bridge.yaml.")] = None,
    joint_roles: JointRolesOption = None,
    key_links: KeyLinksOption = None,
) -> None:
    """Validate the robot description, the world and the bridge config with Gazebo's own tools.

    The description is expanded with xacro, checked with check_urdf, converted to SDF with
    `ign sdf -p` (as Gazebo does when spawning) and checked with `ign sdf -k`; links lost in
    conversion, joints without limits or not driven by the trajectory controller, missing
    or unreadable meshes and bodies without mass on moving joints are errors. The world is
    checked with `ign sdf -k`; the bridge entries against the type pairs ros_gz_bridge
    converts and the robot and world names.

    Then it builds what demo, replay and calibrate build and prints what they will use (uses:
    joint roles and the motions they allow, key links, gains; the links Gazebo lumps and the
    mimic joints as notes), and stands the robot for 2 s in the embedded simulator (a warning
    if it falls). With --joint-roles and --key-links, as those commands would take them.
    Exits 1 if anything is wrong or could not be checked.
    """
    from digital_twin_gz.gazebo import checks
    from digital_twin_gz.gazebo.findings import FAILING, grouped
    from digital_twin_gz.robot import WorldError, load_world

    try:
        findings = checks.check_world(world)
        try:
            settings = load_world(world)
        except WorldError:
            settings = load_world()  # the world's own problem is reported above
        found, description = checks.check_description(urdf, parse_packages(package), parse_xacro_args(xacro_arg),
                                                      world=settings, joint_roles=joint_roles,
                                                      key_links=tuple(key_links or ()))
        findings = found + findings
        if description is not None:
            try:
                world_name = load_world(world).name
            except WorldError:
                world_name = "twin"
            findings += checks.check_bridge(bridge, description.name, world_name)
    except checks.ToolMissing as err:
        fail(err, 2, err)
    styles = {"error": "red", "unchecked": "yellow", "warning": "yellow", "note": "cyan", "uses": "green"}
    for finding, count in grouped(findings):
        times = f" ({count} times)" if count > 1 else ""
        console.print(f"[{styles[finding.level]}]{finding.level}:[/] {finding.file}: {finding.message}{times}",
                      highlight=False, soft_wrap=True)
    failed = [f for f, _ in grouped(findings) if f.level in FAILING]
    if failed:
        console.print(f"[red]check failed[/]: {len(failed)} problem(s)")
        raise typer.Exit(1)
    if description is not None:
        console.print(f"[green]ok[/]: {description.name}: {len(description.links)} links, "
                      f"{len(description.joint_names)} actuated joints, {description.total_mass:.1f} kg; "
                      "world and bridge valid")
