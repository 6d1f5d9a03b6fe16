"""The twin on the embedded MuJoCo simulator: the node graph of ``digital-twin-gz demo``, no Gazebo.

ros2 launch digital_twin_gz twin_embedded.launch.py profile:=nominal
"""

from digital_twin_gz.run.launch_actions import twin_launch_description


def generate_launch_description():
    return twin_launch_description("embedded")
