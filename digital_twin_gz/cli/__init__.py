"""``digital-twin-gz``: the command line of the digital twin."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer
from rich.console import Console

if TYPE_CHECKING:
    from digital_twin_gz.calibrate import Budget
    from digital_twin_gz.description import RobotDescription
    from digital_twin_gz.recording import PhysicalRecording
    from digital_twin_gz.roles import JointRoles

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
VirtualProfileOption = Annotated[Optional[Path], typer.Option(
    help="Profile YAML whose physics the virtual model takes, e.g. calibrated.yaml from "
         "`digital-twin-gz calibrate`. Default: the description as it is.")]


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
    record: Annotated[Optional[Path], typer.Option(
        help="Also record the physical, virtual and gap topics into this MCAP file (ROS 2 profile: opens in "
             "Foxglove, plays with ros2 bag play, replays with digital-twin-gz replay).")] = None,
    virtual_profile: VirtualProfileOption = None,
) -> None:
    """Run the whole twin on the embedded simulator and print the reality gap.

    Starts the emulated physical robot (physical_emulator), the embedded simulator
    (embedded_sim), twin_sync and gap_monitor as separate processes on a private ROS 2
    domain with localhost discovery, shows the gap live, stops them with Ctrl-C after
    --duration seconds, prints the summary table and leaves report.json and report.html in --out.
    Exits 1 with the reason if a node died, 2 on bad options.
    """
    from digital_twin_gz.demo import DemoError, run_demo
    from digital_twin_gz.graph import TwinOptions

    packages = parse_packages(package)
    xacro_args = parse_pairs(xacro_arg, ":=", "--xacro-arg")
    _check_run_options(urdf, packages, xacro_args, profile, motion, joint_roles)
    if virtual_profile is not None:
        _load_virtual_profile(virtual_profile)
    options = TwinOptions(
        profile=profile, motion=motion, out_dir=str(out), gui=gui, pacing=pacing,
        urdf=str(urdf.resolve()) if urdf else "",
        xacro_args=tuple(f"{k}:={v}" for k, v in xacro_args.items()),
        packages=tuple(f"{k}={v}" for k, v in packages.items()),
        joint_roles=str(joint_roles.resolve()) if joint_roles else "",
        record=str(record.expanduser().resolve()) if record else "",
        virtual_profile=str(virtual_profile.expanduser().resolve()) if virtual_profile else "")
    try:
        run_demo(options, duration, console)
    except DemoError as err:
        console.print(f"[red]demo failed:[/] {err}", highlight=False)
        raise typer.Exit(1) from err


@app.command()
def replay(
    recording: Annotated[Path, typer.Argument(
        help="An MCAP file (ours or from `ros2 bag record -s mcap`) or a rosbag2 directory (sqlite3 or mcap).")],
    joint_states: Annotated[str, typer.Option(
        "--joint-states", help="Topic of the physical robot's sensor_msgs/JointState.")] = "/physical/joint_states",
    odom: Annotated[str, typer.Option(
        "--odom", help="Topic of the physical base pose: nav_msgs/Odometry, geometry_msgs/PoseStamped or "
                       "PoseWithCovarianceStamped.")] = "/physical/odom",
    out: Annotated[Path, typer.Option(help="Directory for report.json and report.html.")] = Path("gap_report"),
    urdf: UrdfOption = None,
    package: PackageOption = None,
    xacro_arg: XacroArgOption = None,
    joint_map: Annotated[Optional[Path], typer.Option(
        help="YAML: joints: {recorded_name: twin_joint}, ignore: [names], for recordings whose joint names "
             "differ from the description's.")] = None,
    joint_roles: Annotated[Optional[Path], typer.Option(
        help="YAML map role: joint_name, for joints whose names do not say their role (key links).")] = None,
    virtual_profile: VirtualProfileOption = None,
) -> None:
    """Replay a recording of the physical robot through the twin and report the reality gap.

    Drives the embedded simulator in lockstep with the recorded joint states (no ROS
    processes), measures the gap with gap_monitor's code and writes report.json and
    report.html into --out. The same recording always gives the same report. A damaged
    recording is replayed up to the damage, with a warning. Exits 1 if the recording
    cannot be used (the message says why), 2 on bad options.
    """
    import os

    os.environ.setdefault("MUJOCO_GL", "egl")  # pictures render offscreen, display or not
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from digital_twin_gz.description import DescriptionError, load_description
    from digital_twin_gz.recording import RecordingError
    from digital_twin_gz.replay import replay_file
    from digital_twin_gz.report import print_summary
    from digital_twin_gz.roles import RoleError, load_roles
    from digital_twin_gz.sync import JointMap, JointMapError
    from digital_twin_gz.world import load_world

    try:
        description = load_description(urdf, xacro_args=parse_pairs(xacro_arg, ":=", "--xacro-arg"),
                                       packages=parse_packages(package))
        roles = load_roles(description, joint_roles)
        mapping = JointMap.load(description, joint_map)
    except (DescriptionError, RoleError, JointMapError, OSError) as err:
        console.print(f"[red]error:[/] {err}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from err
    physics = _load_virtual_profile(virtual_profile) if virtual_profile is not None else None

    columns = (TextColumn("replaying"), BarColumn(), MofNCompleteColumn(), TextColumn("samples"),
               TimeRemainingColumn())
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task("replay", total=None)

        warned: set[str] = set()

        def on_read(piece) -> None:
            for warning in piece.warnings:
                if warning not in warned:
                    warned.add(warning)
                    progress.console.print(f"[yellow]warning:[/] {warning}", highlight=False, soft_wrap=True)
            if progress.tasks[0].total is None:
                progress.update(task, total=next(t.count for t in piece.topics if t.name == piece.joint_topic))

        try:
            run = replay_file(recording, description, load_world(), out, mapping, joint_states, odom, roles,
                              on_read=on_read, progress=lambda done: progress.update(task, completed=done),
                              virtual_profile=physics)
        except RecordingError as err:
            progress.stop()
            console.print(f"[red]error:[/] {err}", highlight=False, soft_wrap=True)
            raise typer.Exit(1) from err
    if run.stats.rejected:
        rejected = ", ".join(f"{n} {reason}" for reason, n in sorted(run.stats.rejected.items()))
        console.print(f"[yellow]rejected samples (twin_sync's rules):[/] {rejected}", highlight=False)
    print_summary(run.report, console)
    console.print(f"report: {', '.join(str(p) for p in run.paths)}", highlight=False, soft_wrap=True)


@app.command()
def calibrate(
    recording: Annotated[Path, typer.Argument(
        help="An MCAP file or rosbag2 directory of the physical robot (what `replay` reads).")],
    params: Annotated[str, typer.Option(
        help="Comma-separated parameters to fit: mass_scale, foot_friction, joint_damping, joint_friction, "
             "actuator_gain, latency.")] = "mass_scale,foot_friction,joint_damping,latency",
    out: Annotated[Path, typer.Option(
        help="Directory for calibrated.yaml, calibrated.urdf and calibration.json.")] = Path("calibration"),
    holdout: Annotated[float, typer.Option(
        help="Fraction at the end of the recording kept out of the fit; the gap before and after is "
             "measured there.")] = 0.3,
    restarts: Annotated[int, typer.Option(
        help="Independent searches with different seeds; the spread of their results is the confidence.")] = 3,
    generations: Annotated[int, typer.Option(help="Generations of each search.")] = 10,
    population: Annotated[int, typer.Option(
        help="Candidates per generation, per parameter (at least 5 in all).")] = 5,
    workers: Annotated[int, typer.Option(
        help="Processes replaying candidates in parallel (0: one per CPU).")] = 0,
    seed: Annotated[int, typer.Option(help="Seed of the first search (the next ones count up).")] = 0,
    joint_states: Annotated[str, typer.Option(
        "--joint-states", help="Topic of the physical robot's sensor_msgs/JointState.")] = "/physical/joint_states",
    odom: Annotated[str, typer.Option(
        "--odom", help="Topic of the physical base pose (Odometry, PoseStamped or PoseWithCovarianceStamped).")
    ] = "/physical/odom",
    urdf: UrdfOption = None,
    package: PackageOption = None,
    xacro_arg: XacroArgOption = None,
    joint_map: Annotated[Optional[Path], typer.Option(
        help="YAML: joints: {recorded_name: twin_joint}, ignore: [names] (as for replay).")] = None,
    joint_roles: Annotated[Optional[Path], typer.Option(
        help="YAML map role: joint_name, for joints whose names do not say their role (feet, key links).")] = None,
) -> None:
    """Fit the virtual model's physics to a recording, so the twin's reality gap shrinks.

    Each candidate model is the description with the chosen parameters changed; it is
    scored by replaying the first part of the recording through it in lockstep (as
    `replay` does) and taking the RMS key-link position error (feet, hands, head; mm).
    scipy's differential evolution searches within fixed bounds, each generation's
    candidates replayed in parallel (--workers); --restarts searches with different seeds
    give the fitted values' spread. The nominal and the fitted model are then compared on
    the held-out end of the recording, which the fit never saw.

    Parameters: mass_scale (all links), foot_friction (feet on the ground),
    joint_damping and joint_friction (added to every joint), actuator_gain (every
    actuator's output), latency (s the virtual robot acts after each sample's stamp; 0
    for a recording whose stamps are right, since the replay runs on stamps). Masses and
    actuator forces scaled alike move the twin alike: fitted together, mass_scale and
    actuator_gain are determined only as a ratio (reported); fit one of them.

    Writes into --out: calibrated.yaml (a profile: `replay`/`demo --virtual-profile`,
    embedded_sim's physics_profile parameter), calibrated.urdf (the fitted physics written
    into the description, for Gazebo) and calibration.json (values, spread, gaps, every
    evaluation). Ctrl-C stops the search and saves the best values so far. Exits 1 if the
    recording cannot be used, 2 on bad options, 130 when interrupted.
    """
    import os

    from digital_twin_gz.calibrate import Budget, CalibrationError, parse_params
    from digital_twin_gz.description import DescriptionError, load_description
    from digital_twin_gz.recording import RecordingError, read_physical
    from digital_twin_gz.roles import RoleError, load_roles
    from digital_twin_gz.sync import JointMap, JointMapError

    xacro_args = parse_pairs(xacro_arg, ":=", "--xacro-arg")
    try:
        names = parse_params(params)
        if not 0 < holdout < 1:
            raise CalibrationError(f"--holdout must be between 0 and 1 (a fraction of the recording), got {holdout}")
        budget = Budget(restarts, generations, population, workers or os.cpu_count() or 1, seed)
        description = load_description(urdf, xacro_args=xacro_args, packages=parse_packages(package))
        roles = load_roles(description, joint_roles)
        mapping = JointMap.load(description, joint_map)
    except (CalibrationError, DescriptionError, RoleError, JointMapError, OSError) as err:
        console.print(f"[red]error:[/] {err}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from err
    try:
        recorded = read_physical(recording, description, mapping, joint_states, odom)
    except RecordingError as err:
        console.print(f"[red]error:[/] {err}", highlight=False, soft_wrap=True)
        raise typer.Exit(1) from err
    for warning in recorded.warnings:
        console.print(f"[yellow]warning:[/] {warning}", highlight=False, soft_wrap=True)
    _run_calibration(recorded, description, roles, names, holdout, budget, out, xacro_args)


def _run_calibration(recorded: PhysicalRecording, description: RobotDescription, roles: JointRoles,
                     names: tuple[str, ...], holdout: float, budget: Budget, out: Path,
                     xacro_args: dict[str, str]) -> None:
    """The search with a progress bar, then the results table; Ctrl-C saves what was found."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from digital_twin_gz.calibrate import RIDGE, Calibration, CalibrationError, print_summary
    from digital_twin_gz.world import load_world

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("evaluations"),
               TimeElapsedColumn(), TextColumn("{task.fields[best]}"))
    try:
        calibration = Calibration(recorded, description, load_world(), names, roles=roles, holdout=holdout,
                                  budget=budget, xacro_args=xacro_args)
    except CalibrationError as err:
        console.print(f"[red]error:[/] {err}", highlight=False, soft_wrap=True)
        raise typer.Exit(1) from err
    if set(RIDGE) <= set(names):
        console.print("[yellow]note:[/] mass_scale and actuator_gain move the twin alike; the fit determines their "
                      "ratio (reported), not each of them: fit one of them for a value that means something",
                      highlight=False)
    console.print(f"calibrating {', '.join(names)} on {calibration.cut_s:.1f} s of {recorded.duration:.1f} s "
                  f"({budget.restarts} restarts x {budget.generations} generations, {budget.workers} workers; "
                  "Ctrl-C saves the best so far)", highlight=False)
    with calibration, Progress(*columns, console=console) as progress:
        task = progress.add_task("starting workers", total=budget.evaluations(len(names)), best="")

        def status(s) -> None:
            best = ", ".join(f"{k} {v:.4g}" for k, v in s.best.items())
            progress.update(task, completed=s.evaluations, description=f"restart {s.restart + 1}/{s.restarts}",
                            best=f"best {s.best_mm:.4g} mm: {best}")

        def saved(fit) -> None:
            progress.update(task, description="measuring the gaps", best="")
            if fit.interrupted:
                progress.console.print(f"[yellow]interrupted:[/] best values so far saved in {out}; measuring the "
                                       "held-out gap (Ctrl-C again to skip)", highlight=False)

        try:
            paths = calibration.run(out, status, saved)
        except KeyboardInterrupt:
            progress.stop()
            if calibration.fit is None or not calibration.fit.history:
                console.print("[yellow]interrupted[/] before any candidate was scored: nothing saved")
            else:
                console.print(f"[yellow]interrupted:[/] held-out gap not measured; fitted values in {out}")
            raise typer.Exit(130) from None
    print_summary(calibration.report(), paths, console)
    if calibration.fit.interrupted:
        raise typer.Exit(130)


