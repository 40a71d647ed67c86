//! The investigator's page in headless Chromium (the system's, driven by
//! Selenium and chromedriver): open the queue, open the top alert, read the
//! enrichment it shows, download its PCAP (validated with capinfos), run a
//! search. Screenshots go to `$OPENSOC_TEST_ARTIFACTS/browser/` (default
//! `test-artifacts/` in the repository).

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

use crate::support::{capinfos, query, repo, require_path, run, tempdir, venv_tool};
use crate::web::{Server, investigation_lake};

const SCRIPT: &str = r##"
import json, os, sys, time
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait
from selenium.webdriver.support import expected_conditions as EC

base, downloads, shots = sys.argv[1:4]
opts = webdriver.ChromeOptions()
opts.binary_location = "/usr/bin/chromium"
for a in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
          "--disable-background-networking", "--disable-extensions", "--window-size=1400,1100"]:
    opts.add_argument(a)
opts.add_experimental_option("prefs", {"download.default_directory": downloads,
                                       "download.prompt_for_download": False})
driver = webdriver.Chrome(options=opts, service=webdriver.ChromeService(executable_path="/usr/bin/chromedriver"))
driver.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": downloads})
out = {}
try:
    wait = WebDriverWait(driver, 30)
    driver.get(base + "/")
    rows = wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "tr.finding"))
    out["queue_ids"] = [r.get_attribute("data-id") for r in rows]
    driver.save_screenshot(os.path.join(shots, "1-queue.png"))
    rows[0].click()
    wait.until(EC.presence_of_element_located((By.ID, "endpoint-dst")))
    wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, "#timeline rect")))
    facts = lambda sel: {dd.get_attribute("data-field"): dd.text for dd in driver.find_elements(By.CSS_SELECTOR, sel + " dd")}
    out["src"] = facts("#endpoint-src")
    out["dst"] = facts("#endpoint-dst")
    out["intel"] = [e.text for e in driver.find_elements(By.CSS_SELECTOR, ".intel-hit")]
    out["title"] = driver.find_element(By.ID, "alert-title").text
    out["timeline_bars"] = len(driver.find_elements(By.CSS_SELECTOR, "#timeline rect"))
    out["related_flows"] = len(driver.find_elements(By.CSS_SELECTOR, "#related-flows tbody tr"))
    out["url"] = driver.current_url
    driver.save_screenshot(os.path.join(shots, "2-alert.png"))
    driver.find_element(By.ID, "download-pcap").click()
    wait.until(lambda d: "packets" in d.find_element(By.ID, "carve-note").text)
    out["carve_note"] = driver.find_element(By.ID, "carve-note").text
    deadline = time.time() + 30
    files = []
    while time.time() < deadline:
        files = [f for f in os.listdir(downloads) if not f.endswith(".crdownload")]
        if files:
            break
        time.sleep(0.2)
    out["downloads"] = files
    driver.get(base + "/#/search")
    box = wait.until(EC.presence_of_element_located((By.ID, "sql")))
    box.clear()
    box.send_keys("SELECT query, count(*) AS n FROM dns GROUP BY query ORDER BY n DESC, query LIMIT 10")
    driver.find_element(By.ID, "run-query").click()
    wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, "#results tbody tr")))
    out["search_rows"] = [[td.text for td in tr.find_elements(By.TAG_NAME, "td")]
                          for tr in driver.find_elements(By.CSS_SELECTOR, "#results tbody tr")]
    out["search_summary"] = driver.find_element(By.ID, "result-summary").text
    driver.save_screenshot(os.path.join(shots, "3-search.png"))
    box.clear()
    box.send_keys("DROP TABLE flows")
    driver.find_element(By.ID, "run-query").click()
    wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, "#search-output .error")))
    out["refusal"] = driver.find_element(By.CSS_SELECTOR, "#search-output .error").text
    driver.save_screenshot(os.path.join(shots, "4-refused.png"))
    # A refused query is a 4xx the browser logs as a failed load: expected.
    out["console_errors"] = [e["message"] for e in driver.get_log("browser")
                             if e["level"] == "SEVERE" and "Failed to load resource" not in e["message"]]
