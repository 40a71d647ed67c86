//! Traffic with a known baseline and known anomalies, for evaluating the
//! models: days of ordinary office traffic from 24 hosts (web and TLS to a
//! few usual peers, DNS lookups of their usual domains, an admin's SSH
//! logins, one monitoring check every five minutes), then a test day with
//! the same traffic and injected anomalies of four kinds — beacons,
//! exfiltration bursts, logins from a new country, bursts of generated
//! domains — plus near misses that must not be flagged (twice the usual
//! volume, a new network others already use, a few new domains, the known
//! periodic check, and hosts with no or too little history doing the
//! anomalous things).
//!
//! The peers are addresses the MaxMind test databases resolve, so GeoIP
//! gives them countries and ASNs. Everything comes from one seed.

pub mod packet;

use std::net::Ipv4Addr;

use packet::{Frames, client_hello, dns_lookup, tcp_conversation};

const S: i64 = 1_000_000_000;
const H: i64 = 3600 * S;
const DAY: i64 = 24 * H;

/// Ordinary hosts (10.1.0.10 …).
pub const HOSTS: u8 = 24;

/// The kinds of injected anomaly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// A connection every 60 s ± 2 s for an hour.
    Beacon,
    /// 6 MB sent to one peer in one connection.
    Exfiltration,
    /// An SSH login from a country the host never talked with.
    NewCountry,
    /// 40 lookups of generated domain names within two minutes.
    DomainBurst,
}

impl Kind {
    /// Every kind.
    pub const ALL: [Kind; 4] = [Kind::Beacon, Kind::Exfiltration, Kind::NewCountry, Kind::DomainBurst];

    /// The model rules that count as detecting this kind.
    pub fn rules(self) -> &'static [&'static str] {
        use crate::score::rules::*;
        match self {
            Kind::Beacon => &[BEACON],
            Kind::Exfiltration => &[VOLUME],
            Kind::NewCountry => &[NEW_COUNTRY, NEW_ASN],
            Kind::DomainBurst => &[NEW_DOMAINS],
        }
    }

    /// Its name.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Beacon => "beacon",
            Kind::Exfiltration => "exfiltration",
            Kind::NewCountry => "new-country",
            Kind::DomainBurst => "domain-burst",
        }
    }
}

/// One injected anomaly: what, which host, when (ns).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Injection {
    /// The kind.
    pub kind: Kind,
    /// The host it is about.
    pub host: String,
    /// When it starts.
    pub from_ns: i64,
    /// When it ends.
    pub to_ns: i64,
}

/// SplitMix64: a small deterministic generator.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x5851_f42d_4c95_7f2d)
    }

    /// 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        crate::hash::mix(self.0)
    }

    /// Uniform in [0, 1).
    pub fn f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in [lo, hi).
    pub fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + (self.next_u64() % (hi - lo).max(1) as u64) as i64
    }

    /// Log-normal around `median` with spread `sigma`.
    pub fn lognormal(&mut self, median: f64, sigma: f64) -> f64 {
        // Box–Muller.
        let (u1, u2) = (self.f64().max(1e-12), self.f64());
        median * (sigma * (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()).exp()
    }

    /// One of `items`.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.range(0, items.len() as i64) as usize]
    }
}

/// Domains hosts use (registrable domain plus a few subdomains each).
const DOMAINS: [&str; 40] = [
    "github.com",
    "google.com",
    "microsoft.com",
    "office.com",
    "slack.com",
    "zoom.us",
    "amazonaws.com",
    "cloudflare.com",
    "akamaihd.net",
    "apple.com",
    "windowsupdate.com",
    "ubuntu.com",
    "debian.org",
    "python.org",
    "npmjs.org",
    "docker.io",
    "atlassian.net",
    "salesforce.com",
    "okta.com",
    "dropbox.com",
    "wikipedia.org",
    "bbc.co.uk",
    "nytimes.com",
    "linkedin.com",
    "twitter.com",
    "youtube.com",
    "gstatic.com",
    "googleapis.com",
    "digicert.com",
    "letsencrypt.org",
    "mozilla.org",
    "rust-lang.org",
    "crates.io",
    "stackoverflow.com",
    "reddit.com",
    "spotify.com",
    "adobe.com",
    "zendesk.com",
    "hubspot.com",
    "figma.com",
];
const SUBDOMAINS: [&str; 5] = ["www", "api", "cdn", "static", "login"];

