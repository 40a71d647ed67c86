//! `opensoc model`: train behavioural models from the lake, show them, and
//! evaluate them on generated traffic with known anomalies.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail};
use opensoc_lake::model::{TrainOptions, TrainReport, load_newest, train};
use opensoc_lake::sql::SqlEngine;
use opensoc_lake::{Lake, LakeLocation};
use opensoc_model::synth::{Injection, Kind, Scenario};
use opensoc_model::{Model, Settings};
use opensoc_net::pcap_write::PcapngWriter;
use serde::Serialize;

use super::ingest::{Input, ingest_files};
use super::{Config, Format, LakeArg, PipelineArg, exit};

#[derive(Debug, clap::Args)]
pub struct ModelArgs {
    #[command(subcommand)]
    pub action: ModelAction,
}

#[derive(Debug, clap::Subcommand)]
pub enum ModelAction {
    /// Learn per-host baselines from a window of flows, dns and tls, and
    /// commit them to the `models` table; ingest scores against the newest.
    ///
    /// Exit status: 0 committed; 1 nothing to learn from or failure.
    Train(TrainArgs),
    /// Show the newest model: a summary, or one host's profile.
    Show(ShowArgs),
    /// Generate days of traffic with a known baseline, a test day with
    /// injected anomalies (beacons, exfiltration, new-country logins,
    /// generated-domain bursts) and near misses, ingest, train, score, and
    /// report precision and recall per anomaly type.
    Eval(EvalArgs),
}

/// Settings shared by `train` and `eval` (flags over `[model]` in the config file).
#[derive(Debug, clap::Args)]
pub struct SettingsArgs {
    /// Hosts need this many active hours of history to be scored.
    #[arg(long)]
    pub min_history_hours: Option<u32>,
    /// … on at least this many days.
    #[arg(long)]
    pub min_history_days: Option<u32>,
    /// Anomalies scoring below this (1–100) do not become findings.
    #[arg(long)]
    pub threshold: Option<i32>,
    /// Internal networks (CIDRs, comma-separated): their addresses are the
    /// hosts profiled. Default: RFC 1918, RFC 6598, loopback, link-local, ULA.
    #[arg(long, value_delimiter = ',')]
    pub internal: Vec<String>,
}

impl SettingsArgs {
    fn settings(&self, config: &Config) -> anyhow::Result<Settings> {
        let mut s = config.model.settings.clone();
        if let Some(h) = self.min_history_hours {
            s.min_active_hours = h;
        }
        if let Some(d) = self.min_history_days {
            s.min_active_days = d;
        }
        if let Some(t) = self.threshold {
            s.threshold = t;
        }
        if !self.internal.is_empty() {
            s.internal = opensoc_model::network::InternalNetworks::parse(&self.internal).map_err(anyhow::Error::msg)?;
        }
        s.validate().map_err(anyhow::Error::msg).context("model settings")?;
        Ok(s)
    }
}

#[derive(Debug, clap::Args)]
pub struct TrainArgs {
    #[command(flatten)]
    pub lake: LakeArg,
    /// Days of history to learn from, ending at --until.
    #[arg(long)]
    pub window: Option<u32>,
    /// The window's end (RFC 3339, a date, or epoch seconds); default: the
    /// newest flow in the lake.
    #[arg(long)]
    pub until: Option<String>,
    #[command(flatten)]
    pub settings: SettingsArgs,
    /// Report format.
    #[arg(long, value_enum, default_value = "table")]
    pub format: Format,
}

#[derive(Debug, clap::Args)]
pub struct ShowArgs {
    #[command(flatten)]
    pub lake: LakeArg,
    /// One host's profile (as JSON).
    #[arg(long)]
    pub host: Option<String>,
    /// Output format of the summary.
    #[arg(long, value_enum, default_value = "table")]
    pub format: Format,
}

