"""The ``digital-twin-gz`` Typer application and the console every command writes to."""

from __future__ import annotations

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


@app.callback()
def _root() -> None:
    """Subcommands: check (validate with Gazebo's tools), and the twin's runs."""