finally:
    print(json.dumps(out))
    driver.quit()
"##;

/// Two analysts on one alert: A changes the status and comments, B — whose
/// page was loaded before A saved — adds a tag; both reload and see both
/// changes; the queue's search finds the alert by A's comment.
const WORKFLOW_SCRIPT: &str = r##"
import json, os, sys, time
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait, Select
from selenium.webdriver.support import expected_conditions as EC

base, alert_id, shots = sys.argv[1:4]

def browser():
    opts = webdriver.ChromeOptions()
    opts.binary_location = "/usr/bin/chromium"
    for a in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
              "--disable-background-networking", "--disable-extensions", "--window-size=1400,1400"]:
        opts.add_argument(a)
    return webdriver.Chrome(options=opts, service=webdriver.ChromeService(executable_path="/usr/bin/chromedriver"))

def saved(d):
    WebDriverWait(d, 30).until(lambda d: d.find_element(By.ID, "wf-note").text == "Saved.")

def state(d):
    return {
        "status": Select(d.find_element(By.ID, "wf-status")).first_selected_option.get_attribute("value"),
        "tags": [t.get_attribute("data-tag") for t in d.find_elements(By.CSS_SELECTOR, "#wf-tags .tag")],
        "history": [li.text for li in d.find_elements(By.CSS_SELECTOR, "#wf-history li")],
    }

a, b = browser(), browser()
out = {}
try:
    url = base + "/#/alert/" + alert_id
    for d in (a, b):
        d.get(url)
        WebDriverWait(d, 30).until(EC.presence_of_element_located((By.ID, "wf-save")))
    # A: status and a comment.
    Select(a.find_element(By.ID, "wf-status")).select_by_value("in_progress")
    a.find_element(By.ID, "wf-comment").send_keys("Beaconing to a known C2; isolating the host")
    a.find_element(By.ID, "wf-save").click()
    saved(a)
    # B, on the page it loaded before A saved: a tag only.
    b.find_element(By.ID, "wf-tag").send_keys("c2, Containment")
    b.find_element(By.ID, "wf-save").click()
    saved(b)
    for d in (a, b):
        d.refresh()
        WebDriverWait(d, 30).until(EC.presence_of_element_located((By.ID, "wf-history")))
    out["a"], out["b"] = state(a), state(b)
    a.save_screenshot(os.path.join(shots, "5-workflow.png"))
    # The queue's search covers comments.
    a.get(base + "/#/")
    box = WebDriverWait(a, 30).until(EC.presence_of_element_located((By.ID, "queue-text")))
    box.send_keys("isolating")
    box.submit()
    WebDriverWait(a, 30).until(lambda d: "text=isolating" in d.current_url and d.find_elements(By.CSS_SELECTOR, "tr.finding"))
    time.sleep(0.5)
    rows = a.find_elements(By.CSS_SELECTOR, "tr.finding")
    out["found"] = [r.get_attribute("data-id") for r in rows]
    out["found_status"] = [r.find_element(By.CSS_SELECTOR, ".wf-status").text for r in rows]
    out["found_tags"] = [r.find_element(By.CSS_SELECTOR, ".wf-tags").text for r in rows]
    a.save_screenshot(os.path.join(shots, "6-queue-search.png"))
    out["console_errors"] = [e["message"] for d in (a, b) for e in d.get_log("browser") if e["level"] == "SEVERE"]
finally:
    print(json.dumps(out))
    a.quit()
    b.quit()
"##;

