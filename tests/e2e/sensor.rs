//! The sensor against a stream that misbehaves, and as a running agent:
//! throttled PutRecords entries, a 30 s outage with a `kill -9` in the
//! middle, and live inputs (syslog over UDP and TCP, a tailed EVE file, a
//! live interface) — every time the lake must hold exactly what was sent.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{TcpStream, UdpSocket};
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::cloud::{COUNTS, Moto, counts, demo_captures, free_port, local_counts, write_logs};
use crate::faults::FaultProxy;
use crate::support::{run, tempdir};

/// The sensor's metrics, scraped from its endpoint (empty while it is not up).
fn scrape(port: u16) -> HashMap<String, f64> {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else { return HashMap::new() };
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    let _ = s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
    let mut text = String::new();
    let _ = s.read_to_string(&mut text);
    text.lines()
        .filter(|l| l.starts_with("opensoc_sensor_"))
        .filter_map(|l| {
            let (k, v) = l.split_once(' ')?;
            Some((k.trim_start_matches("opensoc_sensor_").to_string(), v.parse().ok()?))
        })
        .collect()
}

/// Wait until the metrics satisfy `ok` (or fail after `secs`, showing them).
pub fn wait_for(port: u16, secs: u64, what: &str, ok: impl Fn(&HashMap<String, f64>) -> bool) -> HashMap<String, f64> {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let m = scrape(port);
        if !m.is_empty() && ok(&m) {
            return m;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}; metrics: {m:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

pub fn wait_exit(child: &mut Child, secs: u64) -> std::process::ExitStatus {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the sensor did not exit within {secs} s");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

pub fn stderr_of(child: Child) -> String {
    let out = child.wait_with_output().unwrap();
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The number before `word` in the sensor's summary line.
fn figure(summary: &str, word: &str) -> u64 {
    let words: Vec<&str> = summary.split_whitespace().collect();
    let at = words
        .iter()
        .position(|w| w.trim_end_matches(',') == word)
        .unwrap_or_else(|| panic!("no {word:?} in {summary}"));
    words[at - 1].parse().unwrap_or_else(|_| panic!("no figure before {word:?} in {summary}"))
}

fn log_counts(moto: &Moto, lake: &str) -> Vec<Value> {
    moto.query(lake, "SELECT source_type, count(*) AS n FROM logs GROUP BY source_type ORDER BY source_type")
}

#[test]
fn throttled_entries_are_retried_until_taken_and_nothing_is_lost_or_doubled() {
    let moto = Moto::start();
    moto.stream_and_bucket("thr", "lake-thr", 2);
    let proxy = FaultProxy::start(&moto.endpoint(), 0.3);
    let dir = tempdir();
    let (syslog, eve, _) = write_logs(dir.path());
    // Two attempts only: records refused twice go through the spool.
    let out = run(moto
        .sensor_at(&proxy.endpoint())
        .args(["replay", "--stream", "thr", "--max-attempts", "2"])
        .args(demo_captures())
        .arg("--logs")
        .args([&syslog, &eve]));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "the sensor must get every record through: {stderr}");
    let refused = proxy.stats.refused.load(std::sync::atomic::Ordering::Relaxed);
    assert!(refused > 0, "the proxy refused entries");
    assert_eq!(figure(&stderr, "throttles"), refused, "the sensor counted every refusal: {stderr}");
    let lake = "s3://lake-thr/lake";
    let out = run(&mut moto.esm("thr", lake, dir.path()));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(counts(moto.query(lake, COUNTS)), local_counts());
    assert_eq!(
        log_counts(&moto, lake),
        vec![json!({"source_type": "suricata-eve", "n": 300}), json!({"source_type": "syslog", "n": 500})]
    );
}

#[test]
fn a_thirty_second_outage_with_a_kill_9_in_it_loses_nothing_and_the_spool_drains() {
    let moto = Moto::start();
    moto.stream_and_bucket("out", "lake-out", 2);
    let mut proxy = FaultProxy::start(&moto.endpoint(), 0.0);
    let dir = tempdir();
    let spool = dir.path().join("spool");
    let (_, eve, _) = write_logs(dir.path());
    proxy.stop();
    let outage = Instant::now();
    // The first sensor spools everything it reads…
    let port = free_port();
    let mut first = moto
        .sensor_at(&proxy.endpoint())
        .args(["replay", "--stream", "out", "--sensor-id", "edge"])
        .arg("--spool-dir")
        .arg(&spool)
        .args(["--metrics-listen", &format!("127.0.0.1:{port}")])
        .args(demo_captures())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let m = wait_for(port, 60, "every record in the spool", |m| {
        m["inputs_active"] == 0.0 && m["records_built_total"] > 0.0 && m["spool_records"] == m["records_built_total"]
    });
    assert_eq!(m["records_sent_total"], 0.0);
    // …and is killed while it waits for the stream.
    first.kill().unwrap();
    let _ = first.wait();
    // A new sensor on the same spool: old records first, then its own.
    let mut second = moto
        .sensor_at(&proxy.endpoint())
        .args(["replay", "--stream", "out", "--sensor-id", "edge"])
        .arg("--spool-dir")
        .arg(&spool)
        .arg("--logs")
        .arg(&eve)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(30).saturating_sub(outage.elapsed()));
    assert!(second.try_wait().unwrap().is_none(), "the sensor must wait for the stream, not give up");
    proxy.restart();
    let status = wait_exit(&mut second, 180);
    let stderr = stderr_of(second);
    assert!(status.success(), "the spool drained and every record was acknowledged: {stderr}");
    let remaining = std::fs::read_dir(&spool)
        .unwrap()
        .filter(|e| e.as_ref().unwrap().path().extension().is_some_and(|x| x == "seg"))
        .count();
    assert!(remaining <= 1, "drained segments are deleted");
    let lake = "s3://lake-out/lake";
    let out = run(&mut moto.esm("out", lake, dir.path()));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(
        counts(moto.query(lake, COUNTS)),
        local_counts(),
        "every flow and packet of the killed sensor arrived once"
    );
    assert_eq!(log_counts(&moto, lake), vec![json!({"source_type": "suricata-eve", "n": 300})]);
}

fn udp_flow(port: u16, n: usize) {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    for i in 0..n {
        s.send_to(format!("datagram {i}").as_bytes(), ("127.0.0.1", port)).unwrap();
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn agent(moto: &Moto, dir: &Path, metrics: u16, udp: u16, tcp: u16, eve: &Path, probe: u16) -> Child {
    moto.sensor()
        .args(["run", "--stream", "agent", "--sensor-id", "agent-1", "--flush-ms", "200"])
        .args(["--metrics-listen", &format!("127.0.0.1:{metrics}")])
        .args(["--syslog-udp", &format!("127.0.0.1:{udp}"), "--syslog-tcp", &format!("127.0.0.1:{tcp}")])
        .arg("--tail")
        .arg(eve)
        .arg("--state-dir")
        .arg(dir.join("state"))
        .args(["--interface", "lo", "--bpf", &format!("udp and dst port {probe}")])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

pub fn terminate(child: &mut Child) {
    // SAFETY: sending a signal to our own child process.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
}

#[test]
fn the_agent_ships_syslog_a_tailed_eve_file_and_a_live_interface_and_resumes_its_tail() {
    let moto = Moto::start();
    moto.stream_and_bucket("agent", "lake-agent", 2);
    let dir = tempdir();
    let eve = dir.path().join("eve.json");
    let line = |i: usize| format!("{{\"timestamp\":\"2024-01-01T00:00:00Z\",\"event_type\":\"dns\",\"n\":{i}}}\n");
    std::fs::write(&eve, (0..100).map(line).collect::<String>()).unwrap();
    let (metrics, udp, tcp, probe) = (free_port(), free_port(), free_port(), free_port());
    let mut child = agent(&moto, dir.path(), metrics, udp, tcp, &eve, probe);
    wait_for(metrics, 30, "the agent to start", |m| m["inputs_active"] == 4.0);
    // Syslog over UDP…
    let u = UdpSocket::bind("127.0.0.1:0").unwrap();
    for i in 0..50 {
        u.send_to(format!("<34>Oct 11 22:14:15 host su: udp message {i}\n").as_bytes(), ("127.0.0.1", udp)).unwrap();
    }
    // …and TCP, octet-counted and newline-framed, one message over two writes.
    let mut t = TcpStream::connect(("127.0.0.1", tcp)).unwrap();
    for i in 0..25 {
        let m = format!("<165>1 2003-10-11T22:14:15.003Z h app - ID{i} - tcp counted {i}");
        t.write_all(format!("{} {m}", m.len()).as_bytes()).unwrap();
        t.write_all(format!("<13>Jan  1 00:00:00 fw kernel: tcp newline {i}\n").as_bytes()).unwrap();
    }
    t.write_all(b"<13>Jan  1 00:00:00 fw kernel: split ").unwrap();
    t.flush().unwrap();
    std::thread::sleep(Duration::from_millis(100));
    t.write_all(b"across writes\n").unwrap();
    drop(t);
    // The tailed file grows.
    let mut f = std::fs::OpenOptions::new().append(true).open(&eve).unwrap();
    f.write_all((100..150).map(line).collect::<String>().as_bytes()).unwrap();
    // Packets on the interface.
    udp_flow(probe, 40);
    wait_for(metrics, 60, "every line and packet", |m| m["log_lines_total"] == 251.0 && m["packets_total"] >= 40.0);
    terminate(&mut child);
    let status = wait_exit(&mut child, 60);
    let stderr = stderr_of(child);
    assert!(status.success(), "the agent stops cleanly on SIGTERM: {stderr}");

    // Started again, it goes on from where the tail stopped.
    f.write_all((150..160).map(line).collect::<String>().as_bytes()).unwrap();
    let mut child = agent(&moto, dir.path(), metrics, udp, tcp, &eve, probe);
    wait_for(metrics, 30, "the 10 new lines", |m| m["log_lines_total"] >= 10.0);
    std::thread::sleep(Duration::from_millis(500));
    terminate(&mut child);
    let status = wait_exit(&mut child, 60);
    assert!(status.success(), "{}", stderr_of(child));

    let lake = "s3://lake-agent/lake";
    let out = run(&mut moto.esm("agent", lake, dir.path()));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(
        log_counts(&moto, lake),
        vec![json!({"source_type": "suricata-eve", "n": 160}), json!({"source_type": "syslog", "n": 101})]
    );
    let distinct = moto.query(lake, "SELECT count(DISTINCT raw) AS n FROM logs WHERE source_type = 'suricata-eve'");
    assert_eq!(distinct[0]["n"], 160, "no tailed line twice");
    let split = moto.query(lake, "SELECT count(*) AS n FROM logs WHERE message LIKE '%split across writes'");
    assert_eq!(split[0]["n"], 1);
    let flows = moto.query(
        lake,
        &format!(
            "SELECT packets, src_packets, proto, sensor_id FROM flows WHERE dst_port = {probe} OR src_port = {probe}"
        ),
    );
    assert_eq!(flows, vec![json!({"packets": 40, "src_packets": 40, "proto": 17, "sensor_id": "agent-1"})]);
    let chunks = moto
        .query(lake, &format!("SELECT sum(pkt_count) AS n FROM packets WHERE port_lo = {probe} OR port_hi = {probe}"));
    assert_eq!(chunks[0]["n"], 40, "every captured packet is kept for carving");
}

#[test]
fn claim_check_mode_stores_packet_segments_in_s3_and_every_row_arrives_once() {
    let moto = Moto::start();
    moto.stream_and_bucket("cc", "lake-cc", 2);
    moto.stream_and_bucket("cc2", "lake-cc", 2);
    let dir = tempdir();
    // Small batches, so the demo captures make several segments.
    let config = dir.path().join("sensor.toml");
    std::fs::write(&config, "[batch]\npacket_bytes = 32768\n").unwrap();
    let replay = |stream: &str, prefix: &str| {
        let out = run(moto
            .sensor()
            .args(["replay", "--stream", stream, "--sensor-id", "edge", "--claim-check-bucket", "lake-cc"])
            .arg("--config")
            .arg(&config)
            .args(["--claim-check-prefix", prefix])
            .args(demo_captures()));
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success(), "{stderr}");
        stderr
    };
    let stderr = replay("cc", "landing");
    let segments = figure(&stderr, "packet");
    let objects = moto.s3_objects("lake-cc", "landing/edge/");
    assert!(segments >= 2, "the demo captures make several segments: {stderr}");
    assert_eq!(objects.len() as u64, segments, "one object per segment: {objects:?}");
    assert!(objects.iter().all(|(k, size)| k.ends_with("-packets.osoc") && *size > 0), "{objects:?}");
    let lake = "s3://lake-cc/lake";
    let out = run(&mut moto.esm("cc", lake, dir.path()));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(counts(moto.query(lake, COUNTS)), local_counts(), "every row, packets from S3 included, once");
    // Redelivering the whole stream fetches the segments again and adds nothing.
    let again = run(moto.esm("cc", lake, dir.path()).args(["--from", "trim-horizon"]));
    assert!(again.status.success(), "{}", String::from_utf8_lossy(&again.stderr));
    assert_eq!(counts(moto.query(lake, COUNTS)), local_counts());

    // A segment that is gone (expired, deleted) is quarantined with the
    // reason; every other row lands.
    replay("cc2", "/landing2/");
    let objects = moto.s3_objects("lake-cc", "landing2/edge/");
    moto.s3_delete("lake-cc", &objects[0].0);
    let lake2 = "s3://lake-cc/lake2";
    let out = run(&mut moto.esm("cc2", lake2, dir.path()));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let q = moto.query(lake2, "SELECT stage, reason FROM quarantine WHERE stage = 'claim'");
    assert_eq!(q.len(), 1, "{q:?}");
    let reason = q[0]["reason"].as_str().unwrap();
    assert!(reason.contains(&objects[0].0) && reason.contains("does not exist"), "{reason}");
    let local = local_counts();
    let got = counts(moto.query(lake2, COUNTS));
    assert_eq!(got["flows"], local["flows"], "flows travel on the stream: {got}");
    assert_eq!(got["quarantine"].as_u64().unwrap(), local["quarantine"].as_u64().unwrap() + 1, "{got}");
    let (landed, all) = (got["packets"].as_u64().unwrap(), local["packets"].as_u64().unwrap());
    assert!(0 < landed && landed < all, "only the missing segment's chunks are absent: {got} vs {local}");
}

#[test]
fn a_stream_that_does_not_exist_fails_at_once_with_its_name_and_the_fix() {
    let moto = Moto::start();
    let out = run(moto.sensor().args(["replay", "--stream", "no-such-stream"]).args(demo_captures()));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("stream no-such-stream does not exist") && stderr.contains("stack up"), "{stderr}");
}
