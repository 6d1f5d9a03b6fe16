"""The measured samples of a run, in memory that does not grow with its length.

A 500 Hz twin measures 1.8 million samples an hour; keeping them all (35 floats each) grew the
twin's process by ~14 MB a minute (``bench/soak.py``). :class:`GapLog` keeps instead what the
report and the live diagnostics need: exact running count, mean, RMS, max and drift slope of every
metric, the threshold crossings as they happen, every sample of the last ``recent_s`` seconds (the
windowed statistics), and a uniform subsample of the whole run of at most ``capacity`` rows
(every ``stride``-th sample; the stride doubles when it fills) for percentiles and plots.
:class:`SnapshotLog` keeps the paired states for pictures the same way, and the moments of the
largest gaps exactly.
"""

from __future__ import annotations

from dataclasses import dataclass, is_dataclass

import numpy as np

from digital_twin_gz.gap.metrics import STAT_NAMES, GapSamples, Thresholds, mpjpe
from digital_twin_gz.twin import PairedStates

COLUMNS = ("times", "base_position_m", "base_orientation_rad", "joint_rad", "link_mm")
# Crossings listed at most (a gap hovering at a threshold crosses it at every sample).
MAX_CROSSINGS = 1000


@dataclass(frozen=True)
class _Snapshot:
    """Paired states and their measured errors, row for row."""

    states: PairedStates
    errors: GapSamples

    def __len__(self) -> int:
        return len(self.states)


def _concat(parts: list):
    """Rows of arrays or (nested) dataclasses of arrays ``parts`` concatenated field by field."""
    first = parts[0]
    if not is_dataclass(first):
        return np.concatenate(parts)
    return type(first)(*(_concat([getattr(p, f) for p in parts]) for f in first.__dataclass_fields__))


def _map(function, part):
    """``function`` of each array of an array or a (nested) dataclass of arrays, in its structure."""
    if not is_dataclass(part):
        return function(part)
    return type(part)(*(_map(function, getattr(part, f)) for f in part.__dataclass_fields__))


def _rows(part, keep):
    """The rows ``keep`` (indices, mask or slice) of an array or a (nested) dataclass of arrays."""
    return _map(lambda array: array[keep], part)


def _leaves(part) -> list[np.ndarray]:
    """The arrays of an array or a (nested) dataclass of arrays, in field order."""
    if not is_dataclass(part):
        return [part]
    return [leaf for f in part.__dataclass_fields__ for leaf in _leaves(getattr(part, f))]


