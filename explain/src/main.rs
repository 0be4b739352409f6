//! `coldmark-explain`: why did each cold start happen? Reads coldmark's markers (files, stdin,
//! CloudWatch Logs, ClickHouse) and prints one attribution per init, then a summary per
//! function. Exit codes: 0 explained, 1 nothing to explain, 2 bad arguments or a source that
//! could not be read.

use std::collections::BTreeSet;
use std::io::{BufWriter, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;

use coldmark_explain::attribute::Settings;
use coldmark_explain::pipeline::{Options, Pipeline};
use coldmark_explain::read::{read_paths, ReadCounts};
use coldmark_explain::render::json::Json;
use coldmark_explain::render::svg::Timeline;
use coldmark_explain::render::table::Table;
use coldmark_explain::render::Render;
use coldmark_explain::summary::By;
use coldmark_explain::Observation;
#[cfg(feature = "cloud")]
use coldmark_explain::{clickhouse, cloudwatch};

/// Markers are parsed into short-lived strings by the million; mimalloc's thread-local free
/// lists make each allocation and free cheaper than the system allocator's.
#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `--by`: what the summary is grouped by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum ByArg {
    Function,
    Tenant,
}

#[derive(Parser, Debug)]
#[command(
    name = "coldmark-explain",
    version,
    about = "Attributes every Lambda cold start in coldmark's markers to its cause",
    after_help = "Inputs (FILE or stdin): the extension's marker lines, lines behind a Lambda log \
prefix, `aws logs filter-log-events` JSON, CloudWatch export files (.gz), the sandbox's --json \
output. Exit codes: 0 explained, 1 nothing to explain, 2 bad arguments or unreadable source."
)]
struct Args {
    /// Marker files; `-` or none reads stdin (none on a terminal: says how to give input).
    #[arg(conflicts_with_all = ["log_group", "clickhouse"])]
    files: Vec<PathBuf>,

    /// Read this CloudWatch Logs group (repeatable), e.g. /aws/lambda/my-function.
    #[arg(long = "log-group", value_name = "NAME", conflicts_with = "clickhouse")]
    log_group: Vec<String>,
    /// Read markers from ClickHouse's HTTP interface, e.g. http://127.0.0.1:8123/.
    #[arg(long, value_name = "URL")]
    clickhouse: Option<String>,
    /// ClickHouse table holding the markers.
    #[arg(long, default_value = "markers", requires = "clickhouse")]
    clickhouse_table: String,
    /// Only these functions (ClickHouse filters server-side; other sources filter here).
    #[arg(long = "function", value_name = "NAME")]
    functions: Vec<String>,

    /// How far back to read from CloudWatch or ClickHouse (e.g. 90m, 24h, 7d).
    #[arg(long, default_value = "24h", value_parser = parse_duration)]
    since: Duration,
    /// Start of the time range (RFC 3339 or epoch milliseconds); overrides --since.
    #[arg(long, value_parser = parse_time)]
    start: Option<i64>,
    /// End of the time range (RFC 3339 or epoch milliseconds); default now.
    #[arg(long, value_parser = parse_time)]
    end: Option<i64>,
    /// AWS region (else the standard chain: AWS_REGION, the profile).
    #[arg(long)]
    region: Option<String>,
    /// AWS profile from the shared config files.
    #[arg(long)]
    profile: Option<String>,
    /// CloudWatch Logs endpoint (a local emulator, a VPC endpoint).
    #[arg(long, value_name = "URL")]
    endpoint_url: Option<String>,
    /// Server-side filter pattern; "" pulls every line (log streams then also show which
    /// environments were alive).
    #[arg(long, default_value = "coldmark")]
    filter_pattern: String,
    /// Events per FilterLogEvents page (default: the service's maximum).
    #[arg(long, value_name = "N")]
    page_size: Option<i32>,
    /// Attempts per CloudWatch request, throttling included (backoff grows exponentially).
    #[arg(long, default_value_t = 6)]
    max_attempts: u32,

