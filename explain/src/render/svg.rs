//! `--svg FILE`: the timeline a person would rather look at than read.
//!
//! One lane per environment (its init as a solid segment, its life as a lighter bar, how it
//! ended written at its end), coloured by cause, grouped by function, with the configuration
//! generations (version · fingerprint) as bands behind each function's lanes. A busy day has
//! thousands of environments, so lanes are capped: the first `max_lanes` environments are drawn
//! and the rest are counted per cause in a line under the picture. Memory is the drawn lanes
//! plus the counts.
//!
//! The document is built with the `svg` crate (typed elements, escaped text); every lane and
//! band carries `class` and `data-*` attributes so that tools and tests can read the picture
//! back.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;

use svg::node::element::{Group, Line, Rectangle, Text, Title};
use svg::Document;

use crate::attribute::{Attribution, Ended};
use crate::cause::{short, Cause};
use crate::render::Render;
use crate::summary::FunctionSummary;
use crate::time::{duration_words, format_ms};

/// The cause's colour (a categorical palette, distinct on light backgrounds).
pub fn colour(cause: Cause) -> &'static str {
    match cause {
        Cause::AfterFailure => "#d62728",
        Cause::Provisioned => "#9467bd",
        Cause::SnapStart => "#17becf",
        Cause::NewVersion => "#ff7f0e",
        Cause::ConfigurationChange => "#e377c2",
        Cause::NewTenant => "#bcbd22",
        Cause::Proactive => "#8c564b",
        Cause::ScaleOut => "#1f77b4",
        Cause::Replacement => "#2ca02c",
        Cause::FirstSeen => "#7f7f7f",
    }
}

struct Lane {
    attribution: Attribution,
    end_ms: Option<i64>,
    reason: Option<String>,
    open: bool,
    /// It ended without serving a request.
    unused: bool,
    /// Later inits of the same environment (Lambda re-ran init inside an invocation).
    reinits: Vec<Reinit>,
}

struct Reinit {
    at_ms: i64,
    duration_ms: f64,
    cause: Cause,
    /// Lambda's status and error type, when the init did not succeed.
    failure: Option<String>,
}

/// "error Runtime.ExitError" for an init that did not succeed.
fn failure(a: &Attribution) -> Option<String> {
    a.failed().then(|| {
        let status = a.init_status.as_deref().unwrap_or("?");
        match &a.init_error_type {
            Some(kind) => format!("{status} {kind}"),
            None => status.to_owned(),
        }
    })
}

/// A red cross over an init that failed: seen at any zoom, whatever the cause's colour.
fn failed_mark(x: f64, y: f64, width: f64, failure: &str) -> Group {
    let (x0, x1) = (x, x + width.max(LANE - 4.0));
    let (y0, y1) = (y + 1.0, y + LANE - 1.0);
    Group::new()
        .set("class", "failed-init")
        .set("data-failure", failure)
        .add(Title::new(format!("init failed: {failure}")))
        .add(
            Line::new()
                .set("x1", x0)
                .set("y1", y0)
                .set("x2", x1)
                .set("y2", y1)
                .set("stroke", "#b00000")
                .set("stroke-width", 2),
        )
        .add(
            Line::new()
                .set("x1", x0)
                .set("y1", y1)
                .set("x2", x1)
                .set("y2", y0)
                .set("stroke", "#b00000")
                .set("stroke-width", 2),
        )
}

struct Band {
    start_ms: i64,
    version: String,
    fingerprint: String,
}

pub struct Timeline<W: Write> {
    out: W,
    max_lanes: usize,
    lanes: Vec<Lane>,
    index: HashMap<String, usize>,
    /// Per function, the configuration generations in time order.
    bands: BTreeMap<String, Vec<Band>>,
    /// Environments not drawn, per cause.
    undrawn: BTreeMap<Cause, u64>,
    first_ms: i64,
    last_ms: i64,
}

const WIDTH: f64 = 1200.0;
const LABEL: f64 = 250.0;
/// Room right of the lanes for how the last ones ended ("no shutdown marker, served nothing").
const RIGHT: f64 = 190.0;
/// No lane's life is drawn narrower than this, however short (a 5 ms life in a day would be
/// a hair): wide enough to see and to point at.
pub const MIN_LANE_WIDTH: f64 = 4.0;
/// The width of a text's character, as a share of its font size: a generous average for the
/// sans-serif faces browsers pick, so that a text fitted with it fits on screen.
pub const CHAR_WIDTH: f64 = 0.62;