/// Peers by where GeoIP puts them: US (AS209), US (AS6167), GB, SE (AS29518).
const US_209: [[u8; 4]; 4] = [[216, 160, 83, 56], [216, 160, 83, 57], [216, 160, 83, 58], [216, 160, 83, 59]];
const US_6167: [[u8; 4]; 3] = [[149, 101, 100, 1], [149, 101, 100, 2], [149, 101, 100, 3]];
const GB: [[u8; 4]; 4] = [[81, 2, 69, 142], [81, 2, 69, 160], [81, 2, 69, 161], [2, 125, 160, 218]];
const SE: [[u8; 4]; 3] = [[89, 160, 20, 113], [89, 160, 20, 114], [89, 160, 20, 130]];
/// AS7018 (no country in the test database): one host's usual peer.
const AT_T: [u8; 4] = [12, 81, 92, 7];
/// The monitoring server the periodic check goes to.
const MONITOR: [u8; 4] = [216, 160, 83, 57];
const RESOLVER: Ipv4Addr = Ipv4Addr::new(10, 1, 255, 53);
const ADMIN: Ipv4Addr = Ipv4Addr::new(81, 2, 69, 150);

fn ip(o: [u8; 4]) -> Ipv4Addr {
    Ipv4Addr::from(o)
}

/// A host of the scenario.
pub fn host(i: u8) -> Ipv4Addr {
    Ipv4Addr::new(10, 1, 0, 10 + i)
}

/// A host with no history at all.
pub const NEW_HOST: Ipv4Addr = Ipv4Addr::new(10, 1, 200, 1);
/// A host seen on two days for an hour: too little history.
pub const THIN_HOST: Ipv4Addr = Ipv4Addr::new(10, 1, 200, 2);

struct Persona {
    peers: Vec<Ipv4Addr>,
    domains: Vec<String>,
    hours: Vec<i64>,
}

/// The generator.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// Everything random comes from this.
    pub seed: u64,
    /// Days of baseline before the test day.
    pub baseline_days: u32,
    /// The first day (days since the epoch, UTC).
    pub first_day: i64,
}

impl Scenario {
    fn persona(&self, i: u8) -> Persona {
        let mut r = Rng::new(self.seed ^ (u64::from(i) << 32) ^ 0xabc);
        let mut peers = vec![ip(*r.pick(&US_209)), ip(*r.pick(&US_6167)), ip(*r.pick(&GB)), ip(*r.pick(&SE))];
        if i == 18 {
            peers.push(ip(AT_T));
        }
        let mut domains = Vec::new();
        while domains.len() < 12 {
            let d = format!("{}.{}", r.pick(&SUBDOMAINS), r.pick(&DOMAINS));
            if !domains.contains(&d) {
                domains.push(d);
            }
        }
        // Office hours; every fifth host is a server, busy around the clock.
        let hours = if i.is_multiple_of(5) { (0..24).collect() } else { (8..18).collect() };
        Persona { peers, domains, hours }
    }

    fn day_start(&self, day: u32) -> i64 {
        (self.first_day + i64::from(day)) * DAY
    }

    /// The test day's index (the day after the baseline).
    pub fn test_day(&self) -> u32 {
        self.baseline_days
    }