/// Where the screenshots go.
fn artifacts() -> PathBuf {
    let dir =
        std::env::var_os("OPENSOC_TEST_ARTIFACTS").map(PathBuf::from).unwrap_or_else(|| repo().join("test-artifacts"));
    let dir = dir.join("browser");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn an_investigator_opens_the_top_alert_sees_its_enrichment_downloads_its_pcap_and_searches() {
    require_path("/usr/bin/chromium", "apt-get install chromium (scripts/test installs it)");
    require_path("/usr/bin/chromedriver", "apt-get install chromium-driver (scripts/test installs it)");
    let python = venv_tool("OPENSOC_BROWSER_PYTHON", "browser-venv", "python", "selenium");
    let dir = tempdir();
    let (lake, ip) = investigation_lake(dir.path());
    let server = Server::start(&lake, &[]);
    let downloads = dir.path().join("downloads");
    std::fs::create_dir_all(&downloads).unwrap();
    let shots = artifacts();
    let script = dir.path().join("page.py");
    std::fs::write(&script, SCRIPT).unwrap();
    let out = run(Command::new(python).arg(&script).arg(&server.base).arg(&downloads).arg(&shots));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "the browser script failed: {}\n{stdout}", String::from_utf8_lossy(&out.stderr));
    let seen: Value = serde_json::from_str(stdout.lines().last().unwrap_or("")).expect("the script's JSON");

    // The queue: the highest-scored finding first, as the lake orders them.
    let top = &query(
        &lake,
        &format!(
            "SELECT {} AS id, rule, src_ip, dst_ip, src_country, dst_country, src_asn, dst_asn, src_as_org, dst_as_org, community_id \
             FROM findings ORDER BY score DESC, time_ns DESC, rule LIMIT 1",
            opensoc_web::findings::FINDING_ID_SQL
        ),
    )[0];
    assert_eq!(seen["queue_ids"][0], top["id"], "{seen}");
    assert!(seen["url"].as_str().unwrap().ends_with(&format!("#/alert/{}", top["id"].as_str().unwrap())));
    assert!(seen["title"].as_str().unwrap().contains(top["rule"].as_str().unwrap()));
    // Both endpoints' enrichment, as the finding row holds it.
    for side in ["src", "dst"] {
        let shown = &seen[side];
        assert_eq!(shown["ip"], top[format!("{side}_ip")]);
        let country = top[format!("{side}_country")].as_str().unwrap_or("—");
        assert_eq!(shown["country"], country, "{side}: {shown}");
        let asn = top[format!("{side}_asn")].as_u64().map_or("—".to_string(), |a| format!("AS{a}"));
        assert_eq!(shown["asn"], asn.as_str(), "{side}: {shown}");
    }
    let intel_side = if top["src_ip"] == ip.as_str() { "src" } else { "dst" };
    assert!(seen[intel_side]["asn"].as_str().unwrap().starts_with("AS"), "the intel address has its ASN: {seen}");
    assert_eq!(seen[intel_side]["as_organisation"], top[format!("{intel_side}_as_org")]);
    // The intel hit and its source.
    let intel = seen["intel"].as_array().unwrap();
    assert!(
        intel.iter().any(|t| t.as_str().unwrap().contains("c2-feed") && t.as_str().unwrap().contains(&ip)),
        "{intel:?}"
    );
    assert!(seen["timeline_bars"].as_u64().unwrap() > 0);
    assert!(seen["related_flows"].as_u64().unwrap() >= 1);
    // The downloaded PCAP holds the flow's packets.
    let files = seen["downloads"].as_array().unwrap();
    assert_eq!(files.len(), 1, "{seen}");
    let pcap = downloads.join(files[0].as_str().unwrap());
    let (n, damaged) = capinfos(&pcap);
    assert!(!damaged);
    let packets = query(
        &lake,
        &format!("SELECT packets FROM flows WHERE community_id = '{}'", top["community_id"].as_str().unwrap()),
    )[0]["packets"]
        .as_u64()
        .unwrap();
    assert_eq!(n, packets, "the alert's flow");
    assert!(seen["carve_note"].as_str().unwrap().starts_with(&format!("{packets} packets")));
    // Search: the table shows what SQL says; a refusal is shown, not swallowed.
    let expected = query(&lake, "SELECT query, count(*) AS n FROM dns GROUP BY query ORDER BY n DESC, query LIMIT 10");
    let rows = seen["search_rows"].as_array().unwrap();
    assert_eq!(rows.len(), expected.len());
    assert_eq!(rows[0][0], expected[0]["query"]);
    assert_eq!(rows[0][1], expected[0]["n"].to_string().as_str());
    assert!(seen["refusal"].as_str().unwrap().contains("DDL not supported"), "{seen}");
    assert_eq!(seen["console_errors"], serde_json::json!([]), "no script errors in the page");
    for shot in ["1-queue.png", "2-alert.png", "3-search.png", "4-refused.png"] {
        assert!(std::fs::metadata(shots.join(shot)).unwrap().len() > 10_000, "{shot} is a real screenshot");
    }
}

