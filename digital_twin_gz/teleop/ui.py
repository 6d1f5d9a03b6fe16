"""``digital-twin-gz teleop``: the terminal UI (curses) over :class:`~digital_twin_gz.teleop.node.TeleopNode`.

One thread: the loop spins the node's executor (ticks, subscriptions, service replies),
reads the keyboard without blocking and redraws ten times a second. Ctrl-C, SIGTERM and
SIGHUP end it like ``q`` does; twin_sync is resumed on the way out in every case.
"""

from __future__ import annotations

import curses
import os
import signal
import sys
import threading
import time

import numpy as np
from rclpy.task import Future
from rich.console import Console

from digital_twin_gz.robot import JointRoles, RobotDescription
from digital_twin_gz.teleop.node import TeleopNode, TeleopOptions

KEY_HELP = ("keys: Left/Right nudge  Up/Down joint  Tab/S-Tab group  [ ] step  1 stand  2 squat  3 arms up  4 wave  "
            "0 default  m mirror on/off  space mirror off  q quit")
PRESET_KEYS = {ord("1"): "stand", ord("2"): "squat", ord("3"): "arms up", ord("4"): "wave"}
NUDGE_KEYS = {curses.KEY_RIGHT: 1, ord("+"): 1, ord("="): 1, curses.KEY_LEFT: -1, ord("-"): -1}
JOINT_KEYS = {curses.KEY_DOWN: 1, curses.KEY_UP: -1}
GROUP_KEYS = {ord("\t"): 1, curses.KEY_BTAB: -1}
STEP_KEYS = {ord("]"): 1, ord("["): -1}
QUIT_KEYS = (ord("q"), ord("Q"))
REDRAW_PERIOD = 0.1
# s of ROS callbacks between two looks at the keyboard
SPIN_S = 0.01
HEADER_ROWS = 6


class TeleopError(RuntimeError):
    """Teleop cannot run here (no terminal)."""


def bar(value: float, goal: float, lower: float, upper: float, width: int) -> str:
    """``[---O---+--]``: where the joint is (O) and where it is going (+) between its limits."""
    if not (np.isfinite(lower) and np.isfinite(upper)) or upper <= lower:
        return "[" + "no limits".center(width) + "]"
    cells = ["-"] * width

    def cell(x: float) -> int:
        return int(round((min(max(x, lower), upper) - lower) / (upper - lower) * (width - 1)))

    cells[cell(goal)] = "+"
    cells[cell(value)] = "O"
    return "[" + "".join(cells) + "]"


def joint_row(mark: str, name: str, value: float, goal: float, lower: float, upper: float, name_width: int,
              bar_width: int) -> str:
    """One line of the joint table."""
    return (f"{mark:2}{name:<{name_width}} {value:+8.3f} {goal:+8.3f}  {lower:+6.2f} "
            f"{bar(value, goal, lower, upper, bar_width)} {upper:+6.2f}")


def _gap_text(node: TeleopNode) -> str:
    gap = node.gate.gap
    text = "no reading" if gap is None else f"{gap:.3f} m"
    return f"{text} (mirror stops above {node.gate.max_gap:.3f} m)" if node.limiter is not None else text


def _virtual_text(node: TeleopNode) -> str:
    if node.virtual is None:
        return f"waiting for {node.virtual_topic}"
    age = time.monotonic() - node.virtual_time
    return "live" if age < 1.0 else f"no {node.virtual_topic} for {age:.0f} s"


