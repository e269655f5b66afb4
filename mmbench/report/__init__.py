"""`mmbench report`: a static HTML site of results (leaderboard, sample views, comparisons).

See `mmbench.report.site` for the layout and docs/leaderboards.md for users.
"""

from mmbench.report.site import ReportSummary, build_report

__all__ = ["ReportSummary", "build_report"]