/// `text` cut with "…" to at most `width` pixels at `font_size`; `None` when not even a few
/// characters fit (the full text stays in the tooltip).
fn fit(text: &str, width: f64, font_size: f64) -> Option<String> {
    let room = (width / (font_size * CHAR_WIDTH)).floor() as usize;
    let len = text.chars().count();
    if len <= room {
        return Some(text.to_owned());
    }
    (room >= 4).then(|| {
        let mut cut: String = text.chars().take(room - 1).collect();
        cut.push('…');
        cut
    })
}

/// Tick steps, in ms, from a millisecond to a day: round times a person reads at a glance.
const STEPS_MS: [i64; 21] = [
    1, 10, 100, 1_000, 2_000, 5_000, 10_000, 15_000, 30_000, 60_000, 120_000, 300_000, 600_000,
    900_000, 1_800_000, 3_600_000, 7_200_000, 10_800_000, 21_600_000, 43_200_000, 86_400_000,
];

/// The smallest round step that puts at most `max` ticks on `span_ms`.
fn tick_step(span_ms: i64, max: i64) -> i64 {
    STEPS_MS
        .iter()
        .copied()
        .find(|step| span_ms / step < max)
        .unwrap_or(86_400_000 * (span_ms / 86_400_000 / max + 1))
}
const LANE: f64 = 16.0;
const TOP: f64 = 56.0;
const MAX_BANDS: usize = 200;

impl<W: Write> Timeline<W> {
    pub fn new(out: W, max_lanes: usize) -> Timeline<W> {
        Timeline {
            out,
            max_lanes,
            lanes: Vec::new(),
            index: HashMap::new(),
            bands: BTreeMap::new(),
            undrawn: BTreeMap::new(),
            first_ms: i64::MAX,
            last_ms: i64::MIN,
        }
    }

    fn x(&self, ms: i64) -> f64 {
        let span = (self.last_ms - self.first_ms).max(1) as f64;
        LABEL + (ms - self.first_ms) as f64 / span * (WIDTH - LABEL - RIGHT)
    }

    fn document(&self, summary: &[FunctionSummary]) -> Document {
        let mut by_function: BTreeMap<&str, Vec<&Lane>> = BTreeMap::new();
        for lane in &self.lanes {
            by_function
                .entry(&lane.attribution.function_name)
                .or_default()
                .push(lane);
        }
        for lanes in by_function.values_mut() {
            lanes.sort_by_key(|l| l.attribution.timestamp_ms);
        }
        let mut y = TOP;
        let mut body = Group::new().set("class", "functions");
        for (function, lanes) in &by_function {
            let top = y;
            let height = LANE * (lanes.len() as f64 + 1.0);
            let mut group = Group::new()
                .set("class", "function")
                .set("data-function", *function);
            // Configuration generations behind the lanes.
            if let Some(bands) = self.bands.get(*function) {
                for (i, band) in bands.iter().enumerate() {
                    let x0 = self.x(band.start_ms);
                    let x1 = bands
                        .get(i + 1)
                        .map_or(self.x(self.last_ms), |next| self.x(next.start_ms));
                    let label = format!("{} · {}", band.version, band.fingerprint);
                    let mut band_group = Group::new()
                        .set("class", "band")
                        .set("data-version", band.version.as_str())
                        .set("data-fingerprint", band.fingerprint.as_str())
                        .add(Title::new(label.as_str()))
                        .add(
                            Rectangle::new()
                                .set("x", x0)
                                .set("y", top)
                                .set("width", (x1 - x0).max(0.5))
                                .set("height", height)
                                .set("fill", if i % 2 == 0 { "#f3f3f3" } else { "#e4e9f2" }),
                        );
                    // Inside its own band or not at all (the tooltip has it whole).
                    if let Some(text) = fit(&label, x1 - x0 - 6.0, 9.0) {
                        band_group = band_group.add(
                            Text::new(text)
                                .set("class", "band-label")
                                .set("x", x0 + 3.0)
                                .set("y", top + 11.0)
                                .set("font-size", 9)
                                .set("fill", "#555"),
                        );
                    }
                    group = group.add(band_group);
                }
            }
            let name = fit(function, LABEL - 16.0, 12.0).unwrap_or_default();
            group = group.add(
                Text::new(name)
                    .set("class", "function-label")
                    .set("x", 8)
                    .set("y", top + 11.0)
                    .set("font-size", 12)
                    .set("font-weight", "bold"),
            );
            y += LANE;
            for lane in lanes {
                group = group.add(self.lane(lane, y));
                y += LANE;
            }
            body = body.add(group);
            y += 6.0;
        }

        let mut doc = Document::new()
            .set("width", WIDTH)
            .set("font-family", "sans-serif")
            .add(Title::new("coldmark-explain: cold starts by cause"))
            .add(
                Text::new(self.heading(summary))
                    .set("class", "heading")
                    .set("x", 8)
                    .set("y", 18)
                    .set("font-size", 14),
            );
        doc = doc.add(self.axis(y));
        doc = doc.add(body);
        y += 14.0;
        if !self.undrawn.is_empty() {
            let total: u64 = self.undrawn.values().sum();
            let parts: Vec<String> = self
                .undrawn
                .iter()
                .map(|(c, n)| format!("{c} {n}"))
                .collect();
            doc = doc.add(
                Text::new(
                    fit(
                        &format!(
                            "+ {total} more environments not drawn (lanes capped at {}): {}",
                            self.max_lanes,
                            parts.join(", ")
                        ),
                        WIDTH - 16.0,
                        11.0,
                    )
                    .unwrap_or_default(),
                )
                .set("class", "more")
                .set("data-count", total)
                .set("x", 8)
                .set("y", y)
                .set("font-size", 11),
            );
            y += 16.0;
        }
        let legend = self.legend(y);
        y += 24.0;
        doc.add(legend)
            .set("height", y)
            .set("viewBox", (0, 0, WIDTH, y))
    }

