"""Calibrate the virtual model from a recording: the physics that make the reality gap smallest,
with what the recording determines of them.

The fit is MuJoCo's system-identification toolbox (``mujoco.sysid``: parameters, the bounded
Levenberg-Marquardt of ``mujoco.minimize``) on a multiple-shooting residual: the training part of
the recording (the first ``1 - holdout``) cut into segments of a few seconds, each rolled out
from the physical state at its start through a candidate model, all at once on every core
(``mujoco.rollout``; :mod:`~digital_twin_gz.calibration.shooting`). The Jacobian at the fit gives
confidence intervals and the parameters or combinations the recording leaves open
(:mod:`~digital_twin_gz.calibration.identify`). Then the nominal and the calibrated twin replay
the whole recording as the live twin runs, and their gaps are compared on the held-out end.

Parameters (``config/calibration.yaml``): link mass scale, foot friction, joint damping, friction
and armature (for the whole robot or per body group: legs, arms, torso), actuator gain, and the
joint feed's delay against the base pose. A candidate model is the description changed by
:func:`~digital_twin_gz.emulator.apply_physics`, the one way the emulator and a calibrated twin
change MuJoCo. Masses and actuator forces scaled alike move a twin alike: fitted together, only
their ratio is determined, and the report says so.

Outputs (:meth:`Calibration.write`): ``calibrated.yaml`` (a profile: ``replay``/``demo
--virtual-profile``, embedded_sim's ``physics_profile``), ``calibrated.urdf`` (the fitted physics
written into the description, for Gazebo), ``calibration.json`` and ``calibration.html``.
"""

from digital_twin_gz.calibration.evaluation import Evaluator, Gap, Model, training_part
from digital_twin_gz.calibration.fit import FitProgress, FitResult
from digital_twin_gz.calibration.html import HTML_FILE
from digital_twin_gz.calibration.identify import Identification
from digital_twin_gz.calibration.outputs import PROFILE_FILE, REPORT_FILE, URDF_FILE, calibrated_urdf, gain_xacro_args
from digital_twin_gz.calibration.parameters import (
    CalibrationError,
    CalibrationSettings,
    Parameter,
    load_settings,
    parse_params,
    physics_of,
)
from digital_twin_gz.calibration.run import Calibration
from digital_twin_gz.calibration.summary import print_summary

__all__ = ["HTML_FILE", "PROFILE_FILE", "REPORT_FILE", "URDF_FILE", "Calibration", "CalibrationError",
           "CalibrationSettings", "Evaluator", "FitProgress", "FitResult", "Gap", "Identification", "Model",
           "Parameter", "calibrated_urdf", "gain_xacro_args", "load_settings", "parse_params", "physics_of",
           "print_summary", "training_part"]
