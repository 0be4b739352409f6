# What share of cold-start time do extensions take, per function?
# runtime_init_ms is the function's own share (runtime bootstrap and its init code);
# extensions_init_ms is how long init went on after the runtime was ready, waiting for
# extensions; coldmark_init_ms is coldmark's own start (its process start to its first
# /event/next), which overlaps the others because extensions start beside the runtime.
# Only inits measured from the Telemetry API (source = "telemetry") carry the split.
filter coldmark = "init" and source = "telemetry"
| stats count(*) as inits,
        sum(extensions_init_ms) / sum(init_duration_ms) * 100 as extensions_share_pct,
        avg(init_duration_ms) as avg_init_ms,
        avg(runtime_init_ms) as avg_runtime_init_ms,
        avg(extensions_init_ms) as avg_extensions_init_ms,
        pct(extensions_init_ms, 90) as p90_extensions_init_ms,
        avg(coldmark_init_ms) as avg_coldmark_init_ms,
        pct(coldmark_init_ms, 90) as p90_coldmark_init_ms
  by function_name
