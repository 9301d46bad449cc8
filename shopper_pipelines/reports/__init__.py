"""Scheduled reports: daily costs and weekly market, Markdown/HTML with charts."""
