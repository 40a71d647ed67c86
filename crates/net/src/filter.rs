//! Flow filter expressions: which flows (and so which flow chunks of the
//! `packets` table) a carve takes.
//!
//! A BPF-like subset over what a chunk records of its flow:
//!
//! ```text
//! host 10.0.0.1 and (port 53 or port 443) and not net 192.168.0.0/16
//! community_id 1:LQU9qZlK+B5F3KDmev6m5PMibrg= or (udp and sensor edge-1)
//! ```
//!
//! Primitives: `host ADDR`, `net CIDR`, `port N`, `port N-M`, `proto NAME|N`
//! (or just `tcp`, `udp`, `icmp`, `icmp6`, `sctp`, `gre`), `community_id ID`
//! (`cid` for short), `sensor NAME`. They combine with `and`/`&&`, `or`/`||`,
//! `not`/`!` and parentheses; `and` binds tighter than `or`. A chunk holds
//! both directions of one flow, so there is no `src`/`dst`: `host` and
//! `port` match either endpoint.
//!
//! [`FilterExpr::matches`] decides for one flow's key; the lake turns an
//! expression into a pruning predicate on its chunk columns as well
//! (`opensoc_lake::carve::prune_expr`).

use std::fmt;
use std::net::IpAddr;

use ipnet::IpNet;

/// Longest filter text accepted, in bytes.
pub const MAX_FILTER_LEN: usize = 4096;
/// Most primitives in one expression.
pub const MAX_TERMS: usize = 256;
/// Deepest nesting of parentheses and `not`.
pub const MAX_DEPTH: usize = 32;

/// One primitive of a filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Term {
    /// The flow's Community ID v1.
    CommunityId(String),
    /// Either endpoint is this address.
    Host(IpAddr),
    /// Either endpoint is in this network.
    Net(IpNet),
    /// Either endpoint's port is in this inclusive range.
    Port(u16, u16),
    /// IANA protocol number.
    Proto(u8),
    /// The sensor that captured the packets.
    Sensor(String),
}

/// A filter expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FilterExpr {
    /// A primitive.
    Term(Term),
    /// Negation.
    Not(Box<FilterExpr>),
    /// Every part matches.
    And(Vec<FilterExpr>),
    /// Some part matches.
    Or(Vec<FilterExpr>),
}

/// Why a filter text is not a filter.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("carve filter, at character {position}: {message}")]
pub struct FilterError {
    /// Character offset (0-based) in the text where the problem starts.
    pub position: usize,
    /// What is wrong.
    pub message: String,
}

/// What a chunk row records of its flow, as [`FilterExpr::matches`] sees it.
#[derive(Debug, Clone, Copy, Default)]
pub struct ChunkKey<'a> {
    /// Community ID (null for non-IP packets).
    pub community_id: Option<&'a str>,
    /// The lower endpoint address.
    pub ip_lo: Option<IpAddr>,
    /// The higher endpoint address.
    pub ip_hi: Option<IpAddr>,
    /// The lower endpoint's port.
    pub port_lo: Option<i32>,
    /// The higher endpoint's port.
    pub port_hi: Option<i32>,
    /// IANA protocol number.
    pub proto: Option<i32>,
    /// The capturing sensor.
    pub sensor_id: Option<&'a str>,
}

/// Check a Community ID v1 text: `1:` and 28 base64 characters.
pub fn check_community_id(id: &str) -> Result<(), String> {
    let ok = id.len() == 30
        && id.starts_with("1:")
        && id[2..].bytes().all(|c| c.is_ascii_alphanumeric() || b"+/=".contains(&c));
    if ok { Ok(()) } else { Err(format!("{id:?} is not a Community ID v1 (\"1:\" and 28 base64 characters)")) }
}

/// A protocol by name (`tcp`, `udp`, `icmp`, `icmp6`, `sctp`, `gre`) or number.
pub fn parse_proto(s: &str) -> Result<u8, String> {
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

fn proto_name(p: u8) -> Option<&'static str> {
    Some(match p {
        6 => "tcp",
        17 => "udp",
        1 => "icmp",
        58 => "icmp6",
        132 => "sctp",
        47 => "gre",
        _ => return None,
    })
}

