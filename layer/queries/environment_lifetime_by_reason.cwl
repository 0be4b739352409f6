# How long execution environments live and how many invocations each served, by shutdown
# reason (spindown: reclaimed when idle or after a configuration change; timeout / failure: the
# runtime or an extension ran out of time or crashed). One `shutdown` marker per environment;
# environments still running, and any killed before coldmark could write, are not counted.
filter coldmark = "shutdown"
| stats count(*) as environments,
        pct(lifetime_ms, 50) / 60000 as p50_lifetime_min,
        max(lifetime_ms) / 60000 as max_lifetime_min,
        avg(invocations) as avg_invocations,
        pct(invocations, 50) as p50_invocations,
        max(invocations) as max_invocations,
        sum(dropped) as dropped_markers
  by function_name, reason
