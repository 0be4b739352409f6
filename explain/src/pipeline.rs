//! Source → order → attribution → renderers, one observation at a time.

use crate::attribute::{Attributor, AttributorCounts, Explained, Observation, Settings};
use crate::order::Reorder;
use crate::render::Render;
use crate::summary::{By, Summary};

/// Tunables of a run.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    pub settings: Settings,
    /// How far behind the newest observation one may arrive and still be put in order.
    pub reorder_window_ms: i64,
    /// At most this many observations wait to be put in order (bounds memory).
    pub reorder_capacity: usize,
    pub price_per_gb_second: Option<f64>,
    /// What the summary is grouped by.
    pub by: By,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            settings: Settings::default(),
            reorder_window_ms: 60_000,
            reorder_capacity: 100_000,
            price_per_gb_second: None,
            by: By::Function,
        }
    }
}

/// What a finished run saw.
#[derive(Debug, Clone, Copy, Default)]
pub struct Outcome {
    pub inits: u64,
    pub late: u64,
    pub attributor: AttributorCounts,
}

pub struct Pipeline<'r> {
    options: Options,
    reorder: Reorder,
    attributor: Attributor,
    summary: Summary,
    renderers: Vec<&'r mut dyn Render>,
    explained: Vec<Explained>,
    inits: u64,
    error: Option<std::io::Error>,
}

impl<'r> Pipeline<'r> {
    pub fn new(options: Options, renderers: Vec<&'r mut dyn Render>) -> Pipeline<'r> {
        let settings = Settings {
            report_ended: renderers.iter().any(|r| r.wants_ended()),
            ..options.settings
        };
        Pipeline {
            options,
            reorder: Reorder::new(options.reorder_window_ms, options.reorder_capacity),
            attributor: Attributor::new(settings),
            summary: Summary::new(options.by),
            renderers,
            explained: Vec::new(),
            inits: 0,
            error: None,
        }
    }

    pub fn push(&mut self, observation: Observation) {
        let Pipeline {
            reorder,
            attributor,
            explained,
            ..
        } = self;
        reorder.push(observation, |o| attributor.push(o, explained));
        self.drain();
    }

    fn drain(&mut self) {
        let Pipeline {
            explained,
            renderers,
            error,
            inits,
            summary,
            ..
        } = self;
        // Read in place, then cleared: the records are large, and moving each out of the
        // vector only to drop it was a measurable share of a run.
        for item in explained.iter() {
            if let Explained::Unused(u) = item {
                summary.add_unused(u);
                continue;
            }
            for r in renderers.iter_mut() {
                let written = match item {
                    Explained::Init(a) => r.init(a),
                    Explained::Ended(e) => r.ended(e),
                    Explained::Unused(_) => Ok(()),
                };
                if let Err(e) = written {
                    error.get_or_insert(e);
                }
            }
            if let Explained::Init(a) = item {
                *inits += 1;
                summary.add(a);
            }
        }
        explained.clear();
    }

    /// Ends the input: flushes the order buffer and the attributor, writes the summaries.
    pub fn finish(mut self) -> std::io::Result<Outcome> {
        {
            let Pipeline {
                reorder,
                attributor,
                explained,
                ..
            } = &mut self;
            reorder.finish(|o| attributor.push(o, explained));
            attributor.finish(explained);
        }
        self.drain();
        let records = self.summary.records(self.options.price_per_gb_second);
        if self.inits > 0 {
            for r in self.renderers.iter_mut() {
                r.finish(&records)?;
            }
        }
        if let Some(e) = self.error {
            return Err(e);
        }
        Ok(Outcome {
            inits: self.inits,
            late: self.reorder.late(),
            attributor: self.attributor.counts(),
        })
    }
}
