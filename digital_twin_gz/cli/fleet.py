"""``digital-twin-gz fleet replay`` and ``digital-twin-gz fleet calibrate``: many recordings, one Ray task each."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from digital_twin_gz.cli.app import app, console
from digital_twin_gz.cli.calibrate import (
    HoldoutOption,
    MaxIterationsOption,
    ParamsOption,
    ThreadsOption,
    parse_calibration,
)
from digital_twin_gz.cli.common import (
    JointMapOption,
    JointRolesOption,
    JointStatesOption,
    KeyLinksOption,
    OdomOption,
    PackageOption,
    UrdfOption,
    VirtualProfileOption,
    XacroArgOption,
    check_key_links,
    check_model,
    fail,
    load_robot,
    load_virtual_profile,
    parse_xacro_args,
    stop_as_ctrl_c,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    from digital_twin_gz.fleet import CalibrationJob, FleetResults, ReplayJob, Robot

fleet_app = typer.Typer(
    help="Many recordings at once, of several robots or of one over weeks: one Ray task per recording, on this "
         "machine or a Ray cluster, each recording's results in its own folder and a fleet report (fleet.json, "
         "fleet.html) over them all.",
    no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False, rich_markup_mode=None)
app.add_typer(fleet_app, name="fleet")

RecordingsArgument = Annotated[list[str], typer.Argument(
    help="Recordings: MCAP files, rosbag2 directories, directories holding them (searched recursively) and glob "
         "patterns (quoted; ** crosses directories).", metavar="RECORDING", show_default=False)]
AddressOption = Annotated[Optional[str], typer.Option(
    help="Join a running Ray cluster instead: 'auto' (the one `ray start` left on this machine, or RAY_ADDRESS) or "
         "HOST:PORT of its head node. The recordings must be at the same paths on every node; the results come "
         "back here. Default: a Ray of this command's own on this machine, stopped when it ends.")]
CpusOption = Annotated[Optional[int], typer.Option(
    help="CPUs the command's own Ray may use (default: all of this machine's). Not with --address.")]
FleetOutOption = Annotated[Path, typer.Option(
    help="Directory for fleet.json, fleet.html and a folder per recording (its path below the recordings' common "
         "directory).")]


def _robot(urdf, package, xacro_arg, joint_roles, joint_map, joint_states: str, odom: str,
           key_links: list[str] | None) -> Robot:
    """The robot the options name, checked as the single commands check it (exit 2 when it is wrong)."""
    from digital_twin_gz.fleet import Robot
    from digital_twin_gz.robot import load_world

    description, roles, mapping = load_robot(urdf, package, xacro_arg, joint_roles, joint_map)
    check_model(description)
    check_key_links(description, key_links)
    return Robot(description, load_world(), mapping, roles, joint_states, odom, tuple(key_links or ()))


@fleet_app.command("replay")
def fleet_replay(
    recordings: RecordingsArgument,
    out: FleetOutOption = Path("fleet_report"),
    address: AddressOption = None,
    cpus: CpusOption = None,
    joint_states: JointStatesOption = "physical/joint_states",
    odom: OdomOption = "physical/odom",
    urdf: UrdfOption = None,
    package: PackageOption = None,
    xacro_arg: XacroArgOption = None,
    joint_map: JointMapOption = None,
    joint_roles: JointRolesOption = None,
    virtual_profile: VirtualProfileOption = None,
    key_links: KeyLinksOption = None,
) -> None:
    """Replay every recording through the twin, as `digital-twin-gz replay` does, one Ray task each.

    Each recording's report.json and report.html (the same as a single `replay` of it gives,
    apart from when they were written) land in its own folder under --out; fleet.json and
    fleet.html tabulate them all per robot and recording (duration, samples, base, orientation
    and key-link gap, status; sortable), plot their distributions and each gap against the
    recording's date per robot, and link each recording's report. The robot is the recording's
    metadata `robot`, else the description's name; the date is the first stamp (when it is a
    wall-clock time), else when the recorder began. A recording that fails is reported with its
    reason and the others go on. Ctrl-C stops the fleet and keeps what finished. Exits 0 when
    every recording was replayed, 1 when any failed or the recordings cannot be found, 2 on bad
    options, 130 when interrupted.
    """
    from digital_twin_gz.fleet import ReplayJob, replay_recording

    robot = _robot(urdf, package, xacro_arg, joint_roles, joint_map, joint_states, odom, key_links)
    physics = load_virtual_profile(virtual_profile) if virtual_profile is not None else None
    _run(ReplayJob(robot, physics), recordings, out, address, cpus, replay_recording, 1)


@fleet_app.command("calibrate")
def fleet_calibrate(
    recordings: RecordingsArgument,
    params: ParamsOption = None,
    out: FleetOutOption = Path("fleet_calibration"),
    holdout: HoldoutOption = None,
    max_iterations: MaxIterationsOption = None,
    threads: ThreadsOption = 1,
    address: AddressOption = None,
    cpus: CpusOption = None,
    joint_states: JointStatesOption = "physical/joint_states",
    odom: OdomOption = "physical/odom",
    urdf: UrdfOption = None,
    package: PackageOption = None,
    xacro_arg: XacroArgOption = None,
    joint_map: JointMapOption = None,
    joint_roles: JointRolesOption = None,
    key_links: KeyLinksOption = None,
) -> None:
    """Calibrate on every recording, as `digital-twin-gz calibrate` does, one Ray task each.

    Each recording's task rolls its segments out on --threads threads of its own and takes that
    many of Ray's CPUs, so Ray runs as many recordings at once as the CPUs allow (default 1
    each: one recording per CPU). calibrated.yaml, calibrated.urdf, calibration.json and
    calibration.html land in each recording's folder under --out; fleet.json and fleet.html
    tabulate the fitted values and the held-out gap before and after per robot and recording,
    plot their distributions and each fitted value against the recording's date per robot (a
    robot whose physics drift over weeks shows there), and link each calibration.json. A
    recording that fails is reported with its reason and the others go on. Ctrl-C stops the fleet
    and keeps the recordings that finished (one interrupted mid-fit keeps its last iteration's
    values on disk, but is not in the fleet report). Exits as
    `fleet replay` does.
    """
    from digital_twin_gz.fleet import CalibrationJob, calibrate_recording

    settings, names, threads = parse_calibration(params, holdout, max_iterations, threads)
    robot = _robot(urdf, package, xacro_arg, joint_roles, joint_map, joint_states, odom, key_links)
    job = CalibrationJob(robot, settings, names or settings.params, holdout, max_iterations, threads,
                         parse_xacro_args(xacro_arg))
    _run(job, recordings, out, address, cpus, calibrate_recording, threads)


def _run(job: ReplayJob | CalibrationJob, arguments: list[str], out: Path, address: str | None, cpus: int | None,
         task: Callable, task_cpus: int) -> None:
    """Find the recordings, start or join Ray, run one task per recording with a progress bar, write
    each result as it comes and the fleet report; exit as the command's help says."""
    from digital_twin_gz.fleet import (
        DiscoveryError,
        FleetResults,
        RaySession,
        RayUnavailable,
        find_recordings,
        host_port,
        output_folders,
    )

    if cpus is not None and (address is not None or cpus < 1):
        fail("--cpus sizes this command's own Ray (at least 1); a cluster joined with --address has its own", 2)
    try:
        if address is not None:
            host_port(address)
    except RayUnavailable as err:
        fail(err, 2, err)
    try:
        recordings = output_folders(find_recordings(arguments))
    except DiscoveryError as err:
        fail(err, 1, err)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        fail(f"--out {out}: cannot create it ({err.strerror or err})", 2, err)
    console.print(f"{len(recordings)} recording{'s' * (len(recordings) != 1)}; "
                  + (f"joining the Ray cluster at {address}" if address else "starting Ray on this machine"),
                  highlight=False)
    interrupted = False
    try:
        # Report pictures render offscreen on the workers, display or not (as `replay` renders them).
        with RaySession(address, cpus, {"MUJOCO_GL": os.environ.get("MUJOCO_GL", "egl")}) as session:
            info = session.info
            console.print(f"Ray {info.version}: {info.nodes} node(s), {info.cpus:g} CPUs, ready in "
                          f"{info.start_s:.1f} s", highlight=False)
            if task_cpus > info.node_cpus:
                fail(f"--workers {task_cpus}: each recording's task needs that many CPUs on one node; the largest "
                     f"node has {info.node_cpus:g}", 2)
            stop_as_ctrl_c(signal.SIGTERM, signal.SIGHUP)  # what finished is kept
            results = FleetResults(job, recordings, out, info)
            try:
                _progress(session, task, recordings, job, task_cpus, results)
            except KeyboardInterrupt:
                interrupted = True
                for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
                    signal.signal(signum, signal.SIG_IGN)  # stopping Ray is not to be cut short
                console.print(f"[yellow]interrupted:[/] stopping Ray; keeping the {len(results.outcomes)} recordings "
                              "that finished", highlight=False)
    except RayUnavailable as err:
        fail(err, 1, err)
    except KeyboardInterrupt:
        console.print("[yellow]interrupted[/] while Ray started: nothing was run")
        raise typer.Exit(130) from None
    paths = results.finish(interrupted)
    _print_summary(results)
    console.print(f"fleet report: {', '.join(str(p) for p in paths)}", highlight=False, soft_wrap=True)
    if interrupted:
        raise typer.Exit(130)
    if any(o.status != "done" for o in results.outcomes.values()):
        raise typer.Exit(1)


