//! `opensoc-sensor`: a thin command over the `opensoc_sensor` library.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use opensoc_net::FlowConfig;
use opensoc_rows::BatchLimits;
use opensoc_sensor::config::{CaptureSection, ClaimCheckSection, SensorConfig, TailSection, state_dir};
use opensoc_sensor::inputs::live::{LiveCapture, LiveOptions};
use opensoc_sensor::inputs::{capture, events, http, logfile, syslog, tail};
use opensoc_sensor::pipeline::{Pipeline, PipelineSettings};
use opensoc_sensor::send::SendOutcome;
use opensoc_sensor::spool::DropPolicy;
use tokio::sync::{mpsc, watch};

/// Exit status when records are left in the spool (not yet acknowledged).
const EXIT_SPOOLED: u8 = 3;

/// The OpenSOC sensor: captures and logs in, batched records out to a
/// Kinesis-compatible stream, with a disk spool for when the stream cannot
/// take them. The AWS SDK's environment (AWS_ENDPOINT_URL, AWS_REGION,
/// credentials) points it at a stream.
///
/// Exit status: 0 done (every record acknowledged); 1 error; 2 bad usage;
/// 3 records remain in the spool (the next start sends them).
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
    /// Send capture files (and log files) to the stream, then exit once the
    /// stream has acknowledged every record (or the drain timeout passes).
    Replay(ReplayArgs),
    /// Run as an agent: live interfaces, a syslog listener and tailed files
    /// (from flags or the config file) until SIGINT or SIGTERM.
    Run(RunArgs),
    /// Send what the spool holds, then exit.
    Drain(Common),
    /// Run the webhook only: JSON and NDJSON events over HTTP
    /// (`POST /ingest/{source}`), authenticated by a shared secret or an
    /// HMAC-SHA256 signature of the body, until SIGINT or SIGTERM.
    Http(HttpArgs),
}

/// The webhook's settings.
#[derive(Debug, Clone, clap::Args)]
struct WebhookArgs {
    /// The shared secret (at least 16 characters): callers send
    /// `Authorization: Bearer SECRET` or `X-OpenSOC-Signature:
    /// sha256=HMAC-SHA256(SECRET, body)`.
    #[arg(long = "http-secret", env = "OPENSOC_WEBHOOK_SECRET", hide_env_values = true)]
    secret: Option<String>,
    /// Largest request body, MiB (what it decompresses to may be 8 times that).
    #[arg(long = "http-max-body-mib", default_value_t = 10)]
    max_body_mib: usize,
}

#[derive(Debug, clap::Args)]
struct HttpArgs {
    #[command(flatten)]
    common: Common,
    /// Listen here (e.g. 0.0.0.0:8088).
    #[arg(long)]
    listen: SocketAddr,
    #[command(flatten)]
    webhook: WebhookArgs,
    /// Where tail positions are kept (default: the state directory).
    #[arg(long, env = "OPENSOC_SENSOR_STATE")]
    state_dir: Option<PathBuf>,
}

