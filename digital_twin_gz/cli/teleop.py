"""``digital-twin-gz teleop``."""

from __future__ import annotations

from typing import Annotated

import typer

from digital_twin_gz.cli.app import app, console
from digital_twin_gz.cli.common import JointRolesOption, PackageOption, UrdfOption, XacroArgOption, fail, load_robot


@app.command()
def teleop(
    urdf: UrdfOption = None,
    package: PackageOption = None,
    xacro_arg: XacroArgOption = None,
    joint_roles: JointRolesOption = None,
    mirror: Annotated[bool, typer.Option(
        help="Offer mirroring: while the m key has it on, the commands also go to the physical robot on "
             "/physical/joint_commands, within its limits.")] = False,
    rate: Annotated[float, typer.Option(help="Hz of the targets on /virtual/joint_trajectory.", min=1.0,
                                        max=1000.0)] = 50.0,
    speed: Annotated[float, typer.Option(
        help="Fraction of each joint's velocity limit (description) that the targets move at.", min=0.01,
        max=1.0)] = 0.25,
    mirror_rate: Annotated[float, typer.Option(help="Hz, at most, of /physical/joint_commands.", min=1.0,
                                               max=1000.0)] = 50.0,
    max_gap: Annotated[float, typer.Option(
        help="m: mirroring stops at once when /twin/gap/base_position (gap_monitor) exceeds it.", min=0.001)] = 0.05,
    namespace: Annotated[str, typer.Option(
        help="The robot's ROS namespace (robot_1 for a robot of `demo --robots 2`, a launch's namespace:=): its "
             "topics and services are then /robot_1/virtual/..., /robot_1/twin_sync/set_paused. Empty: the "
             "names without one.")] = "",
) -> None:
    """Drive the virtual robot from the keyboard; with --mirror, the physical robot too.

    Joins the running twin (with --namespace, that robot's) on the caller's ROS_DOMAIN_ID (discovery on localhost unless
    ROS_AUTOMATIC_DISCOVERY_RANGE says otherwise), pauses twin_sync (/twin_sync/set_paused;
    without twin_sync it drives the virtual robot anyway) and streams targets on
    /virtual/joint_trajectory, starting from the virtual robot's pose, clamped to the joint
    limits, no joint faster than --speed times its velocity limit. Works with the embedded
    simulator and with Gazebo alike. On exit (q, Ctrl-C, SIGTERM) twin_sync is resumed.

    Mirroring (--mirror, then m) needs gap_monitor and /physical/joint_states: each command
    is kept within the physical joint limits, velocity limits and effort limits (a command
    leads the measured position by at most effort limit / position gain) at --mirror-rate
    at most; it stops at once when the gap exceeds --max-gap, a feed goes quiet, or the
    operator presses m or space. Press m to engage it again.

    \b
    Keys:
      Left/Right (- +)   nudge the selection down/up by one step (clamped to the limits)
      Up/Down            previous/next joint of the group ("whole group" first)
      Tab/Shift-Tab      next/previous group: all joints, torso, head, arms, legs
      [ ]                smaller/larger step (0.005 .. 0.5 rad)
      1 2 3 4            presets: stand (legs, torso), squat, arms up, wave (right arm)
      0                  every joint back to its default position
      m                  mirroring on/off (with --mirror); space: off
      q, Ctrl-C          quit and resume twin_sync

    Exits 1 if twin_sync could not be resumed, 2 on bad options or without a terminal.
    """
    from digital_twin_gz.run import check_namespace
    from digital_twin_gz.teleop.node import TeleopOptions
    from digital_twin_gz.teleop.ui import TeleopError, run_teleop

    description, roles, _ = load_robot(urdf, package, xacro_arg, joint_roles)
    try:
        namespace = check_namespace(namespace)
    except ValueError as err:
        fail(err, 2, err)
    options = TeleopOptions(rate=rate, speed=speed, mirror=mirror, mirror_rate=mirror_rate, max_gap=max_gap,
                            namespace=namespace)
    try:
        code = run_teleop(description, roles, options, console)
    except TeleopError as err:
        fail(err, 2, err)
    raise typer.Exit(code)
