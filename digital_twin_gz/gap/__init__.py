"""The reality gap: metrics between the two robots, the tracker that turns sample streams into a
report, and the report itself (``report.json``, the summary table, ``report.html`` with pictures)."""

from digital_twin_gz.gap.html import CSS, ERROR_COLOR, escape, line_plot, table, write_html
from digital_twin_gz.gap.log import GapLog, SeriesLog, SnapshotLog
from digital_twin_gz.gap.metrics import (
    ERROR,
    LEVEL_NAMES,
    OK,
    STALE,
    STAT_NAMES,
    WARN,
    GapMeter,
    GapSamples,
    Thresholds,
    key_links,
    level,
    level_name,
    missing_key_links,
    mpjpe,
    orientation_error,
    position_error,
    stats,
)
from digital_twin_gz.gap.report import build_report, print_summary, summary_table, write_outputs, write_report
from digital_twin_gz.gap.settings import MonitorSettings, monitor_params, monitor_settings
from digital_twin_gz.gap.tracker import GapTracker

__all__ = ["CSS", "ERROR", "ERROR_COLOR", "LEVEL_NAMES", "OK", "STALE", "STAT_NAMES", "WARN", "GapLog", "GapMeter",
           "GapSamples", "GapTracker", "MonitorSettings", "SeriesLog", "SnapshotLog", "Thresholds", "build_report",
           "escape", "key_links", "level", "level_name", "line_plot", "missing_key_links", "monitor_params",
           "monitor_settings", "mpjpe", "orientation_error", "position_error", "print_summary", "stats",
           "summary_table", "table", "write_html", "write_outputs", "write_report"]