#[derive(Debug, clap::Args)]
pub struct EvalArgs {
    /// An empty (or new) folder for the captures and the lake.
    #[arg(long)]
    pub work: PathBuf,
    /// MaxMind test databases (the generated peers are addresses they resolve).
    #[arg(long, env = "OPENSOC_GEOIP")]
    pub geoip: PathBuf,
    /// Baseline days before the test day.
    #[arg(long, default_value_t = 7)]
    pub days: u32,
    /// Seed of the generator.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Real captures mixed into every day (shifted to 09:30, 11:30, 14:30
    /// and 16:30 UTC): their hosts build history and must not be flagged.
    #[arg(long, num_args = 1..)]
    pub mix: Vec<PathBuf>,
    /// Keep the generated captures (under WORK/captures) after ingesting them.
    #[arg(long)]
    pub keep_captures: bool,
    /// Report format.
    #[arg(long, value_enum, default_value = "table")]
    pub format: Format,
}

pub async fn run(args: ModelArgs, config: &Config) -> anyhow::Result<u8> {
    match args.action {
        ModelAction::Train(a) => run_train(a, config).await,
        ModelAction::Show(a) => run_show(a, config).await,
        ModelAction::Eval(a) => run_eval(a, config).await,
    }
}

async fn run_train(a: TrainArgs, config: &Config) -> anyhow::Result<u8> {
    let location = LakeLocation::parse_existing(&config.lake(a.lake.lake.as_deref())?)?;
    let lake = Lake::open_existing(location).await.context("opening the lake")?;
    let opts = TrainOptions {
        window_days: a.window.or(config.model.window_days).unwrap_or(14),
        until_ns: a.until.as_deref().map(opensoc_lake::time::parse_time_ns).transpose().context("--until")?,
        settings: a.settings.settings(config)?,
    };
    let report = train(&lake, &opts).await?;
    print_train(&report, a.format)?;
    Ok(exit::OK)
}

fn print_train(r: &TrainReport, format: Format) -> anyhow::Result<()> {
    match format {
        Format::Json => println!("{}", serde_json::to_string(r)?),
        _ => {
            let rows: Vec<String> = r.rows_read.iter().map(|(t, n)| format!("{n} {t}")).collect();
            println!(
                "model {} committed (models version {}, {} rows): {} hosts, {} with enough history to be scored, {} periodic pairs, {} domains; learned from {} between {} and {} in {:.2} s",
                r.model_id,
                r.version,
                r.model_rows,
                r.hosts,
                r.scored_hosts,
                r.periodic_pairs,
                r.domains,
                rows.join(", "),
                r.window_from,
                r.window_to,
                r.seconds
            );
        }
    }
    Ok(())
}

async fn run_show(a: ShowArgs, config: &Config) -> anyhow::Result<u8> {
    let location = LakeLocation::parse_existing(&config.lake(a.lake.lake.as_deref())?)?;
    let lake =
        Lake::open_existing_tables(location, &[opensoc_lake::Table::Models]).await.context("opening the lake")?;
    let Some(model) = load_newest(&lake).await? else {
        eprintln!("no model in this lake: build one with `opensoc model train`");
        return Ok(exit::NO_MATCH);
    };
    if let Some(h) = &a.host {
        let Some(p) = model.hosts.get(h) else {
            eprintln!(
                "model {} has no profile for {h}: it had no flows in the window ({} hosts profiled)",
                model.id,
                model.hosts.len()
            );
            return Ok(exit::NO_MATCH);
        };
        let note = p.unscored_reason(&model.settings);
        println!(
            "{}",
            serde_json::to_string_pretty(
                &serde_json::json!({ "host": h, "scored": note.is_none(), "note": note, "profile": p })
            )?
        );
        return Ok(exit::OK);
    }
    let summary = summary(&model);
    match a.format {
        Format::Json => println!("{}", serde_json::to_string(&summary)?),
        _ => println!(
            "model {} trained {} on {} to {}: {} hosts ({} scored), {} periodic pairs, {} domains, threshold {}",
            summary.model_id,
            summary.trained_at,
            summary.window_from,
            summary.window_to,
            summary.hosts,
            summary.scored_hosts,
            summary.periodic_pairs,
            summary.domains,
            model.settings.threshold
        ),
    }
    Ok(exit::OK)
}

