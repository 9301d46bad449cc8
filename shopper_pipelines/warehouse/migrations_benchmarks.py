"""Migration 3: benchmark results (measured and published) and reference-data loads."""

V3_BENCHMARKS = """
-- One row per benchmark result. 'measured' rows come from our runs or loaded result files
-- (result_id is the file's benchmark_id); 'published' rows are the reference CSV
-- (result_id 'published-<hash of the row>'; tokens_per_second is the mean of its
-- low/high, tps_min/tps_max the low/high). Invalid rows are kept for the record and
-- left out of analytics unless asked for.
CREATE TABLE IF NOT EXISTS benchmark_results (
    result_id VARCHAR PRIMARY KEY,
    source VARCHAR NOT NULL,            -- 'measured' or 'published'
    run_id VARCHAR,                     -- the runner's run, when it came from one
    session_id VARCHAR,
    gpu_model VARCHAR NOT NULL,         -- canonical (inventory catalogue)
    gpu_name_raw VARCHAR,               -- as nvidia-smi (or the CSV) spelled it
    gpu_count INTEGER,
    vram_gb DOUBLE,                     -- per GPU, from memory.total
    model VARCHAR NOT NULL,             -- Ollama tag, e.g. 'llama3.1:8b'
    runtime VARCHAR,                    -- 'ollama' or 'openai'
    provider VARCHAR,
    location VARCHAR,
    price_per_hour DECIMAL(12, 6),      -- what the whole instance cost per hour
    tokens_per_second DOUBLE,           -- mean per-request decode rate, concurrency 1
    aggregate_tokens_per_second DOUBLE,
    tps_p50 DOUBLE,
    tps_min DOUBLE,
    tps_max DOUBLE,
    ttft_ms_mean DOUBLE,
    ttft_ms_p50 DOUBLE,
    ttft_ms_p95 DOUBLE,
    requests INTEGER,
    successful INTEGER,
    failed INTEGER,
    output_tokens BIGINT,
    wall_s DOUBLE,
    duration_s DOUBLE,                  -- the configured throughput phase
    max_tokens INTEGER,
    prompt_set VARCHAR,
    quality_prompts INTEGER,
    quality_matches INTEGER,
    quality_match_rate DOUBLE,
    gpu_samples INTEGER,
    gpu_util_pct_mean DOUBLE,
    gpu_util_pct_max DOUBLE,
    gpu_mem_used_mib_max DOUBLE,
    gpu_temp_c_max DOUBLE,
    gpu_power_w_mean DOUBLE,
    gpu_power_w_max DOUBLE,
    status VARCHAR NOT NULL,            -- 'ok', 'partial' or 'failed'
    valid BOOLEAN NOT NULL,
    flags VARCHAR NOT NULL,             -- JSON list of flag names
    error_type VARCHAR,                 -- the first error's type, if any
    note VARCHAR,                       -- published rows: the CSV's source_note
    started_at TIMESTAMPTZ,
    measured_at TIMESTAMPTZ,            -- when the run finished; NULL for published rows
    loaded_at TIMESTAMPTZ NOT NULL,
    file_sha256 VARCHAR NOT NULL,       -- hash of the canonical JSON: dedupes reloads
    source_path VARCHAR,                -- the file it was loaded from, if any
    raw VARCHAR NOT NULL                -- the result (or CSV row) as JSON text
);
CREATE INDEX IF NOT EXISTS benchmark_results_model_gpu
    ON benchmark_results (model, gpu_model);
CREATE INDEX IF NOT EXISTS benchmark_results_sha ON benchmark_results (file_sha256);

-- The content hash of each reference file as last loaded: reloading is skipped while
-- the file is unchanged.
CREATE TABLE IF NOT EXISTS benchmark_reference_loads (
    reference VARCHAR PRIMARY KEY,      -- e.g. 'published_benchmarks.csv'
    sha256 VARCHAR NOT NULL,
    rows_loaded INTEGER NOT NULL,
    loaded_at TIMESTAMPTZ NOT NULL
);
"""
