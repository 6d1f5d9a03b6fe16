"""``digital-twin-gz demo``: the whole twin on the embedded simulator, for one robot or several: each
physical robot in a process of its own, each robot's twin nodes in one (``TwinOptions.one_process``)
or one process each.

The emulated physical robots, the embedded simulators, twin_sync and gap_monitor run on one
private ROS domain with localhost discovery, each robot in its own namespace when there are
several. A live line shows the gap while it runs; then every node gets Ctrl-C, each gap_monitor
writes its robot's report, and one summary table per robot is printed.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from digital_twin_gz.gap import level_name, print_summary
from digital_twin_gz.run.graph import CONTAINER, NodeSpec, TwinOptions, twin_nodes, write_params
from digital_twin_gz.run.rosenv import Domain, NodeProcess, remove_stale_shm

STARTUP_TIMEOUT = 60.0
# Shutdown along the data flow: the physical robot, twin_sync, the simulator, then gap_monitor.
STOP_ORDER = ("physical_emulator", "twin_sync", "embedded_sim", "gap_monitor", CONTAINER)
SHUTDOWN_TIMEOUT = 60.0


class DemoError(RuntimeError):
    """The demo could not run to its end; the message says which node and why."""


@dataclass
class RobotResult:
    """One robot's run: its options, its report, and the logs of its nodes."""

    options: TwinOptions
    report: dict
    report_path: Path
    logs: dict[str, Path]


@dataclass
class DemoResult:
    robots: list[RobotResult]
    domain_id: int


def _joined(namespace: str, name: str) -> str:
    return f"{namespace}/{name}"


class _Listener:
    """The demo's own node on the private domain: it reads /diagnostics for the live line and
    looks up each robot's topics in the graph."""

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

    def ready(self, namespaces: list[str]) -> bool:
        """Every robot's twin is up: its simulator publishes, twin_sync offers its services."""
        names = {name for name, _ in self.node.get_topic_names_and_types()}
        services = {name for name, _ in self.node.get_service_names_and_types()}
        return all({_joined(ns, "virtual/joint_states"), _joined(ns, "virtual/joint_trajectory")} <= names
                   and _joined(ns, "twin_sync/set_paused") in services for ns in namespaces)

    def physical_up(self, namespaces: list[str]) -> bool:
        """Every physical robot publishes its joint states (each does from its first tick on)."""
        return all(self.node.count_publishers(_joined(ns, "physical/joint_states")) >= 1 for ns in namespaces)

    def line(self, namespaces: list[str]) -> str:
        """gap_monitor's and twin_sync's word for one robot; gap_monitor's for each of several."""
        nodes = ("gap_monitor", "twin_sync") if len(namespaces) == 1 else ("gap_monitor",)
        parts = []
        for ns in namespaces:
            for name in nodes:
                status = _joined(ns, name).lstrip("/")
                if status in self.status:
                    level, message, _ = self.status[status]
                    parts.append(f"{status} {level_name(level)}: {message}")
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
    name = _joined(process.spec.namespace, process.name).lstrip("/")
    return f"{name} exited with code {process.process.returncode}; last output ({process.log}):\n{tail}"