@app.command()
def teleop(
    urdf: UrdfOption = None,
    package: PackageOption = None,
    xacro_arg: XacroArgOption = None,
    joint_roles: Annotated[Optional[Path], typer.Option(
        help="YAML map role: joint_name, for joints whose names do not say their role (groups, presets).")] = None,
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
) -> None:
    """Drive the virtual robot from the keyboard; with --mirror, the physical robot too.

    Joins the running twin on the caller's ROS_DOMAIN_ID (discovery on localhost unless
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
    from digital_twin_gz.description import DescriptionError, load_description
    from digital_twin_gz.nodes.teleop import TeleopOptions
    from digital_twin_gz.roles import RoleError, load_roles
    from digital_twin_gz.teleop_ui import TeleopError, run_teleop

    try:
        description = load_description(urdf, xacro_args=parse_pairs(xacro_arg, ":=", "--xacro-arg"),
                                       packages=parse_packages(package))
        roles = load_roles(description, joint_roles)
    except (DescriptionError, RoleError, OSError) as err:
        console.print(f"[red]error:[/] {err}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from err
    options = TeleopOptions(rate=rate, speed=speed, mirror=mirror, mirror_rate=mirror_rate, max_gap=max_gap)
    try:
        code = run_teleop(description, roles, options, console)
    except TeleopError as err:
        console.print(f"[red]error:[/] {err}", highlight=False)
        raise typer.Exit(2) from err
    raise typer.Exit(code)


def _load_virtual_profile(path: Path):
    """The profile a --virtual-profile names, or exit 2 saying what is wrong with it."""
    from digital_twin_gz.physical import ProfileError, load_profile

    if path.suffix not in (".yaml", ".yml"):
        console.print(f"[red]error:[/] --virtual-profile: {path} is not a .yaml file", highlight=False)
        raise typer.Exit(2)
    try:
        return load_profile(path)
    except ProfileError as err:
        console.print(f"[red]error:[/] --virtual-profile: {err}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from err


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
