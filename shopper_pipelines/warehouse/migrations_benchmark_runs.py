"""Migration 5: automated benchmark runs and their items (one per GPU x model)."""

V5_BENCHMARK_RUNS = """
SELECT 1;
"""
