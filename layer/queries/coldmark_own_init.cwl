# coldmark's own cost, per function: coldmark_init_ms (from coldmark's process start to its
# first /event/next, measured by coldmark itself, present even without the Telemetry API)
# beside the whole init duration.
filter coldmark = "init"
| stats count(*) as inits,
        pct(coldmark_init_ms, 50) as p50_coldmark_ms,
        pct(coldmark_init_ms, 99) as p99_coldmark_ms,
        max(coldmark_init_ms) as max_coldmark_ms,
        pct(init_duration_ms, 50) as p50_init_ms
  by function_name
