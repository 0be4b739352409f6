//! Per function: cold starts, init time and billed init per cause.
//!
//! Since August 2025 Lambda bills the INIT phase of every function, so each cause's init time
//! is also given in GB-seconds (init duration × `function_memory_size`), and as money when the
//! user passes a price. Lambda Managed Instances are the exception: their capacity is priced per
//! EC2 instance, so their inits are counted and timed but never turned into GB-seconds.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::attribute::Attribution;
use crate::cause::Cause;
use crate::round;

/// One cause's share.
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
}

impl CauseTotals {
    fn add(&mut self, a: &Attribution) {
        self.cold_starts += 1;
        if a.on_managed_instances() {
            self.managed_instances += 1;
            match a.init_duration_ms {
                Some(ms) => self.init_ms += ms,
                None => self.unknown_duration += 1,
            }
            return;
        }
        match (a.init_duration_ms, a.gb_seconds()) {
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
}

/// The `--json` summary record of one function.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FunctionSummary {
    #[serde(rename = "type")]
    pub record: &'static str,
    pub function_name: String,
    #[serde(flatten)]
    pub total: CauseTotals,
    pub causes: BTreeMap<Cause, CauseTotals>,
}

/// Accumulates attributions; memory is functions × causes.
#[derive(Debug, Default)]
pub struct Summary {
    functions: BTreeMap<String, BTreeMap<Cause, CauseTotals>>,
}

impl Summary {
    pub fn add(&mut self, a: &Attribution) {
        if !self.functions.contains_key(&a.function_name) {
            self.functions
                .insert(a.function_name.clone(), BTreeMap::new());
        }
        if let Some(causes) = self.functions.get_mut(&a.function_name) {
            causes.entry(a.cause).or_default().add(a);
        }
    }

    pub fn is_empty(&self) -> bool {
        self.functions.is_empty()
    }

    /// One record per function, with money when a price per GB-second is given.
    pub fn records(&self, price_per_gb_second: Option<f64>) -> Vec<FunctionSummary> {
        self.functions
            .iter()
            .map(|(name, causes)| {
                let mut total = CauseTotals::default();
                let mut priced = BTreeMap::new();
                for (cause, totals) in causes {
                    let mut totals = totals.clone();
                    totals.cost = price_per_gb_second.map(|p| totals.gb_seconds * p);
                    total.cold_starts += totals.cold_starts;
                    total.init_ms += totals.init_ms;
                    total.gb_seconds += totals.gb_seconds;
                    total.unknown_duration += totals.unknown_duration;
                    total.managed_instances += totals.managed_instances;
                    priced.insert(*cause, totals);
                }
                total.cost = price_per_gb_second.map(|p| total.gb_seconds * p);
                FunctionSummary {
                    record: "summary",
                    function_name: name.clone(),
                    total,
                    causes: priced,
                }
            })
            .collect()
    }
}
