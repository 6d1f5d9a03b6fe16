"""Time alignment: sample streams and the pairing of virtual samples with physical ones.

The physical robot and the simulator stamp their samples with their own clocks and at
their own rates. The gap is measured at each virtual joint-state stamp, against the
other three streams (virtual base, physical joints, physical base) interpolated at that
same time. A virtual sample is paired only when every other stream brackets it with
samples no further apart than ``max_gap``: a fresh sample is never compared with a stale
one. Samples that can never be paired are counted, not silently lost.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


class Stream:
    """Samples of a vector signal in increasing time; columns ``quaternion`` (x, y, z, w)
    are interpolated as unit quaternions (normalised lerp, sign-aligned: at the sample
    rates here the arc between neighbours is tiny, so this equals slerp to 1e-9)."""

    def __init__(self, width: int, quaternion: slice | None = None, capacity: int = 4096) -> None:
        self.width = width
        self.quaternion = quaternion
        self._t = np.empty(capacity)
        self._v = np.empty((capacity, width))
        self._n = 0

    def __len__(self) -> int:
        return self._n

    @property
    def times(self) -> np.ndarray:
        return self._t[: self._n]

    @property
    def values(self) -> np.ndarray:
        return self._v[: self._n]

    @property
    def last_time(self) -> float:
        return float(self._t[self._n - 1]) if self._n else -np.inf

    def append(self, t: float, values: np.ndarray) -> bool:
        """Add a sample; False (and nothing added) if it is not newer than the last one."""
        if self._n and t <= self._t[self._n - 1]:
            return False
        if self._n == len(self._t):
            self._t = np.concatenate([self._t, np.empty_like(self._t)])
            self._v = np.concatenate([self._v, np.empty_like(self._v)])
        self._t[self._n] = t
        self._v[self._n] = values
        self._n += 1
        return True

    def extend(self, times: np.ndarray, values: np.ndarray) -> np.ndarray:
        """Append many samples at once, as ``append`` one by one would: a sample is kept only
        if it is newer than every sample before it. Returns the mask of the kept ones."""
        times = np.asarray(times, dtype=float)
        if len(times) == 0:
            return np.zeros(0, dtype=bool)
        keep = times > np.maximum.accumulate(np.r_[self.last_time, times[:-1]])
        count = int(keep.sum())
        while self._n + count > len(self._t):
            self._t = np.concatenate([self._t, np.empty_like(self._t)])
            self._v = np.concatenate([self._v, np.empty_like(self._v)])
        self._t[self._n: self._n + count] = times[keep]
        self._v[self._n: self._n + count] = np.asarray(values)[keep]
        self._n += count
        return keep

    def discard_before(self, t: float) -> None:
        """Drop samples older than ``t``, keeping one at or before it for interpolation."""
        k = max(int(np.searchsorted(self.times, t, side="right")) - 1, 0)
        if k:
            self._t[: self._n - k] = self._t[k: self._n]
            self._v[: self._n - k] = self._v[k: self._n]
            self._n -= k

    def interpolate(self, times: np.ndarray, max_gap: float) -> tuple[np.ndarray, np.ndarray]:
        """Values at ``times`` (linear between neighbours) and a mask of the times that lie
        within the stream with neighbours at most ``max_gap`` apart."""
        t, v = self.times, self.values
        out = np.full((len(times), self.width), np.nan)
        if self._n == 0:
            return out, np.zeros(len(times), dtype=bool)
        hi = np.clip(np.searchsorted(t, times, side="left"), 0, self._n - 1)
        lo = np.clip(hi - 1, 0, self._n - 1)
        exact = t[hi] == times
        lo = np.where(exact, hi, lo)
        valid = (times >= t[0]) & (times <= t[-1]) & (t[hi] - t[lo] <= max_gap)
        span = t[hi] - t[lo]
        w = np.where(span > 0, (times - t[lo]) / np.where(span > 0, span, 1.0), 0.0)[:, None]
        a, b = v[lo], v[hi].copy()
        if self.quaternion is not None:
            qa, qb = a[:, self.quaternion], b[:, self.quaternion]
            b[:, self.quaternion] = np.where(np.sum(qa * qb, axis=1, keepdims=True) < 0, -qb, qb)
        out = a + w * (b - a)
        if self.quaternion is not None:
            q = out[:, self.quaternion]
            out[:, self.quaternion] = q / np.linalg.norm(q, axis=1, keepdims=True)
        out[~valid] = np.nan
        return out, valid


@dataclass(frozen=True)
class PairedStates:
    """Both robots at the same times: base positions (N, 3), orientations (N, 4) x, y, z, w,
    joint positions (N, n) in the description's order."""

    times: np.ndarray
    virtual_base_position: np.ndarray
    virtual_base_orientation: np.ndarray
    virtual_joints: np.ndarray
    physical_base_position: np.ndarray
    physical_base_orientation: np.ndarray
    physical_joints: np.ndarray

    def __len__(self) -> int:
        return len(self.times)


