//! Sigma field conditions: a value (or list of values) with modifiers —
//! `contains`, `startswith`, `endswith`, `re`, `cidr`, `all`, `gt`, `gte`,
//! `lt`, `lte`, `exists`, `cased` — and `*`/`?` wildcards in plain values.
//! Text compares case-insensitively unless `cased` is given, as in Sigma.

use std::net::IpAddr;

use regex::Regex;

use super::row::Val;

/// One value a field is tested against.
#[derive(Debug, Clone)]
pub enum Pattern {
    /// Equal text (lowercased unless cased).
    Exact(String),
    /// Contains.
    Contains(String),
    /// Starts with.
    Prefix(String),
    /// Ends with.
    Suffix(String),
    /// A regular expression (also wildcard values).
    Re(Regex),
    /// An address inside a network.
    Cidr(IpAddr, u8),
    /// A number compared.
    Num(NumOp, f64),
    /// Null or absent (`field: null`).
    Null,
    /// Present and not null (true) or absent (false).
    Exists(bool),
}

/// Numeric comparisons.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NumOp {
    /// Equal.
    Eq,
    /// Greater than.
    Gt,
    /// Greater or equal.
    Gte,
    /// Less than.
    Lt,
    /// Less or equal.
    Lte,
}

/// A field and what it must match.
#[derive(Debug, Clone)]
pub struct FieldCond {
    /// The field's id in the rule set.
    pub field: usize,
    /// Any pattern (false) or every pattern (true, `|all`).
    pub all: bool,
    /// Case-sensitive text comparisons.
    pub cased: bool,
    /// The values.
    pub patterns: Vec<Pattern>,
}

fn glob_to_regex(s: &str, anchor_start: bool, anchor_end: bool, cased: bool) -> Result<Regex, String> {
    let mut re = String::from(if cased { "(?s)" } else { "(?is)" });
    if anchor_start {
        re.push('^');
    }
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(e @ ('*' | '?' | '\\')) => re.push_str(&regex::escape(&e.to_string())),
                Some(e) => {
                    re.push_str(&regex::escape("\\"));
                    re.push_str(&regex::escape(&e.to_string()));
                }
                None => re.push_str(&regex::escape("\\")),
            },
            '*' => re.push_str(".*"),
            '?' => re.push('.'),
            c => re.push_str(&regex::escape(&c.to_string())),
        }
    }
    if anchor_end {
        re.push('$');
    }
    Regex::new(&re).map_err(|e| e.to_string())
}

/// A value without wildcards, its `\*`, `\?` and `\\` unescaped.
fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\' && matches!(chars.peek(), Some('*' | '?' | '\\')) {
            out.extend(chars.next());
        } else {
            out.push(c);
        }
    }
    out
}

fn has_wildcard(s: &str) -> bool {
    let b = s.as_bytes();
    (0..b.len()).any(|i| matches!(b[i], b'*' | b'?') && (i == 0 || b[i - 1] != b'\\'))
}

/// Parse `net` (`10.0.0.0/8`, `2001:db8::/32`, or an address) into a network.
pub fn parse_cidr(net: &str) -> Result<(IpAddr, u8), String> {
    let (addr, len) = match net.split_once('/') {
        Some((a, l)) => (a, Some(l)),
        None => (net, None),
    };
    let ip: IpAddr = addr.trim().parse().map_err(|_| format!("{net:?} is not a network"))?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    let len = match len {
        Some(l) => {
            l.trim().parse::<u8>().ok().filter(|l| *l <= max).ok_or_else(|| format!("{net:?}: bad prefix length"))?
        }
        None => max,
    };
    Ok((ip, len))
}

