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
that never arrived. All processes run on a private domain with localhost discovery.
Usage: .venv/bin/python bench/bench_sync.py [--seconds 5]
"""

from __future__ import annotations

import argparse
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


def _spin_until_interrupted(node) -> None:
    import rclpy

    try:
        rclpy.spin(node)
    except KeyboardInterrupt:
        pass


def relay() -> None:
    """The baseline node: JointState in, JointTrajectory out, no logic."""
    import rclpy
    from sensor_msgs.msg import JointState
    from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

    from digital_twin_gz.nodes.common import STATE_QOS

    rclpy.init()
    node = rclpy.create_node("relay")
    out = node.create_publisher(JointTrajectory, PATHS["relay"], STATE_QOS)

    def forward(msg: JointState) -> None:
        out.publish(JointTrajectory(header=msg.header, joint_names=msg.name,
                                    points=[JointTrajectoryPoint(positions=msg.position)]))

    node.create_subscription(JointState, "/physical/joint_states", forward, STATE_QOS)
    _spin_until_interrupted(node)


def listen(paths: list[str], out: Path) -> None:
    """Record (stamp, arrival) of every message on some paths until Ctrl-C."""
    import rclpy
    from sensor_msgs.msg import JointState
    from trajectory_msgs.msg import JointTrajectory

    from digital_twin_gz.nodes.common import STATE_QOS

    rclpy.init()
    node = rclpy.create_node(f"listen_{'_'.join(paths)}")
    rows: dict[str, list[tuple[int, int]]] = {path: [] for path in paths}

    def arrived(path: str):
        return lambda m: rows[path].append((m.header.stamp.sec * 1_000_000_000 + m.header.stamp.nanosec,
                                            time.clock_gettime_ns(time.CLOCK_MONOTONIC)))

    for path in paths:
        node.create_subscription(JointState if path == "loop" else JointTrajectory, PATHS[path], arrived(path),
                                 STATE_QOS)
    _spin_until_interrupted(node)
    for path in paths:
        np.save(out / f"{path}.npy", np.array(rows[path], dtype=np.int64).reshape(-1, 2))


def publish(domain_id: int, seconds: float, subscribers: int) -> dict[int, tuple[int, int]]:
    """Publish every rate in turn; return rate -> (first stamp ns, samples sent)."""
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
    sent = {}
    for rate in RATES:
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
    node.destroy_node()
    rclpy.shutdown(context=context)
    return sent


def _phase(domain: Domain, log_dir: Path, seconds: float, sim: bool) -> dict[int, tuple[int, int]]:
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
        return publish(domain.id, seconds, subscribers=2 if sim else 3)
    finally:
        for process in helpers:
            process.send_signal(signal.SIGINT)
            process.wait(30)
        for process in nodes:
            process.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=5.0, help="seconds of samples per rate")
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
        sent = {"hop": _phase(domain, log_dir, args.seconds, sim=False),
                "loop": _phase(domain, log_dir, args.seconds, sim=True)}
    finally:
        domain.release()
    arrivals = {path: np.load(log_dir / f"{path}.npy") for path in PATHS}
    print(f"{'rate Hz':>8} {'path':>6} {'p50 ms':>8} {'p99 ms':>8} {'drop %':>7}")
    for rate in RATES:
        percentiles = {}
        for path, rows in arrivals.items():
            first, count = sent["loop" if path == "loop" else "hop"][rate]
            end = first + count * (1_000_000_000 // rate)
            mine = rows[(rows[:, 0] >= first) & (rows[:, 0] < end)]
            stamps, index = np.unique(mine[:, 0], return_index=True)
            latency = (mine[index, 1] - stamps) * 1e-6
            percentiles[path] = np.percentile(latency, [50, 99]) if len(latency) else np.full(2, np.nan)
            drop = 100.0 * (1 - len(stamps) / count)
            print(f"{rate:>8} {path:>6} {percentiles[path][0]:8.3f} {percentiles[path][1]:8.3f} {drop:7.2f}")
        added = percentiles["sync"] - percentiles["relay"]
        print(f"{rate:>8} {'added':>6} {added[0]:8.3f} {added[1]:8.3f}    twin_sync minus relay")


if __name__ == "__main__":
    main()
