"""Scheduled reports: daily costs and weekly market, Markdown/HTML with charts.

`build_daily_report(settings, day)` and `build_weekly_report(settings, week_ending)` write
a folder under `settings.reports_dir` and return a `Report` (paths and headline figures);
Dagster (`reports/defs.py`), the CLI (`gpu-shopper report`) and the tests call them.
"""
