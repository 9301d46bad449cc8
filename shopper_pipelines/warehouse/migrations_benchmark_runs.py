"""Migration 5: automated benchmark runs and their items (one per GPU x model x attempt).

A run's row is written before anything is rented, so an interrupted run always leaves a
record; its counters and progress line move as it goes. Items are one row per attempt
of one GPU x model combination and point at the session that was rented for it (the
session's own events say what happened to the instance) and at the stored result.
"""

V5_BENCHMARK_RUNS = """
CREATE TABLE IF NOT EXISTS benchmark_runs (
    run_id VARCHAR PRIMARY KEY,         -- 'brun-<12 hex>'
    status VARCHAR NOT NULL,            -- queued, running, completed, failed,
                                        -- stopped_budget or interrupted
    config JSON NOT NULL,               -- models, gpus, providers, max_budget, duration_s,
                                        -- runtime, concurrency
    max_budget_usd DECIMAL(12, 4) NOT NULL,
    spent_usd DECIMAL(12, 6) NOT NULL DEFAULT 0,
    estimated_usd DECIMAL(12, 6),       -- what the whole grid was expected to cost
    created_at TIMESTAMPTZ NOT NULL,
    started_at TIMESTAMPTZ,
    finished_at TIMESTAMPTZ,
    items_total INTEGER NOT NULL DEFAULT 0,   -- GPU x model combinations
    items_done INTEGER NOT NULL DEFAULT 0,    -- combinations with a stored result
    items_failed INTEGER NOT NULL DEFAULT 0,  -- combinations that failed every attempt
    error VARCHAR,
    progress VARCHAR                    -- the latest "gpu x model: step" line
);

-- One row per attempt; attempt 1 of every combination is written with the run.
CREATE TABLE IF NOT EXISTS benchmark_run_items (
    run_id VARCHAR NOT NULL,
    gpu_model VARCHAR NOT NULL,
    model VARCHAR NOT NULL,
    attempt INTEGER NOT NULL,
    status VARCHAR NOT NULL,            -- pending, running, ok, failed, skipped_budget
                                        -- or skipped (cannot fit / no offer)
    session_id VARCHAR,
    offer_key VARCHAR,
    provider VARCHAR,
    price_per_hour DECIMAL(12, 6),
    estimated_usd DECIMAL(12, 6),
    error_type VARCHAR,                 -- the result's error type, or provision, ssh, ...
    error VARCHAR,
    retry_suggested BOOLEAN,
    result_id VARCHAR,                  -- the stored benchmark result
    result_path VARCHAR,                -- the downloaded JSON file
    cost_usd DECIMAL(12, 6),            -- billed: price x (destroyed - created)
    started_at TIMESTAMPTZ,
    finished_at TIMESTAMPTZ,
    PRIMARY KEY (run_id, gpu_model, model, attempt)
);
"""
