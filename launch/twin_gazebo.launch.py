"""The twin on Gazebo with its GUI: worlds/twin.sdf, the robot spawned from robot_description,
ros_gz_bridge on config/bridge.yaml, then twin_sync and gap_monitor on sim time.

ros2 launch digital_twin_gz twin_gazebo.launch.py physical:=live physical_joint_states:=/joint_states
"""

from digital_twin_gz.run.launch_actions import twin_launch_description


def generate_launch_description():
    return twin_launch_description("gui")