#[test]
fn two_analysts_edit_one_alert_at_once_and_both_changes_survive() {
    require_path("/usr/bin/chromium", "apt-get install chromium (scripts/test installs it)");
    require_path("/usr/bin/chromedriver", "apt-get install chromium-driver (scripts/test installs it)");
    let python = venv_tool("OPENSOC_BROWSER_PYTHON", "browser-venv", "python", "selenium");
    let dir = tempdir();
    let lake = crate::workflow::findings_lake(dir.path());
    let server = Server::start(&lake, &[]);
    let id = query(
        &lake,
        &format!(
            "SELECT {} AS id FROM findings ORDER BY score DESC, time_ns DESC, rule LIMIT 1",
            opensoc_web::findings::FINDING_ID_SQL
        ),
    )[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let shots = artifacts();
    let script = dir.path().join("workflow.py");
    std::fs::write(&script, WORKFLOW_SCRIPT).unwrap();
    let out = run(Command::new(python).arg(&script).arg(&server.base).arg(&id).arg(&shots));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "the browser script failed: {}\n{stdout}", String::from_utf8_lossy(&out.stderr));
    let seen: Value = serde_json::from_str(stdout.lines().last().unwrap_or("")).expect("the script's JSON");
    // Both browsers, reloaded, show both analysts' changes.
    for who in ["a", "b"] {
        let s = &seen[who];
        assert_eq!(s["status"], "in_progress", "{who}: {seen}");
        assert_eq!(s["tags"], serde_json::json!(["c2", "containment"]), "{who}: {seen}");
        let history = s["history"].as_array().unwrap();
        assert_eq!(history.len(), 2, "{who}: {seen}");
        assert!(history.iter().any(|h| h.as_str().unwrap().contains("isolating the host")), "{seen}");
    }
    // The lake has the two rows, with the right pieces in each.
    let rows = query(
        &lake,
        &format!("SELECT status, comment, tags_added FROM finding_events WHERE finding_id = '{id}' ORDER BY time_ns"),
    );
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["status"], "in_progress");
    assert_eq!(rows[1]["tags_added"], serde_json::json!(["c2", "containment"]));
    assert_eq!(rows[1]["status"], Value::Null, "B's save did not send the status it had loaded");
    // The queue's search by comment text finds it, with its state.
    assert_eq!(seen["found"], serde_json::json!([id]), "{seen}");
    assert_eq!(seen["found_status"][0], "in progress");
    assert!(seen["found_tags"][0].as_str().unwrap().contains("c2"));
    assert_eq!(seen["console_errors"], serde_json::json!([]), "no script errors in the page");
    for shot in ["5-workflow.png", "6-queue-search.png"] {
        assert!(std::fs::metadata(shots.join(shot)).unwrap().len() > 10_000, "{shot} is a real screenshot");
    }
}