fn in_network(ip: IpAddr, net: IpAddr, len: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            let mask = if len == 0 { 0 } else { u32::MAX << (32 - u32::from(len)) };
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            let mask = if len == 0 { 0 } else { u128::MAX << (128 - u32::from(len)) };
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

/// Build the pattern of one value under `modifiers`.
pub fn pattern(value: &serde_yaml_ng::Value, modifiers: &[&str], cased: bool) -> Result<Pattern, String> {
    use serde_yaml_ng::Value as Y;
    let text = match value {
        Y::Null => {
            return if modifiers.is_empty() { Ok(Pattern::Null) } else { Err("null with a modifier".into()) };
        }
        Y::Bool(b) if modifiers == ["exists"] => return Ok(Pattern::Exists(*b)),
        Y::Bool(b) => b.to_string(),
        Y::Number(n) => n.to_string(),
        Y::String(s) => s.clone(),
        other => return Err(format!("a value must be text, a number, a boolean or null, not {other:?}")),
    };
    let fold = |s: &str| if cased { unescape(s) } else { unescape(s).to_lowercase() };
    let num =
        |op| text.trim().parse::<f64>().map(|n| Pattern::Num(op, n)).map_err(|_| format!("{text:?} is not a number"));
    match modifiers {
        [] => {
            if has_wildcard(&text) {
                return glob_to_regex(&text, true, true, cased).map(Pattern::Re);
            }
            if matches!(value, Y::Number(_)) {
                return num(NumOp::Eq);
            }
            Ok(Pattern::Exact(fold(&text)))
        }
        ["contains"] if has_wildcard(&text) => glob_to_regex(&text, false, false, cased).map(Pattern::Re),
        ["startswith"] if has_wildcard(&text) => glob_to_regex(&text, true, false, cased).map(Pattern::Re),
        ["endswith"] if has_wildcard(&text) => glob_to_regex(&text, false, true, cased).map(Pattern::Re),
        ["contains"] => Ok(Pattern::Contains(fold(&text))),
        ["startswith"] => Ok(Pattern::Prefix(fold(&text))),
        ["endswith"] => Ok(Pattern::Suffix(fold(&text))),
        ["re"] => Regex::new(&text).map(Pattern::Re).map_err(|e| format!("regular expression {text:?}: {e}")),
        ["cidr"] => parse_cidr(&text).map(|(n, l)| Pattern::Cidr(n, l)),
        ["gt"] => num(NumOp::Gt),
        ["gte"] => num(NumOp::Gte),
        ["lt"] => num(NumOp::Lt),
        ["lte"] => num(NumOp::Lte),
        ["exists"] => Err("exists takes true or false".into()),
        other => Err(format!("unsupported modifier {:?}", other.join("|"))),
    }
}

impl Pattern {
    /// Whether `v` matches (a list matches when any item does).
    pub fn matches(&self, v: &Val<'_>, cased: bool) -> bool {
        if let Val::List(items) = v {
            return match self {
                Pattern::Null => items.is_empty(),
                Pattern::Exists(e) => *e,
                _ => items.iter().any(|i| self.matches(i, cased)),
            };
        }
        match self {
            Pattern::Null => matches!(v, Val::Null),
            Pattern::Exists(e) => *e != matches!(v, Val::Null),
            Pattern::Num(op, n) => v.number().is_some_and(|x| match op {
                NumOp::Eq => x == *n,
                NumOp::Gt => x > *n,
                NumOp::Gte => x >= *n,
                NumOp::Lt => x < *n,
                NumOp::Lte => x <= *n,
            }),
            Pattern::Cidr(net, len) => {
                v.text().and_then(|t| t.trim().parse::<IpAddr>().ok()).is_some_and(|ip| in_network(ip, *net, *len))
            }
            Pattern::Re(re) => v.text().is_some_and(|t| re.is_match(&t)),
            Pattern::Exact(p) | Pattern::Contains(p) | Pattern::Prefix(p) | Pattern::Suffix(p) => {
                let Some(t) = v.text() else { return false };
                let folded;
                let t: &str = if cased {
                    &t
                } else {
                    folded = t.to_lowercase();
                    &folded
                };
                match self {
                    Pattern::Exact(p) => t == p,
                    Pattern::Contains(p) => t.contains(p.as_str()),
                    Pattern::Prefix(p) => t.starts_with(p.as_str()),
                    _ => t.ends_with(p.as_str()),
                }
            }
        }
    }
}

impl FieldCond {
    /// Whether the field's value `v` satisfies the condition.
    pub fn matches(&self, v: &Val<'_>) -> bool {
        if self.all {
            self.patterns.iter().all(|p| p.matches(v, self.cased))
        } else {
            self.patterns.iter().any(|p| p.matches(v, self.cased))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::borrow::Cow;

    fn p(v: &str, m: &[&str]) -> Pattern {
        pattern(&serde_yaml_ng::Value::String(v.into()), m, false).unwrap()
    }

    fn s(t: &str) -> Val<'_> {
        Val::Str(Cow::Borrowed(t))
    }

    #[test]
    fn modifiers_and_wildcards() {
        assert!(p("Failed password", &["contains"]).matches(&s("sshd: failed PASSWORD for x"), false));
        assert!(p("/bin/", &["startswith"]).matches(&s("/BIN/sh"), false));
        assert!(!p("/bin/", &["startswith"]).matches(&s("/BIN/sh"), true), "cased");
        assert!(p(".exe", &["endswith"]).matches(&s("a.EXE"), false));
        assert!(p("*.evil.*", &[]).matches(&s("www.EVIL.com"), false));
        assert!(!p("a?c", &[]).matches(&s("abbc"), false));
        assert!(p("a\\*c", &[]).matches(&s("a*c"), false), "an escaped star is literal");
        assert!(!p("a\\*c", &[]).matches(&s("abc"), false));
        assert!(p("^ab+c$", &["re"]).matches(&s("abbbc"), false));
        assert!(p("10.0.0.0/8", &["cidr"]).matches(&s("10.9.8.7"), false));
        assert!(!p("10.0.0.0/8", &["cidr"]).matches(&s("11.0.0.1"), false));
        assert!(p("2001:db8::/32", &["cidr"]).matches(&s("2001:db8::1"), false));
        assert!(p("3.5", &["gte"]).matches(&Val::Float(3.5), false));
        assert!(!p("3.5", &["gt"]).matches(&Val::Int(3), false));
        let list = Val::List(vec![s("h2"), s("http/1.1")]);
        assert!(p("h2", &[]).matches(&list, false));
        let n = pattern(&serde_yaml_ng::Value::Number(22.into()), &[], false).unwrap();
        assert!(n.matches(&Val::Int(22), false) && n.matches(&s("22"), false));
    }

    #[test]
    fn bad_patterns_are_errors() {
        let v = serde_yaml_ng::Value::String("(".into());
        assert!(pattern(&v, &["re"], false).unwrap_err().contains("regular expression"));
        assert!(pattern(&v, &["cidr"], false).is_err());
        assert!(pattern(&v, &["gt"], false).unwrap_err().contains("not a number"));
        assert!(pattern(&v, &["base64offset"], false).unwrap_err().contains("unsupported modifier"));
        assert!(parse_cidr("10.0.0.0/33").is_err());
    }
}
