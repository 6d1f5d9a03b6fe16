"""The ROS 2 nodes: thin translators between messages and the plain modules below.

``embedded_sim`` (MuJoCo behind Gazebo's topic contract), ``twin_sync``, ``gap_monitor``,
``physical_emulator``, the recorder and the viewer; ``convert`` is the one edge where messages
become arrays.
"""
