"""``digital-twin-gz calibrate``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

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
)

if TYPE_CHECKING:
    from digital_twin_gz.calibration import Budget
    from digital_twin_gz.recording import PhysicalRecording
    from digital_twin_gz.robot import JointRoles, RobotDescription


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

    from digital_twin_gz.calibration import Budget, CalibrationError, parse_params
    from digital_twin_gz.recording import RecordingError, read_physical

    try:
        names = parse_params(params)
        if not 0 < holdout < 1:
            raise CalibrationError(f"--holdout must be between 0 and 1 (a fraction of the recording), got {holdout}")
        budget = Budget(restarts, generations, population, workers or os.cpu_count() or 1, seed)
    except CalibrationError as err:
        fail(err, 2, err)
    description, roles, mapping = load_robot(urdf, package, xacro_arg, joint_roles, joint_map)
    check_model(description)
    try:
        recorded = read_physical(recording, description, mapping, joint_states, odom)
    except RecordingError as err:
        fail(err, 1, err)
    for warning in recorded.warnings:
        console.print(f"[yellow]warning:[/] {warning}", highlight=False, soft_wrap=True)
    _run_calibration(recorded, description, roles, names, holdout, budget, out, parse_xacro_args(xacro_arg),
                     tuple(key_links or ()))


def _run_calibration(recorded: PhysicalRecording, description: RobotDescription, roles: JointRoles,
                     names: tuple[str, ...], holdout: float, budget: Budget, out: Path,
                     xacro_args: dict[str, str], key_links: tuple[str, ...]) -> None:
    """The search with a progress bar, then the results table; Ctrl-C saves what was found."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from digital_twin_gz.calibration import RIDGE, Calibration, CalibrationError, print_summary
    from digital_twin_gz.robot import load_world

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("evaluations"),
               TimeElapsedColumn(), TextColumn("{task.fields[best]}"))
    try:
        calibration = Calibration(recorded, description, load_world(), names, roles=roles, holdout=holdout,
                                  budget=budget, xacro_args=xacro_args, key_links=key_links)
    except CalibrationError as err:
        fail(err, 1, err)
    if calibration.missing:
        console.print(f"[yellow]key links:[/] {calibration.missing}; without any, the base position is fitted",
                      highlight=False, soft_wrap=True)
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
