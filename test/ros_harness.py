"""Real ROS 2 for the tests: private DDS domains, node processes, and a probe node.

Each test holds a domain id through a lock file, so parallel test runs on one machine
never share a domain, and discovery stays on localhost.
"""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

BIN = Path(sys.executable).parent
LOCK_DIR = Path("/tmp/digital_twin_gz-domains")


class Domain:
    """An exclusively held ROS_DOMAIN_ID (1..100) and the environment that uses it."""

    def __init__(self, log_dir: Path) -> None:
        LOCK_DIR.mkdir(exist_ok=True)
        for domain_id in range(1, 101):
            handle = open(LOCK_DIR / f"{domain_id}.lock", "w")
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.close()
                continue
            self.id = domain_id
            self._handle = handle
            break
        else:
            raise RuntimeError("all ROS domain ids 1..100 are taken on this machine")
        self.env = {**os.environ, "ROS_DOMAIN_ID": str(self.id), "ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST",
                    "ROS_LOG_DIR": str(log_dir), "PYTHONUNBUFFERED": "1", "MUJOCO_GL": "egl"}

    def release(self) -> None:
        self._handle.close()


class NodeProcess:
    """One node executable as its own process, its output kept in a log file."""

    def __init__(self, executable: str, domain: Domain, log_dir: Path, params: dict | None = None,
                 extra_args: list[str] | None = None, env: dict | None = None) -> None:
        args = [str(BIN / executable), "--ros-args"]
        for key, value in (params or {}).items():
            args += ["-p", f"{key}:={_param(value)}"]
        args += extra_args or []
        self.name = executable
        self.log = log_dir / f"{executable}-{time.monotonic_ns()}.log"
        self._out = open(self.log, "w")
        self.process = subprocess.Popen(args, stdout=self._out, stderr=subprocess.STDOUT,
                                        env={**domain.env, **(env or {})}, start_new_session=True)

    def output(self) -> str:
        self._out.flush()
        return self.log.read_text()

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self, sig: int = signal.SIGINT, timeout: float = 20.0) -> int:
        if self.alive():
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._out.close()
        return self.process.returncode


def _param(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(f"'{v}'" if isinstance(v, str) else str(v) for v in value) + "]"
    return str(value)


class Probe:
    """A node in the test process, on the test's domain, spun by hand."""

    def __init__(self, domain: Domain, name: str = "probe") -> None:
        import rclpy
        from rclpy.executors import SingleThreadedExecutor

        self.rclpy = rclpy
        self.context = rclpy.Context()
        rclpy.init(context=self.context, domain_id=domain.id)
        self.node = rclpy.create_node(name, context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)

    def spin_for(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.executor.spin_once(timeout_sec=0.01)

    def wait_for(self, condition: Callable[[], bool], timeout: float = 10.0, what: str = "condition") -> None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if condition():
                return
            self.executor.spin_once(timeout_sec=0.02)
        raise AssertionError(f"timed out after {timeout} s waiting for {what}")

    def collect(self, msg_type, topic: str, qos=100) -> list:
        received: list = []
        self.node.create_subscription(msg_type, topic, received.append, qos)
        return received

    def topics(self) -> dict[str, list[str]]:
        return dict(self.node.get_topic_names_and_types())

    def close(self) -> None:
        self.executor.shutdown()
        self.node.destroy_node()
        self.rclpy.shutdown(context=self.context)