    /// One JSON object per init, then one summary object per function.
    #[arg(long)]
    json: bool,
    /// Also draw the timeline as SVG into FILE.
    #[arg(long, value_name = "FILE")]
    svg: Option<PathBuf>,
    /// Environments drawn in the SVG; the rest are counted per cause.
    #[arg(long, default_value_t = 60, value_name = "N")]
    svg_lanes: usize,
    /// Every column of the table, whole environment ids, the evidence unwrapped (the default
    /// fits 120 columns).
    #[arg(long)]
    wide: bool,
    /// Group the summary by `function` or by `tenant` (each tenant of each function, with
    /// tenant isolation: the table shows the top tenants by cold starts, then cost).
    #[arg(long, value_enum, default_value_t = ByArg::Function)]
    by: ByArg,
    /// With `--by tenant`: tenants shown per function in the table (`--json` has them all).
    #[arg(long, default_value_t = 10, value_name = "N")]
    top: usize,
    /// Price of one GB-second of billed init, to put money on the summary.
    #[arg(long, value_name = "USD")]
    price_per_gb_second: Option<f64>,
    /// Without a shutdown marker, an environment counts as alive this long after its last
    /// sign of life.
    #[arg(long, default_value = "30m", value_parser = parse_duration)]
    alive_grace: Duration,
    /// How late (in marker time) a marker may arrive and still be put in order.
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    reorder_window: Duration,
    /// No closing line on stderr.
    #[arg(long, short)]
    quiet: bool,
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: f64 = number
        .parse()
        .map_err(|_| format!("not a duration: {text:?} (e.g. 90s, 30m, 24h, 7d)"))?;
    let seconds = match unit {
        "ms" => number / 1000.0,
        "s" | "" => number,
        "m" | "min" => number * 60.0,
        "h" => number * 3600.0,
        "d" => number * 86400.0,
        _ => return Err(format!("unknown unit in {text:?} (ms, s, m, h, d)")),
    };
    Ok(Duration::from_secs_f64(seconds))
}

