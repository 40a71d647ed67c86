//! Every capture of the shared corpus goes in without a panic, and what is
//! stored per file equals capinfos' packet count.

use std::collections::HashMap;
use std::path::PathBuf;

use crate::support::{capinfos, ingest, query, require, shared_data, tempdir};

#[test]
fn every_capture_is_stored_with_capinfos_packet_count() {
    require("capinfos");
    let data = shared_data();
    let lake = tempdir();
    let (reports, totals, _) = ingest(lake.path(), &[data.join("pcap")]);
    assert!(reports.len() >= 800, "expected the whole corpus, got {} files", reports.len());

    let stored: HashMap<String, u64> =
        query(lake.path(), "SELECT source, CAST(sum(pkt_count) AS BIGINT) AS n FROM packets GROUP BY source")
            .into_iter()
            .map(|r| (r["source"].as_str().unwrap().to_string(), r["n"].as_u64().unwrap()))
            .collect();

    let mut mismatches = Vec::new();
    let mut damaged_files = 0u32;
    for r in &reports {
        let file = PathBuf::from(r["file"].as_str().unwrap());
        let ours = r["packets"].as_u64().unwrap();
        let (theirs, damaged) = capinfos(&file);
        if ours != theirs {
            mismatches.push(format!("{}: ours {ours}, capinfos {theirs}", file.display()));
        }
        if damaged {
            damaged_files += 1;
            assert!(
                !r["error"].is_null() && r["quarantined"].as_u64().unwrap() >= 1,
                "{} is cut short per capinfos but has no error and quarantine row: {r}",
                file.display()
            );
        }
        let in_table = stored.get(r["file"].as_str().unwrap()).copied().unwrap_or(0);
        assert_eq!(
            in_table,
            ours,
            "{}: the packets table holds {in_table} packets, the report says {ours}",
            file.display()
        );
    }
    assert!(mismatches.is_empty(), "{} files differ from capinfos:\n{}", mismatches.len(), mismatches.join("\n"));
    let _ = damaged_files;
    assert_eq!(
        totals["totals"]["packets"].as_u64().unwrap(),
        reports.iter().map(|r| r["packets"].as_u64().unwrap()).sum::<u64>()
    );
    let q: u64 = query(lake.path(), "SELECT count(*) AS n FROM quarantine")[0]["n"].as_u64().unwrap();
    assert_eq!(q, totals["totals"]["quarantined"].as_u64().unwrap(), "quarantine rows vs reported");
    // Ordinary traffic of every kind: no built-in behavioural rule fires
    // (testdata/detect holds the traffic they must fire on).
    let behavioural = query(lake.path(), "SELECT rule, src_ip, source_table FROM findings WHERE rule LIKE 'opensoc.%'");
    assert!(behavioural.is_empty(), "false positives on the Zeek corpus: {behavioural:?}");
}

/// The corpus has no damaged files, so make some: cut captures of every
/// container kind at several points; we must keep exactly the packets
/// capinfos reads, and say where the damage is.
#[test]
fn cut_short_copies_keep_exactly_what_capinfos_reads() {
    require("capinfos");
    let zeek = shared_data().join("pcap/zeek");
    let sources = [
        "wikipedia.pcap",
        "http/bro.org.pcap",
        "tls/google-cert-repeat.pcap",
        "irc-dcc-send.pcapng",
        "erspan.pcap",
        "dns-edns-ecs.pcap",
    ];
    let dir = tempdir();
    let mut copies = Vec::new();
    for (i, src) in sources.iter().enumerate() {
        let bytes = std::fs::read(zeek.join(src)).expect("corpus file");
        for (j, frac) in [0.33f64, 0.71, 0.999].iter().enumerate() {
            let cut = ((bytes.len() as f64) * frac) as usize;
            let path = dir.path().join(format!("cut-{i}-{j}.{}", if src.ends_with("ng") { "pcapng" } else { "pcap" }));
            std::fs::write(&path, &bytes[..cut]).unwrap();
            copies.push(path);
        }
    }
    let lake = dir.path().join("lake");
    let (reports, _, code) = ingest(&lake, &copies);
    assert_eq!(code, 3, "damaged input exits with 3");
    let mut damaged = 0;
    for r in &reports {
        let file = PathBuf::from(r["file"].as_str().unwrap());
        let (theirs, cut_short) = capinfos(&file);
        assert_eq!(r["packets"].as_u64().unwrap(), theirs, "{}: packets vs capinfos", file.display());
        if cut_short {
            damaged += 1;
            let err = r["error"].as_str().unwrap_or_else(|| panic!("{} has no error: {r}", file.display()));
            assert!(err.contains("byte"), "the error says where: {err}");
            assert!(r["quarantined"].as_u64().unwrap() >= 1);
        }
    }
    assert!(damaged >= 12, "only {damaged} of {} copies were cut inside a record", copies.len());
}
