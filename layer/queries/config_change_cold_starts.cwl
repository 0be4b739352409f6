# Configuration-change cold starts: the configurations (config_fingerprint) each function ran
# with, and when each one was first initialised. Every fingerprint whose first_init comes after
# the function's earliest one marks a cold start caused by a configuration change (the user's
# environment variables, the memory size or the version: what config_fingerprint covers; a
# change of layers or runtime alone leaves it equal) — like the experiment's USER change, which
# spun the warm environments down and forced new ones.
# Limitation: Logs Insights has no window functions ("the previous environment's value"), so it
# cannot compare each init with the one before. Grouping by fingerprint finds every change once;
# a change back to an earlier configuration folds into that fingerprint's row. For the
# row-by-row history read config_fingerprint_timeline.cwl.
filter coldmark = "init"
| stats min(@timestamp) as first_init,
        max(@timestamp) as last_init,
        count(*) as inits,
        count_distinct(env_id) as environments
  by function_name, config_fingerprint
| sort first_init asc
