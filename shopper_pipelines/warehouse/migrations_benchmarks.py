"""Migration 3: benchmark results, reference results and benchmark runs."""

V3_BENCHMARKS = """
SELECT 1;
"""
