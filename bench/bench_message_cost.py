"""What one message costs a subscriber process: the floor under every node's CPU per sample.

The main process publishes a 27-joint sensor_msgs/JointState (the bundled humanoid's) at
--rate Hz for --seconds; a subscriber process, spun as the project's nodes are (EventsExecutor,
nodes.common.run), does one of these, one after the other in the same run:
  object     a callback taking the message object, doing nothing
  raw        a raw=True callback (the CDR bytes), doing nothing
  relay      raw in, and a JointTrajectory serialized once published as bytes for each message
  unspun     a subscription on a node no executor spins (nodes.common.TakenMessages's way),
             taken ten times a second: Fast DDS receiving alone
  twin_sync  the real twin_sync node (no simulator: nothing else on the domain)
CPU per message is the subscriber process's CPU time (from /proc) over the messages sent.
Usage: .venv/bin/python bench/bench_message_cost.py [--rate 1000] [--seconds 5]
The last line is one JSON object: mode -> us per message.
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from digital_twin_gz.run import Domain, process_cpu_seconds

MODES = ("object", "raw", "relay", "unspun", "twin_sync")
TOPIC = "/physical/joint_states"


def subscriber(mode: str) -> None:
    from rclpy.node import Node
    from rclpy.serialization import serialize_message
    from sensor_msgs.msg import JointState
    from trajectory_msgs.msg import JointTrajectory

    from digital_twin_gz.nodes import convert
    from digital_twin_gz.nodes.common import STATE_QOS, TakenMessages, run
    from digital_twin_gz.robot import load_description, params_file

    if mode == "twin_sync":
        from digital_twin_gz.nodes.twin_sync import TwinSync

        run(TwinSync, [sys.argv[0], "--ros-args", "--params-file", str(params_file())])
        return
    names = load_description().joint_names
    trajectory = serialize_message(convert.trajectory_message(0.0, names, np.zeros(len(names))))

    class Subscriber(Node):
        def __init__(self) -> None:
            super().__init__("bench_subscriber")
            if mode == "unspun":
                self.latest = TakenMessages(self, JointState, TOPIC)
                self.create_timer(0.1, self.latest.take)
                return
            self.out = self.create_publisher(JointTrajectory, "/bench/joint_trajectory", STATE_QOS)
            callback = self.relay if mode == "relay" else (lambda _: None)
            self.create_subscription(JointState, TOPIC, callback, STATE_QOS, raw=mode != "object")

        def relay(self, _data: bytes) -> None:
            self.out.publish(trajectory)

    run(Subscriber)


def measure(domain: Domain, mode: str, rate: float, seconds: float) -> float:
    import rclpy
    from sensor_msgs.msg import JointState

    from digital_twin_gz.nodes import convert
    from digital_twin_gz.nodes.common import STATE_QOS
    from digital_twin_gz.robot import load_description

    description = load_description()
    context = rclpy.Context()
    rclpy.init(context=context, domain_id=domain.id)
    node = rclpy.create_node("bench_publisher", context=context)
    publisher = node.create_publisher(JointState, TOPIC, STATE_QOS)
    process = subprocess.Popen([sys.executable, __file__, "--mode", mode], env=domain.env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while publisher.get_subscription_count() < 1 and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(2.0)  # imports and model loading done, discovery settled
        q, zeros = description.default_positions, np.zeros(len(description.joint_names))
        count = int(rate * seconds)
        before, start = process_cpu_seconds(process.pid), time.monotonic()
        for k in range(count):
            wait = start + k / rate - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            publisher.publish(convert.joint_state(start + k / rate, description.joint_names, q, zeros, zeros))
        time.sleep(0.5)
        return (process_cpu_seconds(process.pid) - before) / count * 1e6
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(30)
        node.destroy_node()
        rclpy.shutdown(context=context)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=1000.0)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--mode", choices=MODES, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.mode:
        return subscriber(args.mode)
    results = {}
    with tempfile.TemporaryDirectory(prefix="bench_message_cost-") as logs:
        domain = Domain(Path(logs))
        try:
            for mode in MODES:
                results[mode] = round(measure(domain, mode, args.rate, args.seconds), 1)
                print(f"{mode:<10} {results[mode]:7.1f} us/message", flush=True)
        finally:
            domain.release()
    print(json.dumps({"bench": "bench_message_cost", "rate_hz": args.rate, "us_per_message": results}))


if __name__ == "__main__":
    main()
