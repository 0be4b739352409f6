-- coldmark questions in ClickHouse SQL: the same questions as the CloudWatch Logs Insights pack
-- (layer/queries/*.cwl), on the `markers` table of markers.sql. One query per `-- name:` block,
-- each ending with `;`. Written for ClickHouse 18.16 (no window functions there: "the previous
-- init" is found with arrays instead) and valid on later versions. Booleans are 1/0.
-- Delivery is at-least-once (see docs/configuration.md, "HTTP sink"); where a retried batch may
-- have been stored twice, count environments with uniqExact(env_id) rather than rows.

-- name: cold_starts_per_5min
-- Cold starts per 5 minutes, per function: each init marker is one new execution environment
-- (or one re-init inside an invocation, init_phase = 'invoke').
SELECT
    toStartOfFiveMinute(ts) AS bin,
    function_name,
    count() AS cold_starts
FROM markers
WHERE coldmark = 'init'
GROUP BY bin, function_name
ORDER BY bin, function_name;

-- name: init_duration_by_version
-- Init duration p50 / p90 / p99 per function version: did a deploy make cold starts slower?
-- Inits without a duration (no Telemetry API) count in `inits`, not in the percentiles.
SELECT
    function_name,
    function_version,
    count() AS inits,
    quantileExact(0.5)(init_duration_ms) AS p50_ms,
    quantileExact(0.9)(init_duration_ms) AS p90_ms,
    quantileExact(0.99)(init_duration_ms) AS p99_ms,
    max(init_duration_ms) AS max_ms
FROM markers
WHERE coldmark = 'init'
GROUP BY function_name, function_version
ORDER BY function_name, function_version;

-- name: config_change_cold_starts
-- Cold starts caused by a configuration change: inits whose config_fingerprint differs from the
-- function's previous init (in time). Unlike Logs Insights, this compares row by row, so a
-- change back to an earlier configuration shows as a change too.
SELECT
    function_name,
    toDateTime(intDiv(change.1, 1000)) AS at,
    change.2 AS env_id,
    change.3 AS config_fingerprint,
    change.4 AS previous_fingerprint,
    change.5 AS proactive
FROM
(
    SELECT
        function_name,
        arraySort(i -> i.1, groupArray((ts_ms, env_id, ifNull(config_fingerprint, ''), ifNull(proactive, 0)))) AS inits,
        arrayMap(
            i -> (inits[i].1, inits[i].2, inits[i].3, inits[i - 1].3, inits[i].4),
            arrayFilter(i -> i > 1 AND inits[i].3 != inits[i - 1].3, arrayEnumerate(inits))
        ) AS changes
    FROM markers
    WHERE coldmark = 'init'
    GROUP BY function_name
)
ARRAY JOIN changes AS change
ORDER BY function_name, at, env_id;

-- name: proactive_vs_user_facing
-- Proactive inits (nobody waited: provisioned concurrency, SnapStart, or an on-demand init well
-- before its first request) vs user-facing ones (a request paid the init), per init type.
SELECT
    function_name,
    init_type,
    proactive,
    count() AS inits,
    avg(init_duration_ms) AS avg_init_ms,
    quantileExact(0.9)(init_duration_ms) AS p90_init_ms
FROM markers
WHERE coldmark = 'init'
GROUP BY function_name, init_type, proactive
ORDER BY function_name, init_type, proactive;

-- name: environment_lifetime_by_reason
-- How long environments live and how many invocations each served, by shutdown reason; and how
-- many markers a sink could not deliver. One shutdown marker per environment.
SELECT
    function_name,
    reason,
    count() AS environments,
    quantileExact(0.5)(lifetime_ms) / 60000 AS p50_lifetime_min,
    max(lifetime_ms) / 60000 AS max_lifetime_min,
    avg(invocations) AS avg_invocations,
    quantileExact(0.5)(invocations) AS p50_invocations,
    max(invocations) AS max_invocations,
    sum(dropped) AS dropped_markers
FROM markers
WHERE coldmark = 'shutdown'
GROUP BY function_name, reason
ORDER BY function_name, reason;

-- name: cold_invocation_share
-- The share of invocations that were cold, per function, over environments that have shut
-- down (their shutdown marker gives the invocation count, so this works with the default
-- COLDMARK_INVOKE_MARKERS=first). Cold = an invoke marker with cold_start = 1.
SELECT
    function_name,
    sum(invocations) AS invocations,
    sum(cold) AS cold,
    if(invocations = 0, 0, cold / invocations * 100) AS cold_pct
FROM
(
    SELECT
        function_name,
        env_id,
        maxIf(invocations, coldmark = 'shutdown') AS invocations,
        countIf(coldmark = 'invoke' AND cold_start = 1) AS cold
    FROM markers
    GROUP BY function_name, env_id
    HAVING countIf(coldmark = 'shutdown') > 0
)
GROUP BY function_name
ORDER BY function_name;
