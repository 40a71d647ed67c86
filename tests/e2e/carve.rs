//! Carving a flow returns exactly the packets tshark's `communityid == "…"` selects.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::{ingest, opensoc, query, require, run, shared_data, tempdir};

/// (epoch ns, wire length, captured length, MD5 of the bytes) of every packet, as tshark reads them.
fn packets_per_tshark(file: &Path) -> Vec<(i128, String, String, String)> {
    let out = Command::new("tshark")
        .arg("-r")
        .arg(file)
        .args(["-o", "frame.generate_md5_hash:TRUE", "-T", "fields"])
        .args(["-e", "frame.time_epoch", "-e", "frame.len", "-e", "frame.cap_len", "-e", "frame.md5_hash"])
        .output()
        .expect("tshark");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|line| {
            let f: Vec<&str> = line.split('\t').collect();
            assert_eq!(f.len(), 4, "unexpected tshark line {line:?}");
            let (s, frac) = f[0].split_once('.').unwrap_or((f[0], "0"));
            let frac9 = format!("{frac:0<9}");
            let ns = s.parse::<i128>().unwrap() * 1_000_000_000 + frac9[..9].parse::<i128>().unwrap();
            (ns, f[1].to_string(), f[2].to_string(), f[3].to_string())
        })
        .collect()
}

fn capinfos_type(file: &Path) -> String {
    let out = Command::new("capinfos").arg("-t").arg(file).output().expect("capinfos");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("File type:").map(|s| s.trim().to_string()))
        .unwrap_or_default()
}

#[test]
fn carved_flows_equal_tshark_display_filter() {
    require("tshark");
    require("capinfos");
    let data = shared_data().join("pcap");
    let files: Vec<PathBuf> = [
        "community-id/tcp.pcap",
        "community-id/icmp6.pcap",
        // Tunnels (erspan.pcap is left out: its outer IP packets are
        // fragmented, and tshark reassembles them while we do not).
        "zeek/tunnels/gre-sample.pcap",
        "zeek/tunnels/Teredo.pcap",
        "zeek/tunnels/geneve.pcap",
        "zeek/wikipedia.pcap",
        "zeek/tls/google-cert-repeat.pcap",
        "zeek/tls/chrome-1250-tls-x25519-kyber.pcap",
        "zeek/http/bro.org.pcap",
    ]
    .iter()
    .map(|f| data.join(f))
    .collect();
    let lake = tempdir();
    ingest(lake.path(), &files);
    let out_dir = tempdir();
    let mut carved = 0;
    for f in &files {
        let sql = format!(
            "SELECT community_id FROM flows WHERE source = '{}' ORDER BY packets DESC, community_id LIMIT 4",
            f.display()
        );
        let ids: Vec<String> =
            query(lake.path(), &sql).iter().map(|r| r["community_id"].as_str().unwrap().to_string()).collect();
        assert!(!ids.is_empty(), "no flows for {}", f.display());
        for id in ids {
            let ours = out_dir.path().join(format!("ours-{carved}.pcap"));
            let expected = out_dir.path().join(format!("tshark-{carved}.pcap"));
            let o = run(opensoc()
                .arg("carve")
                .arg("--lake")
                .arg(lake.path())
                .args(["--community-id", &id, "-o"])
                .arg(&ours));
            assert_eq!(o.status.code(), Some(0), "carve {id}: {}", String::from_utf8_lossy(&o.stderr));
            let filter = format!("communityid == \"{id}\"");
            let st = Command::new("tshark")
                .arg("-r")
                .arg(f)
                .args(["--enable-protocol", "communityid", "-Y", &filter, "-w"])
                .arg(&expected)
                .status()
                .expect("tshark");
            assert!(st.success());
            let a = packets_per_tshark(&ours);
            let mut b = packets_per_tshark(&expected);
            // The carve is in time order; the source capture need not be.
            b.sort_by_key(|p| p.0);
            assert!(!b.is_empty(), "tshark selected nothing for {id} in {}", f.display());
            assert_eq!(
                a.len(),
                b.len(),
                "{id} in {}: {} packets carved, tshark selects {}",
                f.display(),
                a.len(),
                b.len()
            );
            assert_eq!(a, b, "{id} in {}: packets differ (time or bytes)", f.display());
            assert!(a.windows(2).all(|w| w[0].0 <= w[1].0), "carve of {id} is not in time order");
            assert!(capinfos_type(&ours).contains("nanosecond pcap"), "{}", capinfos_type(&ours));
            carved += 1;
        }
    }
    assert!(carved >= 15, "only {carved} flows carved");
}

#[test]
fn mixed_link_types_carve_to_pcapng_and_time_ranges_cut() {
    require("capinfos");
    let data = shared_data().join("pcap");
    // An Ethernet capture and a BSD loopback (NULL) capture: two link types.
    let files = vec![data.join("community-id/tcp.pcap"), data.join("zeek/dns-svcb.pcap")];
    let lake = tempdir();
    ingest(lake.path(), &files);
    let out = tempdir();
    let all = out.path().join("all.pcapng");
    let o = run(opensoc().arg("carve").arg("--lake").arg(lake.path()).args(["--from", "0", "-o"]).arg(&all));
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    let lts = query(lake.path(), "SELECT DISTINCT linktype FROM packets");
    assert_eq!(lts.len(), 2, "{lts:?}");
    assert!(capinfos_type(&all).contains("pcapng"), "{}", capinfos_type(&all));
    let n: usize = packets_per_tshark(&all).len();
    let total = query(lake.path(), "SELECT CAST(sum(pkt_count) AS BIGINT) AS n FROM packets")[0]["n"].as_u64().unwrap();
    assert_eq!(n as u64, total, "a carve from the epoch on returns every stored packet");

    // an inverted range is refused with exit code 2
    let bad = run(opensoc()
        .arg("carve")
        .arg("--lake")
        .arg(lake.path())
        .args(["--from", "100", "--to", "10", "-o"])
        .arg(out.path().join("x")));
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("ends before it starts"));
}
