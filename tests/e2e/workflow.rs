//! The alert workflow through `opensoc serve`: status, assignee, comments
//! and tags as `finding_events` rows (read back with `opensoc query`, not
//! through the API that wrote them), the queue filtered by them, concurrent
//! edits, cases, and every way a change can be refused.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::support::{ingest, query, repo, tempdir};
use crate::web::{Server, get, post_json};

/// A lake of the detection captures: a port scan and a DNS tunnel, so a
/// few hosts with several findings each.
pub fn findings_lake(dir: &Path) -> PathBuf {
    let lake = dir.join("lake");
    let detect = repo().join("testdata/detect");
    ingest(&lake, &[detect.join("nmap-syn-scan.pcap.gz"), detect.join("dns-tunnel-dga.pcap.gz")]);
    lake
}

/// The top finding of the queue.
fn top_finding(server: &Server) -> Value {
    let queue = get(&format!("{}/api/findings", server.base), &[], None).json();
    queue["findings"][0].clone()
}

fn events_url(server: &Server, id: &str) -> String {
    format!("{}/api/findings/{id}/events", server.base)
}

fn stored_events(lake: &Path, id: &str) -> Vec<Value> {
    query(
        lake,
        &format!(
            "SELECT principal, via, status, assignee, comment, tags_added, tags_removed, case_id FROM finding_events \
             WHERE finding_id = '{id}' ORDER BY time_ns, event_id"
        ),
    )
}

fn queue_ids(server: &Server, params: &[(&str, &str)]) -> Vec<String> {
    let q = get(&format!("{}/api/findings", server.base), params, None);
    assert_eq!(q.status, 200, "{}", q.text());
    q.json()["findings"].as_array().unwrap().iter().map(|f| f["id"].as_str().unwrap().to_string()).collect()
}

#[test]
fn changes_to_a_finding_are_stored_as_events_and_its_state_is_their_fold() {
    let dir = tempdir();
    let lake = findings_lake(dir.path());
    let server = Server::start(&lake, &[]);
    let top = top_finding(&server);
    let id = top["id"].as_str().unwrap().to_string();
    assert_eq!(top["status"], "new", "untouched findings are new: {top}");
    assert_eq!(top["tags"], json!([]));

    // Four changes, as four analysts' clicks.
    let url = events_url(&server, &id);
    for change in [
        json!({"status": "acknowledged", "assignee": "alice"}),
        json!({"add_tags": ["Scanner", "external"], "comment": "SYN scan of the /24 from one host"}),
        json!({"status": "in progress", "remove_tags": ["external"]}),
        json!({"comment": "Owner confirms an authorised pentest"}),
    ] {
        let r = post_json(&url, &change, None);
        assert_eq!(r.status, 201, "{}", r.text());
    }
    let alert = get(&format!("{}/api/findings/{id}", server.base), &[], None).json();
    let st = &alert["state"];
    assert_eq!(st["status"], "in_progress");
    assert_eq!(st["assignee"], "alice");
    assert_eq!(st["tags"], json!(["scanner"]), "tags are lower-cased; the removed one is gone");
    let comments: Vec<&str> = st["comments"].as_array().unwrap().iter().map(|c| c["text"].as_str().unwrap()).collect();
    assert_eq!(comments, ["SYN scan of the /24 from one host", "Owner confirms an authorised pentest"]);
    assert_eq!(alert["history"].as_array().unwrap().len(), 4);
    let principal = alert["history"][0]["principal"].as_str().unwrap().to_string();
    assert!(principal.starts_with("local:"), "serve names the local user: {principal}");

    // The lake holds exactly those rows, read by the command, not the API.
    let stored = stored_events(&lake, &id);
    assert_eq!(stored.len(), 4, "{stored:?}");
    assert_eq!(stored[0]["status"], "acknowledged");
    assert_eq!(stored[1]["tags_added"], json!(["external", "scanner"]));
    assert_eq!(stored[2]["tags_removed"], json!(["external"]));
    assert!(stored.iter().all(|e| e["via"] == "serve" && e["principal"] == principal.as_str()));

    // The queue filters on the state, and its search covers comments and tags.
    assert_eq!(queue_ids(&server, &[("status", "in_progress")]), vec![id.clone()]);
    assert!(queue_ids(&server, &[("status", "new")]).iter().all(|i| *i != id));
    let open = queue_ids(&server, &[("status", "open"), ("limit", "1000")]);
    assert!(open.contains(&id));
    assert_eq!(queue_ids(&server, &[("assignee", "alice")]), vec![id.clone()]);
    assert_eq!(queue_ids(&server, &[("text", "PENTEST")]), vec![id.clone()], "comment text, any case");
    assert_eq!(queue_ids(&server, &[("tag", "scanner")]), vec![id.clone()]);
    assert_eq!(queue_ids(&server, &[("tag", "external")]), Vec::<String>::new(), "removed tags do not match");
    let total = query(&lake, "SELECT count(*) AS n FROM findings")[0]["n"].as_u64().unwrap();
    let unassigned = get(&format!("{}/api/findings", server.base), &[("assignee", "none")], None).json();
    assert_eq!(unassigned["total"].as_u64(), Some(total - 1));

    // Closing it moves it out of the open queue.
    let r = post_json(&url, &json!({"status": "closed_false_positive", "assignee": ""}), None);
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(r.json()["state"]["assignee"], Value::Null, "an empty assignee unassigns");
    let open = queue_ids(&server, &[("status", "open"), ("limit", "1000")]);
    assert!(!open.contains(&id));
    assert_eq!(queue_ids(&server, &[("status", "closed")]), vec![id.clone()]);
}