fn parse_time(text: &str) -> Result<i64, String> {
    if let Ok(ms) = text.parse::<i64>() {
        return Ok(ms);
    }
    coldmark_explain::time::parse_ms(text)
        .ok_or_else(|| format!("not a time: {text:?} (RFC 3339 or epoch milliseconds)"))
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// What `coldmark-explain` with no input says when stdin is a terminal: reading it would wait
/// silently for lines nobody is going to type.
const NO_INPUT: &str = "coldmark-explain: no input given, and stdin is a terminal. Give it markers:
  coldmark-explain FILE...                    the extension's lines, CloudWatch exports (.gz), \
`aws logs filter-log-events` JSON, the sandbox's --json output
  SOMETHING | coldmark-explain                the same through a pipe (or `-` for stdin)
  coldmark-explain --log-group NAME           CloudWatch Logs (the AWS credential chain)
  coldmark-explain --clickhouse URL           the HTTP sink's ClickHouse table
  coldmark-explain --help                     everything else";

/// Why nothing was explained, in the user's terms: a `--function` that matched nothing is
/// named, with the functions the input does have, rather than blamed on the input.
fn nothing_to_explain(functions: &[String], matched: u64, others: &BTreeSet<String>) -> String {
    if functions.is_empty() {
        return "nothing to explain (no init markers in the input)".to_owned();
    }
    let asked = functions.join(", ");
    if matched > 0 {
        return format!(
            "nothing to explain: {matched} markers of --function {asked}, none of them an init marker"
        );
    }
    let mut text = format!("nothing to explain: no markers of --function {asked} in the input");
    if !others.is_empty() {
        let shown: Vec<&str> = others.iter().take(10).map(String::as_str).collect();
        let more = others.len().saturating_sub(shown.len());
        text.push_str(&format!("; it has markers of {}", shown.join(", ")));
        if more > 0 {
            text.push_str(&format!(" and {more} more"));
        }
    }
    text
}

fn main() -> ExitCode {
    let args = Args::parse();
    let no_source = args.files.is_empty() && args.log_group.is_empty() && args.clickhouse.is_none();
    if no_source && std::io::stdin().is_terminal() {
        eprintln!("{NO_INPUT}");
        return ExitCode::from(2);
    }
    let end_ms = args.end.unwrap_or_else(now_ms);
    let start_ms = args.start.unwrap_or(end_ms - args.since.as_millis() as i64);
    if start_ms >= end_ms {
        eprintln!("coldmark-explain: the time range is empty (--start must be before --end)");
        return ExitCode::from(2);
    }

    let stdout = std::io::stdout();
    let mut table = Table::new(BufWriter::new(stdout.lock()))
        .top_tenants(args.top)
        .wide(args.wide);
    let mut json = Json::new(BufWriter::with_capacity(1 << 16, std::io::stdout()));
    let mut svg = match &args.svg {
        None => None,
        Some(path) => match std::fs::File::create(path) {
            Ok(f) => Some(Timeline::new(BufWriter::new(f), args.svg_lanes)),
            Err(e) => {
                eprintln!("coldmark-explain: cannot write {}: {e}", path.display());
                return ExitCode::from(2);
            }
        },
    };
    let mut renderers: Vec<&mut dyn Render> = Vec::new();
    if args.json {
        renderers.push(&mut json);
    } else {
        renderers.push(&mut table);
    }
    if let Some(svg) = svg.as_mut() {
        renderers.push(svg);
    }
    let options = Options {
        settings: Settings {
            alive_grace_ms: args.alive_grace.as_millis() as i64,
            ..Settings::default()
        },
        reorder_window_ms: args.reorder_window.as_millis() as i64,
        price_per_gb_second: args.price_per_gb_second,
        by: match args.by {
            ByArg::Function => By::Function,
            ByArg::Tenant => By::Tenant,
        },
        ..Options::default()
    };
    let mut pipeline = Pipeline::new(options, renderers);
    let functions = args.functions.clone();
    // For the message when the filter leaves nothing: what it kept, and what else there was.
    let mut matched = 0u64;
    let mut others: BTreeSet<String> = BTreeSet::new();
    let mut sink = |o: Observation| {
        if let Observation::Marker { marker, .. } = &o {
            if !functions.is_empty() {
                if !functions.contains(&marker.function_name) {
                    if !others.contains(&marker.function_name) {
                        others.insert(marker.function_name.clone());
                    }
                    return;
                }
                matched += 1;
            }
        }
        pipeline.push(o);
    };

    let mut counts = ReadCounts::default();
    let mut errors: Vec<String> = Vec::new();
    if !args.log_group.is_empty() || args.clickhouse.is_some() {
        #[cfg(not(feature = "cloud"))]
        errors.push(
            "this build reads files and stdin only (built without the `cloud` feature)".to_owned(),
        );
        #[cfg(feature = "cloud")]
        {
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("coldmark-explain: cannot start the async runtime: {e}");
                    return ExitCode::from(2);
                }
            };
            if let Some(url) = &args.clickhouse {
                let request = clickhouse::Request {
                    url: url.clone(),
                    table: args.clickhouse_table.clone(),
                    start_ms,
                    end_ms,
                    functions: args.functions.clone(),
                };
                if let Err(e) = runtime.block_on(clickhouse::pull(&request, &mut counts, &mut sink))
                {
                    errors.push(e);
                }
            } else {
                let request = cloudwatch::Request {
                    log_groups: args.log_group.clone(),
                    start_ms,
                    end_ms,
                    region: args.region.clone(),
                    profile: args.profile.clone(),
                    endpoint_url: args.endpoint_url.clone(),
                    filter_pattern: args.filter_pattern.clone(),
                    page_size: args.page_size,
                    max_attempts: args.max_attempts,
                    initial_backoff: Duration::from_millis(200),
                };
                let failed = runtime.block_on(cloudwatch::pull(&request, &mut counts, &mut sink));
                errors.extend(failed.into_iter().map(|e| e.to_string()));
            }
        }
    } else {
        errors = read_paths(&args.files, &mut counts, &mut sink);
    }

    let outcome = match pipeline.finish() {
        Ok(o) => o,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("coldmark-explain: writing the output: {e}");
            return ExitCode::from(2);
        }
    };
    drop(table);
    drop(json);
    drop(svg);
    if !args.quiet {
        let _ = writeln!(
            std::io::stderr(),
            "coldmark-explain: {} inits explained; read {} lines: {} markers, {} other lines skipped, {} malformed, {} of an unknown schema, {} inputs cut short; {} arrived out of order past the window, {} duplicate inits, {} markers of environments that started before the input",
            outcome.inits,
            counts.lines,
            counts.markers,
            counts.skipped,
            counts.malformed,
            counts.unknown_schema,
            counts.truncated,
            outcome.late,
            outcome.attributor.duplicate_inits,
            outcome.attributor.before_input,
        );
    }
    for e in &errors {
        eprintln!("coldmark-explain: {e}");
    }
    if !errors.is_empty() {
        ExitCode::from(2)
    } else if outcome.inits == 0 {
        eprintln!(
            "coldmark-explain: {}",
            nothing_to_explain(&args.functions, matched, &others)
        );
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
