# Re-inits inside invocations, and which requests paid for them. After a function crash or
# timeout, Lambda initialises the environment again while the next request waits (init_phase =
# "invoke"); function_request_id is that request. Search its id in the function's logs or
# X-Ray to see who waited, and the split to see whether the function or an extension was slow.
filter coldmark = "init" and init_phase = "invoke"
| fields @timestamp, function_name, function_version, function_request_id, env_id,
         init_duration_ms, runtime_init_ms, extensions_init_ms, coldmark_init_ms
| sort @timestamp desc
| limit 200
