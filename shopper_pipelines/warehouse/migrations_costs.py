"""Migration 4: billing facts, price changes, budgets and alerts.

Who owns what:
- `session_prices` belongs to sessions (only `sessions/store.py` writes it): one row per
  price that applies to a session's instance from `effective_at` on. The first row is the
  billing start (the moment the provider's create call returned an instance id); later
  rows are price changes (the provider's reported price, a new bid, storage-only billing
  while stopped). Upserted on (session_id, effective_at), so the provider's reported
  price replaces the offer's price at the same instant; `next_at` is maintained on write.
- `session_billing` and `session_price_segments` are the sessions capability's read
  interface for billing: costs reads these views, never the `sessions` columns directly.
  A session with an instance but no recorded start (adopted by label, or created before
  this migration) bills from its `created_at` at the offer price, and says so in
  `billing_start_source`. A session that never got an instance has no segment: cost 0.
  Billing ends at `terminated_at` (a confirmed destroy); until then it keeps accruing.
- `budgets` and `budget_alerts` belong to costs. The global budget is the row whose
  consumer_id is '*' (consumer ids cannot contain '*').
"""

V4_COSTS = """
CREATE TABLE IF NOT EXISTS session_prices (
    session_id VARCHAR NOT NULL,
    effective_at TIMESTAMPTZ NOT NULL,
    price_per_hour DECIMAL(12, 6) NOT NULL,
    kind VARCHAR NOT NULL,             -- 'on_demand', 'interruptible_bid', 'storage_only'
    source VARCHAR NOT NULL,           -- 'offer', 'provider', 'bid', 'storage'
    note VARCHAR,
    -- The next price's effective_at (NULL for the latest), kept by the store on every
    -- write so the ledger's hot path needs no window function.
    next_at TIMESTAMPTZ,
    PRIMARY KEY (session_id, effective_at)
);

-- One row per session that ever had an instance: when billing started and whether it
-- still accrues (billing_end NULL).
CREATE OR REPLACE VIEW session_billing AS
WITH starts AS (
    SELECT session_id, min(effective_at) AS first_price_at,
           arg_min(note, effective_at) AS first_note
    FROM session_prices GROUP BY session_id
)
SELECT
    s.session_id, s.consumer_id, s.provider, s.gpu_model, s.gpu_count, s.status,
    s.instance_id, s.price_per_hour AS shown_price_per_hour,
    coalesce(p.first_price_at, s.created_at) AS billing_start,
    CASE WHEN p.first_price_at IS NULL THEN 'session_created_at (no recorded start)'
         WHEN p.first_note LIKE 'adopted by label%' THEN p.first_note
         ELSE 'create' END AS billing_start_source,
    s.terminated_at AS billing_end,
    s.created_at, s.expires_at, s.hard_max_at, s.stopped_at
FROM sessions s LEFT JOIN starts p USING (session_id)
WHERE p.first_price_at IS NOT NULL OR s.instance_id IS NOT NULL;

-- Price segments with what the ledger groups by: each price applies from effective_at
-- until next_at (NULL: until billing_end, or now while the session still accrues). A
-- session with an instance but no recorded price gets one segment from its creation at
-- the offer price. One left join, no window: this view is the ledger's hot path.
CREATE OR REPLACE VIEW session_price_segments AS
SELECT s.session_id,
       coalesce(p.effective_at, s.created_at) AS effective_at,
       p.next_at,
       coalesce(p.price_per_hour, s.price_per_hour) AS price_per_hour,
       coalesce(p.kind, 'on_demand') AS kind,
       coalesce(p.source, 'offer') AS source,
       CASE WHEN p.session_id IS NULL
            THEN 'no recorded billing start: from the session''s creation' ELSE p.note END
           AS note,
       s.consumer_id, s.provider, s.gpu_model, s.status, s.terminated_at AS billing_end
FROM sessions s LEFT JOIN session_prices p USING (session_id)
WHERE p.session_id IS NOT NULL OR s.instance_id IS NOT NULL;

CREATE TABLE IF NOT EXISTS budgets (
    consumer_id VARCHAR PRIMARY KEY,   -- '*' is the global budget
    monthly_usd DECIMAL(12, 2) NOT NULL,
    thresholds INTEGER[] NOT NULL,     -- percentages, ascending, e.g. [50, 80, 100]
    action VARCHAR NOT NULL,           -- 'warn', 'refuse' or 'stop'
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);

-- Each threshold alerts once per consumer and month, whatever sends it.
CREATE TABLE IF NOT EXISTS budget_alerts (
    consumer_id VARCHAR NOT NULL,
    month DATE NOT NULL,
    threshold INTEGER NOT NULL,
    sent_at TIMESTAMPTZ NOT NULL,
    spend_usd DECIMAL(18, 6) NOT NULL,
    budget_usd DECIMAL(12, 2) NOT NULL,
    action VARCHAR NOT NULL,
    channels VARCHAR,                  -- JSON: {"log": "ok", "webhook": "ok|failed: ...|off"}
    PRIMARY KEY (consumer_id, month, threshold)
);
"""
