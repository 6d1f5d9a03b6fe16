"""twin_sync latency and drops over real DDS, with a do-nothing relay as the baseline.

The main process plays the physical robot: it publishes /physical/joint_states (27
joints with positions, velocities and efforts) at 100, 500 and 1000 Hz, each sample
stamped with the CLOCK_MONOTONIC time it is due (a 1 ms grid). Listener processes take
CLOCK_MONOTONIC on arrival, so latency = arrival - stamp. Two phases keep the 2-core
machine from measuring its own overload: "hop" runs twin_sync beside the relay, "loop"
runs twin_sync with embedded_sim.
  relay  /relay/joint_trajectory from a bare relay node that copies names and positions
         into a JointTrajectory: two DDS hops and nothing else, in the same run
  sync   /virtual/joint_trajectory from twin_sync (mapping, checks, clamping, feed-forward)
  loop   /virtual/joint_states from embedded_sim (lockstep), stamped with the sample it
         stepped to: the whole loop, physical sample to the virtual state that reflects it
twin_sync's added latency is sync minus relay, percentile by percentile. Drops are samples
that never arrived. CPU per sample is each node's process CPU time over a rate's samples (from
/proc, sampled before the rate starts and after its last sample settled). Every node, the relay
and the listeners included, spins as the project's nodes do (EventsExecutor, nodes.common.run).
All processes run on a private domain with localhost discovery.
Usage: .venv/bin/python bench/bench_sync.py [--seconds 5] [--json]
The last line is one JSON object: rate -> relay/sync/loop p50, p99 (ms), drop (%), added, CPU.
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from digital_twin_gz.robot import params_file
from digital_twin_gz.run import Domain, NodeProcess, NodeSpec

RATES = (100, 500, 1000)
PATHS = {"relay": "/relay/joint_trajectory", "sync": "/virtual/joint_trajectory", "loop": "/virtual/joint_states"}


def relay() -> None:
    """The baseline node: JointState in, JointTrajectory out, no logic."""
    from rclpy.node import Node
    from sensor_msgs.msg import JointState
    from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

    from digital_twin_gz.nodes.common import STATE_QOS, run

    class Relay(Node):
        def __init__(self) -> None:
            super().__init__("relay")
            self.out = self.create_publisher(JointTrajectory, PATHS["relay"], STATE_QOS)
            self.create_subscription(JointState, "/physical/joint_states", self.forward, STATE_QOS)

        def forward(self, msg: JointState) -> None:
            self.out.publish(JointTrajectory(header=msg.header, joint_names=msg.name,
                                             points=[JointTrajectoryPoint(positions=msg.position)]))

    run(Relay)


def listen(paths: list[str], out: Path) -> None:
    """Record (stamp, arrival) of every message on some paths until Ctrl-C."""
    from rclpy.node import Node
    from sensor_msgs.msg import JointState
    from trajectory_msgs.msg import JointTrajectory

    from digital_twin_gz.nodes.common import STATE_QOS, run

    class Listener(Node):
        def __init__(self) -> None:
            super().__init__(f"listen_{'_'.join(paths)}")
            self.rows: dict[str, list[tuple[int, int]]] = {path: [] for path in paths}
            for path in paths:
                self.create_subscription(JointState if path == "loop" else JointTrajectory, PATHS[path],
                                         self.arrived(path), STATE_QOS)

        def arrived(self, path: str):
            rows = self.rows[path]
            return lambda m: rows.append((m.header.stamp.sec * 1_000_000_000 + m.header.stamp.nanosec,
                                          time.clock_gettime_ns(time.CLOCK_MONOTONIC)))

        def finish(self, hurry: bool = False) -> None:
            for path in paths:
                np.save(out / f"{path}.npy", np.array(self.rows[path], dtype=np.int64).reshape(-1, 2))

    run(Listener)


def publish(domain_id: int, seconds: float, subscribers: int,
            nodes: list[NodeProcess]) -> tuple[dict[int, tuple[int, int]], dict[int, dict[str, float]]]:
    """Publish every rate in turn; return rate -> (first stamp ns, samples sent), and rate ->
    node -> CPU us per sample."""
    import rclpy
    from sensor_msgs.msg import JointState

    from digital_twin_gz.nodes import convert
    from digital_twin_gz.nodes.common import STATE_QOS
    from digital_twin_gz.robot import load_description

    description = load_description()
    context = rclpy.Context()
    rclpy.init(context=context, domain_id=domain_id)
    node = rclpy.create_node("bench_physical", context=context)
    publisher = node.create_publisher(JointState, "/physical/joint_states", STATE_QOS)
    deadline = time.monotonic() + 30
    while publisher.get_subscription_count() < subscribers and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(2.0)  # let every listener finish discovery of every publisher
    names, q = description.joint_names, description.default_positions
    zeros = np.zeros(len(names))
    sent, cpu = {}, {}
    for rate in RATES:
        before = {p.name: p.cpu_seconds() for p in nodes}
        period_ns = 1_000_000_000 // rate
        first = (time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1_000_000 + 100) * 1_000_000
        count = int(seconds * rate)
        for k in range(count):
            due = first + k * period_ns
            wait = due - time.clock_gettime_ns(time.CLOCK_MONOTONIC)
            if wait > 0:
                time.sleep(wait * 1e-9)
            publisher.publish(convert.joint_state(due * 1e-9, names, q, zeros, zeros))
        sent[rate] = (first, count)
        time.sleep(1.0)
        cpu[rate] = {p.name: (p.cpu_seconds() - before[p.name]) / count * 1e6 for p in nodes}
    node.destroy_node()
    rclpy.shutdown(context=context)
    return sent, cpu


def _phase(domain: Domain, log_dir: Path, seconds: float,
           sim: bool) -> tuple[dict[int, tuple[int, int]], dict[int, dict[str, float]]]:
    """One measurement phase: twin_sync plus either the relay (hop) or embedded_sim (loop)."""
    twin = params_file()
    nodes = [NodeProcess(NodeSpec("twin_sync"), domain, twin)]
    if sim:
        nodes.append(NodeProcess(NodeSpec("embedded_sim", {"pacing": "lockstep"}), domain, twin))
        roles = ["loop"]
    else:
        roles = ["relay-node", "relay,sync"]
    helpers = [subprocess.Popen([sys.executable, __file__, "--role", role, "--out", str(log_dir)], env=domain.env)
               for role in roles]
    try:
        return publish(domain.id, seconds, 2 if sim else 3, nodes)
    finally:
        for process in helpers:
            process.send_signal(signal.SIGINT)
            process.wait(30)
        for process in nodes:
            process.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=5.0, help="seconds of samples per rate")
    parser.add_argument("--json", action="store_true", help="print only the JSON line")
    parser.add_argument("--role", help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.role == "relay-node":
        return relay()
    if args.role:
        return listen(args.role.split(","), args.out)

    log_dir = Path("/tmp/digital_twin_gz-bench-sync")
    log_dir.mkdir(exist_ok=True)
    domain = Domain(log_dir)
    try:
        (hop, hop_cpu), (loop, loop_cpu) = (_phase(domain, log_dir, args.seconds, sim=False),
                                            _phase(domain, log_dir, args.seconds, sim=True))
    finally:
        domain.release()
    sent = {"hop": hop, "loop": loop}
    arrivals = {path: np.load(log_dir / f"{path}.npy") for path in PATHS}
    result: dict[str, dict] = {}
    for rate in RATES:
        row: dict[str, object] = {}
        for path, rows in arrivals.items():
            first, count = sent["loop" if path == "loop" else "hop"][rate]
            end = first + count * (1_000_000_000 // rate)
            mine = rows[(rows[:, 0] >= first) & (rows[:, 0] < end)]
            stamps, index = np.unique(mine[:, 0], return_index=True)
            latency = (mine[index, 1] - stamps) * 1e-6
            p50, p99 = np.percentile(latency, [50, 99]) if len(latency) else (np.nan, np.nan)
            row[path] = {"p50_ms": float(p50), "p99_ms": float(p99), "drop_pct": 100.0 * (1 - len(stamps) / count)}
        row["added"] = {k: row["sync"][k] - row["relay"][k] for k in ("p50_ms", "p99_ms")}
        row["cpu_us_per_sample"] = {"twin_sync": loop_cpu[rate]["twin_sync"],
                                    "embedded_sim": loop_cpu[rate]["embedded_sim"],
                                    "twin_sync_without_sim": hop_cpu[rate]["twin_sync"]}
        result[str(rate)] = row
    if not args.json:
        print(f"{'rate Hz':>8} {'path':>6} {'p50 ms':>8} {'p99 ms':>8} {'drop %':>7}")
        for rate, row in result.items():
            for path in PATHS:
                r = row[path]
                print(f"{rate:>8} {path:>6} {r['p50_ms']:8.3f} {r['p99_ms']:8.3f} {r['drop_pct']:7.2f}")
            print(f"{rate:>8} {'added':>6} {row['added']['p50_ms']:8.3f} {row['added']['p99_ms']:8.3f}    "
                  "twin_sync minus relay")
            cpu = row["cpu_us_per_sample"]
            print(f"{rate:>8} {'cpu':>6} twin_sync {cpu['twin_sync']:.0f} us/sample, embedded_sim "
                  f"{cpu['embedded_sim']:.0f} us/sample")
    print(json.dumps({"bench": "bench_sync", "seconds": args.seconds, "rates": result}))


if __name__ == "__main__":
    main()
