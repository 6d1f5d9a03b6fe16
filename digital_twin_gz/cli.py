"""``digital-twin-gz``: the command line of the digital twin."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

app = typer.Typer(
    help="A ROS 2 + Gazebo digital twin for humanoid robots: mirror the physical robot's "
         "joint states into a simulated copy and measure the reality gap.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
console = Console(stderr=True)

UrdfOption = Annotated[Optional[Path], typer.Option(
    "--urdf", help="Robot description (.urdf or .urdf.xacro). Default: the bundled humanoid.")]
PackageOption = Annotated[Optional[list[str]], typer.Option(
    "--package", help="NAME=DIR: where package://NAME/ and $(find NAME) point. Repeatable.")]
XacroArgOption = Annotated[Optional[list[str]], typer.Option(
    "--xacro-arg", help="NAME:=VALUE passed to xacro, e.g. robot_name:=atlas. Repeatable.")]


@app.callback()
def _root() -> None:
    """Subcommands: check (validate with Gazebo's tools), and the twin's runs."""


def parse_pairs(values: list[str] | None, separator: str, option: str) -> dict[str, str]:
    pairs = {}
    for value in values or []:
        name, found, rest = value.partition(separator)
        if not found or not name:
            raise typer.BadParameter(f"expected NAME{separator}VALUE, got {value!r}", param_hint=option)
        pairs[name] = rest
    return pairs


def parse_packages(values: list[str] | None) -> dict[str, Path]:
    return {k: Path(v).expanduser().resolve() for k, v in parse_pairs(values, "=", "--package").items()}


@app.command()
def check(
    urdf: UrdfOption = None,
    package: PackageOption = None,
    xacro_arg: XacroArgOption = None,
    world: Annotated[Optional[Path], typer.Option(help="World SDF. Default: worlds/twin.sdf.")] = None,
    bridge: Annotated[Optional[Path], typer.Option(help="ros_gz_bridge YAML. Default: config/bridge.yaml.")] = None,
) -> None:
    """Validate the robot description, the world and the bridge config with Gazebo's own tools.

    The description is expanded with xacro, checked with check_urdf, converted to SDF with
    `ign sdf -p` (as Gazebo does when spawning) and checked with `ign sdf -k`; links lost in
    conversion, joints without limits or not driven by the trajectory controller, and
    missing meshes are errors. The world is checked with `ign sdf -k`; the bridge entries
    against the type pairs ros_gz_bridge converts and the robot and world names.
    Exits 1 if anything is wrong or could not be checked.
    """
    from digital_twin_gz import checks
    from digital_twin_gz.world import WorldError, load_world

    try:
        findings, description = checks.check_description(urdf, parse_packages(package),
                                                         parse_pairs(xacro_arg, ":=", "--xacro-arg"))
        findings += checks.check_world(world)
        if description is not None:
            try:
                world_name = load_world(world).name
            except WorldError:
                world_name = "twin"
            findings += checks.check_bridge(bridge, description.name, world_name)
    except checks.ToolMissing as err:
        console.print(f"[red]error:[/] {err}")
        raise typer.Exit(2) from err
    styles = {"error": "red", "unchecked": "yellow", "note": "cyan"}
    for finding in findings:
        console.print(f"[{styles[finding.level]}]{finding.level}:[/] {finding.file}: {finding.message}",
                      highlight=False, soft_wrap=True)
    failed = [f for f in findings if f.level != "note"]
    if failed:
        console.print(f"[red]check failed[/]: {len(failed)} problem(s)")
        raise typer.Exit(1)
    if description is not None:
        console.print(f"[green]ok[/]: {description.name}: {len(description.links)} links, "
                      f"{len(description.joint_names)} actuated joints, {description.total_mass:.1f} kg; "
                      "world and bridge valid")


@app.command()
def demo(
    duration: Annotated[float, typer.Option(help="Seconds to run the twin (wall time).", min=1.0)] = 40.0,
    profile: Annotated[str, typer.Option(
        help="How the emulated physical robot differs from its model: a name in config/physical_profiles "
             "(nominal, default) or a path to a profile YAML.")] = "default",
    motion: Annotated[str, typer.Option(
        help="What the physical robot does: stand, squat, arm_wave, torso_twist, weight_shift or tour.")] = "tour",
    out: Annotated[Path, typer.Option(help="Directory for report.json and the node logs.")] = Path("gap_report"),
    urdf: UrdfOption = None,
    package: PackageOption = None,
    xacro_arg: XacroArgOption = None,
    joint_roles: Annotated[Optional[Path], typer.Option(
        help="YAML map role: joint_name (e.g. left_knee: LKneePitch) for joints whose names do not say "
             "their role.")] = None,
    gui: Annotated[bool, typer.Option(
        help="Open the embedded simulator's viewer, the physical robot drawn as a translucent ghost "
             "(needs a display).")] = False,
    pacing: Annotated[str, typer.Option(
        help="lockstep: the simulator steps to the stamp of each physical sample, so CPU hiccups delay "
             "the twin instead of moving it. realtime: it runs on the wall clock, as Gazebo does.")] = "lockstep",
) -> None:
    """Run the whole twin on the embedded simulator and print the reality gap.

    Starts the emulated physical robot (physical_emulator), the embedded simulator
    (embedded_sim), twin_sync and gap_monitor as separate processes on a private ROS 2
    domain with localhost discovery, shows the gap live, stops them with Ctrl-C after
    --duration seconds, prints the summary table and leaves report.json in --out.
    Exits 1 with the reason if a node died, 2 on bad options.
    """
    from digital_twin_gz.demo import DemoError, run_demo
    from digital_twin_gz.graph import TwinOptions

    packages = parse_packages(package)
    xacro_args = parse_pairs(xacro_arg, ":=", "--xacro-arg")
    _check_run_options(urdf, packages, xacro_args, profile, motion, joint_roles)
    options = TwinOptions(
        profile=profile, motion=motion, out_dir=str(out), gui=gui, pacing=pacing,
        urdf=str(urdf.resolve()) if urdf else "",
        xacro_args=tuple(f"{k}:={v}" for k, v in xacro_args.items()),
        packages=tuple(f"{k}={v}" for k, v in packages.items()),
        joint_roles=str(joint_roles.resolve()) if joint_roles else "")
    try:
        run_demo(options, duration, console)
    except DemoError as err:
        console.print(f"[red]demo failed:[/] {err}", highlight=False)
        raise typer.Exit(1) from err


def _check_run_options(urdf: Path | None, packages: dict[str, Path], xacro_args: dict[str, str], profile: str,
                       motion: str, joint_roles: Path | None) -> None:
    """Fail before starting any process: the robot loads, the profile exists, the motion fits the robot."""
    from digital_twin_gz.description import DescriptionError, load_description
    from digital_twin_gz.motions import Motion
    from digital_twin_gz.physical import ProfileError, load_profile
    from digital_twin_gz.roles import RoleError, load_roles

    try:
        description = load_description(urdf, xacro_args=xacro_args, packages=packages)
        load_profile(profile)
        Motion(motion, description, load_roles(description, joint_roles))
    except (DescriptionError, ProfileError, RoleError, OSError, ValueError) as err:
        console.print(f"[red]error:[/] {err}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from err


def main() -> None:
    app()


if __name__ == "__main__":
    main()
