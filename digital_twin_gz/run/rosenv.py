"""A private, local ROS 2 domain for the processes the project starts.

Every run holds a ROS_DOMAIN_ID through a lock file, so parallel demos and tests on one
machine never see each other, and discovery stays on localhost.
"""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import IO

from digital_twin_gz.run.graph import NodeSpec

BIN = Path(sys.executable).parent
LOCK_DIR = Path("/tmp/digital_twin_gz-domains")
# prctl(2) option: the signal a process gets when its parent dies.
PR_SET_PDEATHSIG = 1
# 1..101 keeps every participant's ports below the Linux ephemeral range.
DOMAIN_IDS = range(1, 102)


class DomainsExhausted(RuntimeError):
    pass


class Domain:
    """An exclusively held ROS_DOMAIN_ID and the environment that uses it."""

    def __init__(self, log_dir: Path) -> None:
        LOCK_DIR.mkdir(exist_ok=True)
        for domain_id in DOMAIN_IDS:
            handle = open(LOCK_DIR / f"{domain_id}.lock", "w")
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.close()
                continue
            self.id = domain_id
            self._handle: IO[str] = handle
            break
        else:
            raise DomainsExhausted(f"all ROS domain ids {DOMAIN_IDS.start}..{DOMAIN_IDS.stop - 1} are taken "
                                   f"on this machine (locks in {LOCK_DIR})")
        self.log_dir = log_dir
        self.env = local_env(self.id, log_dir)

    def release(self) -> None:
        self._handle.close()


def local_env(domain_id: int, log_dir: Path) -> dict[str, str]:
    """This process's environment, on ``domain_id``, discovery on localhost, logs in ``log_dir``."""
    return {**os.environ, "ROS_DOMAIN_ID": str(domain_id), "ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST",
            "ROS_LOG_DIR": str(log_dir), "PYTHONUNBUFFERED": "1", "PYTHONFAULTHANDLER": "1",
            "RCUTILS_LOGGING_BUFFERED_STREAM": "1",
            "MUJOCO_GL": os.environ.get("MUJOCO_GL", "egl")}


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a running process (``/proc/<pid>/stat``), 0 if it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def remove_stale_shm(shm: Path = Path("/dev/shm"), min_age_s: float = 10.0) -> int:
    """Remove Fast DDS shared-memory files that no running process maps and that are older than
    ``min_age_s`` (never one a starting participant just made); returns how many. A process killed
    with SIGKILL leaves its files behind, and with enough of them the next participant's creation
    hung (a node stuck in rclpy's Node.__init__; Fast-DDS#1144): the demo and the test session
    clear them before they start nodes."""
    mapped = set()
    for maps in Path("/proc").glob("[0-9]*/maps"):
        try:
            mapped.update(line.rsplit(None, 1)[-1] for line in maps.read_text().splitlines() if str(shm) in line)
        except OSError:
            continue  # the process exited meanwhile
    removed = 0
    now = time.time()
    for path in [*shm.glob("fastdds_*"), *shm.glob("sem.fastdds_*")]:
        owner = str(path).removesuffix("_el")
        try:
            if str(path) in mapped or owner in mapped or now - path.stat().st_mtime < min_age_s:
                continue
            path.unlink()
            removed += 1
        except OSError:
            continue
    return removed


def _hang_up_with(parent: int):
    """For a child process: SIGHUP when ``parent`` dies, however it dies (SIGKILL included), so a
    node in a session of its own never runs on orphaned (Linux's PR_SET_PDEATHSIG)."""

    import ctypes

    prctl = ctypes.CDLL(None, use_errno=True).prctl  # looked up here: the child only calls it

    def arrange() -> None:
        prctl(PR_SET_PDEATHSIG, signal.SIGHUP)
        if os.getppid() != parent:  # the parent died before the request took effect
            os._exit(1)

    return arrange


class NodeProcess:
    """One node of the graph as its own process on a domain, its output kept in a log file."""

    def __init__(self, spec: NodeSpec, domain: Domain, params_file: Path | None = None,
                 env: dict[str, str] | None = None, extra_args: list[str] | None = None,
                 log_dir: Path | None = None) -> None:
        self.spec = spec
        self.name = spec.name
        self.log = (log_dir or domain.log_dir) / f"{spec.name}-{time.monotonic_ns()}.log"
        self._out = open(self.log, "w")
        self._signalled = False
        self.args = [str(BIN / spec.executable), *spec.arguments, *spec.ros_args(params_file), *(extra_args or [])]
        self.process = subprocess.Popen(self.args, stdout=self._out, stderr=subprocess.STDOUT,
                                        env={**domain.env, **(env or {})}, start_new_session=True,
                                        preexec_fn=_hang_up_with(os.getpid()))

    def output(self) -> str:
        if not self._out.closed:
            self._out.flush()
        return self.log.read_text(errors="replace")

    def alive(self) -> bool:
        return self.process.poll() is None

    def cpu_seconds(self) -> float:
        """CPU time (user + system) the node's process has used so far (0 once it has exited)."""
        return process_cpu_seconds(self.process.pid)

    def interrupt(self, sig: int = signal.SIGINT) -> None:
        """Ctrl-C (once: a second one would cut the node's clean-up short)."""
        if self.alive() and not self._signalled:
            self._signalled = True
            self.process.send_signal(sig)

    def stop(self, sig: int = signal.SIGINT, timeout: float = 20.0) -> int:
        """Signal the node, wait for it to finish (killed after ``timeout``), return its exit code."""
        self.interrupt(sig)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            # Where it hung goes into its log (faulthandler, PYTHONFAULTHANDLER), then it is killed.
            self.process.send_signal(signal.SIGABRT)
            try:
                self.process.wait(2.0)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._out.close()
        return self.process.returncode
