"""Costs: billing math, ledger, budgets and alerts.

Public functions (the CLI, the app, reports and Dagster call these):
- `ledger.cost_summary(db, consumer=None, session=None, start=None, end=None, period=None,
  now=None)`, `ledger.daily_costs(db, start, end, now=None)`, `ledger.running_costs(db,
  now=None)`, `ledger.session_cost(db, session_id, now=None)`;
- `budgets.budget_status(db, now=None)`, `budgets.set_budget`, `budgets.list_budgets`,
  `budgets.delete_budget`, `budgets.check_provision(db, consumer, price_per_hour, hours,
  now=None)` and `budgets.check_extend(db, consumer, session_id, price_per_hour, hours,
  now=None)` (both raise `BudgetExceededError`), `committed.committed(db, now)`;
- `alerts.send_budget_alerts(settings, now=None)` (re-sends failed webhooks too),
  `alerts.resend_failed(settings, now=None)`, `alerts.sessions_to_stop(db, now=None)`;
- `price_check.check_provider_price`, `note_price_change`, `adopt_billing` (billing
  facts the sessions capability records);
- `billing.*`: the pure math (segments, UTC day/month split, half-up rounding).

Billing facts live with sessions (`session_prices`, views `session_billing` and
`session_price_segments`; see `warehouse/migrations_costs.py`); costs reads the `sessions`
table itself only for a session's header (`session_cost`) and for sessions requested but
not rented yet (`committed`), which have no billing facts.
"""
