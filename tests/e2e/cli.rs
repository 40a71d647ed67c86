//! The command's contract: reports, exit codes, quarantine, read-only SQL.

use std::io::Write;

use crate::support::{ingest, opensoc, query, run, shared_data, tempdir};

#[test]
fn cut_short_capture_keeps_complete_packets_and_is_quarantined() {
    let src = shared_data().join("pcap/community-id/tcp.pcap");
    let bytes = std::fs::read(&src).unwrap();
    let dir = tempdir();
    let cut = dir.path().join("cut.pcap");
    // drop the last 10 bytes: the last packet is incomplete
    std::fs::write(&cut, &bytes[..bytes.len() - 10]).unwrap();
    let lake = dir.path().join("lake");
    let (reports, totals, code) = ingest(&lake, &[src.clone(), cut.clone()]);
    assert_eq!(code, 3, "damaged input exits with 3");
    let full = &reports[0];
    let damaged = &reports[1];
    for key in ["file", "packets", "flows", "quarantined", "error"] {
        assert!(damaged.get(key).is_some(), "report lacks {key}: {damaged}");
    }
    assert!(full["error"].is_null());
    assert_eq!(damaged["packets"].as_u64().unwrap() + 1, full["packets"].as_u64().unwrap());
    let err = damaged["error"].as_str().unwrap();
    assert!(err.contains("cut short"), "{err}");
    assert_eq!(damaged["quarantined"].as_u64(), Some(1));
    assert_eq!(totals["totals"]["files"].as_u64(), Some(2));
    let rows = query(&lake, "SELECT source, stage, reason, length(encode(raw, 'hex')) / 2 AS raw_len FROM quarantine");
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["stage"], "capture");
    assert!(rows[0]["raw_len"].as_u64().unwrap() > 0, "the partial record is kept");
}

#[test]
fn garbage_file_is_quarantined_with_its_bytes() {
    let dir = tempdir();
    let junk = dir.path().join("junk.pcap");
    let mut f = std::fs::File::create(&junk).unwrap();
    let payload: Vec<u8> = (0..5000u32).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8).collect();
    f.write_all(&payload).unwrap();
    let lake = dir.path().join("lake");
    let (reports, _, code) = ingest(&lake, &[junk]);
    assert_eq!(code, 3);
    assert!(reports[0]["error"].as_str().unwrap().contains("not a pcap"), "{}", reports[0]);
    let rows = query(&lake, "SELECT length(encode(raw, 'hex')) / 2 AS n, reason FROM quarantine");
    assert_eq!(rows[0]["n"].as_u64(), Some(payload.len() as u64));
}

#[test]
fn queries_are_read_only() {
    let dir = tempdir();
    let lake = dir.path().join("lake");
    ingest(&lake, &[shared_data().join("pcap/community-id/udp.pcap")]);
    for sql in [
        "CREATE TABLE x AS SELECT 1",
        "CREATE EXTERNAL TABLE e STORED AS CSV LOCATION '/etc/passwd'",
        "INSERT INTO flows SELECT * FROM flows",
        "COPY flows TO '/tmp/opensoc-copy-test'",
        "DROP TABLE flows",
        "SET datafusion.execution.batch_size = 1",
    ] {
        let out = run(opensoc().arg("query").arg("--lake").arg(&lake).arg(sql));
        assert_eq!(out.status.code(), Some(2), "{sql:?} was not refused");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("error:"), "{sql:?}: {err}");
    }
    assert!(!std::path::Path::new("/tmp/opensoc-copy-test").exists());
    let n = query(&lake, "SELECT count(*) AS n FROM flows")[0]["n"].as_u64().unwrap();
    assert_eq!(n, 1, "the lake is unchanged");
    let out = run(opensoc().arg("query").arg("--lake").arg(&lake).arg("SELECT * FROM no_such_table"));
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no_such_table"));
}

#[test]
fn query_formats() {
    let dir = tempdir();
    let lake = dir.path().join("lake");
    ingest(&lake, &[shared_data().join("pcap/community-id/tcp.pcap")]);
    let sql = "SELECT community_id, src_ip, dst_port, packets FROM flows";
    let csv = run(opensoc().arg("query").arg("--lake").arg(&lake).args(["--format", "csv", sql]));
    let text = String::from_utf8_lossy(&csv.stdout);
    assert_eq!(text.lines().next(), Some("community_id,src_ip,dst_port,packets"));
    assert_eq!(text.lines().count(), 2);
    let table = run(opensoc().arg("query").arg("--lake").arg(&lake).arg(sql));
    assert!(String::from_utf8_lossy(&table.stdout).contains("| community_id"));
}

#[test]
fn demo_runs_end_to_end() {
    let dir = tempdir();
    let out = run(opensoc().arg("demo").arg("--dir").arg(dir.path()));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    for needle in [
        "Top talkers",
        "DNS names",
        "TLS server names",
        "HTTP hosts",
        "Log events by source type",
        "suricata-eve",
        "Findings, most urgent first",
        "opensoc.portscan.vertical",
        "opensoc.dns.tunnel",
        "opensoc.dns.dga",
        "suricata.alert",
        "Carved the largest HTTP flow",
    ] {
        assert!(text.contains(needle), "demo output lacks {needle:?}:\n{text}");
    }
    let pcap = dir.path().join("flow.pcap");
    assert!(std::fs::metadata(&pcap).unwrap().len() > 24, "the carved flow has packets");
}

#[test]
fn a_closed_output_pipe_ends_quietly() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    let dir = tempdir();
    let mut child = opensoc()
        .arg("demo")
        .arg("--dir")
        .arg(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut first).unwrap();
    // the reader is dropped here, closing the pipe like `| head -1`
    let out = child.wait_with_output().unwrap();
    assert!(first.starts_with("Ingested"), "{first}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_ne!(out.status.code(), Some(101), "exit 101 is a panic");
}
