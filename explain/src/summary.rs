//! Per function (or per function and tenant, `--by tenant`): cold starts, init time and billed
//! init per cause, and the inits that bought nothing: those that failed and those of
//! environments that never served a request.
//!
//! Since August 2025 Lambda bills the INIT phase of every function, so each cause's init time
//! is also given in GB-seconds (init duration × `function_memory_size`), and as money when the
//! user passes a price. Lambda Managed Instances are the exception: their capacity is priced per
//! EC2 instance, so their inits are counted and timed but never turned into GB-seconds.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::attribute::{Attribution, UnusedInit};
use crate::cause::Cause;
use crate::round;

/// What the summary is grouped by.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum By {
    #[default]
    Function,
    /// Each tenant of each function (tenant isolation); environments without one are grouped
    /// under no tenant.
    Tenant,
}

/// One cause's share (or a whole function's).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct CauseTotals {
    pub cold_starts: u64,
    #[serde(serialize_with = "round::ms")]
    pub init_ms: f64,
    #[serde(serialize_with = "round::gb_seconds")]
    pub gb_seconds: f64,
    /// Inits without a known duration or memory size (not in the sums).
    pub unknown_duration: u64,
    /// Inits on Lambda Managed Instances: in the cold starts and the init time, not in the
    /// GB-seconds (that capacity is priced per EC2 instance).
    pub managed_instances: u64,
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "round::money_opt"
    )]
    pub cost: Option<f64>,
    /// Inits Lambda reported as not successful (`error`, `failure`, `timeout`): in the figures
    /// above, and counted here.
    pub failed_inits: u64,
    #[serde(serialize_with = "round::gb_seconds")]
    pub failed_gb_seconds: f64,
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "round::money_opt"
    )]
    pub failed_cost: Option<f64>,
    /// Environments that ended without serving a request, by the cause of their init.
    pub unused_inits: u64,
    #[serde(serialize_with = "round::gb_seconds")]
    pub unused_gb_seconds: f64,
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "round::money_opt"
    )]
    pub unused_cost: Option<f64>,
}

impl CauseTotals {
    fn add(&mut self, a: &Attribution) {
        self.cold_starts += 1;
        let gb_seconds = a.gb_seconds();
        if a.failed() {
            self.failed_inits += 1;
            self.failed_gb_seconds += gb_seconds.unwrap_or(0.0);
        }
        if a.on_managed_instances() {
            self.managed_instances += 1;
            match a.init_duration_ms {
                Some(ms) => self.init_ms += ms,
                None => self.unknown_duration += 1,
            }
            return;
        }
        match (a.init_duration_ms, gb_seconds) {
            (Some(ms), Some(gbs)) => {
                self.init_ms += ms;
                self.gb_seconds += gbs;
            }
            (Some(ms), None) => {
                self.init_ms += ms;
                self.unknown_duration += 1;
            }
            _ => self.unknown_duration += 1,
        }
    }

    fn add_unused(&mut self, u: &UnusedInit) {
        self.unused_inits += 1;
        self.unused_gb_seconds += u.gb_seconds.unwrap_or(0.0);
    }

    fn merge(&mut self, other: &CauseTotals) {
        self.cold_starts += other.cold_starts;
        self.init_ms += other.init_ms;
        self.gb_seconds += other.gb_seconds;
        self.unknown_duration += other.unknown_duration;
        self.managed_instances += other.managed_instances;
        self.failed_inits += other.failed_inits;
        self.failed_gb_seconds += other.failed_gb_seconds;
        self.unused_inits += other.unused_inits;
        self.unused_gb_seconds += other.unused_gb_seconds;
    }

    fn price(&mut self, price_per_gb_second: Option<f64>) {
        self.cost = price_per_gb_second.map(|p| self.gb_seconds * p);
        self.failed_cost = price_per_gb_second.map(|p| self.failed_gb_seconds * p);
        self.unused_cost = price_per_gb_second.map(|p| self.unused_gb_seconds * p);
    }
}

/// The `--json` summary record of one function (or of one tenant of it, `--by tenant`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FunctionSummary {
    #[serde(rename = "type")]
    pub record: &'static str,
    pub function_name: String,
    /// Only with `--by tenant`: the tenant, `null` for environments without one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<Option<String>>,
    #[serde(flatten)]
    pub total: CauseTotals,
    pub causes: BTreeMap<Cause, CauseTotals>,
}

/// Causes' totals of one group.
type Causes = BTreeMap<Cause, CauseTotals>;

/// Accumulates attributions; memory is functions (× tenants) × causes.
#[derive(Debug, Default)]
pub struct Summary {
    by: By,
    /// Function → tenant (`""`: none, or not grouped by tenant; Lambda's tenant ids are never
    /// empty) → causes. Keyed by `String` so that an init finds its group without allocating.
    groups: BTreeMap<String, BTreeMap<String, Causes>>,
}

impl Summary {
    pub fn new(by: By) -> Summary {
        Summary {
            by,
            groups: BTreeMap::new(),
        }
    }

    fn group(&mut self, function: &str, tenant: Option<&str>, cause: Cause) -> &mut CauseTotals {
        let tenant = match self.by {
            By::Function => "",
            By::Tenant => tenant.unwrap_or(""),
        };
        if !self.groups.contains_key(function) {
            self.groups.insert(function.to_owned(), BTreeMap::new());
        }
        let tenants = self.groups.get_mut(function).expect("inserted above");
        if !tenants.contains_key(tenant) {
            tenants.insert(tenant.to_owned(), BTreeMap::new());
        }
        tenants
            .get_mut(tenant)
            .expect("inserted above")
            .entry(cause)
            .or_default()
    }

    pub fn add(&mut self, a: &Attribution) {
        self.group(&a.function_name, a.tenant_id.as_deref(), a.cause)
            .add(a);
    }

    pub fn add_unused(&mut self, u: &UnusedInit) {
        self.group(&u.function_name, u.tenant_id.as_deref(), u.cause)
            .add_unused(u);
    }

    pub fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }

    /// One record per function (or per function and tenant, the function's tenants by cold
    /// starts, then billed GB-seconds, most first), with money when a price per GB-second is
    /// given.
    pub fn records(&self, price_per_gb_second: Option<f64>) -> Vec<FunctionSummary> {
        let mut records: Vec<FunctionSummary> = self
            .groups
            .iter()
            .flat_map(|(function, tenants)| {
                tenants
                    .iter()
                    .map(move |(tenant, causes)| (function, tenant, causes))
            })
            .map(|(function, tenant, causes)| {
                let mut total = CauseTotals::default();
                let mut priced = BTreeMap::new();
                for (cause, totals) in causes {
                    let mut totals = totals.clone();
                    totals.price(price_per_gb_second);
                    total.merge(&totals);
                    priced.insert(*cause, totals);
                }
                total.price(price_per_gb_second);
                FunctionSummary {
                    record: "summary",
                    function_name: function.clone(),
                    tenant_id: (self.by == By::Tenant)
                        .then(|| (!tenant.is_empty()).then(|| tenant.clone())),
                    total,
                    causes: priced,
                }
            })
            .collect();
        if self.by == By::Tenant {
            records.sort_by(|a, b| {
                a.function_name
                    .cmp(&b.function_name)
                    .then(b.total.cold_starts.cmp(&a.total.cold_starts))
                    .then(b.total.gb_seconds.total_cmp(&a.total.gb_seconds))
                    .then(a.tenant_id.cmp(&b.tenant_id))
            });
        }
        records
    }
}
