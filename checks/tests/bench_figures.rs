//! Figures the docs quote from the benchmarks are the committed run's, and BENCHMARKS.md's
//! summary tells the goals its run missed.
//!
//! The docs quote few benchmark figures, each listed in [`QUOTES`]: the phrase a doc says and
//! the phrase of BENCHMARKS.md it comes from, in the block of the committed run that holds it
//! (`summary`, `results` — the bench's own tables — or a section by its `##` heading). Each
//! number of the doc's phrase must be a number of the benchmark's phrase, so a re-run that
//! changes a figure fails here, naming both places, until the doc follows. A figure that is
//! not from the committed run is listed in [`NOT_FROM_THE_RUN`] with the reason.
//!
//! What no list can miss: every block of prose of README.md and docs/*.md that cites
//! BENCHMARKS.md has each of its measured figures (a number with a unit) in one of the lists.

mod docs;

use docs::{block, figures, one_line, prose_blocks};

/// A figure a doc quotes from BENCHMARKS.md.
struct Quote {
    doc: &'static str,
    /// The doc's phrase (whitespace-insensitive), holding the figures.
    says: &'static str,
    /// The block of BENCHMARKS.md that holds them: a marker pair's name or a `##` heading.
    block: &'static str,
    /// BENCHMARKS.md's phrase there (whitespace-insensitive), holding every figure of `says`.
    source: &'static str,
}

const QUOTES: &[Quote] = &[
    Quote {
        doc: "docs/configuration.md",
        says: "a 2,788,016-byte binary in a 1,406,656-byte zip",
        block: "summary",
        source: "**1,406,656 bytes (1.34 MiB; ≤ 1.5 MB)**, `extensions/coldmark` inside it \
                 2,788,016 bytes",
    },
    Quote {
        doc: "README.md",
        says: "1 min 47 s in all, the build 1 min 37 s (178 s of CPU in user space, 17 s in the \
               kernel)",
        block: "The first command",
        source: "| **1 min 37 s** | **1 min 47 s** | **178 + 17 s** |",
    },
    Quote {
        doc: "README.md",
        says: "load 1.02 at the start",
        block: "The first command",
        source: "| 1.02 → 1.71 |",
    },
    Quote {
        doc: "README.md",
        says: "It adds 89,546 bytes to the layer zip (1,496,202 bytes in all",
        block: "summary",
        source: OTLP_LAYER,
    },
    Quote {
        doc: "docs/configuration.md",
        says: "with it: 2,977,176 bytes in 1,496,202",
        block: "summary",
        source: OTLP_LAYER,
    },
    Quote {
        doc: "docs/configuration.md",
        says: "went from 1,406,656 to",
        block: "summary",
        source: "**1,406,656 bytes (1.34 MiB; ≤ 1.5 MB)**",
    },
    Quote {
        doc: "docs/configuration.md",
        says: "**1,496,202 bytes** (+89,546, +6.4 %",
        block: "summary",
        source: OTLP_LAYER,
    },
    Quote {
        doc: "docs/configuration.md",
        says: "from 2,788,016 to 2,977,176 bytes",
        block: "summary",
        source: "inside it 2,788,016 bytes (2.66 MiB), glibc floor 2.17; built by \
                 `COLDMARK_ARCHS=x86_64 bash layer/build.sh` at 22:55 UTC from the same commit, \
                 right after the bench (2026-11-30: 1,404,408 bytes). **OTLP sink (2026-12-03, \
                 commit after 11365d0): what it adds to the layer.** The same \
                 `COLDMARK_ARCHS=x86_64 bash layer/build.sh` builds a **1,496,202-byte** layer \
                 zip (1.43 MiB; ≤ 1.6 MB) holding a 2,977,176-byte",
    },
];