#[derive(Serialize)]
struct Summary {
    model_id: String,
    trained_at: String,
    window_from: String,
    window_to: String,
    hosts: usize,
    scored_hosts: usize,
    periodic_pairs: usize,
    domains: u64,
    settings: Settings,
}

fn summary(m: &Model) -> Summary {
    let t = opensoc_lake::time::format_time_ns;
    Summary {
        model_id: m.id.clone(),
        trained_at: t(m.trained_at_ns),
        window_from: t(m.window.0),
        window_to: t(m.window.1),
        hosts: m.hosts.len(),
        scored_hosts: m.scored_hosts(),
        periodic_pairs: m.periodic.len(),
        domains: m.global.domain_count,
        settings: m.settings.clone(),
    }
}

/// Precision and recall of one anomaly kind.
#[derive(Debug, Serialize)]
struct KindScore {
    kind: &'static str,
    injected: usize,
    detected: usize,
    findings: usize,
    true_findings: usize,
    precision: f64,
    recall: f64,
}

#[derive(Debug, Serialize)]
struct ModelFinding {
    time_ns: i64,
    rule: String,
    rules: Vec<String>,
    src_ip: String,
    dst_ip: String,
    score: i32,
    description: String,
    /// The injection it matches, if any.
    matches: Option<String>,
}

#[derive(Serialize)]
struct EvalReport {
    model_id: String,
    seed: u64,
    baseline_days: u32,
    frames: usize,
    mixed_captures: usize,
    train_seconds: f64,
    test_day_ingest_seconds: f64,
    scoring: opensoc_model::ScoreCounts,
    kinds: Vec<KindScore>,
    findings: Vec<ModelFinding>,
    injections: Vec<Injection>,
}

/// A capture's packets, times relative to its first.
struct Mixed {
    packets: Vec<(opensoc_net::LinkType, i64, u32, Vec<u8>)>,
}

fn read_mix(path: &Path) -> anyhow::Result<Mixed> {
    let mut r =
        opensoc_net::capture::CaptureReader::open(path).with_context(|| format!("reading {}", path.display()))?;
    let mut packets = Vec::new();
    let mut first = None;
    while let Some(p) = r.next_packet().with_context(|| format!("reading {}", path.display()))? {
        let f = *first.get_or_insert(p.ts_ns);
        packets.push((p.linktype, p.ts_ns - f, p.origlen, p.data.to_vec()));
    }
    Ok(Mixed { packets })
}

fn write_day(
    path: &Path,
    mut frames: opensoc_model::synth::packet::Frames,
    mix: &[Mixed],
    day_start: i64,
) -> anyhow::Result<usize> {
    let ethernet = opensoc_net::LinkType(1);
    let mut all: Vec<(i64, opensoc_net::LinkType, u32, Vec<u8>)> =
        frames.drain(..).map(|(t, f)| (t, ethernet, f.len() as u32, f)).collect();
    const H: i64 = 3_600_000_000_000;
    for at in [9 * H + H / 2, 11 * H + H / 2, 14 * H + H / 2, 16 * H + H / 2] {
        for m in mix {
            for (lt, rel, orig, data) in &m.packets {
                all.push((day_start + at + rel, *lt, *orig, data.clone()));
            }
        }
    }
    all.sort_by_key(|p| p.0);
    let file =
        std::io::BufWriter::new(std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?);
    let mut w = PcapngWriter::new(file)?;
    for (t, lt, orig, data) in &all {
        w.write_packet(*lt, *t, *orig, data)?;
    }
    w.finish()?;
    Ok(all.len())
}