class _Subsample:
    """Every ``stride``-th row of a stream of rows (arrays or dataclasses of them), at most ``capacity``.

    The rows live in arrays of ``capacity`` rows allocated at the first row and halved in place
    when full: a run's memory neither grows nor churns (a subsample merged anew at every report
    left the allocator's heap growing by megabytes a minute in the live twin)."""

    def __init__(self, capacity: int) -> None:
        self.capacity, self.stride = capacity, 1
        self._store = None
        self._rows = self._seen = 0

    def extend(self, part) -> None:
        first = self._seen
        keep = np.flatnonzero((first + np.arange(len(part))) % self.stride == 0)
        self._seen += len(part)
        if self._store is None and len(keep):
            self._store = _map(lambda a: np.empty((self.capacity, *a.shape[1:]), a.dtype), part)
        while len(keep):
            if self._rows == self.capacity:
                # The rows kept are those at multiples of the stride: every other one is on the new grid.
                for stored in _leaves(self._store):
                    stored[: (self._rows + 1) // 2] = stored[: self._rows: 2]
                self._rows, self.stride = (self._rows + 1) // 2, 2 * self.stride
                keep = keep[(first + keep) % self.stride == 0]
                continue
            take, keep = keep[: self.capacity - self._rows], keep[self.capacity - self._rows:]
            for stored, new in zip(_leaves(self._store), _leaves(part)):
                stored[self._rows: self._rows + len(take)] = new[take]
            self._rows += len(take)

    def __bool__(self) -> bool:
        return self._rows > 0

    @property
    def rows(self):
        """The rows kept (call only when there are some): views, valid until the next ``extend``."""
        return _rows(self._store, slice(0, self._rows))


class GapLog:
    """Feed it the measured samples in time order (``extend``); ``summary()`` is the metric part of
    the report, ``samples`` the subsample, ``window(s)`` every sample of the last ``s`` seconds."""

    def __init__(self, joint_names: tuple[str, ...], key_links: tuple[str, ...], thresholds: Thresholds,
                 capacity: int = 100_000, recent_s: float = 60.0) -> None:
        self.joint_names, self.key_links, self.thresholds = tuple(joint_names), tuple(key_links), thresholds
        self.recent_s = recent_s
        n, k = len(joint_names), len(key_links)
        self._empty = lambda _: GapSamples(np.zeros(0), np.zeros(0), np.zeros(0), np.zeros((0, n)), np.zeros((0, k)))
        self._subsample = _Subsample(capacity)
        self._recent: list[GapSamples] = []
        self.count = 0
        self.first_time = self.last_time = np.nan
        self._sums: dict[str, list[np.ndarray]] = {}  # metric -> [sum, sum of squares, max]
        self._drift = np.zeros(5)  # n, sum t, sum t^2, sum y, sum t y (t from the first sample)
        self._above: dict[str, bool] = {}
        self.crossings: list[dict] = []

    def __len__(self) -> int:
        return self.count

    def _metrics(self, samples: GapSamples) -> dict[str, np.ndarray]:
        return {"base_position_error_m": samples.base_position_m, "base_orientation_error_rad":
                samples.base_orientation_rad, "per_joint_position_error_rad": samples.joint_rad,
                "key_link_position_error_mm": samples.link_mm, "mpjpe_mm": mpjpe(samples.link_mm)}

    def extend(self, samples: GapSamples) -> None:
        if not len(samples):
            return
        if not self.count:
            self.first_time = float(samples.times[0])
        self.count += len(samples)
        self.last_time = float(samples.times[-1])
        for name, values in self._metrics(samples).items():
            sums = self._sums.get(name)
            chunk = [values.sum(axis=0), (values ** 2).sum(axis=0), values.max(axis=0)]
            self._sums[name] = chunk if sums is None else [sums[0] + chunk[0], sums[1] + chunk[1],
                                                           np.maximum(sums[2], chunk[2])]
        t, y = samples.times - self.first_time, samples.base_position_m
        self._drift += [len(t), t.sum(), (t * t).sum(), y.sum(), (t * y).sum()]
        self._cross(samples)
        self._subsample.extend(samples)
        self._recent.append(samples)
        while len(self._recent) > 1 and self._recent[1].times[0] < self.last_time - self.recent_s:
            self._recent.pop(0)

    def _cross(self, samples: GapSamples) -> None:
        """Times at which the base position error enters or leaves the WARN and ERROR bands."""
        for name, limit in (("WARN", self.thresholds.base_position_warn_m),
                            ("ERROR", self.thresholds.base_position_error_m)):
            above = samples.base_position_m >= limit
            before = self._above.get(name, bool(above[0]))
            changes = np.flatnonzero(np.diff(np.r_[before, above].astype(np.int8)))
            self._above[name] = bool(above[-1])
            for k in changes[: MAX_CROSSINGS - len(self.crossings)]:
                self.crossings.append({"time_s": float(samples.times[k] - self.first_time), "level": name,
                                       "entered": bool(above[k]),
                                       "base_position_error_m": float(samples.base_position_m[k])})
        self.crossings.sort(key=lambda c: c["time_s"])

    @property
    def samples(self) -> GapSamples:
        """A uniform subsample of the run (all of it while it fits ``capacity``): views, valid until the
        next ``extend``."""
        return self._subsample.rows if self._subsample else self._empty(0)

    @property
    def stride(self) -> int:
        return self._subsample.stride

    def window(self, seconds: float) -> GapSamples:
        """Every sample of the last ``seconds`` (by stamp; at most ``recent_s``)."""
        if not self._recent:
            return self._empty(0)
        recent = _concat(self._recent)
        # Merged, the chunks are trimmed to recent_s here (extend drops only whole chunks).
        recent = _rows(recent, slice(int(np.searchsorted(recent.times, self.last_time - self.recent_s)), None))
        self._recent = [recent]
        k = int(np.searchsorted(recent.times, recent.times[-1] - seconds, side="left"))
        return _rows(recent, slice(k, None))

    def summary(self) -> dict:
        """The metric part of a report (plain floats, JSON-ready): mean, RMS and max exact over every
        sample, p95 over the subsample (exact while it holds every sample)."""
        subsample = self._metrics(self.samples)
        out: dict = {}
        for name, values in subsample.items():
            sums = self._sums.get(name)
            if sums is None or not self.count:
                shape = values.shape[1:]
                stat = {s: np.full(shape, np.nan) for s in STAT_NAMES}
            else:
                stat = {"mean": sums[0] / self.count, "rms": np.sqrt(sums[1] / self.count),
                        "p95": np.percentile(values, 95, axis=0), "max": sums[2]}
            if name == "per_joint_position_error_rad":
                out[name] = {j: {s: _num(stat[s][i]) for s in STAT_NAMES} for i, j in enumerate(self.joint_names)}
            elif name == "key_link_position_error_mm":
                out[name] = {j: {s: _num(stat[s][i]) for s in STAT_NAMES} for i, j in enumerate(self.key_links)}
            else:
                out[name] = {s: _num(stat[s]) for s in STAT_NAMES}
        n, st, stt, sy, sty = self._drift
        denominator = n * stt - st * st
        out["drift_rate_m_per_s"] = _num((n * sty - st * sy) / denominator) if n > 1 and denominator > 0 else None
        return out


def _num(value) -> float | None:
    value = float(value)
    return value if np.isfinite(value) else None


class SeriesLog:
    """A scalar series of a run (gap_monitor's lag behind the physical clock) in bounded memory: exact
    count, mean, RMS and max, the 95th percentile over a uniform subsample, the last value."""

    def __init__(self, capacity: int = 10_000) -> None:
        self._subsample = _Subsample(capacity)
        self.count, self._sum, self._squares, self._max = 0, 0.0, 0.0, -np.inf
        self.last = np.nan

    def __len__(self) -> int:
        return self.count

    def append(self, value: float) -> None:
        self.count += 1
        self._sum, self._squares, self._max = self._sum + value, self._squares + value * value, max(self._max, value)
        self.last = value
        self._subsample.extend(np.array([value]))

    def stats(self) -> dict[str, float]:
        """mean, rms, p95 and max (NaN before the first value)."""
        if not self.count:
            return dict.fromkeys(STAT_NAMES, np.nan)
        return {"mean": self._sum / self.count, "rms": float(np.sqrt(self._squares / self.count)),
                "p95": float(np.percentile(self._subsample.rows, 95)), "max": self._max}


class SnapshotLog:
    """Paired states kept at most every ``period`` seconds with their measured errors, for pictures of
    any moment of a run, in bounded memory (a subsample of at most ``capacity``), and, exactly, the
    moments of the largest base position, mean key-link and base orientation errors."""

    def __init__(self, period: float = 0.02, capacity: int = 20_000) -> None:
        self.period = period
        self._last = -np.inf
        self._kept = _Subsample(capacity)
        self.worst: dict[str, tuple[float, PairedStates, GapSamples]] = {}

    def extend(self, paired: PairedStates, samples: GapSamples) -> None:
        keep = []
        for k, t in enumerate(paired.times):
            if t >= self._last + self.period - 1e-9:
                keep.append(k)
                self._last = t
        if keep:
            self._kept.extend(_Snapshot(_rows(paired, keep), _rows(samples, keep)))
        if not len(paired):
            return
        for criterion, values in criteria(samples).items():
            k = int(np.argmax(values))
            if criterion not in self.worst or values[k] > self.worst[criterion][0]:
                self.worst[criterion] = (float(values[k]), _rows(paired, [k]), _rows(samples, [k]))

    @property
    def states(self) -> tuple[PairedStates, GapSamples] | None:
        """The snapshots and their errors, row by row in time order (the largest gaps among them)."""
        parts = [*([self._kept.rows] if self._kept else []),
                 *(_Snapshot(state, errors) for _, state, errors in self.worst.values())]
        if not parts:
            return None
        merged = _concat(parts)
        order = np.argsort(merged.states.times, kind="stable")
        return _rows(merged.states, order), _rows(merged.errors, order)


def criteria(samples: GapSamples) -> dict[str, np.ndarray]:
    """What the pictures show the largest of: base position (mm), mean key-link (mm), base orientation (deg)."""
    links = samples.link_mm.mean(axis=1) if samples.link_mm.shape[1] else np.zeros(len(samples))
    return {"largest base position error": samples.base_position_m * 1e3, "largest mean key-link error": links,
            "largest base orientation error": np.degrees(samples.base_orientation_rad)}
