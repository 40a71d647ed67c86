//! DNS, HTTP and TLS rows equal what tshark dissects.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::support::{ingest, query, require, shared_data, tempdir, tshark_fields};

fn tshark_set(file: &Path, field: &str, filter: &str) -> BTreeSet<String> {
    tshark_fields(file, &[field], &["-Y", filter])
        .into_iter()
        .filter_map(|f| f.into_iter().next())
        .filter_map(|s| s.split(',').next().map(str::to_string))
        .filter(|s| !s.is_empty())
        .collect()
}

fn our_set(lake: &Path, sql: &str) -> BTreeSet<String> {
    query(lake, sql).into_iter().filter_map(|r| r["v"].as_str().map(str::to_string)).filter(|s| !s.is_empty()).collect()
}

fn one_lake(file: &Path) -> tempfile::TempDir {
    let lake = tempdir();
    ingest(lake.path(), &[file.to_path_buf()]);
    lake
}

fn zeek(f: &str) -> PathBuf {
    shared_data().join("pcap/zeek").join(f)
}

#[test]
fn dns_query_names_match_tshark() {
    require("tshark");
    let mut compared = 0;
    for f in [
        "dns-edns-ecs.pcap",
        "wikipedia.pcap",
        "dns/mdns.pcap",
        "erspan.pcap",
        "dns/long-connection.pcap",
        "dns-caa.pcap",
        "dns-https.pcap",
    ] {
        let file = zeek(f);
        let lake = one_lake(&file);
        let ours = our_set(lake.path(), "SELECT DISTINCT query AS v FROM dns");
        let theirs = tshark_set(&file, "dns.qry.name", "(dns || mdns || llmnr) && !icmp && !icmpv6");
        assert_eq!(ours, theirs, "DNS names in {f}");
        compared += theirs.len();
    }
    assert!(compared >= 20, "only {compared} names compared");
}

#[test]
fn http_hosts_and_uris_match_tshark() {
    require("tshark");
    let mut compared = 0;
    for f in ["wikipedia.pcap", "erspan.pcap", "http/bro.org.pcap", "http/methods.pcap", "workshop_2011_browse.pcap"] {
        let file = zeek(f);
        let lake = one_lake(&file);
        let hosts = our_set(lake.path(), "SELECT DISTINCT host AS v FROM http");
        assert_eq!(hosts, tshark_set(&file, "http.host", "http.request"), "HTTP hosts in {f}");
        let uris = our_set(lake.path(), "SELECT DISTINCT uri AS v FROM http");
        let theirs = tshark_set(&file, "http.request.uri", "http.request");
        assert_eq!(uris, theirs, "HTTP URIs in {f}");
        compared += theirs.len();
    }
    assert!(compared >= 30, "only {compared} URIs compared");
}

#[test]
fn tls_server_names_and_ja3_match_tshark() {
    require("tshark");
    let mut compared = 0;
    for f in [
        "tls/google-cert-repeat.pcap",
        "tls/chrome-1250-tls-x25519-kyber.pcap",
        "tls/tls13-ech.pcap",
        "tls/missing-intermediate.pcap",
        "tls/ssl.v3.pcap",
        "tls/tls13draft16-chrome55.0.2879.0-canary.pcap",
    ] {
        let file = zeek(f);
        let lake = one_lake(&file);
        let ours = our_set(lake.path(), "SELECT DISTINCT sni AS v FROM tls");
        let theirs = tshark_set(&file, "tls.handshake.extensions_server_name", "tls.handshake.type == 1");
        assert_eq!(ours, theirs, "TLS server names in {f}");
        let ja3 = our_set(lake.path(), "SELECT DISTINCT ja3 AS v FROM tls");
        let theirs_ja3 = tshark_set(&file, "tls.handshake.ja3", "tls.handshake.type == 1");
        assert_eq!(ja3, theirs_ja3, "JA3 in {f}");
        compared += theirs_ja3.len();
    }
    assert!(compared >= 6, "only {compared} fingerprints compared");
}