#[test]
fn bad_changes_are_refused_with_a_reason_and_store_nothing() {
    let dir = tempdir();
    let lake = findings_lake(dir.path());
    let server = Server::start(&lake, &["--token", "s3cret"]);
    let queue = get(&format!("{}/api/findings", server.base), &[], Some("s3cret")).json();
    let id = queue["findings"][0]["id"].as_str().unwrap().to_string();
    let url = events_url(&server, &id);
    let ok = json!({"comment": "fine"});
    // Auth first.
    assert!(post_json(&url, &ok, None).refused(401).contains("missing credentials"));
    assert!(post_json(&url, &ok, Some("wrong")).refused(401).contains("not valid"));
    let token = Some("s3cret");
    for (body, status, says) in [
        (json!({"status": "done"}), 400, "not one of new, acknowledged"),
        (json!({}), 400, "changes nothing"),
        (json!({"statuz": "new"}), 400, "unknown field `statuz`"),
        (json!({"add_tags": ["<script>"]}), 400, "not allowed in a tag"),
        (json!({"comment": "x".repeat(10_001)}), 400, "longer than 10000"),
        (json!({"case_id": "../../etc/passwd"}), 400, "not a case id"),
        (json!({"status": 3}), 400, "invalid type"),
    ] {
        let msg = post_json(&url, &body, token).refused(status);
        assert!(msg.contains(says), "{body}: {msg}");
    }
    let not_json = crate::web::post(&url, b"status=closed", token);
    assert!(not_json.refused(415).contains("Content-Type"), "{}", not_json.text());
    let big = json!({"comment": "y".repeat(70_000)});
    assert!(post_json(&url, &big, token).refused(413).contains("length limit"));
    assert!(post_json(&events_url(&server, "0000000000000000"), &ok, token).refused(404).contains("no finding"));
    assert!(post_json(&events_url(&server, "..%2f..%2fetc"), &ok, token).refused(400).contains("not a finding id"));
    // Nothing of that reached the lake.
    let has_table =
        query(&lake, "SELECT count(*) AS n FROM information_schema.tables WHERE table_name = 'finding_events'");
    if has_table[0]["n"].as_u64() == Some(1) {
        assert_eq!(query(&lake, "SELECT count(*) AS n FROM finding_events")[0]["n"].as_u64(), Some(0));
    }
    // And the well-formed change with the token is stored.
    assert_eq!(post_json(&url, &ok, token).status, 201);
    let stored = stored_events(&lake, &id);
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0]["principal"], "token");
}

