"""Mapping between simulation time (starts at 0) and message stamps (seconds)."""

from __future__ import annotations


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

    def stamp(self, sim_time: float) -> float:
        return sim_time + (self.origin or 0.0)

    def sim_time(self, stamp: float) -> float:
        return stamp - (self.origin or 0.0)
