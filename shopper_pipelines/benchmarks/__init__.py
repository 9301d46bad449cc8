"""Benchmarks: remote runs, result parsing, $/M-token analytics, recommendations."""