#[test]
fn concurrent_edits_to_one_finding_all_survive() {
    let dir = tempdir();
    let lake = findings_lake(dir.path());
    let server = Server::start(&lake, &[]);
    let id = top_finding(&server)["id"].as_str().unwrap().to_string();
    let url = events_url(&server, &id);
    let editors = 12;
    std::thread::scope(|s| {
        for i in 0..editors {
            let url = url.clone();
            s.spawn(move || {
                let change = if i % 3 == 0 {
                    json!({"comment": format!("note {i}"), "add_tags": [format!("t{i}")]})
                } else {
                    json!({"comment": format!("note {i}")})
                };
                let r = post_json(&url, &change, None);
                assert_eq!(r.status, 201, "editor {i}: {}", r.text());
            });
        }
    });
    let stored = stored_events(&lake, &id);
    assert_eq!(stored.len(), editors, "every edit is a row: {stored:?}");
    let alert = get(&format!("{}/api/findings/{id}", server.base), &[], None).json();
    let mut comments: Vec<String> = alert["state"]["comments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["text"].as_str().unwrap().to_string())
        .collect();
    comments.sort();
    let mut expected: Vec<String> = (0..editors).map(|i| format!("note {i}")).collect();
    expected.sort();
    assert_eq!(comments, expected);
    assert_eq!(alert["state"]["tags"], json!(["t0", "t3", "t6", "t9"]));
}

#[test]
fn findings_of_one_host_group_into_a_case_that_findings_can_leave() {
    let dir = tempdir();
    let lake = findings_lake(dir.path());
    let server = Server::start(&lake, &[]);
    // A finding with others of its hosts in its window.
    let queue = get(&format!("{}/api/findings", server.base), &[("limit", "1000")], None).json();
    let (id, related) = queue["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find_map(|f| {
            let id = f["id"].as_str().unwrap();
            let alert = get(&format!("{}/api/findings/{id}", server.base), &[], None).json();
            let related = alert["related_findings"].as_array().unwrap().clone();
            (!related.is_empty()).then(|| (id.to_string(), related))
        })
        .expect("a finding with a related finding in the detection captures (the DNS tunnel and DGA share a server)");
    let alert = get(&format!("{}/api/findings/{id}", server.base), &[], None).json();
    let ips = [alert["finding"]["src_ip"].clone(), alert["finding"]["dst_ip"].clone()];
    for r in &related {
        assert_ne!(r["id"], id.as_str());
        assert!(ips.contains(&r["src_ip"]) || ips.contains(&r["dst_ip"]), "shares a host: {r}");
    }
    assert_eq!(alert["case"], Value::Null);

    let members = vec![id.clone(), related[0]["id"].as_str().unwrap().to_string()];
    let r = post_json(
        &format!("{}/api/cases", server.base),
        &json!({"title": "Scan then tunnel", "findings": members, "comment": "one actor"}),
        None,
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let case = r.json();
    let case_id = case["case_id"].as_str().unwrap().to_string();
    assert!(case_id.starts_with("case-"));
    assert_eq!(case["title"], "Scan then tunnel");
    let ids = |c: &Value| -> Vec<String> {
        let mut v: Vec<String> =
            c["findings"].as_array().unwrap().iter().map(|f| f["id"].as_str().unwrap().to_string()).collect();
        v.sort();
        v
    };
    let mut sorted = members.clone();
    sorted.sort();
    assert_eq!(ids(&case), sorted);
    // One commit for the whole case: a row per finding, one time.
    let rows = query(
        &lake,
        &format!("SELECT count(*) AS n, count(DISTINCT time_ns) AS t FROM finding_events WHERE case_id = '{case_id}'"),
    );
    assert_eq!((rows[0]["n"].as_u64(), rows[0]["t"].as_u64()), (Some(2), Some(1)));
    // A finding of another host joins the existing case by its id.
    let other = queue["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_str().unwrap().to_string())
        .find(|f| !members.contains(f))
        .expect("a third finding");
    let r = post_json(&events_url(&server, &other), &json!({"case_id": case_id}), None);
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(r.json()["state"]["case_id"], case_id.as_str());
    let mut sorted = vec![members[0].clone(), members[1].clone(), other.clone()];
    sorted.sort();
    // The alert shows its case; the queue filters by it.
    let alert = get(&format!("{}/api/findings/{id}", server.base), &[], None).json();
    assert_eq!(alert["case"]["case_id"], case_id.as_str());
    assert_eq!(alert["state"]["case_title"], "Scan then tunnel");
    let mut in_case = queue_ids(&server, &[("case", &case_id)]);
    in_case.sort();
    assert_eq!(in_case, sorted);
    assert_eq!(get(&format!("{}/api/cases/{case_id}", server.base), &[], None).json()["title"], "Scan then tunnel");
    // One leaves; the case has two.
    let r = post_json(&events_url(&server, &members[1]), &json!({"case_id": ""}), None);
    assert_eq!(r.status, 201, "{}", r.text());
    let case = get(&format!("{}/api/cases/{case_id}", server.base), &[], None).json();
    let mut left = vec![members[0].clone(), other];
    left.sort();
    assert_eq!(ids(&case), left);
    // Refusals.
    let cases = format!("{}/api/cases", server.base);
    assert!(
        post_json(&cases, &json!({"title": "x", "findings": ["0000000000000000"]}), None)
            .refused(404)
            .contains("no finding")
    );
    assert!(post_json(&cases, &json!({"title": " ", "findings": [id]}), None).refused(400).contains("title"));
    assert!(post_json(&cases, &json!({"title": "x", "findings": []}), None).refused(400).contains("1 to 200"));
    assert!(get(&format!("{}/api/cases/case-nothere", server.base), &[], None).refused(404).contains("no case"));
    assert!(get(&format!("{}/api/cases/..%2fx", server.base), &[], None).refused(400).contains("not a case id"));
}
