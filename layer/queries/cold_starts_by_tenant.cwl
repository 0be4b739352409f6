# Cold starts and init time per tenant, per function (tenant isolation: TenancyConfig
# PER_TENANT gives every tenant execution environments of its own, so each new tenant costs at
# least one cold start). tenant_id is the tenant the environment serves, from the tenantId
# Lambda puts in its invocations' records (platform.start, platform.report). An init marker goes
# without it when its first invocation's records did not come in time, and functions without
# tenant isolation have none: such inits are left out here (their invoke and shutdown markers
# may still name the tenant, by env_id). environments counts distinct environments (a failed
# init and its retry are two inits of one), total_init_s the init time the tenant's environments
# took (Lambda bills INIT), failed_inits those whose init did not succeed (InitError).
filter coldmark = "init" and ispresent(tenant_id)
| stats count(*) as cold_starts,
        count_distinct(env_id) as environments,
        sum(init_duration_ms) / 1000 as total_init_s,
        pct(init_duration_ms, 50) as p50_init_ms,
        pct(init_duration_ms, 99) as p99_init_ms,
        sum(InitError) as failed_inits
  by function_name, tenant_id
| sort cold_starts desc
| limit 100
