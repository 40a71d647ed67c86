//! The Community IDs in `flows` equal tshark's `communityid` field.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use crate::support::{ingest, query, require, shared_data, tempdir, tshark_fields};

fn tshark_ids(file: &Path) -> BTreeSet<String> {
    tshark_fields(file, &["communityid"], &["--enable-protocol", "communityid"])
        .into_iter()
        .flatten()
        .flat_map(|s| s.split(',').map(str::to_string).collect::<Vec<_>>())
        .filter(|s| !s.is_empty())
        .collect()
}

fn files() -> Vec<PathBuf> {
    let data = shared_data().join("pcap");
    let mut files: Vec<PathBuf> = std::fs::read_dir(data.join("community-id"))
        .expect("community-id captures")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "pcap"))
        .collect();
    files.sort();
    let list = include_str!("community_id_captures.txt");
    files.extend(
        list.lines().filter(|l| !l.starts_with('#') && !l.trim().is_empty()).map(|l| data.join("zeek").join(l.trim())),
    );
    files
}

#[test]
fn flows_carry_the_community_ids_tshark_computes() {
    require("tshark");
    let files = files();
    assert!(files.len() >= 58, "expected the spec's captures and at least 50 Zeek captures");
    let lake = tempdir();
    ingest(lake.path(), &files);
    let mut ours: HashMap<String, BTreeSet<String>> = HashMap::new();
    for r in query(lake.path(), "SELECT DISTINCT source, community_id FROM flows") {
        ours.entry(r["source"].as_str().unwrap().to_string())
            .or_default()
            .insert(r["community_id"].as_str().unwrap().to_string());
    }
    let mut compared = 0;
    let mut failures = Vec::new();
    for f in &files {
        let theirs = tshark_ids(f);
        let mine = ours.remove(&f.display().to_string()).unwrap_or_default();
        compared += theirs.len();
        if theirs != mine {
            let only_ours: Vec<_> = mine.difference(&theirs).collect();
            let only_theirs: Vec<_> = theirs.difference(&mine).collect();
            failures.push(format!("{}: only ours {only_ours:?}, only tshark {only_theirs:?}", f.display()));
        }
    }
    assert!(failures.is_empty(), "{} of {} captures differ:\n{}", failures.len(), files.len(), failures.join("\n"));
    assert!(compared >= 500, "only {compared} Community IDs compared");
}
