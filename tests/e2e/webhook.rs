//! The webhook: `opensoc-sensor http` takes JSON, NDJSON and gzip bodies
//! signed with an HMAC (computed here by `openssl dgst`, not our code) or a
//! bearer secret; forged, unsigned and oversized requests are refused and
//! store nothing; a half-valid body stores its valid events in `logs` and
//! the rest in `quarantine` with the reason — checked in the lake after the
//! moto stream and the event source mapping.

use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::{Value, json};

use crate::cloud::{Moto, free_port};
use crate::support::{run, tempdir};
use crate::web::send;

const SECRET: &str = "wh-test-secret-0123456789";

/// `sha256=HEX` of the body, by openssl.
fn openssl_signature(body: &[u8]) -> String {
    let mut child = Command::new("openssl")
        .args(["dgst", "-sha256", "-hmac", SECRET, "-hex"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("openssl (apt-get install openssl)");
    child.stdin.take().unwrap().write_all(body).unwrap();
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let hex = text.split_whitespace().last().expect("openssl's digest").to_string();
    assert_eq!(hex.len(), 64, "{text}");
    format!("sha256={hex}")
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(bytes).unwrap();
    gz.finish().unwrap()
}

#[test]
fn signed_webhook_events_land_in_logs_and_half_valid_bodies_quarantine_the_rest() {
    let moto = Moto::start();
    moto.stream_and_bucket("wh", "lake-wh", 1);
    let dir = tempdir();
    let (port, metrics) = (free_port(), free_port());
    let mut child = moto
        .sensor()
        .args(["http", "--listen", &format!("127.0.0.1:{port}"), "--stream", "wh", "--sensor-id", "wh-1"])
        .args(["--flush-ms", "200", "--http-max-body-mib", "1", "--metrics-listen", &format!("127.0.0.1:{metrics}")])
        .arg("--spool-dir")
        .arg(dir.path().join("spool"))
        .env("OPENSOC_WEBHOOK_SECRET", SECRET)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    crate::sensor::wait_for(metrics, 30, "the webhook to start", |m| m["inputs_active"] == 1.0);
    let base = format!("http://127.0.0.1:{port}");

    // 10 NDJSON events, gzip, HMAC-signed over the bytes sent.
    let ndjson: String = (0..10)
        .map(|i| format!("{{\"action\":\"push\",\"n\":{i},\"src_ip\":\"10.9.0.{i}\",\"@timestamp\":\"2024-05-01T10:00:0{i}Z\"}}\n"))
        .collect();
    let body = gzip(ndjson.as_bytes());
    let sig = openssl_signature(&body);
    let r = send(
        &format!("{base}/ingest/github"),
        &[("Content-Encoding", "gzip"), ("Content-Type", "application/x-ndjson"), ("X-Hub-Signature-256", &sig)],
        &body,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json(), json!({"source_type": "github", "accepted": 10, "quarantined": 0, "errors": []}));

    // A JSON array of EVE alerts with the bearer secret, typed by header.
    let eve: Vec<Value> = (0..5)
        .map(|i| {
            json!({"timestamp": "2024-05-01T10:00:00Z", "event_type": "alert", "src_ip": "10.9.1.1",
                        "dest_ip": "10.9.1.2", "alert": {"signature": format!("test {i}")}})
        })
        .collect();
    let r = send(
        &format!("{base}/ingest"),
        &[("Authorization", &format!("Bearer {SECRET}")), ("X-OpenSOC-Source-Type", "suricata-eve")],
        Value::Array(eve).to_string().as_bytes(),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["accepted"], 5);

    // Half valid: 3 events stored, 2 quarantined with the reason.
    let half = b"{\"action\":\"ok\",\"k\":1}\nthis is not json\n{\"action\":\"ok\",\"k\":2}\n[1,2,3]\n{\"action\":\"ok\",\"k\":3}\n";
    let sig = openssl_signature(half);
    let r = send(&format!("{base}/ingest/github"), &[("X-OpenSOC-Signature", &sig)], half);
    assert_eq!(r.status, 200, "{}", r.text());
    let a = r.json();
    assert_eq!((a["accepted"].as_u64(), a["quarantined"].as_u64()), (Some(3), Some(2)), "{a}");
    assert_eq!(a["errors"][0]["event"], 2);
    assert!(a["errors"][0]["reason"].as_str().unwrap().contains("not JSON"), "{a}");
    assert_eq!(a["errors"][1]["reason"], "line 4 is an array, not a JSON object");

    // Refused, and nothing of them stored.
    let forged = br#"{"action":"forged"}"#;
    for (headers, body, status, says) in [
        (vec![], forged.to_vec(), 401, "missing credentials"),
        (vec![("X-OpenSOC-Signature", sig.clone())], forged.to_vec(), 401, "does not match"),
        (vec![("X-OpenSOC-Signature", "sha256=abc".to_string())], forged.to_vec(), 401, "64 hex digits"),
        (vec![("Authorization", "Bearer not-the-secret".to_string())], forged.to_vec(), 401, "not valid"),
        (
            vec![("Authorization", format!("Bearer {SECRET}"))],
            format!("{{\"big\":\"{}\"}}", "x".repeat(2 << 20)).into_bytes(),
            413,
            "over the limit",
        ),
        (
            vec![("Authorization", format!("Bearer {SECRET}")), ("Content-Encoding", "gzip".to_string())],
            b"\x1f\x8b\x08garbage".to_vec(),
            400,
            "not valid gzip",
        ),
        (
            vec![("Authorization", format!("Bearer {SECRET}")), ("Content-Encoding", "gzip".to_string())],
            gzip(&vec![b' '; 9 << 20]),
            413,
            "decompresses to more",
        ),
    ] {
        let h: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let r = send(&format!("{base}/ingest/github"), &h, &body);
        assert_eq!(r.status, status, "{}", r.text());
        assert!(r.json()["error"].as_str().unwrap().contains(says), "{}", r.text());
    }
    let r = send(&format!("{base}/ingest/..%2Fx"), &[("Authorization", &format!("Bearer {SECRET}"))], b"{}");
    assert_eq!(r.status, 400, "{}", r.text());

    crate::sensor::wait_for(metrics, 60, "every event", |m| m["log_lines_total"] == 20.0);
    crate::sensor::terminate(&mut child);
    let status = crate::sensor::wait_exit(&mut child, 60);
    assert!(status.success(), "{}", crate::sensor::stderr_of(child));

    let lake = "s3://lake-wh/lake";
    let out = run(&mut moto.esm("wh", lake, dir.path()));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let counts =
        moto.query(lake, "SELECT source_type, count(*) AS n FROM logs GROUP BY source_type ORDER BY source_type");
    assert_eq!(counts, vec![json!({"source_type": "github", "n": 13}), json!({"source_type": "suricata-eve", "n": 5})]);
    let parsed = moto.query(
        lake,
        "SELECT src_ip, CAST(ts AS VARCHAR) AS ts, origin FROM logs WHERE source_type = 'github' AND src_ip = '10.9.0.3'",
    );
    assert_eq!(parsed.len(), 1, "{parsed:?}");
    assert!(parsed[0]["ts"].as_str().unwrap().starts_with("2024-05-01T10:00:03"), "{parsed:?}");
    assert!(parsed[0]["origin"].as_str().unwrap().starts_with("http:127.0.0.1:"), "{parsed:?}");
    let q = moto.query(lake, "SELECT reason, CAST(raw AS VARCHAR) AS raw FROM quarantine ORDER BY raw");
    assert_eq!(q.len(), 2, "{q:?}");
    assert_eq!(q[0]["raw"], "[1,2,3]");
    assert!(q[0]["reason"].as_str().unwrap().contains("not a JSON object"), "{q:?}");
    assert_eq!(q[1]["raw"], "this is not json");
    assert!(q[1]["reason"].as_str().unwrap().contains("not JSON"), "{q:?}");
}

/// A function-URL event (payload format 2.0) carrying `body` base64-encoded.
fn webhook_event(path: &str, headers: &[(&str, &str)], body: &[u8]) -> Value {
    use base64::Engine as _;
    let mut h = json!({"host": "hook.lambda-url.us-east-1.on.aws", "x-forwarded-for": "198.51.100.7"});
    for (k, v) in headers {
        h[k.to_ascii_lowercase()] = json!(v);
    }
    json!({
        "version": "2.0", "routeKey": "$default", "rawPath": path, "rawQueryString": "", "headers": h,
        "requestContext": {"accountId": "anonymous", "apiId": "hook", "domainName": "hook.lambda-url.us-east-1.on.aws",
            "domainPrefix": "hook", "requestId": "r1", "routeKey": "$default", "stage": "$default",
            "time": "23/Nov/2026:12:00:00 +0000", "timeEpoch": 1795435200000u64,
            "http": {"method": "POST", "path": path, "protocol": "HTTP/1.1", "sourceIp": "198.51.100.7", "userAgent": "GitHub-Hookshot/1"}},
        "body": base64::engine::general_purpose::STANDARD.encode(body), "isBase64Encoded": true,
    })
}

#[test]
fn the_webhook_function_puts_signed_events_on_the_stream_and_refuses_the_rest() {
    use crate::lambda::Function;
    use crate::web::{body_of, invoke};
    let moto = Moto::start();
    moto.stream_and_bucket("whf", "lake-whf", 1);
    let dir = tempdir();
    let lake = "s3://lake-whf/lake";
    let f = Function::start_bin(
        &moto,
        "opensoc-webhook",
        lake,
        &[("OPENSOC_STREAM", "whf"), ("OPENSOC_WEBHOOK_SECRET", SECRET), ("OPENSOC_WEBHOOK_MAX_BODY_KIB", "64")],
        dir.path(),
    );
    let events: String = (0..7).map(|i| format!("{{\"event\":\"login\",\"user\":\"u{i}\"}}\n")).collect();
    let body = gzip(events.as_bytes());
    let sig = openssl_signature(&body);
    let ok = invoke(
        f.port,
        &webhook_event("/ingest/okta", &[("content-encoding", "gzip"), ("x-opensoc-signature", &sig)], &body),
    );
    assert_eq!(ok["statusCode"], 200, "{ok}");
    let answer: Value = serde_json::from_slice(&body_of(&ok)).unwrap();
    assert_eq!((answer["accepted"].as_u64(), answer["quarantined"].as_u64()), (Some(7), Some(0)), "{answer}");
    for (headers, body, status) in [
        (vec![], events.as_bytes().to_vec(), 401),
        (vec![("x-opensoc-signature", sig.as_str())], b"{\"event\":\"forged\"}".to_vec(), 401),
        (vec![("authorization", "Bearer wh-test-secret-0123456789")], vec![b'{'; 70 << 10], 413),
    ] {
        let r = invoke(f.port, &webhook_event("/ingest/okta", &headers, &body));
        assert_eq!(r["statusCode"], status, "{r}");
    }
    // Through the stream and the event source mapping into the lake.
    let out = run(&mut moto.esm("whf", lake, dir.path()));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let rows = moto.query(lake, "SELECT source_type, origin, count(*) AS n FROM logs GROUP BY 1, 2");
    assert_eq!(rows, vec![json!({"source_type": "okta", "origin": "http:198.51.100.7", "n": 7})]);
    let log = std::fs::read_to_string(&f.log).unwrap_or_default();
    assert!(log.lines().any(|l| l.starts_with('{') && l.contains("webhook events accepted")), "JSON logs: {log}");
}