def _progress(session, task: Callable, recordings: list, job, task_cpus: int, results: FleetResults) -> None:
    """The tasks, a progress bar over the recordings, each failure and warning printed once."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from digital_twin_gz.fleet import FAILED, Outcome, reason

    columns = (TextColumn(f"fleet {job.kind}"), BarColumn(), MofNCompleteColumn(), TextColumn("recordings"),
               TextColumn("{task.fields[failed]} failed"), TimeElapsedColumn())
    printed: set[str] = set()
    with Progress(*columns, console=console) as progress:
        bar = progress.add_task(job.kind, total=len(recordings), failed=0)
        failed = 0
        for recording, result in session.map(task, recordings, job, task_cpus):
            outcome = result if isinstance(result, Outcome) else Outcome(
                str(recording.path), recording.folder, FAILED, reason(result))
            results.add(outcome)
            if outcome.status == FAILED:
                failed += 1
                progress.console.print(f"[red]failed:[/] {outcome.folder}: {outcome.reason}", highlight=False,
                                       soft_wrap=True)
            for warning in outcome.warnings:
                if warning not in printed:
                    printed.add(warning)
                    progress.console.print(f"[yellow]warning:[/] {warning}", highlight=False, soft_wrap=True)
            progress.update(bar, advance=1, failed=failed)


def _print_summary(results: FleetResults) -> None:
    from rich.table import Table

    report = results.report(partial=False)
    plotted = [m for m in report["metrics"] if m["plotted"]]
    table = Table(title=f"{report['command']}: {report['counts']['done']} of {report['counts']['recordings']} "
                        f"recordings done, {report['counts']['failed']} failed", title_justify="left")
    for column in ("robot", "recordings", "done", "failed", *(f"median {m['label']}" for m in plotted)):
        table.add_column(column, justify="left" if column == "robot" else "right")
    for robot, s in report["robots"].items():
        medians = [s["median"][m["key"]] for m in plotted]
        table.add_row(robot, str(s["recordings"]), str(s["done"]), str(s["failed"]),
                      *("-" if v is None else f"{v:.{m['digits']}f}" for v, m in zip(medians, plotted)))
    console.print(table)
