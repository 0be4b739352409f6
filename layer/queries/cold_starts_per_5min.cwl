# Cold starts per 5 minutes, per function.
# Each `init` marker is one new execution environment (or one re-init inside an invocation,
# init_phase = "invoke"), so counting init markers counts cold starts. Default settings suffice.
filter coldmark = "init"
| stats count(*) as cold_starts by bin(5m), function_name
