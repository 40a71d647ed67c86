//! `opensoc demo`: the whole pipeline on captures embedded in the binary.

use std::io::BufWriter;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use deltalake::arrow::array::AsArray;
use deltalake::arrow::compute::cast;
use deltalake::arrow::datatypes::DataType;
use opensoc_lake::carve::{CarveFilter, CarveFormat, CarveLimits, carve};
use opensoc_lake::output::{OutputFormat, write_batches};
use opensoc_lake::sql::SqlEngine;
use opensoc_lake::{Lake, LakeLocation};

use super::ingest::{Input, ingest_files};
use super::{Config, exit};

/// The demo captures (see testdata/demo/README.md).
const CAPTURES: &[(&str, &[u8])] = &[
    ("wikipedia.pcap", include_bytes!("../../testdata/demo/wikipedia.pcap")),
    ("erspan.pcap", include_bytes!("../../testdata/demo/erspan.pcap")),
    ("google-cert-repeat.pcap", include_bytes!("../../testdata/demo/google-cert-repeat.pcap")),
    ("chrome-1250-tls-x25519-kyber.pcap", include_bytes!("../../testdata/demo/chrome-1250-tls-x25519-kyber.pcap")),
    ("dns-edns-ecs.pcap", include_bytes!("../../testdata/demo/dns-edns-ecs.pcap")),
    // Real attack-like traffic for the built-in rules (testdata/detect).
    ("nmap-syn-scan.pcap.gz", include_bytes!("../../testdata/detect/nmap-syn-scan.pcap.gz")),
    ("dns-tunnel-dga.pcap.gz", include_bytes!("../../testdata/detect/dns-tunnel-dga.pcap.gz")),
];

/// The demo logs: samples of each format (testdata/logs).
const LOGS: &[(&str, &[u8])] = &[
    ("eve.json", include_bytes!("../../testdata/logs/eve.json")),
    ("conn.log", include_bytes!("../../testdata/logs/conn.log")),
    ("dns.log", include_bytes!("../../testdata/logs/dns.log")),
    ("rfc5424.log", include_bytes!("../../testdata/logs/rfc5424.log")),
    ("rfc3164.log", include_bytes!("../../testdata/logs/rfc3164.log")),
    ("cef.log", include_bytes!("../../testdata/logs/cef.log")),
    ("app.ndjson", include_bytes!("../../testdata/logs/app.ndjson")),
];

#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Folder for the demo's captures, lake and carved flow (replaced if it holds an earlier demo).
    #[arg(long, default_value = "opensoc-demo")]
    pub dir: PathBuf,
}

const SUMMARY: &[(&str, &str)] = &[
    (
        "Top talkers (bytes, both directions)",
        "SELECT src_ip, dst_ip, proto, sum(packets) AS packets, sum(bytes) AS bytes FROM flows \
         GROUP BY src_ip, dst_ip, proto ORDER BY bytes DESC, src_ip LIMIT 5",
    ),
    (
        "DNS names asked most",
        "SELECT query, qtype_name, count(*) AS n FROM dns WHERE query IS NOT NULL \
         GROUP BY query, qtype_name ORDER BY n DESC, query LIMIT 5",
    ),
    ("TLS server names", "SELECT sni, ja4, count(*) AS n FROM tls GROUP BY sni, ja4 ORDER BY n DESC, sni LIMIT 5"),
    (
        "HTTP hosts",
        "SELECT host, count(*) AS requests, min(status) AS min_status, max(status) AS max_status FROM http \
         WHERE host IS NOT NULL GROUP BY host ORDER BY requests DESC, host LIMIT 5",
    ),
    (
        "Log events by source type",
        "SELECT source_type, count(*) AS events, count(DISTINCT app) AS apps FROM logs \
         GROUP BY source_type ORDER BY events DESC, source_type",
    ),
    (
        "Findings, most urgent first",
        "SELECT severity, score, rule, src_ip, dst_ip, indicator FROM findings \
         ORDER BY score DESC, rule LIMIT 10",
    ),
];

