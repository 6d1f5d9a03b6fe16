"""Calibrate the virtual model from a recording: the physics that make the reality gap smallest.

A candidate model is the description with a few physics parameters changed through
:func:`~digital_twin_gz.emulator.physical.apply_physics` (the one way the emulator and the twin
perturb MuJoCo). Its score is the gap of replaying the training part of the recording
(the first ``1 - holdout`` of it) through that model with :func:`~digital_twin_gz.replay.replay`,
the lockstep twin loop. scipy's differential evolution searches the parameters within
fixed bounds, each generation's candidates replayed in parallel by a pool of processes;
restarts with different seeds give the spread of the fitted values, our confidence in
them (how tightly the data pin a value down, not the bias a model that cannot match the
robot exactly leaves in it). Then the gap of the nominal and of the fitted model on the
held-out end, which the fit never saw: the whole recording is replayed, as the live twin
runs on, and scored from the cut on.

Objective: the RMS over paired samples and key links (feet, hands, head) of the key-link
position error in mm, the key-link errors of ``report.json``. One unit for everything,
and it sees what the parameters change: the base pose (orientation errors weighted by
their lever arm to the feet and the head) and the joints (through where the hands and
feet end up). Base error alone is blind to the arms, joint angles alone to the base.

What the parameters mean for a twin fed the physical robot's measured joint positions,
velocities and efforts:

- ``actuator_gain`` scales the twin's actuators, PD and effort feed-forward alike. The
  measured efforts already carry the physical torques, so the right gain is 1 when they
  are true joint torques (as the emulator reports them, whatever its ``actuator_gain``),
  and true / assumed torque constant when a robot computes them from motor current.
- ``mass_scale`` and ``actuator_gain`` together: scaling every mass and every actuator
  force by the same factor scales every term of the equations of motion alike (inertia,
  gravity, contact forces, actuation); only joint damping and friction do not follow. So
  a replay pins down their ratio, not each of them: fitted together, any point along
  that ridge is an equally good twin, the spread of each is large, and the report gives
  the ratio ``mass_scale/actuator_gain`` with its own, small spread. Fit one of them to
  get a value that means something.
- ``latency`` is not physics: the virtual robot acts on each sample ``latency`` seconds
  after its stamp. The replay steps to the samples' header stamps, so a robot's
  measurement-to-message latency (the emulator's ``measurement.latency_s``) never
  reaches the gap, and a delay common to all streams is invisible as well: latency is
  not identifiable offline from stamps. What the fit finds is how late the twin should
  act to match; for a robot that obeys the model that is 0, the lower bound. It moves in
  physics steps (1 ms). It is reported and used for the held-out gap, but it is not in
  the calibrated profile: the live twin's delay is its transport, not a setting.

Outputs (:meth:`Calibration.write`): ``calibrated.yaml``, a profile whose ``physics``
section ``load_profile`` reads (``digital-twin-gz replay/demo --virtual-profile``,
embedded_sim's ``physics_profile`` parameter); ``calibrated.urdf``, the description with
the fitted physics written in, for Gazebo; ``calibration.json`` with everything,
including the xacro arguments that carry the fitted gain where the description declares
gain arguments.
"""

from digital_twin_gz.calibration.evaluation import Evaluator, Gap, training_part
from digital_twin_gz.calibration.outputs import calibrated_urdf, gain_xacro_args, profile_yaml
from digital_twin_gz.calibration.parameters import (
    PARAMETERS,
    RIDGE,
    CalibrationError,
    Candidate,
    Parameter,
    parse_params,
)
from digital_twin_gz.calibration.search import Budget, Calibration, Fit, Status
from digital_twin_gz.calibration.summary import print_summary

__all__ = ["PARAMETERS", "RIDGE", "Budget", "Calibration", "CalibrationError", "Candidate", "Evaluator", "Fit", "Gap",
           "Parameter", "Status", "calibrated_urdf", "gain_xacro_args", "parse_params", "print_summary",
           "profile_yaml", "training_part"]
