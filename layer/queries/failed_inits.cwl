# Failed and timed-out inits, per function, version and cause. init_status is Lambda's word on
# how the init went (platform.initReport, or platform.restoreReport for SnapStart: error,
# failure or timeout here; success, and unknown where nothing said, are left out) and
# init_error_type its errorType (Runtime.ExitError, ...; empty when Lambda gave none, as for
# most timeouts). Lambda runs a failed init again inside the next invocation: that retry is an
# init marker of its own (init_phase = "invoke", see reinits_inside_invocations.cwl), so a
# failure costs two inits. failed_init_s is the init time spent on the failures themselves.
filter coldmark = "init" and init_status != "success" and init_status != "unknown"
| stats count(*) as failed_inits,
        count_distinct(env_id) as environments,
        sum(init_duration_ms) / 1000 as failed_init_s,
        max(@timestamp) as last_failed
  by function_name, function_version, init_status, init_error_type
| sort failed_inits desc
