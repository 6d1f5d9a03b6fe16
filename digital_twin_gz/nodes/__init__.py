"""The ROS 2 nodes: thin translators between messages and the plain modules below.

``embedded_sim`` (MuJoCo behind Gazebo's topic contract), ``twin_sync``, ``gap_monitor``,
``physical_emulator``, the recorder and the viewer; ``container`` (``twin_container``) runs several
of them in one process. ``convert`` is the one edge where messages become arrays (the hot path
reads and writes CDR bytes through :mod:`digital_twin_gz.recording.cdr`).
"""
