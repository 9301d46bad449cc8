"""Numbered, idempotent schema migrations, applied in order on open.

Money is DECIMAL, times are TIMESTAMPTZ in UTC. Add a migration by appending to
MIGRATIONS; never edit one that has shipped.
"""

import duckdb

from shopper_pipelines.warehouse.migrations_benchmark_runs import V5_BENCHMARK_RUNS
from shopper_pipelines.warehouse.migrations_benchmarks import V3_BENCHMARKS
from shopper_pipelines.warehouse.migrations_costs import V4_COSTS

_V1_INVENTORY = """
CREATE SEQUENCE IF NOT EXISTS snapshot_id_seq;

-- One row per ingest attempt of one provider, whatever its outcome.
CREATE TABLE IF NOT EXISTS offer_snapshots (
    snapshot_id BIGINT PRIMARY KEY DEFAULT nextval('snapshot_id_seq'),
    provider VARCHAR NOT NULL,
    source VARCHAR NOT NULL,            -- 'sandbox' or 'live'
    started_at TIMESTAMPTZ NOT NULL,
    finished_at TIMESTAMPTZ,
    status VARCHAR NOT NULL,            -- 'ok', 'failed' or 'skipped'
    offers_seen INTEGER NOT NULL DEFAULT 0,
    offers_stored INTEGER NOT NULL DEFAULT 0,
    offers_skipped INTEGER NOT NULL DEFAULT 0,
    skip_reasons JSON,
    appeared INTEGER NOT NULL DEFAULT 0,
    changed INTEGER NOT NULL DEFAULT 0,
    disappeared INTEGER NOT NULL DEFAULT 0,
    duration_s DOUBLE,
    staged_path VARCHAR,                -- Parquet file of the normalised offers
    merged_at TIMESTAMPTZ,
    error VARCHAR
);


-- Change-only history: a row when an offer appears, changes price or availability,
-- or disappears. valid_to closes a row when the next one for the key opens.
CREATE TABLE IF NOT EXISTS offer_history (
    offer_key VARCHAR NOT NULL,
    valid_from TIMESTAMPTZ NOT NULL,
    valid_to TIMESTAMPTZ,
    change VARCHAR NOT NULL,            -- 'appeared', 'changed' or 'disappeared'
    snapshot_id BIGINT NOT NULL,
    provider VARCHAR NOT NULL,
    provider_offer_id VARCHAR NOT NULL,
    gpu_model VARCHAR NOT NULL,
    gpu_name_raw VARCHAR,
    gpu_count INTEGER NOT NULL,
    vram_gb DOUBLE NOT NULL,
    total_vram_gb DOUBLE NOT NULL,
    price_per_hour DECIMAL(12, 6) NOT NULL,
    interruptible_price_per_hour DECIMAL(12, 6),
    disk_gb DOUBLE NOT NULL,
    available BOOLEAN NOT NULL,
    country VARCHAR,
    region VARCHAR,
    location VARCHAR,
    reliability DOUBLE,
    cuda_version DOUBLE,
    inet_down_mbps DOUBLE,
    inet_up_mbps DOUBLE,
    max_disk_gb DOUBLE,
    cpu_cores DOUBLE,
    ram_gb DOUBLE,
    verified BOOLEAN,
    raw VARCHAR                  -- the provider's record as JSON text (cast with ::JSON)
);
CREATE INDEX IF NOT EXISTS offer_history_open ON offer_history (provider, valid_to);

CREATE OR REPLACE VIEW offers_current AS
SELECT * EXCLUDE (valid_to)
FROM offer_history
WHERE valid_to IS NULL AND change <> 'disappeared';

-- Price per GPU-hour by model over time: one row per ingest snapshot and GPU model,
-- plus real market history loaded by `gpu-shopper import-history`.
CREATE TABLE IF NOT EXISTS gpu_price_points (
    observed_at TIMESTAMPTZ NOT NULL,
    source VARCHAR NOT NULL,            -- 'snapshot' or 'import:<file kind>'
    provider VARCHAR NOT NULL,
    gpu_model VARCHAR NOT NULL,
    offers INTEGER NOT NULL,
    min_price DECIMAL(12, 6) NOT NULL,
    median_price DECIMAL(12, 6) NOT NULL,
    max_price DECIMAL(12, 6),
    PRIMARY KEY (observed_at, source, provider, gpu_model)
);
"""