    /// One day of ordinary traffic (`volume` scales host 16's flows: the
    /// near miss of twice its usual volume on the test day).
    fn ordinary(&self, day: u32, out: &mut Frames, test_day: bool) {
        let start = self.day_start(day);
        let mut r = Rng::new(self.seed ^ (u64::from(day) << 40) ^ 0x1234);
        for i in 0..HOSTS {
            let p = self.persona(i);
            let h = host(i);
            let scale = if test_day && i == 16 { 2 } else { 1 };
            for &hour in &p.hours {
                let base = start + hour * H;
                let flows = if p.hours.len() == 24 { r.range(3, 7) } else { r.range(6, 14) } * scale;
                for _ in 0..flows {
                    let t = base + r.range(0, H - 30 * S);
                    let peer = *r.pick(&p.peers);
                    let cport = r.range(32768, 60999) as u16;
                    let client = r.lognormal(1500.0, 0.6).min(20_000.0) as usize;
                    let server = r.lognormal(4_000.0, 0.8).min(50_000.0) as usize;
                    let (sport, first) = if r.f64() < 0.8 {
                        (443, client_hello(r.pick(&p.domains).as_str()))
                    } else {
                        (80, b"GET / HTTP/1.1\r\n\r\n".to_vec())
                    };
                    tcp_conversation(
                        out,
                        t,
                        (h, cport),
                        (peer, sport),
                        &first,
                        client,
                        server,
                        r.range(5, 60) * 1_000_000,
                    );
                }
                for _ in 0..r.range(2, 7) {
                    let t = base + r.range(0, H - S);
                    let name = r.pick(&p.domains).clone();
                    let answer = ip(*r.pick(&US_209));
                    dns_lookup(
                        out,
                        t,
                        (h, r.range(1024, 65000) as u16),
                        RESOLVER,
                        r.next_u64() as u16,
                        &name,
                        Some(answer),
                        2_000_000,
                    );
                }
            }
            // Now and then a domain nobody looked up before (a new vendor, a news story).
            if r.f64() < 0.15 || (test_day && r.f64() < 0.3) {
                let t = start + *r.pick(&p.hours) * H + r.range(0, H - S);
                let name = format!(
                    "www.{}-{}.org",
                    r.pick(&["conference", "vendor", "weekly", "portal"]),
                    r.range(100, 99999)
                );
                dns_lookup(out, t, (h, 5353), RESOLVER, 7, &name, Some(ip(US_209[0])), 2_000_000);
            }
            // The admin logs in from GB to every fourth host each morning.
            if i.is_multiple_of(4) {
                let t = start + 9 * H + r.range(0, H / 2);
                tcp_conversation(
                    out,
                    t,
                    (ADMIN, r.range(40000, 60000) as u16),
                    (h, 22),
                    b"SSH-2.0-OpenSSH_9.6\r\n",
                    4000,
                    6000,
                    30_000_000,
                );
            }
            // Host 20's monitoring check: every five minutes, all day.
            if i == 20 {
                for k in 0..288 {
                    let t = start + k * 300 * S;
                    tcp_conversation(
                        out,
                        t,
                        (h, 40000 + (k % 1000) as u16),
                        (ip(MONITOR), 8443),
                        b"ping",
                        4,
                        4,
                        1_000_000,
                    );
                }
            }
        }
        // The thin host: an hour on the first two days only.
        if day < 2 {
            for k in 0..5 {
                let t = start + 12 * H + k * 600 * S;
                tcp_conversation(
                    out,
                    t,
                    (THIN_HOST, 41000 + k as u16),
                    (ip(US_209[0]), 443),
                    &client_hello("www.github.com"),
                    500,
                    5000,
                    10_000_000,
                );
            }
        }
    }

    /// A baseline day's frames (`day` < `baseline_days`).
    pub fn baseline_day(&self, day: u32) -> Frames {
        let mut out = Frames::new();
        self.ordinary(day, &mut out, false);
        out
    }

