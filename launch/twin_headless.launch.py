"""The twin on the Gazebo server alone (no GUI, offscreen rendering), for CI and remote machines.

ros2 launch digital_twin_gz twin_headless.launch.py profile:=nominal
"""

from digital_twin_gz.run.launch_actions import twin_launch_description


def generate_launch_description():
    return twin_launch_description("headless")