    fn heading(&self, summary: &[FunctionSummary]) -> String {
        let starts: u64 = summary.iter().map(|f| f.total.cold_starts).sum();
        format!(
            "{starts} cold starts, {} → {} ({})",
            format_ms(self.first_ms),
            format_ms(self.last_ms),
            duration_words(self.last_ms - self.first_ms)
        )
    }

    fn axis(&self, bottom: f64) -> Group {
        let mut axis = Group::new().set("class", "axis");
        let span = (self.last_ms - self.first_ms).max(1);
        // Labels are about 12 characters at 9 px: at least 90 px apart.
        let max_ticks = (((WIDTH - LABEL - RIGHT) / 90.0) as i64).max(2);
        let step = tick_step(span, max_ticks);
        let first = (self.first_ms.div_euclid(step) + 1) * step;
        let (from, to) = if step % 1000 == 0 { (11, 19) } else { (11, 23) };
        let mut ms = first;
        while ms <= self.last_ms {
            let x = self.x(ms);
            let label = format_ms(ms);
            let label = label.get(from..to).unwrap_or(&label).to_owned();
            axis = axis
                .add(
                    Line::new()
                        .set("x1", x)
                        .set("x2", x)
                        .set("y1", TOP - 6.0)
                        .set("y2", bottom)
                        .set("stroke", "#ccc")
                        .set("stroke-width", 0.5),
                )
                .add(
                    Text::new(label)
                        .set("class", "tick")
                        .set("data-ms", ms)
                        .set("x", x)
                        .set("y", TOP - 10.0)
                        .set("font-size", 9)
                        .set("text-anchor", "middle"),
                );
            ms += step;
        }
        axis
    }