/// Settings every command takes; each overrides the config file.
#[derive(Debug, Clone, clap::Args)]
struct Common {
    /// TOML config file (see docs/configuration.md).
    #[arg(long, env = "OPENSOC_SENSOR_CONFIG")]
    config: Option<PathBuf>,
    /// The stream.
    #[arg(long, env = "OPENSOC_STREAM")]
    stream: Option<String>,
    /// This sensor's name, written to every row.
    #[arg(long, env = "OPENSOC_SENSOR_ID")]
    sensor_id: Option<String>,
    /// The spool directory (default: STATE/spool/SENSOR_ID).
    #[arg(long, env = "OPENSOC_SPOOL_DIR")]
    spool_dir: Option<PathBuf>,
    /// Most MiB the spool keeps on disk.
    #[arg(long, env = "OPENSOC_SPOOL_MAX_MIB")]
    spool_max_mib: Option<u64>,
    /// What to do when the spool is full.
    #[arg(long, value_enum)]
    spool_policy: Option<PolicyArg>,
    /// Serve Prometheus metrics on this address (GET /metrics).
    #[arg(long, env = "OPENSOC_METRICS_LISTEN")]
    metrics_listen: Option<SocketAddr>,
    /// PutRecords attempts per record before it goes to the spool.
    #[arg(long)]
    max_attempts: Option<u32>,
    /// Ship at least this often (ms).
    #[arg(long)]
    flush_ms: Option<u64>,
    /// zstd level of record payloads.
    #[arg(long)]
    zstd_level: Option<i32>,
    /// Once the inputs end, wait at most this long for the spool to drain
    /// (seconds; replay and drain default to no limit, run to 5).
    #[arg(long)]
    drain_timeout_secs: Option<u64>,
    /// Claim-check mode: put packet segments in this S3 bucket and send
    /// only their keys on the stream (for packet rates past what the
    /// stream's shards take).
    #[arg(long, env = "OPENSOC_CLAIM_CHECK_BUCKET")]
    claim_check_bucket: Option<String>,
    /// Key prefix of the segments in claim-check mode.
    #[arg(long, env = "OPENSOC_CLAIM_CHECK_PREFIX", requires = "claim_check_bucket")]
    claim_check_prefix: Option<String>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum PolicyArg {
    DropOldest,
    DropNewest,
    Block,
}

#[derive(Debug, clap::Args)]
struct ReplayArgs {
    #[command(flatten)]
    common: Common,
    /// Replay pace.
    #[arg(long, value_enum, default_value = "fast")]
    pace: PaceArg,
    /// Speed-up factor for `--pace original`.
    #[arg(long, default_value_t = 1.0)]
    speed: f64,
    /// Log files to send (JSON lines or syslog; one line per event).
    #[arg(long, num_args = 1..)]
    logs: Vec<PathBuf>,
    /// Source type of the log files (default: detected per file).
    #[arg(long)]
    log_type: Option<String>,
    /// Capture files (pcap, pcapng, gzip).
    files: Vec<PathBuf>,
}

#[derive(Debug, clap::Args)]
struct RunArgs {
    #[command(flatten)]
    common: Common,
    /// Capture from this interface (repeatable).
    #[arg(long = "interface", short = 'i')]
    interfaces: Vec<String>,
    /// BPF filter for the interfaces given by flag (tcpdump syntax).
    #[arg(long)]
    bpf: Option<String>,
    /// Bytes kept of each packet.
    #[arg(long, default_value_t = 65535)]
    snaplen: i32,
    /// Do not put the interfaces in promiscuous mode.
    #[arg(long)]
    no_promisc: bool,
    /// Receive syslog over UDP on this address.
    #[arg(long)]
    syslog_udp: Option<SocketAddr>,
    /// Receive syslog over TCP on this address.
    #[arg(long)]
    syslog_tcp: Option<SocketAddr>,
    /// Follow this JSON-lines file (repeatable).
    #[arg(long = "tail")]
    tails: Vec<PathBuf>,
    /// Take webhook events over HTTP on this address (`POST /ingest/{source}`).
    #[arg(long)]
    http_listen: Option<SocketAddr>,
    #[command(flatten)]
    webhook: WebhookArgs,
    /// Where tail positions are kept (default: the state directory).
    #[arg(long, env = "OPENSOC_SENSOR_STATE")]
    state_dir: Option<PathBuf>,
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

/// The config file with the flags and environment applied.
struct Resolved {
    file: SensorConfig,
    settings: PipelineSettings,
    flush: Duration,
    packet_bytes: usize,
}

fn resolve(c: &Common, default_drain: Option<Duration>) -> anyhow::Result<Resolved> {
    let file = SensorConfig::load(c.config.as_deref())?;
    let sensor_id = c.sensor_id.clone().or_else(|| file.sensor_id.clone()).unwrap_or_else(|| "sensor".into());
    let stream = c.stream.clone().or_else(|| file.stream.name.clone()).context(
        "no stream given: pass --stream NAME, set OPENSOC_STREAM, or put `name` under [stream] in the config file",
    )?;
    let mut spool = file.spool.clone();
    if let Some(m) = c.spool_max_mib {
        spool.max_bytes = m.max(1) << 20;
    }
    if let Some(p) = c.spool_policy {
        spool.policy = match p {
            PolicyArg::DropOldest => DropPolicy::DropOldest,
            PolicyArg::DropNewest => DropPolicy::DropNewest,
            PolicyArg::Block => DropPolicy::Block,
        };
    }
    let spool_dir =
        c.spool_dir.clone().or_else(|| spool.dir.clone()).unwrap_or_else(|| state_dir().join("spool").join(&sensor_id));
    let mut claim_check = file.claim_check.clone();
    if let Some(bucket) = &c.claim_check_bucket {
        let mut section = claim_check.take().unwrap_or(ClaimCheckSection {
            bucket: bucket.clone(),
            prefix: "segments/".into(),
            segment_mib: 16,
        });
        section.bucket = bucket.clone();
        if let Some(p) = &c.claim_check_prefix {
            section.prefix = p.clone();
        }
        claim_check = Some(section);
    }
    // A flush, or a batch of `packet_bytes`, makes one packet segment in
    // claim-check mode (split only past the segment limit).
    let packet_bytes = file.batch.packet_bytes;
    let settings = PipelineSettings {
        sensor_id,
        stream,
        zstd_level: c.zstd_level.unwrap_or(file.batch.zstd_level),
        max_attempts: c.max_attempts.unwrap_or(file.stream.max_attempts),
        in_flight: file.stream.in_flight,
        call_timeout: Duration::from_millis(file.stream.call_timeout_ms.max(100)),
        spool_dir,
        spool: spool.config(),
        metrics_listen: c.metrics_listen.or(file.metrics.listen),
        drain_timeout: c.drain_timeout_secs.map(Duration::from_secs).or(default_drain),
        claim_check,
    };
    let flush = Duration::from_millis(c.flush_ms.unwrap_or(file.batch.flush_ms).max(1));
    Ok(Resolved { file, settings, flush, packet_bytes })
}

fn report(outcome: &SendOutcome, pipeline_stats: &str, secs: f64, p: &PipelineMetrics) -> u8 {
    let bytes = p.bytes;
    eprintln!(
        "{pipeline_stats} → {} records ({:.1} MB) in {} PutRecords calls, {} retries, {} throttles, {} spooled, \
         {:.2} s ({:.0} records/s, {:.1} MB/s)",
        outcome.acknowledged,
        bytes as f64 / 1e6,
        p.calls,
        p.retries,
        p.throttles,
        p.spooled,
        secs,
        outcome.acknowledged as f64 / secs,
        bytes as f64 / 1e6 / secs,
    );
    if p.segments > 0 {
        eprintln!(
            "{} packet segments ({:.1} MB) put to S3, claim-checked on the stream",
            p.segments,
            p.segment_bytes as f64 / 1e6
        );
    }
    if p.truncated > 0 {
        eprintln!("{} log lines were over the length limit and were cut", p.truncated);
    }
    if outcome.dropped > 0 {
        eprintln!("error: {} records were dropped (spool full or failing)", outcome.dropped);
    }
    if outcome.spooled_left > 0 {
        eprintln!(
            "error: {} records wait in the spool, not yet acknowledged by the stream ({}); the next start sends them",
            outcome.spooled_left,
            outcome.last_error.as_deref().unwrap_or("")
        );
        return EXIT_SPOOLED;
    }
    u8::from(outcome.dropped > 0)
}

struct PipelineMetrics {
    bytes: u64,
    calls: u64,
    retries: u64,
    throttles: u64,
    spooled: u64,
    truncated: u64,
    segments: u64,
    segment_bytes: u64,
}

async fn replay(args: ReplayArgs) -> anyhow::Result<u8> {
    let started = Instant::now();
    let r = resolve(&args.common, None)?;
    let pipeline = Pipeline::start(&r.settings).await?;
    let opts = capture::ReplayOptions {
        pace: match args.pace {
            PaceArg::Fast => capture::Pace::Fast,
            PaceArg::Original => capture::Pace::Original(args.speed),
        },
        flush_interval: r.flush,
        limits: BatchLimits { packet_bytes: r.packet_bytes, ..capture::ReplayOptions::default().limits },
        ..Default::default()
    };
    let (files, logs, log_type) = (args.files.clone(), args.logs.clone(), args.log_type.clone());
    let (sh, tx, m) = (pipeline.shipper.clone(), pipeline.tx.clone(), pipeline.metrics.clone());
    m.inputs_active.store(1, Ordering::Relaxed);
    let produced = tokio::task::spawn_blocking(move || -> anyhow::Result<(u64, u64, u64)> {
        let reports = capture::replay(&files, &opts, &sh, &tx)?;
        let mut lines = 0;
        for f in &logs {
            lines += logfile::replay_file(f, log_type.as_deref(), &sh, &tx)
                .with_context(|| format!("reading {}", f.display()))?;
        }
        let packets = reports.iter().map(|r| r.packets).sum();
        m.packets.fetch_add(packets, Ordering::Relaxed);
        m.log_lines.fetch_add(lines, Ordering::Relaxed);
        m.inputs_active.store(0, Ordering::Relaxed);
        Ok((packets, reports.iter().map(|r| r.flows).sum(), lines))
    })
    .await
    .context("the reader thread failed")?;
    let stats = snapshot_after(pipeline).await?;
    let (packets, flows, lines) = produced?;
    let summary = format!("{packets} packets, {flows} flows, {lines} log lines");
    Ok(report(&stats.0, &summary, started.elapsed().as_secs_f64(), &stats.1))
}

async fn snapshot_after(pipeline: Pipeline) -> anyhow::Result<(SendOutcome, PipelineMetrics)> {
    let sink_metrics = pipeline.sink_metrics.clone();
    let metrics = pipeline.metrics.clone();
    let outcome = pipeline.finish().await?;
    let l = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
    let m = PipelineMetrics {
        bytes: l(&sink_metrics.bytes_sent),
        calls: l(&sink_metrics.calls),
        retries: l(&sink_metrics.retries),
        throttles: l(&sink_metrics.throttles),
        spooled: l(&metrics.spooled),
        truncated: l(&metrics.lines_truncated),
        segments: l(&metrics.segments_stored),
        segment_bytes: l(&metrics.segment_bytes_stored),
    };
    Ok((outcome, m))
}

async fn drain(common: Common) -> anyhow::Result<u8> {
    let started = Instant::now();
    let r = resolve(&common, None)?;
    let pipeline = Pipeline::start(&r.settings).await?;
    let waiting = pipeline.spool.depth().0;
    let (outcome, m) = snapshot_after(pipeline).await?;
    Ok(report(&outcome, &format!("{waiting} spooled records"), started.elapsed().as_secs_f64(), &m))
}

async fn shutdown_signal() {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => return std::future::pending().await,
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

async fn run(args: RunArgs) -> anyhow::Result<u8> {
    let started = Instant::now();
    let r = resolve(&args.common, Some(Duration::from_secs(5)))?;
    let mut captures: Vec<CaptureSection> = r.file.capture.clone();
    captures.extend(args.interfaces.iter().map(|i| CaptureSection {
        interface: i.clone(),
        bpf: args.bpf.clone(),
        snaplen: args.snaplen,
        promiscuous: !args.no_promisc,
        buffer_bytes: 64 << 20,
    }));
    let mut tails: Vec<TailSection> = r.file.tail.clone();
    tails.extend(args.tails.iter().map(|p| TailSection { path: p.clone(), source_type: None }));
    let syslog_udp = args.syslog_udp.or(r.file.syslog.udp);
    let syslog_tcp = args.syslog_tcp.or(r.file.syslog.tcp);
    if captures.is_empty()
        && tails.is_empty()
        && syslog_udp.is_none()
        && syslog_tcp.is_none()
        && args.http_listen.is_none()
    {
        anyhow::bail!(
            "nothing to run: give --interface, --syslog-udp/--syslog-tcp, --tail or --http-listen (or the config file's sections)"
        );
    }
    let webhook = match args.http_listen {
        None => None,
        Some(addr) => {
            let secret = args
                .webhook
                .secret
                .as_deref()
                .context("the webhook needs a shared secret: pass --http-secret or set OPENSOC_WEBHOOK_SECRET")?;
            let secret = opensoc_webhook::Secret::new(secret).map_err(anyhow::Error::msg)?;
            let mut config = opensoc_webhook::WebhookConfig::new(secret);
            config.max_body_bytes = args.webhook.max_body_mib.max(1) << 20;
            config.max_decoded_bytes = config.max_body_bytes.saturating_mul(8);
            let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| format!("webhook on {addr}"))?;
            Some((listener, config))
        }
    };
    // Open everything first, so a bad interface or a port in use fails at once.
    let lives: Vec<LiveCapture> = captures.iter().map(LiveCapture::open).collect::<Result<_, _>>()?;
    let udp = match syslog_udp {
        Some(a) => Some(tokio::net::UdpSocket::bind(a).await.with_context(|| format!("syslog UDP on {a}"))?),
        None => None,
    };
    let tcp = match syslog_tcp {
        Some(a) => Some(tokio::net::TcpListener::bind(a).await.with_context(|| format!("syslog TCP on {a}"))?),
        None => None,
    };
    let pipeline = Pipeline::start(&r.settings).await?;
    let (stop_tx, stop) = watch::channel(false);
    let (ev_tx, ev_rx) = mpsc::channel(65_536);
    let batcher = tokio::spawn(events::batch(
        ev_rx,
        pipeline.shipper.clone(),
        pipeline.tx.clone(),
        r.flush,
        pipeline.metrics.clone(),
    ));
    let mut inputs = Vec::new();
    let opts = syslog::SyslogOptions { max_message_bytes: r.file.syslog.max_message_bytes.max(1024) };
    let m = &pipeline.metrics;
    if let Some(sock) = udp {
        eprintln!("syslog on udp://{}", sock.local_addr()?);
        inputs.push(tokio::spawn(syslog::udp(sock, opts.clone(), ev_tx.clone(), m.clone(), stop.clone())));
    }
    if let Some(l) = tcp {
        eprintln!("syslog on tcp://{}", l.local_addr()?);
        inputs.push(tokio::spawn(syslog::tcp(l, opts.clone(), ev_tx.clone(), m.clone(), stop.clone())));
    }
    if let Some((listener, config)) = webhook {
        eprintln!("webhook on http://{}/ingest/{{source}}", listener.local_addr()?);
        inputs.push(tokio::spawn(http::serve(listener, config, ev_tx.clone(), m.clone(), stop.clone())));
    }
    let state = args.state_dir.clone().unwrap_or_else(state_dir);
    let mut tailing = Vec::new();
    for t in tails {
        let topts = tail::TailOptions { poll: Duration::from_millis(250), state_dir: state.clone() };
        let (tx, m, stop) = (ev_tx.clone(), m.clone(), stop.clone());
        tailing.push(tokio::task::spawn_blocking(move || tail::follow(t.path, t.source_type, topts, tx, m, stop)));
    }
    drop(ev_tx);
    let limits = BatchLimits { packet_bytes: r.packet_bytes, ..capture::ReplayOptions::default().limits };
    for live in lives {
        let (sh, tx, m, stop, flush) =
            (pipeline.shipper.clone(), pipeline.tx.clone(), m.clone(), stop.clone(), r.flush);
        inputs.push(tokio::task::spawn_blocking(move || {
            if let Err(e) = live.run(LiveOptions { flow: FlowConfig::default(), limits, flush }, &sh, &tx, &m, &stop) {
                tracing::error!(error = %e, "live capture ended");
            }
        }));
    }
    pipeline.metrics.inputs_active.store((inputs.len() + tailing.len()) as i64, Ordering::Relaxed);
    if let Some(a) = pipeline.metrics_addr {
        eprintln!("metrics on http://{a}/metrics");
    }
    shutdown_signal().await;
    eprintln!("stopping: flushing inputs");
    let _ = stop_tx.send(true);
    for i in inputs {
        let _ = i.await;
    }
    let mut tail_ends = Vec::new();
    for t in tailing {
        tail_ends.extend(t.await.ok().flatten());
    }
    pipeline.metrics.inputs_active.store(0, Ordering::Relaxed);
    let _ = batcher.await;
    let packets = pipeline.metrics.packets.load(Ordering::Relaxed);
    let drops = pipeline.metrics.kernel_drops.load(Ordering::Relaxed);
    let lines = pipeline.metrics.log_lines.load(Ordering::Relaxed);
    let (outcome, stats) = snapshot_after(pipeline).await?;
    // Every line sent is shipped or spooled now: a restart goes on after them.
    for end in &tail_ends {
        end.save();
    }
    let summary = format!("{packets} packets ({drops} dropped by the kernel), {lines} log lines");
    Ok(report(&outcome, &summary, started.elapsed().as_secs_f64(), &stats))
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
            Command::Run(a) => run(a).await,
            Command::Drain(c) => drain(c).await,
            Command::Http(a) => {
                run(RunArgs {
                    common: a.common,
                    interfaces: Vec::new(),
                    bpf: None,
                    snaplen: 65535,
                    no_promisc: false,
                    syslog_udp: None,
                    syslog_tcp: None,
                    tails: Vec::new(),
                    http_listen: Some(a.listen),
                    webhook: a.webhook,
                    state_dir: a.state_dir,
                })
                .await
            }
        }
    });
    runtime.shutdown_timeout(Duration::from_secs(1));
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}
