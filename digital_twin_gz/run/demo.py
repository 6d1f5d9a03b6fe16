"""``digital-twin-gz demo``: the whole twin on the embedded simulator: the physical robot in a
process of its own, the twin's nodes in one (``TwinOptions.one_process``) or one process each.

The emulated physical robot, the embedded simulator, twin_sync and gap_monitor run on a
private ROS domain with localhost discovery. A live line shows the gap while it runs;
then every node gets Ctrl-C, gap_monitor writes the report, and the summary is printed.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from digital_twin_gz.gap import level_name, print_summary
from digital_twin_gz.robot import params_file
from digital_twin_gz.run.graph import CONTAINER, TwinOptions, twin_nodes, write_one_process
from digital_twin_gz.run.rosenv import Domain, NodeProcess, remove_stale_shm

STARTUP_TIMEOUT = 60.0
# Shutdown along the data flow: the physical robot, twin_sync, the simulator, then gap_monitor.
STOP_ORDER = ("physical_emulator", "twin_sync", "embedded_sim", "gap_monitor", CONTAINER)
SHUTDOWN_TIMEOUT = 60.0


class DemoError(RuntimeError):
    """The demo could not run to its end; the message says which node and why."""


@dataclass
class DemoResult:
    report: dict
    report_path: Path
    domain_id: int
    logs: dict[str, Path]


class _Listener:
    """The demo's own node on the private domain: it reads /diagnostics for the live line."""

    def __init__(self, domain_id: int) -> None:
        import rclpy
        from diagnostic_msgs.msg import DiagnosticArray
        from rclpy.executors import SingleThreadedExecutor
        from rclpy.signals import SignalHandlerOptions

        self.rclpy = rclpy
        self.context = rclpy.Context()
        # Ctrl-C belongs to the demo (it stops the nodes in order), not to rclpy; args=[]: the demo's
        # own command line (--xacro-arg a:=b) is not ROS arguments (rclpy would take a:=b as a remap).
        rclpy.init(args=[], context=self.context, domain_id=domain_id,
                   signal_handler_options=SignalHandlerOptions.NO)
        self.node = rclpy.create_node("digital_twin_gz_demo", context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self.status: dict[str, tuple[int, str, dict[str, str]]] = {}
        self.node.create_subscription(DiagnosticArray, "/diagnostics", self._on_diagnostics, 10)

    def _on_diagnostics(self, msg) -> None:
        for status in msg.status:
            self.status[status.name] = (status.level[0], status.message, {kv.key: kv.value for kv in status.values})

    def spin(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.executor.spin_once(timeout_sec=0.05)

    def ready(self) -> bool:
        names = {name for name, _ in self.node.get_topic_names_and_types()}
        services = {name for name, _ in self.node.get_service_names_and_types()}
        return {"/virtual/joint_states", "/virtual/joint_trajectory"} <= names and "/twin_sync/set_paused" in services

    def physical_up(self) -> bool:
        """The physical robot publishes its joint states (it does from its first tick on)."""
        return self.node.count_publishers("/physical/joint_states") >= 1

    def line(self) -> str:
        parts = []
        for name in ("gap_monitor", "twin_sync"):
            if name in self.status:
                level, message, _ = self.status[name]
                parts.append(f"{name} {level_name(level)}: {message}")
        return " | ".join(parts) or "waiting for /diagnostics"

    def close(self) -> None:
        self.executor.shutdown()
        self.node.destroy_node()
        self.rclpy.shutdown(context=self.context)


def prepare_outputs(out_dir: Path, record: Path | None) -> list[str]:
    """Make sure the run can write where it is told to, before any node starts, and keep what an
    earlier run left there: its report and logs move to ``out_dir/previous/<time>/``, an earlier
    recording of the same name to ``<name>.<time>.mcap``. Returns what was kept where; OSError
    says what cannot be written."""
    kept = []
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=out_dir, prefix=".write-test-"):
        pass
    earlier = [p for p in out_dir.iterdir() if p.name in ("report.json", "report.html", "logs")]
    if earlier:
        stamp = _stamp(out_dir / "report.json" if (out_dir / "report.json").is_file() else earlier[0])
        target = out_dir / "previous" / stamp
        target.mkdir(parents=True, exist_ok=True)
        for path in earlier:
            path.replace(target / path.name)
        kept.append(f"the earlier run's report and logs in {out_dir} were moved to {target}")
    if record is not None:
        record.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=record.parent, prefix=".write-test-"):
            pass
        if record.exists():
            aside = record.with_name(f"{record.stem}.{_stamp(record)}{record.suffix}")
            record.replace(aside)
            kept.append(f"the earlier recording {record} was moved to {aside}")
    return kept


