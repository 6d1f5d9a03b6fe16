"""ament_python package that also installs with plain pip on a machine without ROS.

On a ROS install, rclpy and the message packages come from apt (package.xml). Without
ROS, the ``ros`` extra brings the PyPI wheels of the ROS 2 Kilted Python stack.
"""

from pathlib import Path

from setuptools import find_packages, setup

PACKAGE = "digital_twin_gz"
ROOT = Path(__file__).parent


def share(folder: str) -> list[tuple[str, list[str]]]:
    """data_files entries installing ``folder`` (recursively) under share/<package>."""
    entries: dict[str, list[str]] = {}
    for path in sorted((ROOT / folder).rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            relative = path.relative_to(ROOT)
            entries.setdefault(f"share/{PACKAGE}/{relative.parent}", []).append(str(relative))
    return list(entries.items())


ROS_KILTED = [
    "ros-kilted-rclpy==9.1.2",
    "ros-rclpy[fastrtps]==9.1.2",
    "ros-kilted-builtin-interfaces==2.3.0",
    "ros-kilted-std-msgs==5.5.1",
    "ros-kilted-std-srvs==5.5.1",
    "ros-kilted-sensor-msgs==5.5.1",
    "ros-kilted-geometry-msgs==5.5.1",
    "ros-kilted-nav-msgs==5.5.1",
    "ros-kilted-trajectory-msgs==5.5.1",
    "ros-kilted-diagnostic-msgs==5.5.1",
    "ros-kilted-rosgraph-msgs==2.3.0",
]

setup(
    name=PACKAGE,
    version="0.1.0",
    description="ROS 2 + Gazebo digital twin for humanoid robots, with an embedded MuJoCo simulator",
    license="Apache-2.0",
    python_requires=">=3.10",
    packages=find_packages(exclude=["test", "bench"]),
    package_data={PACKAGE: ["gazebo/*.yaml"]},
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        *share("urdf"),
        *share("worlds"),
        *share("config"),
        *share("launch"),
    ],
    install_requires=[
        "numpy==2.4.6",
        "scipy==1.17.1",
        "PyYAML==6.0.4",
        "lxml==6.1.3",
        "typer==0.29.2",
        "rich==15.0.0",
        "mujoco[sysid]==4.0.0",
        # What mujoco.sysid (calibration) imports, at the versions it ran with.
        "absl-py==2.5.1",
        "colorama==0.4.6",
        "tabulate==0.10.0",
        "matplotlib==3.11.2",
        "plotly==7.1.0",
        "Jinja2==3.1.6",
        "ImageIO==2.38.2",
        "xacro==2.1.1",
        "pillow==13.0.0",
        "mcap==1.6.0",
        "rosbags==0.11.9",
        "trimesh==5.2.0",
        "pycollada==0.9.3",
    ],
    extras_require={
        "ros": ROS_KILTED,
        "test": ["pytest==9.2.0", "ruff==0.17.6", "import-linter==2.17"],
        # digital-twin-gz fleet: one Ray task per recording, locally or on a Ray cluster.
        "fleet": ["ray==2.60.0"],
    },
    zip_safe=True,
    entry_points={
        "console_scripts": [
            "digital-twin-gz = digital_twin_gz.cli:main",
            "embedded_sim = digital_twin_gz.nodes.embedded_sim:main",
            "twin_sync = digital_twin_gz.nodes.twin_sync:main",
            "gap_monitor = digital_twin_gz.nodes.gap_monitor:main",
            "physical_emulator = digital_twin_gz.nodes.physical_emulator:main",
            "twin_container = digital_twin_gz.nodes.container:main",
        ],
    },
)
