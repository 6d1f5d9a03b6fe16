"""``digital-twin-gz replay``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

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
    VirtualProfileOption,
    XacroArgOption,
    check_key_links,
    check_model,
    fail,
    load_robot,
    load_virtual_profile,
)


@app.command()
def replay(
    recording: Annotated[Path, typer.Argument(
        help="An MCAP file (ours or from `ros2 bag record -s mcap`) or a rosbag2 directory (sqlite3 or mcap).")],
    joint_states: JointStatesOption = "physical/joint_states",
    odom: OdomOption = "physical/odom",
    out: Annotated[Path, typer.Option(help="Directory for report.json and report.html.")] = Path("gap_report"),
    urdf: UrdfOption = None,
    package: PackageOption = None,
    xacro_arg: XacroArgOption = None,
    joint_map: JointMapOption = None,
    joint_roles: JointRolesOption = None,
    virtual_profile: VirtualProfileOption = None,
    key_links: KeyLinksOption = None,
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

    from digital_twin_gz.gap import print_summary
    from digital_twin_gz.recording import RecordingError
    from digital_twin_gz.replay import replay_file
    from digital_twin_gz.robot import load_world

    description, roles, mapping = load_robot(urdf, package, xacro_arg, joint_roles, joint_map)
    check_model(description)
    check_key_links(description, key_links)
    physics = load_virtual_profile(virtual_profile) if virtual_profile is not None else None

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
                              virtual_profile=physics, key_links=tuple(key_links or ()),
                              on_missing=lambda note: progress.console.print(f"[yellow]key links:[/] {note}",
                                                                             highlight=False, soft_wrap=True))
        except RecordingError as err:
            progress.stop()
            fail(err, 1, err)
    if run.stats.rejected:
        rejected = ", ".join(f"{n} {reason}" for reason, n in sorted(run.stats.rejected.items()))
        console.print(f"[yellow]rejected samples (twin_sync's rules):[/] {rejected}", highlight=False)
    print_summary(run.report, console)
    console.print(f"report: {', '.join(str(p) for p in run.paths)}", highlight=False, soft_wrap=True)
