"""What ``digital-twin-gz check`` reports: one finding per problem, note or choice."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

# error and unchecked fail the check; warning, note and uses do not.
LEVELS = ("error", "unchecked", "warning", "note", "uses")
FAILING = ("error", "unchecked")


@dataclass(frozen=True)
class Finding:
    level: str
    file: str
    message: str

    def __str__(self) -> str:
        return f"{self.level}: {self.file}: {self.message}"


def grouped(findings: list[Finding]) -> list[tuple[Finding, int]]:
    """Each distinct finding once, in first-seen order, with how often it came (sdformat prints
    the same error for every element it meets it in: 350 lines for iCub)."""
    counts = Counter(findings)
    seen: dict[Finding, int] = {}
    for finding in findings:
        seen.setdefault(finding, counts[finding])
    return list(seen.items())