/// What the OTLP sink added to the layer, in BENCHMARKS.md's summary.
const OTLP_LAYER: &str = "builds a **1,496,202-byte** layer zip (1.43 MiB; ≤ 1.6 MB) holding a \
                          2,977,176-byte `extensions/coldmark` (glibc floor 2.17): +89,546 bytes \
                          (+6.4 %) zipped";

/// Figures in prose that cites BENCHMARKS.md but are not from its committed run.
const NOT_FROM_THE_RUN: &[(&str, &str, &str)] = &[(
    "docs/configuration.md",
    "1.16 MB → 2.72 MB for the binary, 0.56 MB → 1.37 MB zipped",
    "the HTTP sink's cost, measured once when the sink was added (said so in the text)",
)];

/// Units after a number that make it a measured figure (limits are written `≤ 1.5 MB`).
const UNITS: &[&str] = &[
    "MiB",
    "KiB",
    "GiB",
    "MB",
    "KB",
    "kB",
    "GB",
    "bytes",
    "byte",
    "-byte",
    "ms",
    "µs",
    "s",
    "min",
    "×",
    "x",
    "%",
    "markers/s",
    "records/s",
];

fn benchmarks() -> String {
    docs::read(&docs::root(), "BENCHMARKS.md")
}

/// Numbers of `text` as values, to compare `2,788,016` with `2788016`.
fn values(text: &str) -> Vec<f64> {
    figures(text).into_iter().map(|f| f.value).collect()
}