async fn run_eval(a: EvalArgs, config: &Config) -> anyhow::Result<u8> {
    if a.days < 3 {
        bail!("--days must be at least 3 (hosts need 3 days of history to be scored)");
    }
    let lake_dir = a.work.join("lake");
    if lake_dir.exists() {
        bail!("{} already holds a lake: give an empty or new --work folder", lake_dir.display());
    }
    let captures = a.work.join("captures");
    std::fs::create_dir_all(&captures).with_context(|| format!("creating {}", captures.display()))?;
    let mix = a.mix.iter().map(|p| read_mix(p)).collect::<anyhow::Result<Vec<_>>>()?;
    // Days ending yesterday (UTC), so the lake's partitions look current.
    let today = opensoc_lake::rows::now_ns().div_euclid(86_400_000_000_000);
    let scenario = Scenario { seed: a.seed, baseline_days: a.days, first_day: today - i64::from(a.days) - 1 };
    let day_start = |d: u32| (scenario.first_day + i64::from(d)) * 86_400_000_000_000;
    let mut frames = 0;
    let mut baseline = Vec::new();
    for d in 0..a.days {
        let p = captures.join(format!("day-{d}.pcapng"));
        frames += write_day(&p, scenario.baseline_day(d), &mix, day_start(d))?;
        baseline.push(Input::Capture(p));
    }
    let (test_frames, injections) = scenario.test_day_frames();
    let test_path = captures.join("test-day.pcapng");
    frames += write_day(&test_path, test_frames, &mix, day_start(scenario.test_day()))?;
    eprintln!("generated {frames} packets over {} days in {}", a.days + 1, captures.display());

    let location = LakeLocation::parse(&lake_dir.to_string_lossy())?;
    let pipeline = PipelineArg {
        geoip: Some(a.geoip.clone()),
        rules: None,
        no_builtin_rules: false,
        score_aggregation: None,
        no_scoring: false,
    };
    let lake = Arc::new(super::open_lake(location.clone(), &pipeline, config).await?);
    ingest_files(lake.clone(), config.ingest(), &baseline, None, false).await?;
    drop(lake);

    let settings = config.model.settings.clone();
    let train_lake = Lake::open_existing(location.clone()).await?;
    let trained =
        train(&train_lake, &TrainOptions { window_days: a.days, until_ns: Some(day_start(a.days)), settings }).await?;
    drop(train_lake);

    let lake = Arc::new(super::open_lake(location.clone(), &pipeline, config).await?);
    let started = std::time::Instant::now();
    ingest_files(lake.clone(), config.ingest(), &[Input::Capture(test_path)], None, false).await?;
    let ingest_seconds = started.elapsed().as_secs_f64();
    let scoring = lake.scoring_counts();
    drop(lake);
    if !a.keep_captures {
        std::fs::remove_dir_all(&captures).with_context(|| format!("removing {}", captures.display()))?;
    }

    let findings = model_findings(location).await?;
    let report = evaluate(trained, a.seed, a.days, frames, mix.len(), ingest_seconds, scoring, findings, injections);
    match a.format {
        Format::Json => println!("{}", serde_json::to_string(&report)?),
        _ => print_eval(&report),
    }
    Ok(exit::OK)
}

async fn model_findings(location: LakeLocation) -> anyhow::Result<Vec<ModelFinding>> {
    let lake = Lake::open_existing(location).await?;
    let engine = SqlEngine::new(&lake).await?;
    let (_, batches) = engine
        .query(
            "SELECT time_ns, rule, array_to_string(rules, ',') AS rules, src_ip, dst_ip, score, description \
             FROM findings WHERE array_to_string(rules, ',') LIKE '%model.%' ORDER BY time_ns",
        )
        .await?;
    let mut out = Vec::new();
    for b in &batches {
        use opensoc_model::columns::{int_at, ints, str_at, strings};
        let (Some(time), Some(rule), Some(rules), Some(src), Some(dst), Some(score), Some(desc)) = (
            ints(b, "time_ns"),
            strings(b, "rule"),
            strings(b, "rules"),
            strings(b, "src_ip"),
            strings(b, "dst_ip"),
            ints(b, "score"),
            strings(b, "description"),
        ) else {
            bail!("findings query returned unexpected columns");
        };
        for r in 0..b.num_rows() {
            let text = |a: &deltalake::arrow::array::StringArray| str_at(a, r).unwrap_or("").to_string();
            out.push(ModelFinding {
                time_ns: int_at(&time, r).unwrap_or(0),
                rule: text(&rule),
                rules: text(&rules).split(',').filter(|x| !x.is_empty()).map(String::from).collect(),
                src_ip: text(&src),
                dst_ip: text(&dst),
                score: int_at(&score, r).unwrap_or(0) as i32,
                description: text(&desc),
                matches: None,
            });
        }
    }
    Ok(out)
}

