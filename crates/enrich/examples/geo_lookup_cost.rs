//! ns per GeoIP + ASN + Anonymous-IP lookup over a folder of MaxMind
//! databases: `cargo run --release -p opensoc-enrich --example geo_lookup_cost -- DIR [LOOKUPS]`.
//! Addresses are spread over the whole IPv4 space (most miss the test
//! databases, which is the cheap case) and over the databases' own networks.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Instant;

use opensoc_enrich::geo::GeoDatabases;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let dir = args.next().ok_or("usage: geo_lookup_cost DIR [LOOKUPS]")?;
    let n: u32 = args.next().map(|s| s.parse()).transpose()?.unwrap_or(2_000_000);
    let geo = GeoDatabases::open_dir(&dir)?;
    // Known networks of the test databases, and a Weyl sequence over IPv4.
    let known: Vec<IpAddr> =
        ["81.2.69.160", "2.125.160.216", "1.128.0.1", "89.160.20.128", "216.160.83.56", "2001:218::1"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
    for (label, addrs) in [
        ("known networks", (0..n).map(|i| known[i as usize % known.len()]).collect::<Vec<_>>()),
        ("spread over IPv4", (0..n).map(|i| IpAddr::V4(Ipv4Addr::from(i.wrapping_mul(2_654_435_761)))).collect()),
    ] {
        let start = Instant::now();
        let mut hits = 0u64;
        for ip in &addrs {
            let g = geo.lookup(*ip)?;
            hits += u64::from(g.country.is_some() || g.asn.is_some());
        }
        let ns = start.elapsed().as_nanos() as f64 / f64::from(n);
        println!("{label}: {n} lookups, {hits} with data, {ns:.0} ns per lookup (city + ASN + anonymous)");
    }
    Ok(())
}
