//! `opensoc carve`.

use std::io::BufWriter;
use std::net::IpAddr;
use std::path::PathBuf;

use anyhow::Context;
use opensoc_lake::carve::{CarveFilter, CarveFormat, carve};
use opensoc_lake::sql::SqlEngine;
use opensoc_lake::{Lake, LakeLocation};

use super::time::parse_time_ns;
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
    /// Either endpoint's port.
    #[arg(long)]
    pub port: Option<u16>,
    /// Protocol: a number, or tcp, udp, icmp, icmp6, sctp.
    #[arg(long, value_parser = parse_proto)]
    pub proto: Option<u8>,
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

fn parse_proto(s: &str) -> Result<u8, String> {
    match s.to_ascii_lowercase().as_str() {
        "tcp" => Ok(6),
        "udp" => Ok(17),
        "icmp" => Ok(1),
        "icmp6" | "icmpv6" => Ok(58),
        "sctp" => Ok(132),
        "gre" => Ok(47),
        other => other.parse().map_err(|_| format!("{s:?} is not a protocol name or number (0-255)")),
    }
}

pub async fn run(args: CarveArgs, config: &Config) -> anyhow::Result<u8> {
    let filter = CarveFilter {
        community_id: args.community_id,
        host: args.host,
        port: args.port,
        proto: args.proto,
        from_ns: args.from.as_deref().map(parse_time_ns).transpose()?,
        to_ns: args.to.as_deref().map(parse_time_ns).transpose()?,
    };
    if let Err(e) = filter.validate() {
        eprintln!("error: {e}");
        return Ok(exit::USAGE);
    }
    let location = LakeLocation::parse_existing(&config.lake(args.lake.lake.as_deref())?)?;
    let lake = Lake::open_existing(location).await.context("opening the lake")?;
    let engine = SqlEngine::new(&lake).await?;
    let format = match args.output_format {
        OutFormat::Auto => CarveFormat::Auto,
        OutFormat::Pcap => CarveFormat::Pcap,
        OutFormat::Pcapng => CarveFormat::Pcapng,
    };
    let file = std::fs::File::create(&args.output).with_context(|| format!("creating {}", args.output.display()))?;
    let mut out = BufWriter::new(file);
    let summary = carve(&engine, &filter, format, &mut out).await?;
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
