"""``digital-twin-gz demo``."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Annotated, Optional

import typer

from digital_twin_gz.cli.app import app, console
from digital_twin_gz.cli.common import (
    JointRolesOption,
    KeyLinksOption,
    PackageOption,
    UrdfOption,
    VirtualProfileOption,
    XacroArgOption,
    check_key_links,
    check_model,
    fail,
    load_virtual_profile,
    parse_packages,
    parse_xacro_args,
    stop_as_ctrl_c,
)

# Robots one demo runs at most: each robot is ~0.75-1.2 cores (README, "Measured here").
MAX_ROBOTS = 8
# Hz of several robots' measurements unless --rate says otherwise: two or three twins keep pace at it on
# 2 cores, two at config/twin.yaml's 500 Hz (one robot's default) fall behind (bench/bench_robots.py, README).
FLEET_RATE = 250.0


@app.command()
def demo(
    duration: Annotated[float, typer.Option(help="Seconds to run the twin (wall time).", min=1.0)] = 40.0,
    profile: Annotated[str, typer.Option(
        help="How the emulated physical robot differs from its model: a name in config/physical_profiles "
             "(nominal, default) or a path to a profile YAML. With --robots, one for all or one per robot, "
             "separated by commas (default,nominal).")] = "default",
    motion: Annotated[str, typer.Option(
        help="What the physical robot does: stand, squat, arm_wave, torso_twist, weight_shift or tour. With "
             "--robots, one for all or one per robot, separated by commas.")] = "tour",
    robots: Annotated[int, typer.Option(
        help="How many emulated robots, each with its twin, in a namespace of its own on one ROS domain "
             "(/robot_1/physical/..., /robot_2/virtual/...); one table each at the end, each report in "
             f"--out/<namespace>/. On 2 cores two or three keep pace at {FLEET_RATE:g} Hz (README).", min=1,
             max=MAX_ROBOTS)] = 1,
    namespace: Annotated[str, typer.Option(
        help="The robots' namespaces, separated by commas (one per robot). Default: none for one robot "
             "(/physical/..., /virtual/...), robot_1 ... robot_N for several.")] = "",
    rate: Annotated[Optional[float], typer.Option(
        help="Hz of the emulated robots' measurements (and so of the twins' steps in lockstep). Default: "
             f"config/twin.yaml's (500) for one robot, {FLEET_RATE:g} for several.", min=10.0, max=2000.0)] = None,
    out: Annotated[Path, typer.Option(help="Directory for report.json and the node logs.")] = Path("gap_report"),
    urdf: UrdfOption = None,
    package: PackageOption = None,
    xacro_arg: XacroArgOption = None,
    joint_roles: JointRolesOption = None,
    key_links: KeyLinksOption = None,
    gui: Annotated[bool, typer.Option(
        help="Open the embedded simulator's viewer, the physical robot drawn as a translucent ghost "
             "(needs a display).")] = False,
    pacing: Annotated[str, typer.Option(
        help="lockstep: the simulator steps to the stamp of each physical sample, so CPU hiccups delay "
             "the twin instead of moving it. realtime: it runs on the wall clock, as Gazebo does.")] = "lockstep",
    record: Annotated[Optional[Path], typer.Option(
        help="Also record the physical, virtual and gap topics into this MCAP file (ROS 2 profile: opens in "
             "Foxglove, plays with ros2 bag play, replays with digital-twin-gz replay). A robot in a "
             "namespace records into <name>.<namespace>.mcap beside it.")] = None,
    virtual_profile: VirtualProfileOption = None,
    one_process: Annotated[bool, typer.Option(
        "--one-process/--separate-processes",
        help="Run the simulator, twin_sync and gap_monitor in one process on one executor (twin_container, "
             "like a ROS component container; the default, 0.6x the CPU) or one process each; the physical "
             "robot is always a process of its own. The README gives both figures.")] = True,
) -> None:
    """Run the whole twin on the embedded simulator and print the reality gap.

    Starts the emulated physical robot (physical_emulator), the embedded simulator
    (embedded_sim), twin_sync and gap_monitor (the last three in one process, or one each with
    --separate-processes) on a private ROS 2 domain with localhost discovery, shows the gap
    live, stops them with Ctrl-C after --duration seconds, prints the summary table and leaves
    report.json and report.html in --out. Ctrl-C or SIGTERM before then stops it the same way,
    with the report of the span run. With --robots N, N robots and their twins side by
    side on that domain, each in its namespace, each measured against its own streams.
    Exits 1 with the reason if a node died or no sample was paired, 2 on bad options.
    """
    from digital_twin_gz.run import DemoError, TwinOptions, prepare_outputs, run_demo

    packages = parse_packages(package)
    xacro_args = parse_xacro_args(xacro_arg)
    profiles, motions = per_robot(profile, robots, "--profile"), per_robot(motion, robots, "--motion")
    namespaces = _namespaces(namespace, robots)
    _check_run_options(urdf, packages, xacro_args, profiles, motions, joint_roles, key_links)
    if virtual_profile is not None:
        load_virtual_profile(virtual_profile)
    options = [TwinOptions(
        profile=robot_profile, motion=robot_motion, out_dir=str(out), gui=gui, pacing=pacing, one_process=one_process,
        urdf=str(urdf.resolve()) if urdf else "",
        xacro_args=tuple(f"{k}:={v}" for k, v in xacro_args.items()),
        packages=tuple(f"{k}={v}" for k, v in packages.items()),
        joint_roles=str(joint_roles.resolve()) if joint_roles else "", key_links=tuple(key_links or ()),
        record=str(record.expanduser().resolve()) if record else "",
        virtual_profile=str(virtual_profile.expanduser().resolve()) if virtual_profile else "",
        namespace=robot_namespace, rate=FLEET_RATE if rate is None and robots > 1 else rate)
        for robot_profile, robot_motion, robot_namespace in
        zip(profiles, motions, namespaces)]
    try:
        for robot in options:
            recording = Path(robot.record_file) if robot.record else None
            for note in prepare_outputs(robot.report_dir.expanduser().resolve(), recording):
                console.print(note, highlight=False)
    except OSError as err:
        fail(f"--out {out}{f' or --record {record}' if record else ''} cannot be written: {err}", 2, err)
    stop_as_ctrl_c(signal.SIGTERM)
    try:
        run_demo(options, duration, console)
    except DemoError as err:
        console.print(f"[red]demo failed:[/] {err}", highlight=False)
        raise typer.Exit(1) from err


def per_robot(value: str, robots: int, option: str) -> list[str]:
    """A comma-separated option: one value for every robot, or one per robot; exit 2 otherwise."""
    values = [v.strip() for v in value.split(",")]
    if len(values) == 1:
        return values * robots
    if len(values) != robots or not all(values):
        fail(f"{option} {value}: give one value, or one per robot ({robots}), separated by commas", 2)
    return values


def _namespaces(value: str, robots: int) -> list[str]:
    """--namespace as ROS namespaces: one per robot, all different; by default none for one robot
    and robot_1 ... robot_N for several."""
    from digital_twin_gz.run import check_namespace

    if not value:
        return [""] if robots == 1 else [f"robot_{k}" for k in range(1, robots + 1)]
    names = value.split(",")
    if len(names) != robots:
        fail(f"--namespace {value}: give one namespace per robot ({robots}), separated by commas", 2)
    try:
        checked = [check_namespace(name) for name in names]
    except ValueError as err:
        fail(f"--namespace: {err}", 2, err)
    if len(set(checked)) < robots or (robots > 1 and "" in checked):
        fail(f"--namespace {value}: each robot needs a namespace of its own", 2)
    return checked


def _check_run_options(urdf: Path | None, packages: dict[str, Path], xacro_args: dict[str, str], profiles: list[str],
                       motions: list[str], joint_roles: Path | None, key_links: list[str] | None) -> None:
    """Fail before starting any process: the robot loads, the profiles exist, the motions fit the robot."""
    from digital_twin_gz.emulator import Motion, ProfileError, load_profile
    from digital_twin_gz.robot import DescriptionError, RoleError, load_description, load_roles

    try:
        description = load_description(urdf, xacro_args=xacro_args, packages=packages)
        roles = load_roles(description, joint_roles)
        for profile in dict.fromkeys(profiles):
            load_profile(profile)
        for motion in dict.fromkeys(motions):
            Motion(motion, description, roles)
    except (DescriptionError, ProfileError, RoleError, OSError, ValueError) as err:
        fail(err, 2, err)
    check_key_links(description, key_links)
    check_model(description)
