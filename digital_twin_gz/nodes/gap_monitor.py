"""gap_monitor: the reality gap between the physical robot and its twin, live and as a report.

Pairs every virtual joint-state sample with the physical state at the same stamp
(:mod:`digital_twin_gz.twin.timeline`), measures the errors (:mod:`digital_twin_gz.gap.metrics`),
publishes them under /twin/gap/ and windowed statistics with OK/WARN/ERROR on
/diagnostics, and on shutdown (Ctrl-C included) writes ``report.json`` and ``report.html`` into
``out_dir`` and prints the summary table. Every ``checkpoint_period`` s it writes ``report.json``
of the span so far (``"partial": true``, write-then-rename), so a SIGKILL, an out-of-memory kill
or a power cut leaves a complete report of all but the last seconds.

Topics (in the node's namespace: /<robot>/twin/gap/... under one): twin/gap/base_position
(std_msgs/Float64, m), twin/gap/base_orientation (rad), twin/gap/mpjpe (mm, mean over key links),
twin/gap/joint_position (sensor_msgs/JointState whose ``position`` holds each joint's absolute
error in rad, so rqt_plot and PlotJuggler plot it per joint name), twin/gap/key_link/<link> (mm).
Its status on the one /diagnostics is named after the node with its namespace (``robot_1/gap_monitor``)
and carries the robot's name as ``hardware_id``; the resyncs it lists are its own robot's twin_sync's.

A physical robot that restarts (its clock jumps by more than ``clock_jump``) begins a new
session: nothing is paired across it. Holes in the streams, the clock jumps and twin_sync's
resyncs (heard on /diagnostics) are the report's ``events``.

With the ``record`` parameter (a file path) it also records the physical, virtual and gap
topics into an MCAP file (:mod:`digital_twin_gz.nodes.recorder`).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray
from nav_msgs.msg import Odometry
from rclpy.node import Node
from sensor_msgs.msg import JointState
from std_msgs.msg import Float64
from trajectory_msgs.msg import JointTrajectory

from digital_twin_gz import gap
from digital_twin_gz.gap import GapTracker, print_summary
from digital_twin_gz.nodes import convert
from digital_twin_gz.nodes.common import (
    DIAGNOSTICS,
    GAP_TOPICS,
    PHYSICAL_JOINT_STATES,
    PHYSICAL_ODOM,
    STATE_QOS,
    TakenMessages,
    declare_clock_jump,
    declare_joint_delay,
    declare_robot,
    declare_robot_name,
    declare_strings,
    diagnostic_name,
    run,
    status_name,
)
from digital_twin_gz.nodes.recorder import TopicRecorder
from digital_twin_gz.recording import ODOMETRY, joint_batch, pose_batch
from digital_twin_gz.robot import load_roles
from digital_twin_gz.twin import JointMap, Pairing, StaleWatch


class GapMonitor(Node):
    def __init__(self) -> None:
        super().__init__("gap_monitor")
        self.description, self.world, topics = declare_robot(self)
        declare = self.declare_parameter
        self.robot_name = declare_robot_name(self, self.description)
        self.meta = {"profile": declare("profile", "live").value, "motion": declare("motion", "live").value,
                     "simulator": declare("simulator", "embedded").value, "robot_name": self.robot_name,
                     "namespace": self.get_namespace().rstrip("/")}
        defaults = gap.monitor_params()
        joint_map = declare("joint_map", defaults["joint_map"]).value
        settings = gap.MonitorSettings.from_params({
            name: declare(name, defaults[name]).value for name in (
                "window", "base_position_warn", "base_position_error", "base_orientation_warn",
                "base_orientation_error", "max_gap", "max_wait")} | {"key_links": declare_strings(self, "key_links"),
                                                                      "clock_jump": declare_clock_jump(self)})
        self.window, self.thresholds = settings.window, settings.thresholds
        self.joint_delay_ns = declare_joint_delay(self)
        self.out_dir = Path(declare("out_dir", defaults["out_dir"]).value).expanduser()
        record = declare("record", defaults["record"]).value
        self.watch = StaleWatch(float(declare("stale_timeout", defaults["stale_timeout"]).value))
        rate = float(declare("publish_rate", defaults["publish_rate"]).value)
        checkpoint_period = float(declare("checkpoint_period", defaults["checkpoint_period"]).value)

        d = self.description
        self.physical_map = JointMap.load(d, Path(joint_map) if joint_map else None)
        self.virtual_map = JointMap(d)
        role_map = declare("joint_roles", "").value
        self.tracker = GapTracker(d, settings, load_roles(d, Path(role_map)) if role_map else None)
        if self.tracker.missing:
            self.get_logger().warning(f"key links: {self.tracker.missing}")
        self._last = {"physical": d.default_positions, "virtual": d.default_positions}
        self.started = time.monotonic()

        self.pub_position = self.create_publisher(Float64, f"{GAP_TOPICS}/base_position", 10)
        self.pub_orientation = self.create_publisher(Float64, f"{GAP_TOPICS}/base_orientation", 10)
        self.pub_mpjpe = self.create_publisher(Float64, f"{GAP_TOPICS}/mpjpe", 10)
        self.pub_joints = self.create_publisher(JointState, f"{GAP_TOPICS}/joint_position", 10)
        self.pub_links = {link: self.create_publisher(Float64, f"{GAP_TOPICS}/key_link/{link}", 10)
                          for link in self.tracker.meter.key_links}
        self.pub_diag = self.create_publisher(DiagnosticArray, DIAGNOSTICS, 10)
        # The four streams wait serialized in their subscriptions' histories (nodes.common.TakenMessages)
        # until on_measure takes each as one batch of arrays (recording.batches): a fraction of the
        # cost of a callback and a message object per sample.
        self.streams = {stream: TakenMessages(self, msg_type, topic, STATE_QOS) for stream, topic, msg_type in (
            ("physical_joints", PHYSICAL_JOINT_STATES, JointState), ("physical_base", PHYSICAL_ODOM, Odometry),
            ("virtual_joints", topics.joint_states, JointState), ("virtual_base", topics.odom, Odometry))}
        self.lags = gap.SeriesLog()
        self.rejected = dict.fromkeys(Pairing.STREAMS, 0)
        self.create_timer(1.0 / rate, self.on_measure)
        self.recorder = None
        if record:
            recorded = [(PHYSICAL_JOINT_STATES, JointState), (PHYSICAL_ODOM, Odometry),
                        (topics.joint_states, JointState), (topics.odom, Odometry),
                        (topics.joint_trajectory, JointTrajectory),
                        *((f"{GAP_TOPICS}/{name}", Float64) for name in ("base_position", "base_orientation", "mpjpe")),
                        (f"{GAP_TOPICS}/joint_position", JointState),
                        *((f"{GAP_TOPICS}/key_link/{link}", Float64) for link in self.pub_links)]
            self.recorder = TopicRecorder(self, Path(record).expanduser(), recorded,
                                          {"robot": d.name, **self.meta, "source": "live"})
            self.get_logger().info(f"recording {len(recorded)} topics to {record}")
        self.create_timer(1.0, self.publish_diagnostics)
        self._resyncs_heard = 0
        # Its own robot's twin_sync among every robot's statuses on the one /diagnostics.
        self.sync_status = status_name(self.get_namespace(), "twin_sync")
        self.create_subscription(DiagnosticArray, DIAGNOSTICS, self.on_diagnostics, 10)
        if checkpoint_period > 0:
            self.create_timer(checkpoint_period, self.checkpoint)
        physical, virtual = (f"{self.streams[f'{side}_joints'].topic}+{self.streams[f'{side}_base'].topic}"
                             for side in ("physical", "virtual"))
        self.get_logger().info(f"measuring the gap of {self.robot_name} between {physical} and {virtual}; key links "
                               f"{', '.join(self.tracker.meter.key_links)}; "
                               f"report to {self.out_dir}")

    def _take_queues(self) -> None:
        """Decode what came since the last call, one batch per stream, into the pairing."""
        taken = {stream: messages.take_all() for stream, messages in self.streams.items()}
        if taken["physical_joints"]:
            self.watch.feed(time.monotonic())
        for side, joint_map in (("physical", self.physical_map), ("virtual", self.virtual_map)):
            stream = f"{side}_joints"
            datas = taken[stream]
            if not datas:
                continue
            batch = joint_batch(datas, joint_map, self._last[side])
            for err in batch.errors:
                self.get_logger().warning(f"ignored samples on {stream}: {err}", throttle_duration_sec=1.0)
            finite = np.isfinite(batch.positions).all(axis=1)
            if finite.any():
                # The physical joints where they were measured (twin_sync acted on them there).
                delay = self.joint_delay_ns if side == "physical" else 0
                self._extend(stream, batch.stamps_ns[finite] - delay, batch.positions[finite])
                self._last[side] = batch.positions[finite][-1]
            self._reject(stream, len(datas) - int(finite.sum()), "undecodable, unmatched names or NaN/inf")
        for side in ("physical", "virtual"):
            stream = f"{side}_base"
            datas = taken[stream]
            if not datas:
                continue
            stamps, positions, orientations, _ = pose_batch(datas, ODOMETRY)
            self._extend(stream, stamps, np.hstack([positions, orientations]))
            self._reject(stream, len(datas) - len(stamps), "undecodable, NaN, inf or a zero quaternion")

    def _extend(self, stream: str, stamps_ns: np.ndarray, values: np.ndarray) -> None:
        counts = self.tracker.pairing.counts
        before = counts.out_of_order[stream]
        self.tracker.pairing.extend(stream, stamps_ns * 1e-9, values)
        self._reject(stream, counts.out_of_order[stream] - before, "stamped out of order")

    def _reject(self, stream: str, count: int, why: str) -> None:
        if count:
            self.rejected[stream] += count
            self.get_logger().warning(f"ignored {count} samples on {stream}: {why}", throttle_duration_sec=1.0)

    def on_measure(self) -> None:
        self._take_queues()
        samples = self.tracker.measure()
        if not len(samples):
            return
        # How far behind the physical robot's clock the measurement runs (wall-clock stamps).
        self.lags.append(time.time() - self.tracker.pairing.stamp(float(samples.times[-1])))
        self.pub_position.publish(Float64(data=float(samples.base_position_m[-1])))
        self.pub_orientation.publish(Float64(data=float(samples.base_orientation_rad[-1])))
        self.pub_mpjpe.publish(Float64(data=float(gap.mpjpe(samples.link_mm[-1:])[0])))
        self.pub_joints.publish(convert.joint_state(samples.times[-1], self.description.joint_names,
                                                    samples.joint_rad[-1]))
        for k, publisher in enumerate(self.pub_links.values()):
            publisher.publish(Float64(data=float(samples.link_mm[-1, k])))

    def on_diagnostics(self, msg: DiagnosticArray) -> None:
        """twin_sync's resyncs, for the report's events."""
        for status in msg.status:
            if status.name != self.sync_status:
                continue
            values = {kv.key: kv.value for kv in status.values}
            resyncs = int(values.get("resyncs", "0"))
            if resyncs > self._resyncs_heard:
                self._take_queues()  # placed at the newest physical sample
                self.tracker.note("resync", why=values.get("last_resync", "unknown"),
                                  count=resyncs - self._resyncs_heard)
                self._resyncs_heard = resyncs

    def publish_diagnostics(self) -> None:
        window = self.tracker.log.window(self.window)
        now = time.monotonic()
        values: dict[str, object] = {"window_s": self.window, **self._transport_values()}
        if self.watch.stale(now) or (self.watch.last is None and now - self.started > self.watch.timeout):
            feed = self.streams["physical_joints"].topic
            level, message = gap.WARN, f"physical feed stale on {feed}: gap not measured"
        elif not len(window):
            level, message = gap.OK, "waiting for paired samples"
        else:
            position, orientation = gap.stats(window.base_position_m), gap.stats(window.base_orientation_rad)
            level = max(self.thresholds.levels(float(position["rms"]), float(orientation["rms"])))
            message = (f"base position error rms {position['rms'] * 1e3:.1f} mm, orientation rms "
                       f"{np.degrees(orientation['rms']):.2f} deg over {self.window:g} s")
            mpjpe = gap.stats(gap.mpjpe(window.link_mm))
            joints = gap.stats(window.joint_rad.reshape(-1))
            values |= {f"base_position_error_m_{k}": f"{v:.6f}" for k, v in position.items()}
            values |= {f"base_orientation_error_rad_{k}": f"{v:.6f}" for k, v in orientation.items()}
            values |= {"mpjpe_mm_rms": f"{mpjpe['rms']:.3f}", "joint_position_error_rad_rms": f"{joints['rms']:.6f}"}
        stamp = convert.now_seconds(self)
        self.pub_diag.publish(convert.diagnostics(stamp, [(diagnostic_name(self), level, message, values)],
                                                  self.robot_name))

    def transport(self) -> dict:
        """How the measurement kept up: lag behind the physical clock, samples rejected, missing
        (holes in the stamps) and unpaired; report.json's ``transport``."""
        counts = self.tracker.pairing.counts
        return {"lag_s": {**{k: float(v) for k, v in self.lags.stats().items()}, "last": float(self.lags.last)}
                if len(self.lags) else None,
                "rejected": dict(self.rejected), "missing": dict(counts.missing), "unpaired": counts.unpaired,
                "paired": counts.paired}

    def _transport_values(self) -> dict[str, str]:
        counts = self.tracker.pairing.counts
        lag = f"{self.lags.last:.3f}" if len(self.lags) else "n/a"
        return {"paired": str(counts.paired), "unpaired": str(counts.unpaired), "lag_s": lag,
                "missing_physical": str(counts.missing["physical_joints"]),
                "missing_virtual": str(counts.missing["virtual_joints"]),
                "rejected": str(sum(self.rejected.values()))}

    def checkpoint(self) -> None:
        """report.json of the span measured so far, marked partial; a full disk is a warning."""
        self._take_queues()
        self.tracker.measure()
        report = self.tracker.report(source="live", partial=True, **self.meta) | {"transport": self.transport()}
        try:
            gap.write_report(report, self.out_dir)
        except OSError as err:
            self.get_logger().warning(f"checkpoint of the report not written to {self.out_dir}: {err}",
                                      throttle_duration_sec=30.0)

    def finish(self, hurry: bool = False) -> None:
        if self.recorder is not None:
            self.recorder.close()
        self._take_queues()
        self.tracker.measure()
        report = self.tracker.report(source="live", **self.meta) | {"transport": self.transport()}
        try:
            paths = self.tracker.write(self.out_dir, report, self.world, pictures=not hurry)
        except OSError as err:
            self.get_logger().error(f"report not written to {self.out_dir}: {err} (the last checkpoint stays)")
            return
        print_summary(report)
        self.get_logger().info(f"wrote {', '.join(str(p) for p in paths)}")


def main(args: list[str] | None = None) -> None:
    run(GapMonitor, args)


if __name__ == "__main__":
    main()
