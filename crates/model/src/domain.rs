//! Domain names as the models see them: the registrable domain (the part
//! an owner registers, so `a1.cdn.example.com` and `b2.cdn.example.com` are
//! one name) and how random its first label looks.

/// Second-level labels under which registrations happen one level deeper
/// (`example.co.uk`): a short list of the common ones, not the full public
/// suffix list.
const SECOND_LEVEL: [&str; 12] = ["co", "com", "net", "org", "gov", "ac", "edu", "ne", "or", "go", "gob", "mil"];

/// The registrable domain of `name`, lower-cased, without a trailing dot;
/// `None` for names with no dot, IP literals, reverse-lookup names and
/// empty labels.
pub fn registrable(name: &str) -> Option<String> {
    let name = name.trim_end_matches('.');
    if name.is_empty() || name.len() > 253 || name.parse::<std::net::IpAddr>().is_ok() {
        return None;
    }
    let lower = name.to_ascii_lowercase();
    if lower.ends_with(".arpa") || lower.ends_with(".local") {
        return None;
    }
    let labels: Vec<&str> = lower.split('.').collect();
    if labels.len() < 2 || labels.iter().any(|l| l.is_empty()) {
        return None;
    }
    let n = labels.len();
    let take = if n >= 3 && labels[n - 1].len() == 2 && SECOND_LEVEL.contains(&labels[n - 2]) { 3 } else { 2 };
    Some(labels[n - take..].join("."))
}

/// Shannon entropy (bits per character) of the registrable domain's first
/// label: generated names sit near 3.5–4, words lower.
pub fn label_entropy(registrable: &str) -> f64 {
    let label = registrable.split('.').next().unwrap_or("");
    if label.is_empty() {
        return 0.0;
    }
    let mut counts = [0u32; 256];
    for b in label.bytes() {
        counts[b as usize] += 1;
    }
    let n = label.len() as f64;
    counts.iter().filter(|&&c| c > 0).map(|&c| -(f64::from(c) / n) * (f64::from(c) / n).log2()).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registrable_domains() {
        assert_eq!(registrable("www.Example.COM.").as_deref(), Some("example.com"));
        assert_eq!(registrable("a.b.news.bbc.co.uk").as_deref(), Some("bbc.co.uk"));
        assert_eq!(registrable("example.com").as_deref(), Some("example.com"));
        assert_eq!(registrable("de").as_deref(), None);
        assert_eq!(registrable("10.0.0.1"), None);
        assert_eq!(registrable("1.0.0.10.in-addr.arpa"), None);
        assert_eq!(registrable("printer.local"), None);
        assert_eq!(registrable("a..b"), None);
    }

    #[test]
    fn generated_labels_have_more_entropy_than_words() {
        assert!(label_entropy("xkqzjvhwpmtr.com") > 3.4);
        assert!(label_entropy("google.com") < 2.5);
        assert_eq!(label_entropy(""), 0.0);
    }
}
