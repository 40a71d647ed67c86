//! `opensoc carve`.

use std::io::BufWriter;
use std::net::IpAddr;
use std::path::PathBuf;

use anyhow::Context;
use opensoc_lake::carve::audit::AuditEntry;
use opensoc_lake::carve::filter::parse_proto;
use opensoc_lake::carve::{CarveFilter, CarveFormat, CarveLimits, FilterExpr, carve};
use opensoc_lake::sql::SqlEngine;
use opensoc_lake::time::parse_time_ns;
use opensoc_lake::{Lake, LakeLocation};

use super::{Config, LakeArg, exit};

#[derive(Debug, clap::Args)]
pub struct CarveArgs {
    #[command(flatten)]
    pub lake: LakeArg,
    /// Community ID of the flow, e.g. 1:LQU9qZlK+B5F3KDmev6m5PMibrg=
    #[arg(long)]
    pub community_id: Option<String>,
    /// Either endpoint's IP address.
    #[arg(long)]
    pub host: Option<IpAddr>,
    /// Either endpoint in this network (CIDR), e.g. 10.0.0.0/8.
    #[arg(long)]
    pub net: Option<ipnet::IpNet>,
    /// Either endpoint's port.
    #[arg(long)]
    pub port: Option<u16>,
    /// Protocol: a number, or tcp, udp, icmp, icmp6, sctp.
    #[arg(long, value_parser = parse_proto)]
    pub proto: Option<u8>,
    /// The capturing sensor's id.
    #[arg(long)]
    pub sensor: Option<String>,
    /// A filter expression, and-ed with the options above, e.g.
    /// "host 10.0.0.1 and (port 53 or port 443) and not net 10.9.0.0/16".
    /// Primitives: host, net, port N[-M], proto, tcp, udp, icmp, icmp6,
    /// sctp, gre, community_id, sensor; and, or, not, parentheses.
    #[arg(long, value_parser = |s: &str| FilterExpr::parse(s).map_err(|e| e.to_string()))]
    pub filter: Option<FilterExpr>,
    /// Earliest packet time: RFC 3339, a date, or Unix seconds.
    #[arg(long)]
    pub from: Option<String>,
    /// Latest packet time.
    #[arg(long)]
    pub to: Option<String>,
    /// Output file.
    #[arg(short, long)]
    pub output: PathBuf,
    /// File type: pcap when the packets share one link type, else pcapng.
    #[arg(long, value_enum, default_value = "auto")]
    pub output_format: OutFormat,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
    /// Do not append a row to the carve_audit table (for a lake this user
    /// may read but not write).
    #[arg(long)]
    pub no_audit: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutFormat {
    /// pcap, or pcapng for several link types.
    Auto,
    /// Classic pcap (ns timestamps).
    Pcap,
    /// pcapng.
    Pcapng,
}

pub async fn run(args: CarveArgs, config: &Config) -> anyhow::Result<u8> {
    let filter = CarveFilter {
        community_id: args.community_id,
        host: args.host,
        net: args.net,
        port: args.port,
        proto: args.proto,
        sensor: args.sensor,
        expr: args.filter,
        from_ns: args.from.as_deref().map(parse_time_ns).transpose()?,
        to_ns: args.to.as_deref().map(parse_time_ns).transpose()?,
    };
    if let Err(e) = filter.validate(&CarveLimits::NONE) {
        eprintln!("error: {e}");
        return Ok(exit::USAGE);
    }
    let location = LakeLocation::parse_existing(&config.lake(args.lake.lake.as_deref())?)?;
    // Only the packets table is read (the audit row opens carve_audit).
    let lake =
        Lake::open_existing_tables(location, &[opensoc_schemas::Table::Packets]).await.context("opening the lake")?;
    let engine = SqlEngine::new(&lake).await?;
    let format = match args.output_format {
        OutFormat::Auto => CarveFormat::Auto,
        OutFormat::Pcap => CarveFormat::Pcap,
        OutFormat::Pcapng => CarveFormat::Pcapng,
    };
    let file = std::fs::File::create(&args.output).with_context(|| format!("creating {}", args.output.display()))?;
    let mut out = BufWriter::new(file);
    let mut audit = AuditEntry::new(&local_user(), "cli", &filter, opensoc_lake::rows::now_ns());
    let started = std::time::Instant::now();
    let result = carve(&engine, &filter, format, &CarveLimits::NONE, &mut out).await;
    audit.finish(result.as_ref(), started.elapsed());
    audit.delivery = Some(args.output.display().to_string());
    if !args.no_audit
        && let Err(e) = audit.append(&lake).await
    {
        eprintln!("warning: the carve_audit row could not be written (--no-audit skips it): {e}");
    }
    let summary = result?;
    if args.json {
        println!("{}", serde_json::to_string(&summary)?);
    } else {
        println!(
            "{} packets ({} bytes) from {} chunks written to {} ({}); read {} of {} files, {} bytes",
            summary.packets,
            summary.bytes,
            summary.chunks,
            args.output.display(),
            summary.format,
            summary.scan.files_scanned,
            summary.scan.files_total,
            summary.scan.bytes_scanned
        );
    }
    Ok(if summary.packets == 0 { exit::NO_MATCH } else { exit::OK })
}

/// Who runs the command, for the audit: `$USER` (or `$USERNAME`), else the uid.
fn local_user() -> String {
    std::env::var("USER")
        .or_else(|_| std::env::var("USERNAME"))
        .unwrap_or_else(|_| format!("uid:{}", unsafe { libc::getuid() }))
}