/// Slack around an injection's span within which a finding matches it.
const MATCH_SLACK_NS: i64 = 300_000_000_000;

#[allow(clippy::too_many_arguments)]
fn evaluate(
    trained: TrainReport,
    seed: u64,
    days: u32,
    frames: usize,
    mixed: usize,
    ingest_seconds: f64,
    scoring: opensoc_model::ScoreCounts,
    mut findings: Vec<ModelFinding>,
    injections: Vec<Injection>,
) -> EvalReport {
    let kind_of =
        |f: &ModelFinding| Kind::ALL.into_iter().find(|k| f.rules.iter().any(|r| k.rules().contains(&r.as_str())));
    let matches = |f: &ModelFinding, i: &Injection| {
        (f.src_ip == i.host || f.dst_ip == i.host)
            && f.time_ns >= i.from_ns - MATCH_SLACK_NS
            && f.time_ns <= i.to_ns + MATCH_SLACK_NS
    };
    for f in &mut findings {
        let k = kind_of(f);
        f.matches = injections
            .iter()
            .find(|i| Some(i.kind) == k && matches(f, i))
            .map(|i| format!("{} {}", i.kind.name(), i.host));
    }
    let mut kinds = Vec::new();
    for k in Kind::ALL {
        let injected: Vec<&Injection> = injections.iter().filter(|i| i.kind == k).collect();
        let of_kind: Vec<&ModelFinding> = findings.iter().filter(|f| kind_of(f) == Some(k)).collect();
        let true_findings = of_kind.iter().filter(|f| f.matches.is_some()).count();
        let detected = injected.iter().filter(|i| of_kind.iter().any(|f| matches(f, i))).count();
        kinds.push(KindScore {
            kind: k.name(),
            injected: injected.len(),
            detected,
            findings: of_kind.len(),
            true_findings,
            precision: if of_kind.is_empty() { 0.0 } else { true_findings as f64 / of_kind.len() as f64 },
            recall: if injected.is_empty() { 0.0 } else { detected as f64 / injected.len() as f64 },
        });
    }
    EvalReport {
        model_id: trained.model_id,
        seed,
        baseline_days: days,
        frames,
        mixed_captures: mixed,
        train_seconds: trained.seconds,
        test_day_ingest_seconds: ingest_seconds,
        scoring,
        kinds,
        findings,
        injections,
    }
}

fn print_eval(r: &EvalReport) {
    let mut t = comfy_table::Table::new();
    t.load_preset(comfy_table::presets::UTF8_FULL_CONDENSED);
    t.set_header(["anomaly", "injected", "detected", "findings", "true", "precision", "recall"]);
    for k in &r.kinds {
        t.add_row([
            k.kind.to_string(),
            k.injected.to_string(),
            k.detected.to_string(),
            k.findings.to_string(),
            k.true_findings.to_string(),
            format!("{:.2}", k.precision),
            format!("{:.2}", k.recall),
        ]);
    }
    println!("{t}");
    let unmatched: Vec<&ModelFinding> = r.findings.iter().filter(|f| f.matches.is_none()).collect();
    for f in &unmatched {
        println!("false positive: {} {} → {}: {}", f.rule, f.src_ip, f.dst_ip, f.description);
    }
    let mut by_rule: BTreeMap<&str, usize> = BTreeMap::new();
    for f in &r.findings {
        *by_rule.entry(f.rule.as_str()).or_default() += 1;
    }
    println!(
        "model {} ({} baseline days, seed {}, {} packets, {} captures mixed in): trained in {:.2} s; test day ingested in {:.2} s; rows scored {}, not scored (no profile) {}, (too little history) {}",
        r.model_id,
        r.baseline_days,
        r.seed,
        r.frames,
        r.mixed_captures,
        r.train_seconds,
        r.test_day_ingest_seconds,
        r.scoring.scored,
        r.scoring.unscored_new_host,
        r.scoring.unscored_thin_history
    );
}
