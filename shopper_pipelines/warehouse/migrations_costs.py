"""Migration 4: billing facts, price changes, budgets and alerts."""

V4_COSTS = """
SELECT 1;
"""