pub async fn run(args: DemoArgs, config: &Config) -> anyhow::Result<u8> {
    let dir = &args.dir;
    let captures = dir.join("captures");
    let lake_dir = dir.join("lake");
    if lake_dir.exists() {
        std::fs::remove_dir_all(&lake_dir)
            .with_context(|| format!("removing the earlier demo lake {}", lake_dir.display()))?;
    }
    std::fs::create_dir_all(&captures).with_context(|| format!("creating {}", captures.display()))?;
    let mut files = Vec::new();
    for (name, bytes) in CAPTURES {
        let p = captures.join(name);
        std::fs::write(&p, bytes).with_context(|| format!("writing {}", p.display()))?;
        files.push(Input::Capture(p));
    }
    let logs = dir.join("logs");
    std::fs::create_dir_all(&logs).with_context(|| format!("creating {}", logs.display()))?;
    for (name, bytes) in LOGS {
        let p = logs.join(name);
        std::fs::write(&p, bytes).with_context(|| format!("writing {}", p.display()))?;
        files.push(Input::Log(p));
    }
    let location = LakeLocation::parse(&lake_dir.to_string_lossy())?;
    let lake = Arc::new(Lake::open(location.clone()).await?);
    let mut cfg = config.ingest();
    cfg.sensor_id = "demo".into();
    let (_, totals, elapsed) = ingest_files(lake.clone(), cfg, &files, None, false).await?;
    println!(
        "Ingested {} captures and {} log files: {} packets, {} flows, {} DNS, {} HTTP, {} TLS records, {} log events in {:.2}s\n",
        CAPTURES.len(),
        LOGS.len(),
        totals.packets,
        totals.flows,
        totals.dns,
        totals.http,
        totals.tls,
        totals.logs,
        elapsed.as_secs_f64()
    );
    lake.refresh().await?;
    let engine = SqlEngine::new(&lake).await?;
    let mut out = std::io::stdout().lock();
    for (title, sql) in SUMMARY {
        println!("{title}:");
        let (schema, batches) = engine.query(sql).await?;
        write_batches(&mut out, OutputFormat::Table, &schema, &batches)?;
        println!();
    }
    drop(out);

    // Carve the largest HTTP flow.
    let (_, batches) = engine
        .query("SELECT community_id FROM flows WHERE app_proto = 'http' ORDER BY bytes DESC, community_id LIMIT 1")
        .await?;
    let id = batches
        .iter()
        .find(|b| b.num_rows() > 0)
        .and_then(|b| cast(b.column(0), &DataType::Utf8).ok())
        .map(|a| a.as_string::<i32>().value(0).to_string())
        .context("the demo captures produced no HTTP flow")?;
    let pcap = dir.join("flow.pcap");
    let file = std::fs::File::create(&pcap).with_context(|| format!("creating {}", pcap.display()))?;
    let filter = CarveFilter { community_id: Some(id.clone()), ..Default::default() };
    let summary = carve(&engine, &filter, CarveFormat::Auto, &CarveLimits::NONE, &mut BufWriter::new(file)).await?;
    let lake_s = lake_dir.display();
    println!("Carved the largest HTTP flow ({id}): {} packets to {}\n", summary.packets, pcap.display());
    println!("Where everything is:");
    println!("  captures:   {}", captures.display());
    println!("  logs:       {}", logs.display());
    let tables: Vec<&str> = opensoc_schemas::Table::ALL.iter().map(|t| t.name()).collect();
    println!("  lake:       {lake_s}  (Delta tables: {})", tables.join(" "));
    println!("  carved:     {}", pcap.display());
    println!("\nTry next:");
    println!("  opensoc query --lake {lake_s} \"SELECT * FROM dns LIMIT 10\"");
    println!("  opensoc query --lake {lake_s} \"SELECT rule, description, carve_from, carve_to FROM findings\"");
    println!("  opensoc ingest --lake {lake_s} --rules my-rules/ more.pcap   # YAML rules: docs/rules.md");
    println!("  opensoc carve --lake {lake_s} --community-id '{id}' -o flow.pcap");
    println!("  tshark -r {}", pcap.display());
    Ok(exit::OK)
}
