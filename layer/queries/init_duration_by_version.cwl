# Init duration p50 / p90 / p99 per function version: did a deploy make cold starts slower?
# init_duration_ms is Lambda's own figure (platform.initReport, or the REPORT line's
# initDurationMs); it is null when the Telemetry API gave none, and such inits count in `inits`
# but not in the percentiles.
filter coldmark = "init"
| stats count(*) as inits,
        pct(init_duration_ms, 50) as p50_ms,
        pct(init_duration_ms, 90) as p90_ms,
        pct(init_duration_ms, 99) as p99_ms,
        max(init_duration_ms) as max_ms
  by function_name, function_version