def _wait_until(listener: _Listener, condition: Callable[[], bool], processes: list[NodeProcess], timeout: float,
                log_dir: Path, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if died := _died(processes):
            raise DemoError(_reason(died[0]))
        if time.monotonic() > deadline:
            raise DemoError(f"{what} did not come up within {timeout:g} s (logs in {log_dir})")
        listener.spin(0.2)


def _run(listener: _Listener, namespaces: list[str], duration: float, running: Callable[[], list[NodeProcess]],
         console: Console) -> None:
    """The twin for ``duration`` s with a progress bar; DemoError when a node dies."""
    columns = (TextColumn("{task.description}"), BarColumn(bar_width=20), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task("twin running", total=duration)
        start = time.monotonic()
        while (elapsed := time.monotonic() - start) < duration:
            if died := _died(running()):
                raise DemoError(_reason(died[0]))
            listener.spin(0.25)
            progress.update(task, completed=elapsed, description=listener.line(namespaces))


def _stop(processes: list[NodeProcess], timeout: float,
          say: Callable[[str], object] = lambda _: None) -> dict[NodeProcess, int]:
    """Stop the running ``processes`` upstream first (every robot's physical robot, then every
    twin_sync, ...): each node takes what is queued for it before it exits, so a twin that runs
    behind on a busy machine finishes its backlog instead of dropping it, and none drains a stream
    that is still coming. Returns their exit codes."""
    codes = {}
    for process in sorted(processes, key=lambda p: STOP_ORDER.index(p.name)):
        if process.alive():
            say(f"stopping {process.name} (it takes what is queued first) ...")
        codes[process] = process.stop(timeout=timeout)
    return codes


def _robot_processes(options: TwinOptions) -> tuple[list[tuple[NodeSpec, Path]], Path]:
    """One robot's processes as (spec, params file) and its log directory (``report_dir/logs``)."""
    log_dir = options.report_dir / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    params = log_dir / (f"{CONTAINER}.yaml" if options.one_process else "twin.yaml")
    return write_params(twin_nodes(options), options.one_process, params), log_dir


def run_demo(robots: list[TwinOptions], duration: float, console: Console) -> DemoResult:
    """Run the twins of ``robots`` (each its own namespace when there are several) on one private
    domain for ``duration`` seconds of wall time, and return each robot's report."""
    robots = [replace(o, out_dir=str(Path(o.out_dir).expanduser().resolve())) for o in robots]
    if len({o.namespace for o in robots}) < len(robots):
        raise DemoError("each robot needs a namespace of its own")
    namespaces = [o.namespace for o in robots]
    log_dir = robots[0].report_dir / "logs" if len(robots) == 1 else Path(robots[0].out_dir) / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    remove_stale_shm()
    domain = Domain(log_dir)
    domain.env["ROS_LOG_DIR"] = str(log_dir / "ros")
    processes: dict[str, list[NodeProcess]] = {o.namespace: [] for o in robots}

    def running() -> list[NodeProcess]:
        return [p for started in processes.values() for p in started]

    listener = None
    # Nodes seen up on the graph. One stopped while still starting (a Ctrl-C during the start) has
    # measured nothing, and how it exits (a KeyboardInterrupt mid-import) is no failure; one that
    # dies on its own while starting fails the start (_wait_until).
    up: set[NodeProcess] = set()
    try:
        listener = _Listener(domain.id)
        plans = {o.namespace: _robot_processes(o) for o in robots}
        for o in robots:
            where = f"{o.namespace}: " if o.namespace else ""
            rate = f" at {o.rate:g} Hz" if o.rate else ""
            console.print(f"digital_twin_gz demo: {where}ROS_DOMAIN_ID={domain.id} (localhost only), profile "
                          f"'{o.profile}', motion '{o.motion}'{rate}, {duration:g} s; logs in {plans[o.namespace][1]}",
                          highlight=False)
        for namespace, (plan, robot_logs) in plans.items():
            processes[namespace] += [NodeProcess(spec, domain, params, log_dir=robot_logs) for spec, params in plan
                                     if spec.name != "physical_emulator"]
        try:
            with console.status("starting the simulator, twin_sync and gap_monitor ..."):
                _wait_until(listener, lambda: listener.ready(namespaces), running(), STARTUP_TIMEOUT, log_dir,
                            "the twin's nodes")
            up.update(running())
            for namespace, (plan, robot_logs) in plans.items():
                processes[namespace] += [NodeProcess(spec, domain, params, log_dir=robot_logs)
                                         for spec, params in plan if spec.name == "physical_emulator"]
            with console.status("starting the physical robot ..."):
                # --duration counts from the physical robot's first sample, not from its process start
                # (seconds of import and model building on a busy machine).
                _wait_until(listener, lambda: listener.physical_up(namespaces), running(), STARTUP_TIMEOUT,
                            log_dir, "the physical robot")
            up.update(running())
            _run(listener, namespaces, duration, running, console)
        except KeyboardInterrupt:
            # At any moment once a node runs (a busy machine can be measuring before this process
            # has heard the physical robot), so the nodes stop in order and the report is written.
            console.print("interrupted: stopping the twin and writing the report")

        with console.status("stopping the nodes along the data flow; gap_monitor writes the report ...") as status:
            codes = _stop(running(), SHUTDOWN_TIMEOUT, status.update)
        failed = [p for p in running() if p in up and codes[p] != 0]
        if failed:
            raise DemoError(_reason(failed[0]))
        results = [_result(o, processes[o.namespace], console) for o in robots]
        for o in robots:
            if o.record:
                console.print(f"recording: {o.record_file}", highlight=False)
        return DemoResult(results, domain.id)
    finally:
        _stop(running(), SHUTDOWN_TIMEOUT)
        if listener is not None:
            listener.close()
        domain.release()


def _result(options: TwinOptions, processes: list[NodeProcess], console: Console) -> RobotResult:
    """One robot's report, read and printed; DemoError if it is missing or measured nothing."""
    monitor = next(p for p in processes if p.name in ("gap_monitor", CONTAINER))
    report_path = options.report_dir / "report.json"
    if not report_path.is_file():
        raise DemoError(f"gap_monitor did not write {report_path}\n{_reason(monitor)}")
    report = json.loads(report_path.read_text())
    print_summary(report, console)
    console.print(f"report: {report_path}, {options.report_dir / 'report.html'}", highlight=False)
    if not report["samples"]["paired"]:
        raise DemoError(f"gap_monitor paired no sample: the gap was not measured (logs in {monitor.log.parent})")
    return RobotResult(options, report, report_path, {p.name: p.log for p in processes})
