"""launch_testing: the headless Gazebo twin comes up, keeps the gap small and shuts down cleanly.

Brings up launch/twin_headless.launch.py with the emulated robot on the nominal profile,
waits for the virtual states and the gap topics, checks the gap against gap_monitor's own
thresholds (config/twin.yaml), then checks every process's exit code and the report.

Needs a ROS 2 install with Gazebo: ``colcon test --packages-select digital_twin_gz`` or
``launch_test test/test_twin_launch.py``. Skipped where launch_testing is not installed.
"""

from __future__ import annotations

import pytest

pytest.importorskip("launch_testing", reason="launch_testing is not installed (it comes with ROS 2): run this "
                    "test on a ROS 2 + Gazebo install with colcon test or launch_test")

import json
import tempfile
import time
import unittest
from pathlib import Path

import launch_testing.actions
import launch_testing.asserts
import rclpy
import yaml
from launch import LaunchDescription
from launch.actions import IncludeLaunchDescription, SetEnvironmentVariable
from launch.launch_description_sources import PythonLaunchDescriptionSource
from nav_msgs.msg import Odometry
from rclpy.executors import SingleThreadedExecutor
from sensor_msgs.msg import JointState
from std_msgs.msg import Float64

from digital_twin_gz.gazebo import bundled_bridge, load_bridge, virtual_topics
from digital_twin_gz.robot import params_file, share_dir
from digital_twin_gz.run import Domain

pytestmark = pytest.mark.ros

STARTUP_TIMEOUT = 180.0  # s: Gazebo loads, the robot is spawned, then the twin's nodes start
SETTLE = 5.0  # s: the spawned robot bends its knees into its standing pose
MEASURE = 15.0  # s of gap samples checked
GAP = "/twin/gap/base_position"
# Squats move the base by centimetres: a twin that did not follow would show it.
ARGUMENTS = {"physical": "emulator", "profile": "nominal", "motion": "squat"}

DOMAIN = Domain(Path(tempfile.mkdtemp(prefix="twin_launch_")))
VIRTUAL = virtual_topics(load_bridge(bundled_bridge()))
TOPICS = {VIRTUAL.joint_states: JointState, VIRTUAL.odom: Odometry, GAP: Float64,
          "/twin/gap/base_orientation": Float64, "/twin/gap/mpjpe": Float64, "/twin/gap/joint_position": JointState}
MONITOR = yaml.safe_load(params_file().read_text())["gap_monitor"]["ros__parameters"]


@pytest.mark.launch_test
def generate_test_description():
    out_dir = DOMAIN.log_dir / "report"
    # DDS and gz-transport stay on this machine and apart from parallel runs.
    isolation = {"ROS_DOMAIN_ID": str(DOMAIN.id), "ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST",
                 "ROS_LOG_DIR": str(DOMAIN.log_dir), "GZ_IP": "127.0.0.1",
                 "GZ_PARTITION": f"digital_twin_gz_{DOMAIN.id}"}
    headless = IncludeLaunchDescription(
        PythonLaunchDescriptionSource(str(share_dir() / "launch" / "twin_headless.launch.py")),
        launch_arguments={**ARGUMENTS, "out_dir": str(out_dir)}.items())
    return LaunchDescription([*(SetEnvironmentVariable(name, value) for name, value in isolation.items()), headless,
                              launch_testing.actions.ReadyToTest()]), {"out_dir": out_dir}


class TestHeadlessTwin(unittest.TestCase):
    """Runs while the launch is up; the tests run in name order and share one listener."""

    @classmethod
    def setUpClass(cls) -> None:
        cls.context = rclpy.Context()
        rclpy.init(context=cls.context, domain_id=DOMAIN.id)
        cls.node = rclpy.create_node("twin_launch_test", context=cls.context)
        cls.executor = SingleThreadedExecutor(context=cls.context)
        cls.executor.add_node(cls.node)
        cls.counts = dict.fromkeys(TOPICS, 0)
        cls.gaps: list[float] = []
        for topic, msg_type in TOPICS.items():
            cls.node.create_subscription(msg_type, topic, cls._receiver(topic), 10)

    @classmethod
    def _receiver(cls, topic: str):
        def receive(msg) -> None:
            cls.counts[topic] += 1
            if topic == GAP:
                cls.gaps.append(msg.data)
        return receive

    @classmethod
    def tearDownClass(cls) -> None:
        cls.executor.shutdown()
        cls.node.destroy_node()
        rclpy.shutdown(context=cls.context)

    def spin(self, seconds: float, until=lambda: False) -> bool:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            if until():
                return True
            self.executor.spin_once(timeout_sec=0.1)
        return until()

    def test_1_virtual_states_and_gap_topics_come_up(self) -> None:
        up = self.spin(STARTUP_TIMEOUT, lambda: all(self.counts.values()))
        silent = [topic for topic, count in self.counts.items() if not count]
        self.assertTrue(up, f"no message within {STARTUP_TIMEOUT:g} s on {', '.join(silent)}")

    def test_2_gap_stays_under_the_thresholds(self) -> None:
        self.assertTrue(self.spin(STARTUP_TIMEOUT, lambda: bool(self.gaps)), f"no message on {GAP}")
        self.spin(SETTLE)
        start = len(self.gaps)
        self.spin(MEASURE)
        window = self.gaps[start:]
        self.assertGreater(len(window), 0.5 * MEASURE * MONITOR["publish_rate"], f"too few samples on {GAP}")
        rms = (sum(g * g for g in window) / len(window)) ** 0.5
        self.assertLess(rms, MONITOR["base_position_warn"], f"base position gap RMS {rms:.4f} m")
        self.assertLess(max(window), MONITOR["base_position_error"], f"base position gap max {max(window):.4f} m")


@launch_testing.post_shutdown_test()
class TestShutdown(unittest.TestCase):
    def test_every_process_exits_cleanly(self, proc_info) -> None:
        launch_testing.asserts.assertExitCodes(proc_info)

    def test_gap_monitor_wrote_its_report(self, out_dir) -> None:
        report = json.loads((out_dir / "report.json").read_text())
        self.assertEqual(report["simulator"], "gazebo")
        self.assertEqual(report["profile"], ARGUMENTS["profile"])
        self.assertGreater(report["samples"]["paired"], 0)
