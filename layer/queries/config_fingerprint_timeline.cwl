# Every init with its configuration fingerprint, in time order: the history behind
# config_change_cold_starts.cwl. Read down the rows of one function: where config_fingerprint
# differs from the row above, that init was the first under a new configuration. Logs Insights
# cannot compare rows itself (no window functions), so this lists them for the eye, or for a
# script (aws logs start-query, then compare consecutive rows).
filter coldmark = "init"
| fields @timestamp, function_name, function_version, config_fingerprint, env_id, init_type,
         init_duration_ms
| sort @timestamp asc
| limit 1000
