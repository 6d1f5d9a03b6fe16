"""digital_twin_gz: a ROS 2 + Gazebo digital twin for humanoid robots.

The packages, from the bottom up (imports point down; ``test/test_lint.py`` enforces it):

- ``robot``: the description (URDF/xacro), joint roles, kinematics, derived gains, the world
- ``sim``: the embedded simulator (MuJoCo) with gz-sim's controller semantics
- ``emulator``: the emulated physical robot and its motions
- ``twin``: twin_sync's rules, time alignment and pairing, the start pose
- ``gap``: reality-gap metrics, the tracker and the report (JSON, HTML, pictures)
- ``recording``: MCAP / rosbag2 reading and writing without ROS
- ``replay``: a recording driven through the twin in lockstep
- ``calibration``: fitting the virtual model's physics to a recording
- ``gazebo``: the ros_gz_bridge contract, gz-transport control, ``check``
- ``nodes``: the ROS 2 nodes; ``run``: the node graph, ROS domains, demo, launch support
- ``teleop``: teleoperation and mirroring; ``cli``: the ``digital-twin-gz`` command
"""
