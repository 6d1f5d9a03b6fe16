"""What the embedded simulator does the way gz-sim does it, without ROS: set_pose keeps
velocities; the odometry twist is OdometryPublisher's finite differences, averaged."""

from __future__ import annotations

import mujoco
import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from digital_twin_gz.robot import load_description
from digital_twin_gz.robot.gains import floating_inertia
from digital_twin_gz.sim import Simulator


@pytest.fixture(scope="module")
def humanoid():
    return load_description()


def pushed(description) -> Simulator:
    sim = Simulator(description)
    sim.data.qvel[0:3] = [0.4, -0.2, 0.1]  # world frame
    sim.data.qvel[3:6] = [0.3, -0.5, 0.8]  # base frame
    return sim


def test_set_base_pose_moves_the_base_and_keeps_every_velocity(humanoid):
    sim = pushed(humanoid)
    sim.step(20)
    before = sim.state()
    yaw = Rotation.from_euler("z", 0.7) * Rotation.from_quat(before.base_orientation)
    sim.set_base_pose(before.base_position + [0.5, 0.0, 0.0], yaw.as_quat())
    after = sim.state()
    assert np.allclose(after.base_position, before.base_position + [0.5, 0.0, 0.0])
    assert np.allclose(after.base_orientation, yaw.as_quat()) or np.allclose(after.base_orientation, -yaw.as_quat())
    # DART keeps a free joint's body-frame velocities: the base-frame twist, and the joints'.
    assert np.allclose(after.base_linear_velocity, before.base_linear_velocity)
    assert np.allclose(after.base_angular_velocity, before.base_angular_velocity)
    assert np.array_equal(after.joint_velocities, before.joint_velocities)
    assert np.linalg.norm(after.base_linear_velocity) > 0.1


def finite_difference_twist(poses: list[tuple[np.ndarray, np.ndarray]], dt: float) -> tuple[np.ndarray, np.ndarray]:
    """OdometryPublisher (dimensions 3) over the last 11 poses (position, x y z w quaternion)."""
    linear, angular = [], []
    for (p0, q0), (p1, q1) in zip(poses[-11:-1], poses[-10:]):
        rotation = Rotation.from_quat(q1)
        linear.append(rotation.inv().apply((p1 - p0) / dt))
        angular.append(rotation.inv().apply((rotation * Rotation.from_quat(q0).inv()).as_rotvec() / dt))
    return np.mean(linear, axis=0), np.mean(angular, axis=0)


def test_odometry_twist_is_the_mean_of_pose_differences(humanoid):
    reference, bulk = pushed(humanoid), pushed(humanoid)
    reference.track_odometry()
    odometry = bulk.track_odometry()
    poses = []
    for step in range(300):
        reference.step()
        state = reference.state()
        poses.append((state.base_position, state.base_orientation))
        if step == 1:  # the system's first difference is against the origin: meaningless, as in Gazebo
            assert np.linalg.norm(reference.odometry.twist()[0]) > 100
    bulk.step(300)  # most steps in one MuJoCo call, the last ten fed to the odometry
    state = bulk.state()
    assert np.allclose(state.base_position, poses[-1][0])
    linear, angular = finite_difference_twist(poses, bulk.timestep)
    assert np.allclose(odometry.twist()[0], linear, atol=1e-9)
    assert np.allclose(odometry.twist()[1], angular, atol=1e-9)
    assert np.allclose(reference.odometry.twist()[0], linear, atol=1e-9)
    # Not the body's velocity now: an average over the last 10 ms.
    assert not np.allclose(linear, state.base_linear_velocity, atol=1e-4)


def test_floating_inertia_is_mujocos_mass_matrix(humanoid):
    """The joint-space inertia the derived gains are rated with is the simulator's, floating in the zero pose."""
    sim = Simulator(humanoid)
    sim.reset(joint_positions=np.zeros(len(humanoid.joint_names)), base_position=np.zeros(3))
    mujoco.mj_forward(sim.model, sim.data)
    mass = np.zeros((sim.model.nv, sim.model.nv))
    mujoco.mj_fullM(sim.model, sim.data, mass)
    dofs = sim.built.dof_index
    ours = floating_inertia(humanoid)
    assert np.allclose(ours[6:, 6:], mass[np.ix_(dofs, dofs)], rtol=1e-9, atol=1e-12)
    effective = 1.0 / np.diag(np.linalg.inv(mass))[dofs]  # everything else free
    assert np.allclose(1.0 / np.diag(np.linalg.inv(ours))[6:], effective, rtol=1e-9)