def _lines(node: TeleopNode, width: int, height: int) -> list[tuple[str, int]]:
    """The screen as (text, attribute) lines."""
    d, teleop, options = node.description, node.teleop, node.options
    lines = [
        (f"teleop {d.name}: {len(d.joint_names)} joints, {options.rate:g} Hz, joints at most {options.speed:.0%} "
         "of their velocity limits", curses.A_BOLD),
        (f"twin_sync: {node.sync_state}   virtual: {_virtual_text(node)}   sent: {node.sent}", curses.A_NORMAL),
        (f"mirror: {node.mirror_state}   gap: {_gap_text(node)}", curses.A_NORMAL),
        (f"gap_monitor: {node.gap_monitor or 'not heard'}", curses.A_NORMAL),
    ]
    help_lines = [(text, curses.A_DIM) for text in _wrap(KEY_HELP, width - 1)]
    if teleop is None:
        lines += [("", 0), (f"> {node.message}", curses.A_BOLD)]
        return lines + help_lines
    group = teleop.selected
    selected, _ = teleop.selected_joints()
    what = "whole group" if teleop.whole_group else d.joint_names[selected[0]]
    playing = "   playing a preset" if teleop.playing else ""
    lines += [(f"group: {group.name} [{what}]   step: {teleop.step:g}{playing}", curses.A_NORMAL),
              (f"> {node.message}", curses.A_BOLD)]
    name_width = max(len(n) for n in d.joint_names)
    bar_width = max(10, min(41, width - name_width - 46))
    lines.append((f"  {'joint':<{name_width}} {'virtual':>8} {'goal':>8}  {'lower':>6} "
                  f"{'(O virtual, + goal)'.center(bar_width + 2)} {'upper':>6}", curses.A_UNDERLINE))
    virtual = node.virtual if node.virtual is not None else teleop.command
    rows = []
    for j, name in enumerate(d.joint_names):
        mark = ">" if j in selected else "*" if group.whole and j in group.joints else ""
        rows.append((joint_row(mark, name, virtual[j], teleop.goal[j], d.lower[j], d.upper[j], name_width, bar_width),
                     curses.A_REVERSE if j in selected else curses.A_NORMAL))
    room = max(1, height - len(lines) - len(help_lines))
    first = min(max(0, selected[0] - room // 2), max(0, len(rows) - room))
    return lines + rows[first:first + room] + help_lines


def _wrap(text: str, width: int) -> list[str]:
    lines, line = [], ""
    for word in text.split("  "):
        if line and len(line) + 2 + len(word) > width:
            lines.append(line)
            line = "      " + word
        else:
            line = f"{line}  {word}" if line else word
    return [*lines, line]


def _handle(node: TeleopNode, key: int) -> bool:
    """Act on one key; True to quit."""
    if key in QUIT_KEYS:
        return True
    if key in (ord("m"), ord("M")):
        node.toggle_mirror()
        return False
    if key == ord(" "):
        node.release_mirror()
        return False
    teleop = node.teleop
    if teleop is None:
        return False
    if key in NUDGE_KEYS:
        held = teleop.nudge(NUDGE_KEYS[key])
        joints, _ = teleop.selected_joints()
        node.message = (f"held at a limit: {', '.join(held)}" if held else
                        ", ".join(f"{node.names[j]} goal {teleop.goal[j]:+.3f}" for j in joints[:3])
                        + (" ..." if len(joints) > 3 else ""))
    elif key in JOINT_KEYS:
        teleop.select_joint(JOINT_KEYS[key])
    elif key in GROUP_KEYS:
        teleop.select_group(GROUP_KEYS[key])
    elif key in STEP_KEYS:
        teleop.change_step(STEP_KEYS[key])
        node.message = f"step {teleop.step:g}"
    elif key in PRESET_KEYS:
        try:
            teleop.preset(PRESET_KEYS[key])
            node.message = f"preset: {PRESET_KEYS[key]}"
        except ValueError as err:
            node.message = str(err)
    elif key in (ord("0"), ord("d")):
        teleop.to_default()
        node.message = "back to the default pose"
    return False


def _draw(screen: curses.window, node: TeleopNode) -> None:
    height, width = screen.getmaxyx()
    screen.erase()
    for y, (text, attr) in enumerate(_lines(node, width, height)[:height]):
        screen.addnstr(y, 0, text, width - 1, attr)
    screen.refresh()


def _loop(screen: curses.window, node: TeleopNode, executor, stop: threading.Event) -> None:
    try:
        curses.curs_set(0)
    except curses.error:
        pass  # a terminal without an invisible cursor
    screen.nodelay(True)
    next_draw = 0.0
    never = Future()  # spin_until_future_complete on it takes every callback due for SPIN_S
    while not stop.is_set():
        executor.spin_until_future_complete(never, timeout_sec=SPIN_S)
        redraw = False
        while (key := screen.getch()) != -1:
            if _handle(node, key):
                return
            redraw = True
        if redraw or time.monotonic() >= next_draw:
            _draw(screen, node)
            next_draw = time.monotonic() + REDRAW_PERIOD


def run_teleop(description: RobotDescription, roles: JointRoles, options: TeleopOptions, console: Console) -> int:
    """Run the terminal UI until q, Ctrl-C, SIGTERM or SIGHUP; 0, or 1 if twin_sync could not be resumed."""
    import rclpy
    from rclpy.experimental import EventsExecutor
    from rclpy.signals import SignalHandlerOptions

    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise TeleopError("teleop needs a terminal (stdin and stdout)")
    # Teleop joins the caller's twin: its ROS_DOMAIN_ID as it is, discovery on this machine unless told otherwise.
    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    # ROS console logs would scribble over the screen; they still go to the log file and /rosout.
    rclpy.init(args=["--ros-args", "--disable-stdout-logs"], signal_handler_options=SignalHandlerOptions.NO)
    stop = threading.Event()
    handlers = {sig: signal.signal(sig, lambda *_: stop.set())
                for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    node = TeleopNode(description, roles, options)
    # EventsExecutor, as the nodes (nodes.common.run): always spun with a timeout.
    executor = EventsExecutor()
    executor.add_node(node)
    try:
        curses.wrapper(_loop, node, executor, stop)
    finally:
        resumed, message = node.resume_sync(executor)
        console.print(f"teleop: {node.sent} targets sent to the virtual robot"
                      + (f", {node.mirrored} to the physical robot" if node.limiter is not None else ""),
                      highlight=False)
        console.print(message if resumed else f"[red]error:[/] {message}", highlight=False, soft_wrap=True)
        executor.shutdown()
        node.destroy_node()
        rclpy.shutdown()
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
    return 0 if resumed else 1
