-- coldmark markers in ClickHouse: one row per marker, as the HTTP sink sends them.
--
-- Send to:  http://HOST:8123/?query=INSERT%20INTO%20markers%20FORMAT%20JSONEachRow&input_format_skip_unknown_fields=1
-- (COLDMARK_SINK=stdout,http and that URL as COLDMARK_HTTP_ENDPOINT; add
-- COLDMARK_HTTP_HEADERS=X-ClickHouse-User=...,X-ClickHouse-Key=... for a user with a password).
-- input_format_skip_unknown_fields=1 is required: it lets ClickHouse ignore what has no column
-- here: the CloudWatch EMF block `_aws` and its top-level metric values (ColdStart,
-- InitDuration, ...), the `extensions` list (an array of objects, which JSONEachRow cannot put
-- in a column before ClickHouse 19), and fields a later contract version adds.
--
-- Written for ClickHouse 18.16 (Debian bookworm's package, which the tests run) and valid on
-- later versions. Columns are the marker contract, version 1 (docs/markers.md); a field that
-- only some marker kinds carry, or that may be null, is Nullable and NULL where absent.
-- `timestamp` is kept as the marker's own text; `ts` (second) and `ts_ms` (millisecond, UTC)
-- are derived from it for time functions (DateTime64 does not exist in 18.16).
-- Durations are Float64. ClickHouse 18.16 reads JSON numbers with a fast parser that can store
-- one unit in the last place away (2.829 becomes 2.8289999999999997, about 1 value in 110);
-- round(x, 3) in a query gives the marker's microsecond figure back.
-- A table created before tenant_id, init_status and init_error_type existed keeps taking rows
-- (the new fields are skipped as unknown); to keep them too, add the columns once:
--   ALTER TABLE markers ADD COLUMN tenant_id Nullable(String) AFTER env_id,
--       ADD COLUMN init_status Nullable(String) AFTER init_phase,
--       ADD COLUMN init_error_type Nullable(String) AFTER init_status
CREATE TABLE IF NOT EXISTS markers
(
    coldmark             String,
    schema               UInt16,
    timestamp            String,
    ts                   DateTime MATERIALIZED parseDateTimeBestEffort(timestamp),
    ts_ms                UInt64 MATERIALIZED toUInt64(toUInt32(parseDateTimeBestEffort(timestamp))) * 1000
                                             + toUInt64OrZero(substring(timestamp, 21, 3)),
    function_name        String,
    function_version     String,
    env_id               String,
    -- every marker of an environment that serves a tenant (tenant isolation); NULL otherwise
    tenant_id            Nullable(String),
    -- init
    init_type            Nullable(String),
    init_phase           Nullable(String),
    init_status          Nullable(String),
    init_error_type      Nullable(String),
    init_duration_ms     Nullable(Float64),
    proactive            Nullable(UInt8),
    config_fingerprint   Nullable(String),
    function_memory_size Nullable(UInt32),
    runtime_version      Nullable(String),
    source               Nullable(String),
    runtime_init_ms      Nullable(Float64),
    extensions_init_ms   Nullable(Float64),
    coldmark_init_ms     Nullable(Float64),
    -- init (init_phase = 'invoke') and invoke
    function_request_id  Nullable(String),
    -- invoke
    cold_start           Nullable(UInt8),
    seq                  Nullable(UInt64),
    since_init_ms        Nullable(Float64),
    duration_ms          Nullable(Float64),
    billed_duration_ms   Nullable(Float64),
    max_memory_used_mb   Nullable(Float64),
    xray_trace_id        Nullable(String),
    -- shutdown
    reason               Nullable(String),
    invocations          Nullable(UInt64),
    lifetime_ms          Nullable(Float64),
    dropped              Nullable(UInt64)
)
ENGINE = MergeTree()
PARTITION BY toYYYYMM(ts)
ORDER BY (function_name, ts, env_id, coldmark)
