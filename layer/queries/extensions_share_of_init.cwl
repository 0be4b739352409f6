# What share of cold-start time do extensions take, per function? Lambda sends
# platform.initRuntimeDone only after every extension is ready, so its records cannot tell the
# function's share of an init from the extensions': runtime_init_ms and extensions_init_ms are
# null under that order. What every init marker does carry is coldmark's own share:
# coldmark_init_ms, from coldmark's process start to its first /event/next, measured by coldmark
# itself. This query answers with that share; split_inits counts the inits whose records did
# allow the split (0 on Lambda today), and avg_extensions_init_ms averages over those only.
filter coldmark = "init"
| stats count(*) as inits,
        sum(coldmark_init_ms) / sum(init_duration_ms) * 100 as coldmark_share_pct,
        avg(init_duration_ms) as avg_init_ms,
        avg(coldmark_init_ms) as avg_coldmark_init_ms,
        pct(coldmark_init_ms, 90) as p90_coldmark_init_ms,
        count(extensions_init_ms) as split_inits,
        avg(extensions_init_ms) as avg_extensions_init_ms
  by function_name
