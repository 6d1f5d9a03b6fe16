"""Ray for one fleet command: started here or joined, one task per recording, results as they
finish, and nothing of Ray left running when the command ends (Ctrl-C included).

Ray is started once per command: its start-up takes seconds (``bench/bench_fleet.py`` measures
it), a task costs milliseconds. By default a Ray of its own, on this machine, with every CPU
(``cpus`` to use fewer), listening on 127.0.0.1 only (below); ``address`` joins a running cluster
instead (``auto``: the one ``ray start`` left on this machine or ``RAY_ADDRESS`` names; ``HOST:PORT``:
its head node), where ``ray.shutdown`` only disconnects.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

# Set before ``import ray`` (its constants are read then) and inherited by every Ray process it starts.
COMMON_ENV = {"RAY_USAGE_STATS_ENABLED": "0"}  # no usage report sent anywhere
LOCAL_ENV = {
    # Ray's single-machine mode: on Linux a new Ray is otherwise a cluster node, whose servers
    # listen on every interface at the machine's address. A local one needs none of that.
    "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
    # Ray's default for a new local cluster, said explicitly: its token, without a notice on the terminal.
    "RAY_AUTH_MODE": "token",
}
# How often the wait for results wakes up (Ctrl-C is handled between waits).
WAIT_S = 0.5
# How long a cluster's head may take to accept a connection.
CONNECT_S = 10.0


def host_port(address: str) -> tuple[str, int] | None:
    """``HOST:PORT`` (``ray://`` too) split, None for ``auto``; RayUnavailable for anything else."""
    if address == "auto":
        return None
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        raise RayUnavailable(f"--address {address}: expected 'auto' or HOST:PORT")
    return host.strip("[]"), int(port)


def _on_loopback(address: str) -> bool:
    """Whether the address is this machine's loopback (a cluster started with ``--node-ip-address 127.0.0.1``)."""
    host = (host_port(address) or ("",))[0]
    try:
        return host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _check_reachable(address: str) -> None:
    """Ray retries an unreachable head for ever: try it once first, and say so at once."""
    target = host_port(address)
    if target is not None:
        try:
            socket.create_connection(target, timeout=CONNECT_S).close()
        except OSError as err:
            raise RayUnavailable(f"--address {address}: no Ray head answers there ({err.strerror or err})") from err


class RayUnavailable(RuntimeError):
    """Ray is not installed, or the cluster to join cannot be reached; the message says which."""


@dataclass(frozen=True)
class RayInfo:
    """Where the tasks ran: ``address`` (``local`` for a Ray of the command's own), Ray's version,
    the cluster's CPUs, nodes and the CPUs of its largest node (the most one task can ask for), and
    how long starting (or joining) it took."""

    address: str
    version: str
    cpus: float
    nodes: int
    node_cpus: float
    start_s: float


class RaySession:
    """A context manager: Ray from ``__enter__`` to ``__exit__``; :meth:`map` runs the tasks."""

    def __init__(self, address: str | None = None, cpus: int | None = None,
                 worker_env: dict[str, str] | None = None) -> None:
        """``worker_env``: environment variables of the worker processes, on every node; set before
        they import anything (``MUJOCO_GL`` must be, before ``import mujoco``)."""
        self.address, self.cpus = address, cpus
        self.runtime_env = {"env_vars": dict(worker_env)} if worker_env else None
        self.info: RayInfo | None = None
        self._pending: dict[Any, Any] = {}

    def __enter__(self) -> RaySession:
        for key, value in COMMON_ENV.items():
            os.environ.setdefault(key, value)
        if self.address is not None:
            _check_reachable(self.address)
        if self.address is None or _on_loopback(self.address):
            os.environ.update(LOCAL_ENV)  # else Ray takes 127.0.0.1 for the machine's address, and misses it
        try:
            import ray
        except ImportError as err:
            raise RayUnavailable("Ray is not installed: pip install -e '.[fleet]' (bash .ci/setup --test "
                                 "installs it)") from err
        started = time.perf_counter()
        try:
            if self.address is None:
                ray.init(address="local", num_cpus=self.cpus, include_dashboard=False, log_to_driver=False,
                         configure_logging=False, runtime_env=self.runtime_env)
            else:
                ray.init(address=self.address, log_to_driver=False, configure_logging=False,
                         runtime_env=self.runtime_env)
            nodes = [node["Resources"].get("CPU", 0.0) for node in ray.nodes() if node.get("Alive")]
        except (ConnectionError, RuntimeError, ValueError) as err:
            ray.shutdown()
            raise RayUnavailable(f"--address {self.address}: cannot join a Ray cluster there ({err})") from err
        except BaseException:  # Ctrl-C while Ray starts: what started stops
            ray.shutdown()
            raise
        self.info = RayInfo(self.address or "local", ray.__version__, float(sum(nodes)), len(nodes),
                            float(max(nodes, default=0.0)), time.perf_counter() - started)
        return self

    def __exit__(self, *exc) -> None:
        """Cancel what has not finished (its worker processes are killed), then stop Ray (a Ray of
        the command's own: every process it started) or leave the cluster."""
        import ray

        for ref in self._pending:
            try:
                ray.cancel(ref, force=True)
            except Exception:  # a task that finished meanwhile, or Ray already going down
                pass
        self._pending.clear()
        ray.shutdown()

    def map(self, function: Callable, items: Iterable, shared: object, num_cpus: float = 1.0) -> Iterator[tuple]:
        """``function(item, shared)`` as one Ray task per item, ``num_cpus`` each; yields
        ``(item, result)`` as each finishes, ``result`` being the Ray error when the task could not
        run to its end (its worker died, its node was lost). ``shared`` is sent to the cluster once."""
        import ray

        remote = ray.remote(function).options(num_cpus=num_cpus, max_retries=1)
        shared_ref = ray.put(shared)
        self._pending = {remote.remote(item, shared_ref): item for item in items}
        while self._pending:
            done, _ = ray.wait(list(self._pending), num_returns=1, timeout=WAIT_S)
            for ref in done:
                item = self._pending.pop(ref)
                try:
                    result = ray.get(ref)
                except ray.exceptions.RayError as err:
                    result = err
                yield item, result
