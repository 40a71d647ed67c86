//! Memory and ns per lookup of the intel index holding a million indicators:
//! `cargo run --release -p opensoc-enrich --example intel_lookup_cost [N]`.
//! The mix: 60 % single IPv4 addresses, 10 % IPv4 networks (/16–/28), 15 %
//! domains, 5 % URLs, 10 % SHA-256 hashes, all distinct.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Instant;

use opensoc_enrich::intel::{Indicator, IndicatorKind, IntelIndex};

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmRSS:")).map(|l| l.to_string()))
        .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        .unwrap_or(0)
}

fn main() {
    let n: u32 = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(1_000_000);
    let weyl = |i: u32| i.wrapping_mul(2_654_435_761);
    let before = rss_kib();
    let mut v = Vec::with_capacity(n as usize);
    for i in 0..n {
        let (kind, value) = match i % 20 {
            0..12 => (IndicatorKind::Ip, Ipv4Addr::from(weyl(i)).to_string()),
            12..14 => (IndicatorKind::Ip, format!("{}/{}", Ipv4Addr::from(weyl(i) & 0xffff_ff00), 16 + i % 13)),
            14..17 => (IndicatorKind::Domain, format!("h{i:x}.example{}.com", i % 1000)),
            17 => (IndicatorKind::Url, format!("http://u{i}.example.net/p/{i}.bin")),
            _ => (IndicatorKind::Hash, format!("{:064x}", u128::from(weyl(i)) * 0x9e37_79b9_7f4a_7c15)),
        };
        v.push(Indicator::new(kind, value, "bench"));
    }
    let start = Instant::now();
    let ix = IntelIndex::build(v);
    let built = start.elapsed();
    let after = rss_kib();
    println!(
        "{} indicators indexed in {:.2} s, {} MiB resident",
        ix.len(),
        built.as_secs_f64(),
        (after - before) / 1024
    );
    let lookups = 2_000_000u32;
    for (label, f) in [
        ("IPv4 address (mostly misses)", 0u8),
        ("IPv4 address listed", 1),
        ("domain with 3 labels above a listed one", 2),
        ("SHA-256", 3),
    ] {
        let mut hits = 0u64;
        let start = Instant::now();
        for i in 0..lookups {
            match f {
                0 => ix.match_ip(IpAddr::V4(Ipv4Addr::from(i.wrapping_mul(40_503))), 0, |_| hits += 1),
                1 => ix.match_ip(IpAddr::V4(Ipv4Addr::from(weyl((i % (n / 20)) * 20))), 0, |_| hits += 1),
                2 => ix.match_domain(
                    &format!("a.b.h{:x}.example{}.com", (i % 1000) * 20 + 14, ((i % 1000) * 20 + 14) % 1000),
                    0,
                    |_| hits += 1,
                ),
                _ => {
                    ix.match_hash(&format!("{:064x}", u128::from(weyl(i * 20 + 18)) * 0x9e37_79b9_7f4a_7c15), 0, |_| {
                        hits += 1
                    })
                }
            }
        }
        let ns = start.elapsed().as_nanos() as f64 / f64::from(lookups);
        println!("{label}: {ns:.0} ns per lookup, {hits} hits in {lookups}");
    }
}
