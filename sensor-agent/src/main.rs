//! `opensoc-sensor`: a thin command over the `opensoc_sensor` library.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use opensoc_kinesis::{KinesisSink, RetryPolicy};
use opensoc_sensor::inputs::{capture, logfile};
use opensoc_sensor::ship::Shipper;
use tokio::sync::mpsc;

/// The OpenSOC sensor: captures and logs in, batched records out to a
/// Kinesis-compatible stream (AWS_ENDPOINT_URL points it at a local server).
#[derive(Debug, Parser)]
#[command(name = "opensoc-sensor", version)]
struct Cli {
    /// More logging (-v info, -vv debug); RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    /// Log as JSON lines on stderr.
    #[arg(long, global = true)]
    log_json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Send captures (and log files) to the stream, then exit.
    ///
    /// Exit status: 0 every record acknowledged by the stream; 1 some were
    /// not (the count and the last error are printed).
    Replay(ReplayArgs),
}

#[derive(Debug, clap::Args)]
struct ReplayArgs {
    /// The stream.
    #[arg(long, env = "OPENSOC_STREAM")]
    stream: String,
    /// This sensor's name, written to every row.
    #[arg(long, env = "OPENSOC_SENSOR_ID", default_value = "sensor")]
    sensor_id: String,
    /// Replay pace.
    #[arg(long, value_enum, default_value = "fast")]
    pace: PaceArg,
    /// Speed-up factor for `--pace original`.
    #[arg(long, default_value_t = 1.0)]
    speed: f64,
    /// Ship at least this often (ms).
    #[arg(long, default_value_t = 1000)]
    flush_ms: u64,
    /// Log files to send (JSON lines or syslog; one line per event).
    #[arg(long, num_args = 1..)]
    logs: Vec<PathBuf>,
    /// Source type of the log files (default: detected per file).
    #[arg(long)]
    log_type: Option<String>,
    /// zstd level of record payloads.
    #[arg(long, default_value_t = 3)]
    zstd_level: i32,
    /// PutRecords attempts per record before giving up.
    #[arg(long, default_value_t = 10)]
    max_attempts: u32,
    /// Capture files (pcap, pcapng, gzip).
    files: Vec<PathBuf>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum PaceArg {
    /// As fast as possible.
    Fast,
    /// At the capture's original timing (times --speed).
    Original,
}

fn init_tracing(verbose: u8, json: bool) {
    let default = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let b = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    if json {
        b.json().init();
    } else {
        b.init();
    }
}

async fn replay(args: ReplayArgs) -> anyhow::Result<u8> {
    let started = Instant::now();
    let shipper = Arc::new(Shipper::new(&args.sensor_id, args.zstd_level)?);
    let client = opensoc_kinesis::client().await;
    let retry = RetryPolicy { max_attempts: args.max_attempts, ..Default::default() };
    let sink = KinesisSink::new(client, &args.stream, retry);
    let metrics = sink.metrics();
    let (tx, rx) = mpsc::channel(16);
    let sender = tokio::spawn(opensoc_sensor::send::run(sink, rx, 4));
    let opts = capture::ReplayOptions {
        pace: match args.pace {
            PaceArg::Fast => capture::Pace::Fast,
            PaceArg::Original => capture::Pace::Original(args.speed),
        },
        flush_interval: Duration::from_millis(args.flush_ms.max(1)),
        ..Default::default()
    };
    let (files, logs, log_type) = (args.files.clone(), args.logs.clone(), args.log_type.clone());
    let sh = shipper.clone();
    let produced = tokio::task::spawn_blocking(move || -> anyhow::Result<(u64, u64, u64)> {
        let reports = capture::replay(&files, &opts, &sh, &tx)?;
        let mut lines = 0;
        for f in &logs {
            lines += logfile::replay_file(f, log_type.as_deref(), &sh, &tx)
                .with_context(|| format!("reading {}", f.display()))?;
        }
        let packets = reports.iter().map(|r| r.packets).sum();
        let flows = reports.iter().map(|r| r.flows).sum();
        Ok((packets, flows, lines))
    })
    .await
    .context("the reader thread failed")?;
    let outcome = sender.await.context("the sender task failed")?;
    let (packets, flows, lines) = produced?;
    let secs = started.elapsed().as_secs_f64();
    let bytes = metrics.bytes_sent.load(Ordering::Relaxed);
    let calls = metrics.calls.load(Ordering::Relaxed);
    eprintln!(
        "{packets} packets, {flows} flows, {lines} log lines → {} records ({:.1} MB) in {calls} PutRecords calls, \
         {} retries, {} throttles, {:.2} s ({:.0} records/s, {:.1} MB/s)",
        outcome.acknowledged,
        bytes as f64 / 1e6,
        metrics.retries.load(Ordering::Relaxed),
        metrics.throttles.load(Ordering::Relaxed),
        secs,
        outcome.acknowledged as f64 / secs,
        bytes as f64 / 1e6 / secs,
    );
    let truncated = shipper.lines_truncated.load(Ordering::Relaxed);
    if truncated > 0 {
        eprintln!("{truncated} log lines were longer than 512 KiB and were cut");
    }
    if outcome.unsent > 0 {
        eprintln!(
            "error: {} records were not acknowledged by the stream: {}",
            outcome.unsent,
            outcome.last_error.unwrap_or_default()
        );
        return Ok(1);
    }
    Ok(0)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing(cli.verbose, cli.log_json);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Replay(a) => replay(a).await,
        }
    });
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}
