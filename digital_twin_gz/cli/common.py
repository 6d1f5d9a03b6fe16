"""What the commands share: option declarations, parsing of NAME=VALUE pairs, loading the robot,
one way to print an error and exit, and one way to be stopped."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn, Optional

import typer

from digital_twin_gz.cli.app import console

if TYPE_CHECKING:
    from digital_twin_gz.emulator import Profile
    from digital_twin_gz.robot import JointRoles, RobotDescription
    from digital_twin_gz.twin import JointMap

UrdfOption = Annotated[Optional[Path], typer.Option(
    "--urdf", help="Robot description (.urdf or .urdf.xacro). Default: the bundled humanoid.")]
PackageOption = Annotated[Optional[list[str]], typer.Option(
    "--package", help="NAME=DIR: where package://NAME/ and $(find NAME) point. Repeatable.")]
XacroArgOption = Annotated[Optional[list[str]], typer.Option(
    "--xacro-arg", help="NAME:=VALUE passed to xacro, e.g. robot_name:=atlas. Repeatable.")]
JointRolesOption = Annotated[Optional[Path], typer.Option(
    help="YAML map role: joint_name (e.g. left_knee: LKneePitch) for joints whose names do not say their role "
         "(motions, key links, feet, teleop groups).")]
KeyLinksOption = Annotated[Optional[list[str]], typer.Option(
    "--key-links", help="A link whose position gap is measured (repeatable). Default: the feet, hands and head "
                        "the joint roles give; the command says which it could not find.")]
JointMapOption = Annotated[Optional[Path], typer.Option(
    help="YAML: joints: {recorded_name: twin_joint}, ignore: [names], for recordings whose joint names "
         "differ from the description's.")]
JointStatesOption = Annotated[str, typer.Option(
    "--joint-states", help="Topic of the physical robot's sensor_msgs/JointState. A relative name is in the "
                           "namespace of the robot the recording is of (a twin's recording says which), else "
                           "at the top.")]
OdomOption = Annotated[str, typer.Option(
    "--odom", help="Topic of the physical base pose: nav_msgs/Odometry, geometry_msgs/PoseStamped or "
                   "PoseWithCovarianceStamped. Relative: as --joint-states.")]
VirtualProfileOption = Annotated[Optional[Path], typer.Option(
    help="Profile YAML whose physics the virtual model takes, e.g. calibrated.yaml from "
         "`digital-twin-gz calibrate`. Default: the description as it is.")]


def fail(message: object, code: int, cause: BaseException | None = None) -> NoReturn:
    """Print ``error: message`` and exit with ``code`` (1: the input cannot be used, 2: bad options)."""
    console.print(f"[red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code) from cause


def stop_as_ctrl_c(*signums: int) -> None:
    """SIGINT and ``signums`` raise KeyboardInterrupt, so the command stops as Ctrl-C stops it: also
    when it was started in the background (which starts it with SIGINT ignored) and when it is
    stopped by ``kill``, ``docker stop`` or systemd (SIGTERM)."""
    signal.signal(signal.SIGINT, signal.default_int_handler)
    for signum in signums:
        signal.signal(signum, _interrupt)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


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


def parse_xacro_args(values: list[str] | None) -> dict[str, str]:
    return parse_pairs(values, ":=", "--xacro-arg")


def load_robot(urdf: Path | None, package: list[str] | None, xacro_arg: list[str] | None,
               joint_roles: Path | None, joint_map: Path | None = None
               ) -> tuple[RobotDescription, JointRoles, JointMap]:
    """The description, its joint roles and the joint map the options name, or exit 2 saying what is wrong."""
    from digital_twin_gz.robot import DescriptionError, RoleError, load_description, load_roles
    from digital_twin_gz.twin import JointMap, JointMapError

    try:
        description = load_description(urdf, xacro_args=parse_xacro_args(xacro_arg), packages=parse_packages(package))
        return description, load_roles(description, joint_roles), JointMap.load(description, joint_map)
    except (DescriptionError, RoleError, JointMapError, OSError) as err:
        fail(err, 2, err)


def check_model(description: RobotDescription) -> None:
    """Build the embedded model once, or exit 2 saying what MuJoCo cannot take (a mesh, a body):
    before any process starts, and the converted meshes are cached for those that follow."""
    from digital_twin_gz.robot import DescriptionError, load_world
    from digital_twin_gz.sim.builder import build_model

    try:
        build_model(description, load_world())
    except DescriptionError as err:
        fail(err, 2, err)


def check_key_links(description: RobotDescription, links: list[str] | None) -> None:
    """Exit 2 naming the links of --key-links that the robot does not have."""
    unknown = [link for link in links or () if link not in description.links]
    if unknown:
        fail(f"--key-links: robot '{description.name}' has no link {', '.join(map(repr, unknown))}", 2)


def load_virtual_profile(path: Path) -> Profile:
    """The profile a --virtual-profile names, or exit 2 saying what is wrong with it."""
    from digital_twin_gz.emulator import ProfileError, load_profile

    if path.suffix not in (".yaml", ".yml"):
        fail(f"--virtual-profile: {path} is not a .yaml file", 2)
    try:
        return load_profile(path)
    except ProfileError as err:
        fail(f"--virtual-profile: {err}", 2, err)
