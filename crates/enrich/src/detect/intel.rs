//! Intel hits: every flow or log endpoint, DNS name, HTTP host and URL,
//! TLS server name and file hash (in logs) that an indicator names.

use std::collections::BTreeSet;
use std::net::IpAddr;

use opensoc_schemas::Table;

use super::Detection;
use super::row::BatchView;
use crate::intel::{IntelIndex, Match};

/// Score of a hit whose indicators give no confidence.
pub const DEFAULT_SCORE: i32 = 50;

/// Fields intel matching reads (table columns, or paths in a log's fields).
pub const FIELDS: [&str; 17] = [
    "src_ip",
    "dst_ip",
    "query",
    "host",
    "uri",
    "sni",
    "dns.rrname",
    "http.hostname",
    "http.url",
    "tls.sni",
    "server_name",
    "fileinfo.md5",
    "fileinfo.sha1",
    "fileinfo.sha256",
    "md5",
    "sha1",
    "sha256",
];

enum Kind {
    Ip,
    Domain,
    /// A host field and a path field, joined into `http://host/path`.
    Url(&'static str),
    Hash,
}

/// What is looked up in each table: (field, kind, name in the finding).
fn lookups(table: Table) -> &'static [(&'static str, Kind, &'static str)] {
    use Kind::*;
    match table {
        Table::Flows => &[("src_ip", Ip, "src_ip"), ("dst_ip", Ip, "dst_ip")],
        Table::Dns => &[("query", Domain, "dns.query")],
        Table::Http => &[("host", Domain, "http.host"), ("host", Url("uri"), "http.url")],
        Table::Tls => &[("sni", Domain, "tls.sni")],
        Table::Logs => &[
            ("src_ip", Ip, "src_ip"),
            ("dst_ip", Ip, "dst_ip"),
            ("query", Domain, "zeek.query"),
            ("dns.rrname", Domain, "eve.dns.rrname"),
            ("http.hostname", Domain, "eve.http.hostname"),
            ("http.hostname", Url("http.url"), "eve.http.url"),
            ("tls.sni", Domain, "eve.tls.sni"),
            ("server_name", Domain, "zeek.server_name"),
            ("fileinfo.md5", Hash, "eve.fileinfo.md5"),
            ("fileinfo.sha1", Hash, "eve.fileinfo.sha1"),
            ("fileinfo.sha256", Hash, "eve.fileinfo.sha256"),
            ("md5", Hash, "zeek.md5"),
            ("sha1", Hash, "zeek.sha1"),
            ("sha256", Hash, "zeek.sha256"),
        ],
        _ => &[],
    }
}

fn collect(matches: &mut Vec<Match<'_>>, row: usize, field: &str, out: &mut Vec<Detection>) {
    if matches.is_empty() {
        return;
    }
    // The most specific indicator names the hit; every source is listed.
    let first = matches[0];
    let score = matches.iter().filter_map(|m| m.confidence.map(i32::from)).max().unwrap_or(DEFAULT_SCORE);
    out.push(Detection {
        row,
        rule: format!("intel.{}", first.kind.as_str()),
        score,
        matched_field: field.to_string(),
        indicator: first.value.clone(),
        indicator_kind: first.kind.as_str().to_string(),
        sources: matches.iter().map(|m| m.source.to_string()).collect::<BTreeSet<_>>(),
        description: matches.iter().find_map(|m| m.description.clone()),
        window: None,
    });
    matches.clear();
}

/// Add the intel hits of `view` (a batch of `table`) to `out`; `id` gives
/// a field's id in the view.
pub fn detect(
    table: Table,
    view: &BatchView<'_>,
    ix: &IntelIndex,
    id: &dyn Fn(&str) -> usize,
    out: &mut Vec<Detection>,
) {
    let lookups = lookups(table);
    if lookups.is_empty() {
        return;
    }
    let (start, _) = super::triage::time_fields(table);
    let start = id(start);
    let ids: Vec<(usize, Option<usize>)> =
        lookups.iter().map(|(f, k, _)| (id(f), if let Kind::Url(path) = k { Some(id(path)) } else { None })).collect();
    let mut m: Vec<Match<'_>> = Vec::new();
    for row in 0..view.rows() {
        let at = view.get(start, row).int().unwrap_or(0);
        for ((_, kind, name), (fid, path_id)) in lookups.iter().zip(&ids) {
            let v = view.get(*fid, row);
            let Some(text) = v.text() else { continue };
            match kind {
                Kind::Ip => {
                    if let Ok(ip) = text.trim().parse::<IpAddr>() {
                        ix.match_ip(ip, at, |x| m.push(x));
                    }
                }
                Kind::Domain => {
                    let host = text.split(':').next().unwrap_or(&text);
                    ix.match_domain(host, at, |x| m.push(x));
                }
                Kind::Url(_) => {
                    let path = path_id.map(|p| view.get(p, row));
                    if let Some(path) = path.as_ref().and_then(|p| p.text()) {
                        ix.match_url(&format!("http://{text}{path}"), at, |x| m.push(x));
                    }
                }
                Kind::Hash => ix.match_hash(text.trim(), at, |x| m.push(x)),
            }
            collect(&mut m, row, name, out);
        }
    }
}
