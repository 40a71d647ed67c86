//! `opensoc serve`: the investigator's page and API on a local port.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use opensoc_lake::carve::CarveLimits;
use opensoc_lake::sql::QueryLimits;
use opensoc_lake::{Lake, LakeLocation};
use opensoc_web::{AppState, Auth, Role, SharedLake, WebConfig};

use super::{Config, LakeArg, exit};

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub lake: LakeArg,
    /// Address to listen on. Anyone who can reach it can read the lake
    /// unless --token is set: keep it on localhost, or set a token.
    #[arg(long, default_value = "127.0.0.1:8080", env = "OPENSOC_LISTEN")]
    pub listen: SocketAddr,
    /// Require `Authorization: Bearer TOKEN` on the API (the page asks for it once).
    #[arg(long, env = "OPENSOC_SERVE_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Longest query, in seconds.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..))]
    pub query_timeout: u64,
    /// Rows a query returns before it is cut.
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub query_max_rows: u64,
    /// Memory of a query's joins, sorts and aggregates, MiB (nothing spills to disk).
    #[arg(long, default_value_t = 1024, value_parser = clap::value_parser!(u64).range(16..))]
    pub query_memory_mib: u64,
    /// Packets one carve delivers.
    #[arg(long, default_value_t = 1_000_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub carve_max_packets: u64,
    /// Packet data one carve delivers, MiB.
    #[arg(long, default_value_t = 1024, value_parser = clap::value_parser!(u64).range(1..))]
    pub carve_max_mib: u64,
    /// Time range one carve spans, hours.
    #[arg(long, default_value_t = 24, value_parser = clap::value_parser!(u64).range(1..))]
    pub carve_max_span_hours: u64,
}

pub async fn run(args: ServeArgs, config: &Config) -> anyhow::Result<u8> {
    let location = LakeLocation::parse_existing(&config.lake(args.lake.lake.as_deref())?)?;
    let shown = location.root().to_string();
    let lake = Lake::open_existing(location).await.context("opening the lake")?;
    let user = std::env::var("USER").unwrap_or_else(|_| "local".into());
    let web = WebConfig {
        role: Role::All,
        auth: match args.token {
            Some(t) if !t.trim().is_empty() => Auth::Token(t.trim().to_string()),
            _ => Auth::Open { principal: format!("local:{user}") },
        },
        via: "serve",
        query_limits: QueryLimits {
            timeout: Some(Duration::from_secs(args.query_timeout)),
            max_rows: args.query_max_rows as usize,
            memory_bytes: Some((args.query_memory_mib as usize) << 20),
        },
        carve_limits: CarveLimits {
            max_packets: args.carve_max_packets,
            max_bytes: args.carve_max_mib << 20,
            max_span_ns: Some(args.carve_max_span_hours as i64 * 3_600_000_000_000),
        },
        ..WebConfig::default()
    };
    let token = matches!(web.auth, Auth::Token(_));
    let router = opensoc_web::router(AppState { lake: SharedLake::new(lake), config: web });
    let listener = match tokio::net::TcpListener::bind(args.listen).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("error: cannot listen on {}: {e}", args.listen);
            return Ok(exit::FAILURE);
        }
    };
    let addr = listener.local_addr().context("the listening address")?;
    // One line a script can wait for (the port, when 0 was asked).
    println!("serving the lake {shown} on http://{addr}/{}", if token { " (token required)" } else { "" });
    if !token && !addr.ip().is_loopback() {
        eprintln!("warning: listening on {addr} without --token: anyone who reaches it can read the lake");
    }
    axum::serve(listener, router)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
        .context("serving")?;
    Ok(exit::OK)
}
