"""``calibration.json``: the values with their intervals, what the recording left open, the gaps
before and after, and how the fit went."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING

import numpy as np

from digital_twin_gz.calibration.evaluation import WARMUP_S
from digital_twin_gz.calibration.fit import EPS, RTOL
from digital_twin_gz.calibration.outputs import PROFILE_FILE, URDF_FILE, gain_xacro_args, output_notes

if TYPE_CHECKING:
    from digital_twin_gz.calibration.run import Calibration

SCHEMA = "digital_twin_gz.calibration/2"


def _number(value: float | None) -> float | None:
    return None if value is None or not np.isfinite(value) else float(value)


def build_report(calibration: Calibration) -> dict:
    """calibration.json's content (what is known so far: a fit not yet identified has no intervals)."""
    result, ident = calibration.result, calibration.identification
    parameters = {}
    for k, p in enumerate(calibration.parameters):
        tolerance = 1e-3 * (p.upper - p.lower)
        fitted = float(result.values[k])
        entry = {"field": p.field, "group": p.group, "nominal": p.nominal, "lower": p.lower, "upper": p.upper,
                 "scale": p.scale, "resolution": p.resolution, "unit": p.unit, "meaning": p.meaning, "fitted": fitted,
                 "at_bound": ("lower" if fitted - p.lower <= tolerance else
                              "upper" if p.upper - fitted <= tolerance else None),
                 "truth": calibration.truths[k]}
        if ident is not None:
            determined = bool(ident.determined[k])
            entry |= {"determined": determined, "value": fitted if determined else None,
                      "written": float(ident.values[k]), "half_width": _number(ident.half_widths[k])}
        parameters[p.name] = entry
    identification = None
    if ident is not None:
        identification = {
            "confidence": calibration.settings.confidence,
            "determined_below_scales": calibration.settings.determined,
            "undetermined": [{"parameters": list(c.names), "direction": c.direction, "determined": c.determined,
                              "value": c.value, "half_width": c.half_width} for c in ident.combinations],
            "correlation": {"parameters": list(calibration.names),
                            "matrix": np.nan_to_num(ident.correlation).round(4).tolist()},
            "singular_values_relative": ident.singular_values.tolist(),
            "residual_rms_mm": ident.residual_rms,
            "correlation_time_instants": ident.correlation_time,
            "interval_from": dict(zip(calibration.names, ident.interval_from))}
    gaps = None
    if calibration.gaps is not None:
        gaps = {part: {model: vars(g) for model, g in pair.items()} for part, pair in calibration.gaps.items()}
        before, after = (calibration.gaps["holdout"][m].objective for m in ("nominal", "calibrated"))
        gaps["holdout_reduction"] = 1.0 - after / before if before > 0 else None
    model = calibration.calibrated()
    xacro_args = (gain_xacro_args(calibration.description, calibration.xacro_args, model.physics.actuator_gain)
                  if "actuator_gain" in calibration.names else {})
    shooting, progress = calibration.shooting, result.progress
    return {
        "schema": SCHEMA,
        "written_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "recording": str(calibration.recording.source), "robot": calibration.description.name,
        "duration_s": calibration.recording.duration,
        "parts": {"train_s": [0.0, calibration.cut_s], "holdout_s": [calibration.cut_s, calibration.recording.duration],
                  "holdout_fraction": calibration.holdout, "warmup_s": WARMUP_S},
        "key_links": list(calibration.key_links),
        "parameters": parameters,
        "identification": identification,
        "gap": gaps,
        "fit": {
            "method": "mujoco.sysid.optimize (mujoco.minimize.least_squares: box-constrained Levenberg-Marquardt, "
                      "forward-difference Jacobian) on a multiple-shooting residual (mujoco.rollout)",
            "segments": len(shooting.starts), "segment_s": shooting.settings.segment_s,
            "compared_per_segment": len(shooting.compared), "residuals": shooting.size,
            "joint_lever_m": shooting.settings.joint_lever_m,
            "iterations": progress.iteration, "max_iterations": calibration.max_iterations,
            "evaluations": progress.evaluations, "stopped": result.stopped, "wall_s": result.wall_s,
            "threads": calibration.threads, "relative_tolerance": RTOL, "step_in_scales": EPS,
            "cost_per_iteration_mm2": progress.costs, "key_link_rms_mm": progress.best_key_link_mm,
            "interrupted": result.stopped == "interrupted"},
        "outputs": {"profile": PROFILE_FILE, "urdf": URDF_FILE, "xacro_args": xacro_args,
                    "notes": output_notes({p.field for p in calibration.parameters}, bool(xacro_args))},
    }
