"""Mapping between simulation time (starts at 0) and message stamps (seconds)."""

from __future__ import annotations

import math


def clock_jumped(last: float, stamp: float, limit: float) -> bool:
    """``stamp`` is more than ``limit`` s before or after ``last`` (a finite stamp): the clock that
    stamps them restarted or was set, which starts a new session, rather than a sample being late
    or some lost (the parameter ``clock_jump``, config/twin.yaml)."""
    return math.isfinite(last) and abs(stamp - last) > limit


class SimClock:
    """``stamp = origin + sim_time``. Without an origin yet (lockstep before the first
    command), stamps are simulation time."""

    def __init__(self, origin: float | None = None) -> None:
        self.origin = origin

    @property
    def started(self) -> bool:
        return self.origin is not None

    def start_at(self, stamp: float, sim_time: float) -> None:
        self.origin = stamp - sim_time

    def restart_if_jumped(self, stamp: float, sim_time: float, limit: float) -> bool:
        """Start again at ``stamp`` if it jumped from the clock's stamp now (:func:`clock_jumped`):
        the stamps then go on from the new clock, and the simulation from where it is."""
        if self.started and clock_jumped(self.stamp(sim_time), stamp, limit):
            self.start_at(stamp, sim_time)
            return True
        return False

    def stamp(self, sim_time: float) -> float:
        return sim_time + (self.origin or 0.0)

    def sim_time(self, stamp: float) -> float:
        return stamp - (self.origin or 0.0)