def _stamp(path: Path) -> str:
    """When ``path`` was written (a report's own ``written_at``, else the file's time), as a name."""
    written = None
    if path.suffix == ".json":
        try:
            written = datetime.fromisoformat(json.loads(path.read_text())["written_at"])
        except (OSError, ValueError, KeyError, TypeError):
            written = None
    written = written or datetime.fromtimestamp(path.stat().st_mtime, timezone.utc)
    return written.astimezone(timezone.utc).strftime("%Y%m%dT%H%M%SZ")


def _died(processes: list[NodeProcess]) -> list[NodeProcess]:
    return [p for p in processes if not p.alive()]


def _reason(process: NodeProcess, lines: int = 12) -> str:
    tail = "\n".join(process.output().strip().splitlines()[-lines:])
    return f"{process.name} exited with code {process.process.returncode}; last output ({process.log}):\n{tail}"


def _wait_until(listener: _Listener, condition: Callable[[], bool], processes: list[NodeProcess], timeout: float,
                log_dir: Path, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if _died(processes):
            raise DemoError(_reason(_died(processes)[0]))
        if time.monotonic() > deadline:
            raise DemoError(f"{what} did not come up within {timeout:g} s (logs in {log_dir})")
        listener.spin(0.2)


def run_demo(options: TwinOptions, duration: float, console: Console) -> DemoResult:
    """Run the twin for ``duration`` seconds of wall time and return its report."""
    out_dir = Path(options.out_dir).expanduser().resolve()
    log_dir = out_dir / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    remove_stale_shm()
    domain = Domain(log_dir)
    domain.env["ROS_LOG_DIR"] = str(log_dir / "ros")
    options = TwinOptions(**{**options.__dict__, "out_dir": str(out_dir)})
    processes: list[NodeProcess] = []
    listener = None
    try:
        listener = _Listener(domain.id)
        specs = twin_nodes(options)
        params = dict.fromkeys((spec.name for spec in specs), params_file())
        if options.one_process:
            params[CONTAINER] = log_dir / f"{CONTAINER}.yaml"
            specs = write_one_process(specs, params[CONTAINER])
        console.print(f"digital_twin_gz demo: ROS_DOMAIN_ID={domain.id} (localhost only), profile "
                      f"'{options.profile}', motion '{options.motion}', {duration:g} s; logs in {log_dir}")
        emulator = [s for s in specs if s.name == "physical_emulator"]
        for spec in [s for s in specs if s.name != "physical_emulator"]:
            processes.append(NodeProcess(spec, domain, params[spec.name]))
        with console.status("starting the simulator, twin_sync and gap_monitor ..."):
            _wait_until(listener, listener.ready, processes, STARTUP_TIMEOUT, log_dir, "the twin's nodes")
        processes += [NodeProcess(spec, domain, params[spec.name]) for spec in emulator]
        with console.status("starting the physical robot ..."):
            # --duration counts from the physical robot's first sample, not from its process start
            # (seconds of import and model building on a busy machine).
            _wait_until(listener, listener.physical_up, processes, STARTUP_TIMEOUT, log_dir, "the physical robot")

        columns = (TextColumn("{task.description}"), BarColumn(bar_width=20), TimeElapsedColumn())
        with Progress(*columns, console=console, transient=False) as progress:
            task = progress.add_task("twin running", total=duration)
            start = time.monotonic()
            try:
                while (elapsed := time.monotonic() - start) < duration:
                    if _died(processes):
                        raise DemoError(_reason(_died(processes)[0]))
                    listener.spin(0.25)
                    progress.update(task, completed=elapsed, description=listener.line())
            except KeyboardInterrupt:
                console.print("interrupted: stopping the twin and writing the report")

        monitor = next(p for p in processes if p.name in ("gap_monitor", CONTAINER))
        codes = {}
        with console.status("stopping the nodes along the data flow; gap_monitor writes the report ...") as status:
            # Upstream first: each node takes what is queued for it before it exits, so a twin
            # that runs behind on a busy machine finishes its backlog instead of dropping it.
            for process in sorted(processes, key=lambda p: STOP_ORDER.index(p.name)):
                status.update(f"stopping {process.name} (it takes what is queued first) ...")
                codes[process.name] = process.stop(timeout=SHUTDOWN_TIMEOUT)
        failed = [p for p in processes if codes[p.name] != 0]
        if failed:
            raise DemoError(_reason(failed[0]))
        report_path = out_dir / "report.json"
        if not report_path.is_file():
            raise DemoError(f"gap_monitor did not write {report_path}\n{_reason(monitor)}")
        report = json.loads(report_path.read_text())
        print_summary(report, console)
        console.print(f"report: {report_path}, {out_dir / 'report.html'}")
        if not report["samples"]["paired"]:
            raise DemoError(f"gap_monitor paired no sample: the gap was not measured (logs in {log_dir})")
        if options.record:
            console.print(f"recording: {options.record}")
        return DemoResult(report, report_path, domain.id, {p.name: p.log for p in processes})
    finally:
        for process in processes:
            process.stop(timeout=10.0)
        if listener is not None:
            listener.close()
        domain.release()
