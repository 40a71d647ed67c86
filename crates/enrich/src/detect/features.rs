//! Features computed from a row for rules to test: what DNS tunnels and
//! generated domain names give away (long, high-entropy labels under one
//! registered domain).

/// Shannon entropy of the bytes of `s`, in bits per character.
pub fn entropy(s: &str) -> f64 {
    if s.is_empty() {
        return 0.0;
    }
    let mut counts = [0u32; 256];
    for b in s.bytes() {
        counts[b as usize] += 1;
    }
    let n = s.len() as f64;
    counts
        .iter()
        .filter(|c| **c > 0)
        .map(|&c| {
            let p = f64::from(c) / n;
            -p * p.log2()
        })
        .sum()
}

/// Second-level labels under which a ccTLD registers names (`example.co.uk`).
const SECOND_LEVELS: [&str; 10] = ["co", "com", "net", "org", "gov", "ac", "edu", "ne", "or", "go"];

/// The registered domain of `name` (`a.b.example.co.uk` → `example.co.uk`),
/// approximated without the public suffix list: the last two labels, or
/// three under a ccTLD's common second level.
pub fn registered_domain(name: &str) -> &str {
    let name = name.trim_end_matches('.');
    let labels: Vec<&str> = name.rsplitn(4, '.').collect();
    let keep = match labels.as_slice() {
        [tld, second, _, ..] if tld.len() == 2 && SECOND_LEVELS.contains(&second.to_ascii_lowercase().as_str()) => 3,
        _ => 2,
    };
    match name.rmatch_indices('.').nth(keep - 1) {
        Some((i, _)) => &name[i + 1..],
        None => name,
    }
}

/// The labels before the registered domain (`a.b` of `a.b.example.com`).
pub fn subdomain(name: &str) -> &str {
    let name = name.trim_end_matches('.');
    let reg = registered_domain(name);
    name[..name.len() - reg.len()].trim_end_matches('.')
}

/// The registered domain's own label (`example` of `www.example.co.uk`).
pub fn sld(name: &str) -> &str {
    registered_domain(name).split('.').next().unwrap_or("")
}

/// Derived fields of a DNS name, by rule field name.
pub fn dns_feature(field: &str, query: &str) -> Option<f64> {
    let query = query.trim_end_matches('.');
    Some(match field {
        "query_length" => query.len() as f64,
        "query_labels" => query.split('.').count() as f64,
        "query_longest_label" => query.split('.').map(str::len).max().unwrap_or(0) as f64,
        "query_entropy" => entropy(query),
        "subdomain_length" => subdomain(query).len() as f64,
        "subdomain_entropy" => entropy(&subdomain(query).replace('.', "")),
        "sld_length" => sld(query).len() as f64,
        "sld_entropy" => entropy(sld(query)),
        "sld_digits" => sld(query).bytes().filter(u8::is_ascii_digit).count() as f64,
        "sld_vowel_ratio" => {
            let s = sld(query);
            let v = s.bytes().filter(|c| b"aeiouAEIOU".contains(c)).count();
            if s.is_empty() { 0.0 } else { v as f64 / s.len() as f64 }
        }
        _ => return None,
    })
}

/// The names of the derived DNS fields (numbers), and `registered_domain`
/// and `subdomain` (text).
pub const DNS_FEATURES: [&str; 10] = [
    "query_length",
    "query_labels",
    "query_longest_label",
    "query_entropy",
    "subdomain_length",
    "subdomain_entropy",
    "sld_length",
    "sld_entropy",
    "sld_digits",
    "sld_vowel_ratio",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entropy_of_known_strings() {
        assert_eq!(entropy(""), 0.0);
        assert_eq!(entropy("aaaa"), 0.0);
        assert!((entropy("ab") - 1.0).abs() < 1e-9);
        assert!((entropy("abcd") - 2.0).abs() < 1e-9);
        assert!(entropy("xaq6p7lnodqvfx7zmeslbf6xm6ccmiml7fwonkfpcptxea34") > 4.0);
        assert!(entropy("google") < 2.0);
    }

    #[test]
    fn registered_domains_without_the_suffix_list() {
        assert_eq!(registered_domain("a.b.example.com"), "example.com");
        assert_eq!(registered_domain("www.example.co.uk."), "example.co.uk");
        assert_eq!(registered_domain("example.com"), "example.com");
        assert_eq!(registered_domain("localhost"), "localhost");
        assert_eq!(subdomain("x.y.t.exfil-example.net"), "x.y.t");
        assert_eq!(subdomain("example.net"), "");
        assert_eq!(sld("www.google.com"), "google");
        assert_eq!(dns_feature("query_longest_label", "abc.de.com"), Some(3.0));
        assert_eq!(dns_feature("sld_digits", "a1b2.com"), Some(2.0));
        assert_eq!(dns_feature("nope", "a.com"), None);
    }
}
