# Re-inits inside invocations, and which requests paid for them. After a function crash or
# timeout, Lambda initialises the environment again while the next request waits (init_phase =
# "invoke"); function_request_id is that request. Search its id in the function's logs or
# X-Ray to see who waited; coldmark_init_ms is coldmark's own part of the re-init (the function /
# extensions split, runtime_init_ms and extensions_init_ms, is null under Lambda's record order).
filter coldmark = "init" and init_phase = "invoke"
| fields @timestamp, function_name, function_version, function_request_id, env_id,
         init_duration_ms, runtime_init_ms, extensions_init_ms, coldmark_init_ms
| sort @timestamp desc
| limit 200