/// A sensor name: what sensor ids look like (letters, digits, `._:-`).
fn check_sensor(s: &str) -> Result<(), String> {
    if !s.is_empty() && s.len() <= 128 && s.bytes().all(|c| c.is_ascii_alphanumeric() || b"._:-".contains(&c)) {
        Ok(())
    } else {
        Err(format!("{s:?} is not a sensor id (1 to 128 letters, digits, '.', '_', ':', '-')"))
    }
}

impl Term {
    /// The `community_id` primitive, checked.
    pub fn community_id(id: &str) -> Result<Term, String> {
        check_community_id(id)?;
        Ok(Term::CommunityId(id.to_string()))
    }

    /// The `sensor` primitive, checked.
    pub fn sensor(name: &str) -> Result<Term, String> {
        check_sensor(name)?;
        Ok(Term::Sensor(name.to_string()))
    }

    /// Whether a flow's key has this term.
    pub fn matches(&self, k: &ChunkKey<'_>) -> bool {
        let either = |f: &dyn Fn(IpAddr) -> bool| k.ip_lo.is_some_and(f) || k.ip_hi.is_some_and(f);
        match self {
            Term::CommunityId(id) => k.community_id == Some(id.as_str()),
            Term::Host(h) => either(&|a| a == *h),
            Term::Net(n) => either(&|a| n.contains(&a)),
            Term::Port(lo, hi) => {
                let r = (*lo as i32)..=(*hi as i32);
                k.port_lo.is_some_and(|p| r.contains(&p)) || k.port_hi.is_some_and(|p| r.contains(&p))
            }
            Term::Proto(p) => k.proto == Some(*p as i32),
            Term::Sensor(s) => k.sensor_id == Some(s.as_str()),
        }
    }
}

impl fmt::Display for Term {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Term::CommunityId(id) => write!(f, "community_id {id}"),
            Term::Host(h) => write!(f, "host {h}"),
            Term::Net(n) => write!(f, "net {n}"),
            Term::Port(lo, hi) if lo == hi => write!(f, "port {lo}"),
            Term::Port(lo, hi) => write!(f, "port {lo}-{hi}"),
            Term::Proto(p) => match proto_name(*p) {
                Some(name) => write!(f, "proto {name}"),
                None => write!(f, "proto {p}"),
            },
            Term::Sensor(s) => write!(f, "sensor {s}"),
        }
    }
}

impl FilterExpr {
    /// Parse a filter text.
    pub fn parse(text: &str) -> Result<FilterExpr, FilterError> {
        if text.len() > MAX_FILTER_LEN {
            return Err(FilterError {
                position: 0,
                message: format!("the filter is {} bytes long; at most {MAX_FILTER_LEN}", text.len()),
            });
        }
        let tokens = tokenize(text);
        if tokens.is_empty() {
            return Err(FilterError { position: 0, message: "the filter is empty".into() });
        }
        let mut p = Parser { tokens, at: 0, terms: 0, end: text.chars().count() };
        let expr = p.or(0)?;
        if let Some(t) = p.peek() {
            return Err(p.error_at(t.position, format!("unexpected {:?} after a complete filter", t.text)));
        }
        Ok(expr)
    }

    /// All of `parts` (flattened; one part is itself).
    pub fn all(parts: Vec<FilterExpr>) -> Option<FilterExpr> {
        let mut flat = Vec::with_capacity(parts.len());
        for p in parts {
            match p {
                FilterExpr::And(inner) => flat.extend(inner),
                other => flat.push(other),
            }
        }
        match flat.len() {
            0 => None,
            1 => flat.pop(),
            _ => Some(FilterExpr::And(flat)),
        }
    }

    /// Whether a chunk matches.
    pub fn matches(&self, k: &ChunkKey<'_>) -> bool {
        match self {
            FilterExpr::Term(t) => t.matches(k),
            FilterExpr::Not(e) => !e.matches(k),
            FilterExpr::And(parts) => parts.iter().all(|p| p.matches(k)),
            FilterExpr::Or(parts) => parts.iter().any(|p| p.matches(k)),
        }
    }