#[test]
fn every_quoted_figure_is_the_committed_runs() {
    let root = docs::root();
    let bench = benchmarks();
    let mut problems = Vec::new();
    for quote in QUOTES {
        let doc = one_line(&docs::read(&root, quote.doc));
        let says = one_line(quote.says);
        if !doc.contains(&says) {
            problems.push(format!(
                "{} no longer says \"{says}\": update this list (checks/tests/bench_figures.rs) \
                 with what it quotes now",
                quote.doc
            ));
            continue;
        }
        let Some(text) = block(&bench, quote.block) else {
            problems.push(format!("BENCHMARKS.md has no block \"{}\"", quote.block));
            continue;
        };
        let source = one_line(quote.source);
        if !one_line(text).contains(&source) {
            problems.push(format!(
                "{} says \"{says}\", quoting BENCHMARKS.md's {} \"{source}\", which it no longer \
                 says: the committed run changed, so update {} (and this list) to its figures",
                quote.doc, quote.block, quote.doc
            ));
            continue;
        }
        let from = values(&source);
        for figure in figures(&says) {
            if !from.contains(&figure.value) {
                problems.push(format!(
                    "{} says {} in \"{says}\", but BENCHMARKS.md's {} has \"{source}\"",
                    quote.doc, figure.written, quote.block
                ));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "docs quote figures the benchmark run does not have:\n{}",
        problems.join("\n")
    );
}

/// Figures with a unit in `text`, skipping limits (`≤ 1.5 MB`, `< 5 ms`).
fn measured_figures(text: &str) -> Vec<String> {
    figures(text)
        .into_iter()
        .filter(|f| {
            let after = &text[f.at + f.written.len()..];
            let after = after.strip_prefix(' ').unwrap_or(after);
            let before = text[..f.at].trim_end();
            let is_limit = ["≤", "<", "≥", ">", "at most", "under", "over"]
                .iter()
                .any(|l| before.ends_with(l));
            let has_unit = UNITS.iter().any(|u| {
                after.strip_prefix(u).is_some_and(|rest| {
                    !rest.starts_with(|c: char| c.is_alphanumeric() || c == '_')
                })
            });
            !is_limit && has_unit
        })
        .map(|f| f.written)
        .collect()
}

#[test]
fn prose_that_cites_the_benchmarks_quotes_only_listed_figures() {
    let root = docs::root();
    let mut names = vec!["README.md".to_owned()];
    names.extend(
        docs::markdown_files(&root)
            .into_iter()
            .map(|p| p.display().to_string())
            .filter(|p| p.starts_with("docs/")),
    );
    let mut problems = Vec::new();
    let mut citing = 0;
    for name in &names {
        let text = docs::read(&root, name);
        let listed: Vec<String> = QUOTES
            .iter()
            .filter(|q| q.doc == name)
            .map(|q| one_line(q.says))
            .chain(
                NOT_FROM_THE_RUN
                    .iter()
                    .filter(|(doc, _, _)| doc == name)
                    .map(|(_, says, _)| one_line(says)),
            )
            .collect();
        for prose in prose_blocks(&text) {
            if !prose.contains("BENCHMARKS.md") {
                continue;
            }
            citing += 1;
            let prose = one_line(prose);
            for figure in measured_figures(&prose) {
                if !listed
                    .iter()
                    .any(|l| l.contains(&figure) && prose.contains(l.as_str()))
                {
                    problems.push(format!(
                        "{name}: \"{figure}\" in a passage that cites BENCHMARKS.md is in no list \
                         of checks/tests/bench_figures.rs: add it to QUOTES with the phrase of \
                         BENCHMARKS.md it comes from (or to NOT_FROM_THE_RUN, saying why):\n  {prose}"
                    ));
                }
            }
        }
    }
    assert!(
        citing >= 2,
        "only {citing} passages cite BENCHMARKS.md: is the search broken?"
    );
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn measured_figures_have_units_and_limits_do_not_count() {
    let text = "a 2,788,016-byte binary, 1.34 MiB zipped, ≤ 1.5 MB per zip, glibc 2.17, \
                in 1 min 37 s, 1.23× the null extension, < 5 ms at the median, 2026-12-02, \
                1,143,000 markers/s, 12 msgs";
    assert_eq!(
        measured_figures(text),
        ["2,788,016", "1.34", "1", "37", "1.23", "1,143,000"]
    );
}

/// The goals the committed run's own table marks `NOT met`, by their first two words
/// ("per invocation", "Managed Instances").
fn goals_not_met(results: &str) -> Vec<(String, String)> {
    let table = results
        .split("Performance goals against this run")
        .nth(1)
        .expect("the bench's goal table in the results block");
    table
        .lines()
        .take_while(|l| !l.starts_with("Load average") && !l.starts_with("###"))
        .filter(|l| l.starts_with('|'))
        .map(docs::cells)
        .filter(|cells| cells.last().is_some_and(|v| v == "NOT met"))
        .map(|cells| (first_words(&cells[0]), cells[0].clone()))
        .collect()
}

fn first_words(text: &str) -> String {
    text.split([' ', ',', ':'])
        .filter(|w| !w.is_empty())
        .take(2)
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn the_summary_tells_every_goal_the_run_missed() {
    let bench = benchmarks();
    let results = block(&bench, "results").expect("BENCHMARKS.md's results block");
    let summary = block(&bench, "summary").expect("BENCHMARKS.md's summary block");
    let missed = goals_not_met(results);
    let rows: Vec<Vec<String>> = summary
        .lines()
        .filter(|l| l.starts_with('|'))
        .map(docs::cells)
        .collect();
    let mut problems = Vec::new();
    for (words, goal) in &missed {
        let told = rows.iter().any(|cells| {
            first_words(&cells[0]) == *words && cells.last().is_some_and(|v| v.contains("NOT met"))
        });
        if !told {
            problems.push(format!(
                "the run's goal table says NOT met for \"{goal}\", but no row of the summary's \
                 table that starts \"{words}\" says NOT met"
            ));
        }
    }
    let prose = one_line(summary).to_lowercase();
    for claim in [
        "every goal is met",
        "every performance goal is met",
        "all goals are met",
        "all goals met",
    ] {
        if !missed.is_empty() && prose.contains(claim) {
            problems.push(format!(
                "the summary says \"{claim}\", but the run missed {} goal(s)",
                missed.len()
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "BENCHMARKS.md's summary:\n{}",
        problems.join("\n")
    );
}
