"""``digital-twin-gz calibrate``."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from digital_twin_gz.cli.app import app, console
from digital_twin_gz.cli.common import (
    JointMapOption,
    JointRolesOption,
    JointStatesOption,
    KeyLinksOption,
    OdomOption,
    PackageOption,
    UrdfOption,
    XacroArgOption,
    check_model,
    fail,
    load_robot,
    parse_xacro_args,
    stop_as_ctrl_c,
)

if TYPE_CHECKING:
    from digital_twin_gz.calibration import Calibration, CalibrationSettings

ParamsOption = Annotated[Optional[str], typer.Option(
    help="Comma-separated parameters to fit: mass_scale, foot_friction, joint_damping, joint_friction, "
         "joint_armature (each for the whole robot, or NAME.legs / NAME.arms / NAME.torso for one body "
         "group), actuator_gain, joint_delay. Default: config/calibration.yaml's params.")]
HoldoutOption = Annotated[Optional[float], typer.Option(
    help="Fraction at the end of the recording kept out of the fit; the gap before and after is measured "
         "there. Default: config/calibration.yaml.")]
MaxIterationsOption = Annotated[Optional[int], typer.Option(
    help="Levenberg-Marquardt iterations at most. Default: config/calibration.yaml.")]
ThreadsOption = Annotated[int, typer.Option(help="Threads rolling the segments out (0: one per CPU).")]


def parse_calibration(params: str | None, holdout: float | None, max_iterations: int | None,
                      threads: int) -> tuple[CalibrationSettings, tuple[str, ...] | None, int]:
    """The settings, the parameters to fit (None: the settings') and the threads (0: one per CPU),
    or exit 2 saying what is wrong with the options."""
    import os

    from digital_twin_gz.calibration import CalibrationError, load_settings, parse_params

    try:
        settings = load_settings()
        names = parse_params(params, settings.catalogue) if params is not None else None
        if holdout is not None and not 0 < holdout < 1:
            raise CalibrationError(f"--holdout must be between 0 and 1 (a fraction of the recording), got {holdout}")
        if max_iterations is not None and max_iterations < 1:
            raise CalibrationError(f"--max-iterations must be at least 1, got {max_iterations}")
        if threads < 0:
            raise CalibrationError(f"--threads must be 0 (one per CPU) or more, got {threads}")
    except CalibrationError as err:
        fail(err, 2, err)
    return settings, names, threads or os.cpu_count() or 1


@app.command()
def calibrate(
    recording: Annotated[Path, typer.Argument(
        help="An MCAP file or rosbag2 directory of the physical robot (what `replay` reads).")],
    params: ParamsOption = None,
    out: Annotated[Path, typer.Option(
        help="Directory for calibrated.yaml, calibrated.urdf, calibration.json and calibration.html.")
    ] = Path("calibration"),
    holdout: HoldoutOption = None,
    max_iterations: MaxIterationsOption = None,
    threads: ThreadsOption = 0,
    joint_states: JointStatesOption = "physical/joint_states",
    odom: OdomOption = "physical/odom",
    urdf: UrdfOption = None,
    package: PackageOption = None,
    xacro_arg: XacroArgOption = None,
    joint_map: JointMapOption = None,
    joint_roles: JointRolesOption = None,
    key_links: KeyLinksOption = None,
) -> None:
    """Fit the virtual model's physics to a recording, so the twin's reality gap shrinks.

    The first part of the recording is cut into segments of a few seconds; each is rolled out
    through a candidate model from the physical state at its start, towards the recorded
    joints, and compared with the recording (key links and joints, weighted by their
    measured noise). MuJoCo's system-identification toolbox (mujoco.sysid: bounded
    Levenberg-Marquardt) fits the parameters, every candidate's segments rolled out in
    parallel (--threads). From the Jacobian at the fit come confidence intervals, and what
    the recording does not determine is reported as such (masses and actuator forces scaled
    alike move the twin alike: fitted together, only their ratio is), not as a number.
    Then the nominal and the calibrated twin replay the whole recording, as `replay` does,
    and their gaps are compared on the held-out end, which the fit never saw.

    Writes into --out: calibrated.yaml (a profile: `replay`/`demo --virtual-profile`,
    embedded_sim's physics_profile parameter), calibrated.urdf (the fitted physics written
    into the description, for Gazebo), calibration.json and calibration.html (values,
    intervals, correlations, gaps with plots). Ctrl-C (or SIGTERM) stops the fit and saves
    the best values so far. Exits 1 if the recording cannot be used, 2 on bad options, 130 when
    interrupted.
    """
    from digital_twin_gz.recording import RecordingError, read_physical

    settings, names, threads = parse_calibration(params, holdout, max_iterations, threads)
    description, roles, mapping = load_robot(urdf, package, xacro_arg, joint_roles, joint_map)
    check_model(description)
    try:
        recorded = read_physical(recording, description, mapping, joint_states, odom)
    except RecordingError as err:
        fail(err, 1, err)
    for warning in recorded.warnings:
        console.print(f"[yellow]warning:[/] {warning}", highlight=False, soft_wrap=True)

    from digital_twin_gz.calibration import Calibration, CalibrationError
    from digital_twin_gz.robot import load_world

    try:
        calibration = Calibration(recorded, description, load_world(), names, roles=roles, holdout=holdout,
                                  max_iterations=max_iterations, threads=threads,
                                  xacro_args=parse_xacro_args(xacro_arg), key_links=tuple(key_links or ()),
                                  settings=settings)
    except CalibrationError as err:
        fail(err, 1, err)
    _run(calibration, out)


def _run(calibration: Calibration, out: Path) -> None:
    """The fit with a progress bar, then the results; Ctrl-C saves what was found."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from digital_twin_gz.calibration import print_summary

    stop_as_ctrl_c(signal.SIGTERM)
    if calibration.missing:
        console.print(f"[yellow]key links:[/] {calibration.missing}; without any, the joints and the base are fitted",
                      highlight=False, soft_wrap=True)
    shooting = calibration.shooting
    console.print(f"calibrating {', '.join(calibration.names)} on {calibration.cut_s:.1f} s of "
                  f"{calibration.recording.duration:.1f} s: {len(shooting.starts)} segments of "
                  f"{shooting.settings.segment_s:g} s, {calibration.threads} threads (Ctrl-C saves the best so far)",
                  highlight=False, soft_wrap=True)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("iterations"),
               TimeElapsedColumn(), TextColumn("{task.fields[best]}"))
    with Progress(*columns, console=console) as progress:
        task = progress.add_task("fitting", total=calibration.max_iterations, best="")

        def on_progress(p) -> None:
            progress.update(task, completed=p.iteration,
                            best=f"{p.evaluations} models, key links {p.best_key_link_mm:.3g} mm RMS")

        def on_saved(result) -> None:
            progress.update(task, description="intervals and gaps", best="")
            if result.stopped == "interrupted":
                progress.console.print(f"[yellow]interrupted:[/] best values so far saved in {out}; computing the "
                                       "intervals and the held-out gap (Ctrl-C again to skip)", highlight=False)

        try:
            paths = calibration.run(out, on_progress, on_saved)
        except KeyboardInterrupt:
            progress.stop()
            if calibration.result is None:
                console.print("[yellow]interrupted[/] before any candidate model was scored: nothing saved")
            else:
                console.print(f"[yellow]interrupted:[/] fitted values in {out}; intervals or held-out gap not "
                              "measured", highlight=False)
            raise typer.Exit(130) from None
    print_summary(calibration.report(), paths, console)
    if calibration.result.stopped == "interrupted":
        raise typer.Exit(130)