    fn lane(&self, lane: &Lane, y: f64) -> Group {
        let a = &lane.attribution;
        let colour = colour(a.cause);
        let start = self.x(a.timestamp_ms);
        let init_end_ms = a.timestamp_ms + a.init_duration_ms.unwrap_or(0.0).round() as i64;
        // Still alive when the input ended: its life runs to the end of the picture.
        let end_ms = if lane.open {
            self.last_ms
        } else {
            lane.end_ms.unwrap_or(self.last_ms)
        }
        .max(init_end_ms);
        let end = self.x(end_ms);
        let init_width = (self.x(init_end_ms) - start).max(MIN_LANE_WIDTH / 2.0);
        let mut ending = match (&lane.reason, lane.open) {
            (Some(reason), _) => reason.clone(),
            (None, true) => "alive at end".to_owned(),
            (None, false) => "no shutdown marker".to_owned(),
        };
        if lane.unused {
            ending.push_str(", served nothing");
        }
        let failure = failure(a);
        let tenant = a
            .tenant_id
            .as_deref()
            .map_or_else(String::new, |t| format!(" tenant {t}"));
        let failed = failure
            .as_deref()
            .map_or_else(String::new, |f| format!(" (failed: {f})"));
        let tip = format!(
            "{} {}{tenant} ({} {}) started {}, init {} ms{failed}: {} — {}; ended: {}",
            a.function_name,
            a.env_id,
            a.function_version,
            a.config_fingerprint,
            format_ms(a.timestamp_ms),
            a.init_duration_ms
                .map_or_else(|| "?".to_owned(), |d| format!("{d:.1}")),
            a.cause,
            a.evidence.words_full(),
            ending
        );
        let mut reinits = Group::new();
        for r in &lane.reinits {
            let x = self.x(r.at_ms);
            let width = (self.x(r.at_ms + r.duration_ms.round() as i64) - x).max(2.0);
            reinits = reinits.add(
                Rectangle::new()
                    .set("class", "reinit")
                    .set("data-cause", r.cause.as_str())
                    .set("x", x)
                    .set("y", y + 2.0)
                    .set("width", width)
                    .set("height", LANE - 4.0)
                    .set("fill", self::colour(r.cause)),
            );
            if let Some(f) = &r.failure {
                reinits = reinits.add(failed_mark(x, y, width, f));
            }
        }
        let mut failed_marks = Group::new();
        if let Some(f) = &failure {
            failed_marks = failed_marks.add(failed_mark(start, y, init_width, f));
        }
        Group::new()
            .set("class", "lane")
            .set("data-env-id", a.env_id.as_str())
            .set("data-cause", a.cause.as_str())
            .set("data-ended", ending.as_str())
            .set("data-unused", lane.unused)
            .add(Title::new(tip))
            .add(
                Text::new(
                    fit(
                        &format!("{} {}", short(&a.env_id), a.cause),
                        LABEL - 24.0,
                        10.0,
                    )
                    .unwrap_or_default(),
                )
                .set("class", "lane-label")
                .set("x", 16)
                .set("y", y + 11.0)
                .set("font-size", 10)
                .set("fill", colour),
            )
            .add(
                Rectangle::new()
                    .set("class", "life")
                    .set("x", start)
                    .set("y", y + 4.0)
                    .set("width", (end - start).max(MIN_LANE_WIDTH))
                    .set("height", LANE - 8.0)
                    .set("fill", colour)
                    .set("fill-opacity", 0.3),
            )
            .add(
                Rectangle::new()
                    .set("class", "init")
                    .set("x", start)
                    .set("y", y + 2.0)
                    .set("width", init_width)
                    .set("height", LANE - 4.0)
                    .set("fill", colour),
            )
            .add(reinits)
            .add(failed_marks)
            .add(
                Text::new(
                    fit(
                        &ending,
                        WIDTH - (end.max(start + MIN_LANE_WIDTH) + 3.0) - 4.0,
                        9.0,
                    )
                    .unwrap_or_default(),
                )
                .set("class", "ended")
                .set("x", end.max(start + MIN_LANE_WIDTH) + 3.0)
                .set("y", y + 11.0)
                .set("font-size", 9)
                .set("fill", "#444"),
            )
    }

    fn legend(&self, y: f64) -> Group {
        let mut legend = Group::new().set("class", "legend");
        let mut x = 8.0;
        for cause in Cause::ALL {
            legend = legend
                .add(
                    Rectangle::new()
                        .set("x", x)
                        .set("y", y)
                        .set("width", 10)
                        .set("height", 10)
                        .set("fill", colour(cause)),
                )
                .add(
                    Text::new(cause.as_str())
                        .set("class", "legend-label")
                        .set("x", x + 13.0)
                        .set("y", y + 9.0)
                        .set("font-size", 10),
                );
            x += 13.0 + 7.0 * cause.as_str().len() as f64 + 14.0;
        }
        legend
    }
}

impl<W: Write> Timeline<W> {
    /// The lane a new environment of `cause` starting at `at_ms` may take when the lanes are
    /// full, if any:
    /// - when `cause` has at least two lanes fewer than the most drawn cause, a lane of that
    ///   cause, so rare causes stay visible;
    /// - otherwise, when it is itself the most drawn cause and starts further after that
    ///   cause's last lane than the two closest of its lanes are apart, the later of those two,
    ///   so the drawn lanes spread over the whole period instead of its first minutes.
    fn lane_to_give_up(&self, cause: Cause, at_ms: i64) -> Option<usize> {
        let mut drawn: BTreeMap<Cause, usize> = BTreeMap::new();
        for lane in &self.lanes {
            *drawn.entry(lane.attribution.cause).or_default() += 1;
        }
        let (&most, &n) = drawn.iter().max_by_key(|(_, n)| **n)?;
        let own = drawn.get(&cause).copied().unwrap_or(0);
        let crowded = self.closest_pair(most)?;
        if n >= own + 2 {
            return Some(crowded.0);
        }
        if cause == most && at_ms - crowded.2 > crowded.1 {
            return Some(crowded.0);
        }
        None
    }