    fn fmt_in(&self, f: &mut fmt::Formatter<'_>, parent_and: bool) -> fmt::Result {
        match self {
            FilterExpr::Term(t) => write!(f, "{t}"),
            FilterExpr::Not(e) => {
                f.write_str("not ")?;
                match **e {
                    FilterExpr::Term(_) | FilterExpr::Not(_) => e.fmt_in(f, true),
                    _ => {
                        f.write_str("(")?;
                        e.fmt_in(f, false)?;
                        f.write_str(")")
                    }
                }
            }
            FilterExpr::And(parts) => join(f, parts, " and ", true),
            FilterExpr::Or(parts) if parent_and => {
                f.write_str("(")?;
                join(f, parts, " or ", false)?;
                f.write_str(")")
            }
            FilterExpr::Or(parts) => join(f, parts, " or ", false),
        }
    }
}

fn join(f: &mut fmt::Formatter<'_>, parts: &[FilterExpr], sep: &str, and: bool) -> fmt::Result {
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            f.write_str(sep)?;
        }
        p.fmt_in(f, and)?;
    }
    Ok(())
}

/// The canonical text: lower-case keywords, single spaces, parentheses only
/// where needed. Parsing it gives the same expression.
impl fmt::Display for FilterExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.fmt_in(f, false)
    }
}

#[derive(Debug, Clone)]
struct Token {
    text: String,
    position: usize,
}

/// Words, and parentheses and `!` as tokens of their own.
fn tokenize(text: &str) -> Vec<Token> {
    let mut out = Vec::new();
    let mut word = String::new();
    let mut start = 0;
    for (i, c) in text.chars().enumerate() {
        if c.is_whitespace() || c == '(' || c == ')' || c == '!' {
            if !word.is_empty() {
                out.push(Token { text: std::mem::take(&mut word), position: start });
            }
            if !c.is_whitespace() {
                out.push(Token { text: c.to_string(), position: i });
            }
        } else {
            if word.is_empty() {
                start = i;
            }
            word.push(c);
        }
    }
    if !word.is_empty() {
        out.push(Token { text: word, position: start });
    }
    out
}