@dataclass
class PairingCounts:
    paired: int = 0
    unpaired: int = 0
    samples: dict[str, int] = field(default_factory=lambda: dict.fromkeys(Pairing.STREAMS, 0))
    out_of_order: dict[str, int] = field(default_factory=lambda: dict.fromkeys(Pairing.STREAMS, 0))
    # Samples a stream is missing: each interval between two of its samples that is k periods
    # long (period: the stream's median interval) counts k - 1.
    missing: dict[str, int] = field(default_factory=lambda: dict.fromkeys(Pairing.STREAMS, 0))
    # Intervals longer than max_gap (nothing is paired across them), and sessions begun.
    holes: dict[str, int] = field(default_factory=lambda: dict.fromkeys(Pairing.STREAMS, 0))
    sessions: int = 1


# s of run time between two sessions: more than max_gap, so that nothing interpolates across.
SESSION_GAP = 1.0
# Events (holes, clock jumps) listed at most; the counts go on.
MAX_EVENTS = 200


class Pairing:
    """Collects the four streams and hands out the virtual samples that can be paired.

    Samples are placed on one run timeline: a physical stamp that jumps by more than ``clock_jump``
    from its stream's last one starts a new session (the physical robot restarted and its clock went
    back to zero or was set), which the first physical stream to enter it places ``SESSION_GAP``
    after everything before; a virtual stream enters it at its own jump (the simulator's clock
    follows the physical one). Each sample keeps its session in the last
    column of its stream, and a virtual sample is paired only with samples of its own session:
    never across a restart. ``events`` lists the clock jumps and the holes (intervals longer than
    ``max_gap``) in run time; ``stamp`` turns a run time back into a stamp of its session."""

    STREAMS = ("virtual_joints", "virtual_base", "physical_joints", "physical_base")

    def __init__(self, joint_count: int, max_gap: float, max_wait: float, clock_jump: float = np.inf) -> None:
        self.max_gap = max_gap
        self.max_wait = max_wait
        self.clock_jump = clock_jump
        self.streams = {
            "virtual_joints": Stream(joint_count + 1), "physical_joints": Stream(joint_count + 1),
            "virtual_base": Stream(8, quaternion=slice(3, 7)), "physical_base": Stream(8, quaternion=slice(3, 7)),
        }
        self.counts = PairingCounts()
        self.events: list[dict] = []
        self._next = -np.inf
        self._period: dict[str, float] = {}
        self._first_intervals: dict[str, list[float]] = {}
        self._last_stamp = dict.fromkeys(self.STREAMS, -np.inf)
        self._session = dict.fromkeys(self.STREAMS, 0)
        self._offsets = [0.0]  # run time = stamp + the offset of its session
        self._starts = [-np.inf]  # run time at which each session starts
        self._firsts = [-np.inf]  # the first physical stamp of each session
        self._lasts = [-np.inf]  # the last physical stamp of each session so far

    def add(self, stream: str, t: float, values: np.ndarray) -> bool:
        """Add a sample to a stream; False if it is out of order (it is counted and dropped)."""
        return bool(self.extend(stream, np.array([t]), np.asarray(values, dtype=float)[None])[0])

    def extend(self, stream: str, times: np.ndarray, values: np.ndarray) -> np.ndarray:
        """Many samples of one stream, stamped in seconds (base streams: rows of position and x, y,
        z, w orientation); returns the mask of those kept (out of order ones are counted)."""
        times = np.asarray(times, dtype=float)
        values = np.asarray(values, dtype=float)
        if len(times) == 0:
            return np.zeros(0, dtype=bool)
        before = np.r_[self._last_stamp[stream], times[:-1]]
        breaks = np.flatnonzero(np.isfinite(before) & (np.abs(times - before) > self.clock_jump)).tolist()
        virtual = stream.startswith("virtual")
        end = len(times)
        if virtual:
            breaks, end = self._enterable(stream, times, breaks)
        bounds = sorted({0, *breaks, end})
        kept = []
        for a, b in zip(bounds[:-1], bounds[1:]):
            restarted = a in breaks
            if restarted:
                self._enter_next_session(stream, float(before[a]), float(times[a]))
            kept.append(self._extend_session(stream, times[a:b], values[a:b], restarted))
        self.counts.out_of_order[stream] += len(times) - end
        kept = np.concatenate([*kept, np.zeros(len(times) - end, dtype=bool)])
        if not virtual:
            self._last_stamp[stream] = float(times[-1])
            self._lasts[self._session[stream]] = max(self._lasts[self._session[stream]], float(times[-1]))
        elif kept.any():
            self._last_stamp[stream] = float(times[kept][-1])
        return kept

    def _enterable(self, stream: str, times: np.ndarray, breaks: list[int]) -> tuple[list[int], int]:
        """A virtual stream's jumps that enter a session the physical streams began (to a stamp within
        that session's physical stamps so far, give or take ``clock_jump``: the simulator follows the
        samples twin_sync forwards, and twin_sync can hear a restarted robot seconds after gap_monitor
        did, discovery running per pair of processes), and where its samples end for now. The
        simulator's clock follows the physical one: a jump of its own that stays behind the physical
        stamps is a hole (a simulator that was down, one running behind); one past them is ahead of
        the physical side's jump, and its samples are dropped (counted out of order) until that jump
        is seen, then entered. (One back before the physical side's is dropped as out of order in
        the session it leaves.)"""
        entered, session = [], self._session[stream]
        for a in breaks:
            following = session + 1
            if (following < len(self._offsets) and self._firsts[following] - self.clock_jump <= times[a]
                    <= self._lasts[following] + self.clock_jump):
                entered.append(a)
                session += 1
            elif times[a] > self._last_stamp["physical_joints"] + self.clock_jump:
                return entered, a
        return entered, len(times)

    def _enter_next_session(self, stream: str, last: float, first: float) -> None:
        session = self._session[stream] = self._session[stream] + 1
        if session == len(self._offsets):  # the first stream to jump: the session begins
            start = max(s.last_time for s in self.streams.values()) + SESSION_GAP
            self._offsets.append(start - first)
            self._starts.append(start)
            self._firsts.append(first)
            self._lasts.append(first)
            self.counts.sessions += 1
        self._event("clock_jump", self._starts[session], stream=stream, from_stamp_s=last, to_stamp_s=first,
                    session=session + 1)

    def _extend_session(self, stream: str, stamps: np.ndarray, values: np.ndarray, restarted: bool) -> np.ndarray:
        session = self._session[stream]
        target = self.streams[stream]
        last = -np.inf if restarted else target.last_time
        times = stamps + self._offsets[session]
        keep = target.extend(times, np.hstack([values, np.full((len(times), 1), float(session))]))
        self.counts.samples[stream] += int(keep.sum())
        self.counts.out_of_order[stream] += int((~keep).sum())
        self._count_missing(stream, np.r_[last, times[keep]])
        return keep

    def _event(self, kind: str, time: float, **detail) -> None:
        if len(self.events) < MAX_EVENTS:
            self.events.append({"kind": kind, "run_time": time, **detail})

    def stamp(self, time: float) -> float:
        """The stamp, in its session's clock, of a time on the run timeline."""
        session = int(np.searchsorted(self._starts, time, side="right")) - 1
        return time - self._offsets[max(session, 0)]

    def _count_missing(self, stream: str, times: np.ndarray) -> None:
        """Holes in a stream from the intervals between ``times`` (the last sample before, then
        the new ones); the period is the median of the stream's first ten intervals, however they
        arrived (one by one or in batches), and those are counted once it is known."""
        times = times[np.isfinite(times)]
        intervals = np.diff(times)
        for k in np.flatnonzero(intervals > self.max_gap):
            self.counts.holes[stream] += 1
            self._event("hole", float(times[k]), stream=stream, duration_s=float(intervals[k]))
        period = self._period.get(stream)
        if period is None:
            first = self._first_intervals.setdefault(stream, [])
            first.extend(intervals.tolist())
            if len(first) < 10:
                return
            period = self._period[stream] = float(np.median(first[:10]))
            intervals = np.array(first)
        if period > 0:
            self.counts.missing[stream] += int(np.maximum(np.round(intervals / period) - 1, 0).sum())

    def take(self) -> PairedStates:
        """Pair every virtual joint sample that the other streams now cover; give up on
        samples more than ``max_wait`` older than the newest virtual one."""
        anchor = self.streams["virtual_joints"]
        others = [self.streams[s] for s in self.STREAMS[1:]]
        newest = anchor.last_time
        ready_until = min(s.last_time for s in others)
        times = anchor.times[anchor.times > self._next]
        times = times[(times <= ready_until) | (times < newest - self.max_wait)]
        if len(times) == 0:
            return self._paired(times, np.zeros((0, 7)), np.zeros((0, anchor.width - 1)), np.zeros((0, 7)),
                                np.zeros((0, anchor.width - 1)))
        self._next = times[-1]
        virtual_joints, _ = anchor.interpolate(times, self.max_gap)
        virtual_base, ok_vb = others[0].interpolate(times, self.max_gap)
        physical_joints, ok_pj = others[1].interpolate(times, self.max_gap)
        physical_base, ok_pb = others[2].interpolate(times, self.max_gap)
        session = virtual_joints[:, -1]
        # A neighbour of another session makes the interpolated session fractional: not paired.
        ok = ok_vb & ok_pj & ok_pb & np.all([s[:, -1] == session for s in (virtual_base, physical_joints,
                                                                          physical_base)], axis=0)
        self.counts.paired += int(ok.sum())
        self.counts.unpaired += int((~ok).sum())
        for stream in self.streams.values():
            stream.discard_before(self._next - self.max_gap)
        return self._paired(times[ok], virtual_base[ok, :-1], virtual_joints[ok, :-1], physical_base[ok, :-1],
                            physical_joints[ok, :-1])

    @staticmethod
    def _paired(times: np.ndarray, virtual_base: np.ndarray, virtual_joints: np.ndarray,
                physical_base: np.ndarray, physical_joints: np.ndarray) -> PairedStates:
        return PairedStates(times, virtual_base[:, :3], virtual_base[:, 3:], virtual_joints,
                            physical_base[:, :3], physical_base[:, 3:], physical_joints)