    /// The test day's frames and what was injected into them.
    pub fn test_day_frames(&self) -> (Frames, Vec<Injection>) {
        let day = self.test_day();
        let start = self.day_start(day);
        let mut out = Frames::new();
        self.ordinary(day, &mut out, true);
        let mut inj = Vec::new();
        let mut r = Rng::new(self.seed ^ 0xfeed);
        let beacon = |out: &mut Frames, h: Ipv4Addr, c2: Ipv4Addr, r: &mut Rng| {
            let t0 = start + 13 * H;
            for k in 0..60 {
                let t = t0 + k * 60 * S + r.range(-2000, 2001) * 1_000_000;
                tcp_conversation(
                    out,
                    t,
                    (h, 45000 + k as u16),
                    (c2, 443),
                    &client_hello("update.example-cdn.com"),
                    300,
                    400,
                    20_000_000,
                );
            }
            (t0, t0 + 61 * 60 * S)
        };
        for k in 0..4u8 {
            let h = host(k);
            let (from, to) = beacon(&mut out, h, Ipv4Addr::new(89, 160, 20, 200 + k), &mut r);
            inj.push(Injection { kind: Kind::Beacon, host: h.to_string(), from_ns: from, to_ns: to });
        }
        for k in 0..4u8 {
            let h = host(4 + k);
            let t = start + 15 * H + r.range(0, 600) * S;
            let end = tcp_conversation(
                &mut out,
                t,
                (h, 47000),
                (Ipv4Addr::new(216, 160, 83, 60 + k), 443),
                &client_hello("files.example-share.com"),
                6_000_000,
                2000,
                20_000_000,
            );
            inj.push(Injection { kind: Kind::Exfiltration, host: h.to_string(), from_ns: t, to_ns: end });
        }
        let attackers = [[67, 43, 156, 10], [175, 16, 199, 10], [202, 196, 224, 10], [67, 43, 156, 20]];
        for (k, a) in attackers.iter().enumerate() {
            let h = host(8 + k as u8);
            let t = start + 10 * H + r.range(0, 1800) * S;
            let end = tcp_conversation(
                &mut out,
                t,
                (ip(*a), 51000),
                (h, 22),
                b"SSH-2.0-libssh_0.9.6\r\n",
                3000,
                5000,
                150_000_000,
            );
            inj.push(Injection { kind: Kind::NewCountry, host: h.to_string(), from_ns: t, to_ns: end });
        }
        for k in 0..4u8 {
            let h = host(12 + k);
            let t0 = start + 16 * H;
            for q in 0..40 {
                let name = generated_name(&mut r);
                dns_lookup(&mut out, t0 + q * 3 * S, (h, 30000 + q as u16), RESOLVER, q as u16, &name, None, 2_000_000);
            }
            inj.push(Injection { kind: Kind::DomainBurst, host: h.to_string(), from_ns: t0, to_ns: t0 + 121 * S });
        }
        // Near misses. Host 17 uses AS7018, which host 18 always has.
        tcp_conversation(
            &mut out,
            start + 11 * H,
            (host(17), 48000),
            (Ipv4Addr::new(12, 81, 92, 9), 443),
            &client_hello("www.github.com"),
            900,
            9000,
            20_000_000,
        );
        // Host 19 looks up four new domains over the day.
        for q in 0..4 {
            dns_lookup(
                &mut out,
                start + (9 + 2 * q) * H,
                (host(19), 31000),
                RESOLVER,
                9,
                &format!("www.{}.net", generated_name(&mut r)),
                Some(ip(US_209[1])),
                2_000_000,
            );
        }
        // Hosts without (enough) history do the anomalous things: never flagged.
        for (h, c2) in [(NEW_HOST, [89, 160, 20, 250]), (THIN_HOST, [89, 160, 20, 251])] {
            beacon(&mut out, h, ip(c2), &mut r);
            let t = start + 10 * H + r.range(0, 1800) * S;
            tcp_conversation(
                &mut out,
                t,
                (ip([67, 43, 156, 30]), 52000),
                (h, 22),
                b"SSH-2.0-libssh_0.9.6\r\n",
                3000,
                5000,
                150_000_000,
            );
            for q in 0..40 {
                let name = generated_name(&mut r);
                dns_lookup(
                    &mut out,
                    start + 17 * H + q * 3 * S,
                    (h, 32000 + q as u16),
                    RESOLVER,
                    q as u16,
                    &name,
                    None,
                    2_000_000,
                );
            }
        }
        (out, inj)
    }
}

/// A DGA-like name: 10–16 random letters under a common TLD.
fn generated_name(r: &mut Rng) -> String {
    let len = r.range(10, 17);
    let label: String = (0..len).map(|_| (b'a' + r.range(0, 26) as u8) as char).collect();
    format!("{label}.{}", r.pick(&["com", "net", "biz", "info"]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scenario_is_deterministic_and_injects_four_of_each_kind() {
        let s = Scenario { seed: 7, baseline_days: 2, first_day: 20_000 };
        let a = s.baseline_day(0);
        assert_eq!(a, s.baseline_day(0));
        assert!(a.len() > 10_000, "{} frames", a.len());
        let (frames, inj) = s.test_day_frames();
        for k in Kind::ALL {
            assert_eq!(inj.iter().filter(|i| i.kind == k).count(), 4, "{k:?}");
        }
        let day = s.day_start(2);
        assert!(frames.iter().all(|(t, _)| *t >= day && *t < day + DAY + H));
    }
}
