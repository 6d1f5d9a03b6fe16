"""``calibration.json``: the fitted values, their spread, the gaps before and after, the search."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING

import numpy as np

from digital_twin_gz.calibration.evaluation import WARMUP_S
from digital_twin_gz.calibration.outputs import PROFILE_FILE, URDF_FILE, gain_xacro_args, output_notes
from digital_twin_gz.calibration.parameters import PARAMETERS, RIDGE

if TYPE_CHECKING:
    from digital_twin_gz.calibration.search import Calibration

SCHEMA = "digital_twin_gz.calibration/1"


def build_report(calibration: Calibration) -> dict:
    """calibration.json's content."""
    fit = calibration.fit
    values, score = fit.best
    candidate = fit.candidate
    xacro_args = ({} if "actuator_gain" not in fit.names else
                  gain_xacro_args(calibration.description, calibration.xacro_args, candidate.physics.actuator_gain))
    spread = fit.spread()
    parameters = {}
    for k, name in enumerate(fit.names):
        p = PARAMETERS[name]
        tolerance = 1e-3 * (p.upper - p.lower)
        parameters[name] = {
            "value": float(values[k]), "spread": None if spread is None else float(spread[k]),
            "restarts": [float(r.values[k]) for r in fit.restarts], "nominal": float(fit.nominal[k]),
            "lower": p.lower, "upper": p.upper, "unit": p.unit, "meaning": p.meaning,
            "at_bound": ("lower" if values[k] - p.lower <= tolerance else
                         "upper" if p.upper - values[k] <= tolerance else None)}
    ratios = {}
    if set(RIDGE) <= set(fit.names):
        top, bottom = (fit.names.index(n) for n in RIDGE)
        restarts = [float(r.values[top] / r.values[bottom]) for r in fit.restarts]
        ratios["/".join(RIDGE)] = {
            "value": float(values[top] / values[bottom]), "restarts": restarts,
            "spread": float(np.std(restarts, ddof=1)) if len(restarts) > 1 else None,
            "note": "masses and actuator forces scaled alike move the twin alike: only this ratio is determined"}
    gaps = None
    if calibration.gaps is not None:
        gaps = {part: {model: vars(g) for model, g in pair.items()} for part, pair in calibration.gaps.items()}
        holdout = calibration.gaps["holdout"]
        before, after = holdout["nominal"].objective, holdout["calibrated"].objective
        gaps["holdout_reduction"] = 1.0 - after / before if before > 0 else None
    evaluations = len(fit.history)
    return {
        "schema": SCHEMA,
        "written_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "recording": str(calibration.recording.source), "robot": calibration.description.name,
        "duration_s": calibration.recording.duration,
        "parts": {"train_s": [0.0, calibration.cut_s], "holdout_s": [calibration.cut_s, calibration.recording.duration],
                  "holdout_fraction": calibration.holdout_fraction, "warmup_s": WARMUP_S},
        "objective": f"RMS {'key-link' if calibration.key_links else 'base'} position error (mm) over the paired "
                     f"samples of the training part after the first {WARMUP_S:g} s",
        "key_links": list(calibration.key_links),
        "parameters": parameters,
        "ratios": ratios,
        "training_objective_mm": score,
        "gap": gaps,
        "search": {
            "method": "scipy.optimize.differential_evolution (best1bin, latin hypercube, deferred updating, "
                      "nominal model in the first population, no polish)",
            "budget": vars(calibration.budget), "evaluations": evaluations, "wall_s": fit.wall_s,
            "evaluations_per_s": evaluations / fit.wall_s if fit.wall_s > 0 else None,
            "interrupted": fit.interrupted,
            "restarts": [{"seed": r.seed, "values": dict(zip(fit.names, r.values.tolist())),
                          "objective_mm": r.gap_mm, "evaluations": r.evaluations,
                          "generations": r.generations, "stopped": r.stopped} for r in fit.restarts]},
        "outputs": {"profile": PROFILE_FILE, "urdf": URDF_FILE, "xacro_args": xacro_args,
                    "notes": output_notes(fit.names, bool(xacro_args))},
        "history": {"columns": ["restart", *fit.names, "objective_mm"],
                    "rows": [[r, *v.tolist(), s] for r, v, s in fit.history]},
    }
