"""Costs: billing math, ledger, budgets and alerts."""
