# The share of invocations that were cold, per function and hour.
# Needs COLDMARK_INVOKE_MARKERS=all on the function: by default coldmark writes an invoke marker
# only for each environment's first invocation, and every row would then count as cold.
# cold_start is a JSON boolean, which Logs Insights sums as 1 (true) / 0 (false).
filter coldmark = "invoke"
| stats count(*) as invocations,
        sum(cold_start) as cold,
        sum(cold_start) / count(*) * 100 as cold_pct
  by bin(1h), function_name