    /// Among the lanes of `cause`: the later lane of the two closest in start time, their
    /// distance, and the start of the latest lane.
    fn closest_pair(&self, cause: Cause) -> Option<(usize, i64, i64)> {
        let mut of_cause: Vec<(i64, usize)> = self
            .lanes
            .iter()
            .enumerate()
            .filter(|(_, l)| l.attribution.cause == cause)
            .map(|(i, l)| (l.attribution.timestamp_ms, i))
            .collect();
        of_cause.sort();
        let latest = of_cause.last()?.0;
        let closest = of_cause
            .windows(2)
            .min_by_key(|w| w[1].0 - w[0].0)
            .map(|w| (w[1].1, w[1].0 - w[0].0));
        match closest {
            Some((i, gap)) => Some((i, gap, latest)),
            None => of_cause.last().map(|&(_, i)| (i, i64::MAX, latest)),
        }
    }
}

impl<W: Write> Render for Timeline<W> {
    fn init(&mut self, a: &Attribution) -> std::io::Result<()> {
        self.first_ms = self.first_ms.min(a.timestamp_ms);
        self.last_ms = self
            .last_ms
            .max(a.timestamp_ms + a.init_duration_ms.unwrap_or(0.0).round() as i64);
        let bands = self.bands.entry(a.function_name.clone()).or_default();
        let changed = bands.last().is_none_or(|b| {
            b.version != a.function_version || b.fingerprint != a.config_fingerprint
        });
        if changed && bands.len() < MAX_BANDS {
            bands.push(Band {
                start_ms: a.timestamp_ms,
                version: a.function_version.clone(),
                fingerprint: a.config_fingerprint.clone(),
            });
        }
        if let Some(&i) = self.index.get(&a.env_id) {
            // A re-init of a drawn environment: on its own lane.
            self.lanes[i].reinits.push(Reinit {
                at_ms: a.timestamp_ms,
                duration_ms: a.init_duration_ms.unwrap_or(0.0),
                cause: a.cause,
                failure: failure(a),
            });
        } else if self.lanes.len() < self.max_lanes {
            self.index.insert(a.env_id.clone(), self.lanes.len());
            self.lanes.push(Lane {
                attribution: a.clone(),
                end_ms: None,
                reason: None,
                open: false,
                unused: false,
                reinits: Vec::new(),
            });
        } else if a.init_phase == "invoke" {
            // A re-init of an environment not drawn: already counted.
        } else if let Some(i) = self.lane_to_give_up(a.cause, a.timestamp_ms) {
            // Full: the new environment takes a lane of a crowded cause (see `lane_to_give_up`).
            let old = std::mem::replace(
                &mut self.lanes[i],
                Lane {
                    attribution: a.clone(),
                    end_ms: None,
                    reason: None,
                    open: false,
                    unused: false,
                    reinits: Vec::new(),
                },
            );
            self.index.remove(&old.attribution.env_id);
            self.index.insert(a.env_id.clone(), i);
            *self.undrawn.entry(old.attribution.cause).or_default() += 1;
        } else {
            *self.undrawn.entry(a.cause).or_default() += 1;
        }
        Ok(())
    }

    fn wants_ended(&self) -> bool {
        true
    }

    fn ended(&mut self, e: &Ended) -> std::io::Result<()> {
        self.last_ms = self.last_ms.max(e.at_ms);
        if let Some(&i) = self.index.get(&e.env_id) {
            let lane = &mut self.lanes[i];
            lane.end_ms = Some(e.at_ms);
            lane.reason = e.reason.clone();
            lane.open = e.open;
            lane.unused = e.unused;
        }
        Ok(())
    }

    fn finish(&mut self, summary: &[FunctionSummary]) -> std::io::Result<()> {
        if self.lanes.is_empty() {
            self.first_ms = 0;
            self.last_ms = 1;
        }
        let doc = self.document(summary);
        svg::write(&mut self.out, &doc)?;
        self.out.write_all(b"\n")?;
        self.out.flush()
    }
}
