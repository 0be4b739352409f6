# Proactive vs user-facing inits, per function. Lambda may initialise an environment ahead of
# demand (proactive = 1: nobody waited for it) or while a request waits (proactive = 0: a user
# paid the init). init_type tells on-demand, provisioned-concurrency and snap-start apart.
# Logs Insights shows JSON booleans as 1 (true) and 0 (false).
filter coldmark = "init"
| stats count(*) as inits,
        avg(init_duration_ms) as avg_init_ms,
        pct(init_duration_ms, 90) as p90_init_ms
  by function_name, init_type, proactive