_V2_SESSIONS = """
-- One row per session; its status changes only through transitions that also append a
-- row to session_events. Private keys are never stored: public_key is the authorised one.
CREATE TABLE IF NOT EXISTS sessions (
    session_id VARCHAR PRIMARY KEY,
    deployment_id VARCHAR NOT NULL,
    consumer_id VARCHAR NOT NULL,
    provider VARCHAR NOT NULL,
    offer_key VARCHAR NOT NULL,
    provider_offer_id VARCHAR NOT NULL,
    gpu_model VARCHAR NOT NULL,
    gpu_count INTEGER NOT NULL,
    vram_gb DOUBLE NOT NULL,
    cuda_version DOUBLE,
    price_per_hour DECIMAL(12, 6) NOT NULL,
    workload VARCHAR NOT NULL,
    reservation_hours INTEGER NOT NULL,
    idle_timeout_min INTEGER,
    storage VARCHAR NOT NULL,
    status VARCHAR NOT NULL,
    status_reason VARCHAR,
    label VARCHAR NOT NULL,
    public_key VARCHAR,
    instance_id VARCHAR,
    ssh_host VARCHAR,
    ssh_port INTEGER,
    ssh_user VARCHAR,
    host_key VARCHAR,
    created_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    hard_max_at TIMESTAMPTZ NOT NULL,
    ready_at TIMESTAMPTZ,
    last_active_at TIMESTAMPTZ,
    stopped_at TIMESTAMPTZ,
    terminated_at TIMESTAMPTZ,
    offers_tried VARCHAR          -- JSON list of {offer_key, outcome}
);
CREATE INDEX IF NOT EXISTS sessions_status ON sessions (status);

CREATE SEQUENCE IF NOT EXISTS session_event_id_seq;
-- Append-only: every transition, note and alert of every session.
CREATE TABLE IF NOT EXISTS session_events (
    event_id BIGINT PRIMARY KEY DEFAULT nextval('session_event_id_seq'),
    session_id VARCHAR NOT NULL,
    occurred_at TIMESTAMPTZ NOT NULL,
    kind VARCHAR NOT NULL,              -- 'transition', 'note' or 'alert'
    from_status VARCHAR,
    to_status VARCHAR,
    reason VARCHAR NOT NULL,
    detail VARCHAR                      -- JSON
);
CREATE INDEX IF NOT EXISTS session_events_session ON session_events (session_id);
"""

MIGRATIONS: tuple[tuple[int, str, str], ...] = (
    (1, "inventory", _V1_INVENTORY),
    (2, "sessions", _V2_SESSIONS),
    (3, "benchmarks", V3_BENCHMARKS),
    (4, "costs", V4_COSTS),
    (5, "benchmark_runs", V5_BENCHMARK_RUNS),
)


def apply_migrations(con: duckdb.DuckDBPyConnection) -> list[int]:
    """Apply every migration not yet recorded; return the versions applied."""
    con.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        " version INTEGER PRIMARY KEY, name VARCHAR NOT NULL,"
        " applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
    )
    done = {row[0] for row in con.execute("SELECT version FROM schema_migrations").fetchall()}
    applied = []
    for version, name, sql in MIGRATIONS:
        if version in done:
            continue
        con.execute("BEGIN TRANSACTION")
        try:
            con.execute(sql)
            con.execute(
                "INSERT INTO schema_migrations (version, name) VALUES (?, ?)", [version, name]
            )
            con.execute("COMMIT")
        except Exception:
            con.execute("ROLLBACK")
            raise
        applied.append(version)
    return applied