struct Parser {
    tokens: Vec<Token>,
    at: usize,
    terms: usize,
    end: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }

    fn peek_is(&self, words: &[&str]) -> bool {
        self.peek().is_some_and(|t| words.iter().any(|w| t.text.eq_ignore_ascii_case(w)))
    }

    fn error_at(&self, position: usize, message: String) -> FilterError {
        FilterError { position, message }
    }

    fn depth_check(&self, depth: usize) -> Result<(), FilterError> {
        if depth > MAX_DEPTH {
            let pos = self.peek().map_or(self.end, |t| t.position);
            return Err(self.error_at(pos, format!("nested more than {MAX_DEPTH} deep")));
        }
        Ok(())
    }

    /// `a or (b or c)` is `a or b or c`: nested parts of the same kind are
    /// flattened, so the canonical text parses back to the same expression.
    fn or(&mut self, depth: usize) -> Result<FilterExpr, FilterError> {
        let mut parts = Vec::new();
        loop {
            match self.and(depth)? {
                FilterExpr::Or(inner) => parts.extend(inner),
                other => parts.push(other),
            }
            if !self.peek_is(&["or", "||"]) {
                break;
            }
            self.at += 1;
        }
        Ok(if parts.len() == 1 { parts.remove(0) } else { FilterExpr::Or(parts) })
    }

    fn and(&mut self, depth: usize) -> Result<FilterExpr, FilterError> {
        let mut parts = Vec::new();
        loop {
            match self.unary(depth)? {
                FilterExpr::And(inner) => parts.extend(inner),
                other => parts.push(other),
            }
            if !self.peek_is(&["and", "&&"]) {
                break;
            }
            self.at += 1;
        }
        Ok(if parts.len() == 1 { parts.remove(0) } else { FilterExpr::And(parts) })
    }

    fn unary(&mut self, depth: usize) -> Result<FilterExpr, FilterError> {
        self.depth_check(depth)?;
        let Some(tok) = self.peek().cloned() else {
            return Err(self.error_at(self.end, "the filter ends where a primitive or '(' was expected".into()));
        };
        let word = tok.text.to_ascii_lowercase();
        match word.as_str() {
            "not" | "!" => {
                self.at += 1;
                Ok(FilterExpr::Not(Box::new(self.unary(depth + 1)?)))
            }
            "(" => {
                self.at += 1;
                let inner = self.or(depth + 1)?;
                match self.peek() {
                    Some(t) if t.text == ")" => {
                        self.at += 1;
                        Ok(inner)
                    }
                    Some(t) => Err(self.error_at(t.position, format!("expected ')' , found {:?}", t.text))),
                    None => Err(self.error_at(tok.position, "this '(' is never closed".into())),
                }
            }
            _ => self.term(&tok, &word).map(FilterExpr::Term),
        }
    }

    /// The value after a keyword.
    fn value(&mut self, keyword: &Token, what: &str) -> Result<Token, FilterError> {
        match self.tokens.get(self.at).cloned() {
            Some(t) if !["(", ")", "!"].contains(&t.text.as_str()) => {
                self.at += 1;
                Ok(t)
            }
            Some(t) => {
                Err(self.error_at(t.position, format!("expected {what} after {:?}, found {:?}", keyword.text, t.text)))
            }
            None => Err(self.error_at(self.end, format!("expected {what} after {:?}", keyword.text))),
        }
    }

    fn term(&mut self, tok: &Token, word: &str) -> Result<Term, FilterError> {
        self.terms += 1;
        if self.terms > MAX_TERMS {
            return Err(self.error_at(tok.position, format!("more than {MAX_TERMS} primitives")));
        }
        self.at += 1;
        let bad = |t: &Token, m: String| FilterError { position: t.position, message: m };
        match word {
            "host" => {
                let v = self.value(tok, "an IP address")?;
                v.text.parse().map(Term::Host).map_err(|_| bad(&v, format!("{:?} is not an IP address", v.text)))
            }
            "net" => {
                let v = self.value(tok, "a network (CIDR, e.g. 10.0.0.0/8)")?;
                v.text
                    .parse::<IpNet>()
                    .map(|n| Term::Net(n.trunc()))
                    .map_err(|_| bad(&v, format!("{:?} is not a network in CIDR form (e.g. 10.0.0.0/8)", v.text)))
            }
            "port" | "portrange" => {
                let v = self.value(tok, "a port or a range (e.g. 443 or 8000-8100)")?;
                let port = |s: &str| s.parse::<u16>().map_err(|_| bad(&v, format!("{s:?} is not a port (0-65535)")));
                match v.text.split_once('-') {
                    Some((lo, hi)) => {
                        let (lo, hi) = (port(lo)?, port(hi)?);
                        if lo > hi {
                            return Err(bad(&v, format!("the port range {lo}-{hi} ends before it starts")));
                        }
                        Ok(Term::Port(lo, hi))
                    }
                    None => port(&v.text).map(|p| Term::Port(p, p)),
                }
            }
            "proto" => {
                let v = self.value(tok, "a protocol name or number")?;
                parse_proto(&v.text).map(Term::Proto).map_err(|m| bad(&v, m))
            }
            "tcp" | "udp" | "icmp" | "icmp6" | "icmpv6" | "sctp" | "gre" => {
                parse_proto(word).map(Term::Proto).map_err(|m| bad(tok, m))
            }
            "community_id" | "community-id" | "cid" => {
                let v = self.value(tok, "a Community ID")?;
                Term::community_id(&v.text).map_err(|m| bad(&v, m))
            }
            "sensor" => {
                let v = self.value(tok, "a sensor id")?;
                Term::sensor(&v.text).map_err(|m| bad(&v, m))
            }
            "src" | "dst" => Err(bad(
                tok,
                format!(
                    "{word:?}: packets are stored per flow with both directions together, so filters are \
                     direction-free; use host/port"
                ),
            )),
            "and" | "or" | "&&" | "||" => Err(bad(tok, format!("{:?} needs a primitive before it", tok.text))),
            ")" => Err(bad(tok, "unbalanced ')'".into())),
            _ => Err(bad(
                tok,
                format!(
                    "unknown primitive {:?} (host, net, port, proto, tcp, udp, icmp, icmp6, sctp, gre, community_id, sensor)",
                    tok.text
                ),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(lo: &str, hi: &str, plo: i32, phi: i32, proto: i32) -> ChunkKey<'static> {
        ChunkKey {
            community_id: Some("1:LQU9qZlK+B5F3KDmev6m5PMibrg="),
            ip_lo: lo.parse().ok(),
            ip_hi: hi.parse().ok(),
            port_lo: Some(plo),
            port_hi: Some(phi),
            proto: Some(proto),
            sensor_id: Some("edge-1"),
        }
    }

    #[test]
    fn precedence_and_canonical_text_round_trip() {
        let e = FilterExpr::parse("HOST 10.0.0.1 && (port 53 || port 443) and ! net 192.168.0.7/16").unwrap();
        assert_eq!(e.to_string(), "host 10.0.0.1 and (port 53 or port 443) and not net 192.168.0.0/16");
        assert_eq!(FilterExpr::parse(&e.to_string()).unwrap(), e);
        let e = FilterExpr::parse("tcp and port 80 or udp and port 53").unwrap();
        assert_eq!(e.to_string(), "proto tcp and port 80 or proto udp and port 53");
        assert!(matches!(e, FilterExpr::Or(ref v) if v.len() == 2));
        // Found by the fuzz target: nested parts of one kind flatten, so the
        // canonical text round-trips.
        let e = FilterExpr::parse("(port 53 or!port 443) or!port 416").unwrap();
        assert_eq!(e.to_string(), "port 53 or not port 443 or not port 416");
        assert_eq!(FilterExpr::parse(&e.to_string()).unwrap(), e);
        let e = FilterExpr::parse("not (host ::1 or sensor a.b-c) and proto 99 and port 1-1024").unwrap();
        assert_eq!(e.to_string(), "not (host ::1 or sensor a.b-c) and proto 99 and port 1-1024");
        assert_eq!(FilterExpr::parse(&e.to_string()).unwrap(), e);
    }

    #[test]
    fn matching_is_exact_and_direction_free() {
        let k = key("10.0.0.1", "192.168.1.9", 443, 51000, 6);
        let t = |s: &str| FilterExpr::parse(s).unwrap().matches(&k);
        assert!(t("host 192.168.1.9"));
        assert!(t("net 192.168.0.0/16 and port 443 and tcp"));
        assert!(!t("net 192.168.0.0/24"));
        assert!(t("port 50000-52000"));
        assert!(!t("udp or port 80"));
        assert!(t("not udp and sensor edge-1"));
        assert!(t("cid 1:LQU9qZlK+B5F3KDmev6m5PMibrg="));
        // A non-IP chunk matches no address term, and their negations.
        let none = ChunkKey::default();
        assert!(!FilterExpr::parse("host 10.0.0.1").unwrap().matches(&none));
        assert!(FilterExpr::parse("not host 10.0.0.1").unwrap().matches(&none));
    }

    #[test]
    fn errors_say_where_and_what() {
        let err = |s: &str| FilterExpr::parse(s).unwrap_err();
        assert_eq!(err("host 10.0.0.300").position, 5);
        assert!(err("host 10.0.0.300").message.contains("not an IP address"));
        assert!(err("host").message.contains("expected an IP address"));
        assert!(err("(tcp").message.contains("never closed"));
        assert!(err("tcp)").message.contains("unexpected"));
        assert!(err("src host 1.2.3.4").message.contains("direction-free"));
        assert!(err("port 90-80").message.contains("ends before it starts"));
        assert!(err("port 70000").message.contains("not a port"));
        assert!(err("cid abc").message.contains("Community ID"));
        assert!(err("sensor ../../etc").message.contains("not a sensor id"));
        assert!(err("frobnicate").message.contains("unknown primitive"));
        assert!(err("and tcp").message.contains("needs a primitive"));
        assert!(err("   ").message.contains("empty"));
        assert!(err(&"(".repeat(40)).message.contains("nested"));
        assert!(err(&vec!["tcp"; 300].join(" or ")).message.contains("primitives"));
        assert!(err(&"x".repeat(5000)).message.contains("at most"));
        assert!(err("net 10.0.0.0/33").message.contains("CIDR"));
    }

    #[test]
    fn hostile_text_never_panics() {
        for s in ["(((", ")))", "!!!!", "host ", "port -", "port 1-", "net /", "cid 1:", "\u{0}", "ü ö (", "not"] {
            let _ = FilterExpr::parse(s);
        }
    }
}
