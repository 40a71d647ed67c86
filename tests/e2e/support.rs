//! Helpers: locating the shared data and tools, running `opensoc`, asking tshark.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

/// The repository's root folder, read when the test runs.
///
/// cargo and nextest set `CARGO_MANIFEST_DIR` for the test process; the
/// compile-time value is only the fallback, because a test binary reused from
/// a shared target folder may have been built in another checkout.
pub fn repo() -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")))
}

/// The shared test data folder (`../shared/data` beside the repository, or `OPENSOC_SHARED_DATA`).
pub fn shared_data() -> PathBuf {
    let dir =
        std::env::var_os("OPENSOC_SHARED_DATA").map(PathBuf::from).unwrap_or_else(|| repo().join("../shared/data"));
    assert!(
        dir.join("pcap").is_dir(),
        "shared test data not found at {}: clone the project's shared/ folder beside the repository or set OPENSOC_SHARED_DATA",
        dir.display()
    );
    dir
}

/// Fail with instructions when an oracle tool is missing.
pub fn require(tool: &str) {
    let ok = Command::new(tool).arg("--version").output().map(|o| o.status.success()).unwrap_or(false);
    assert!(
        ok,
        "{tool} is needed by this test and was not found: run ./scripts/test (it installs it) or `apt-get install tshark`"
    );
}

/// Fail with instructions when a file a test needs is missing.
pub fn require_path(path: &str, how: &str) {
    assert!(Path::new(path).exists(), "{path} is needed by this test and was not found: {how}");
}

/// A tool from a venv that scripts/test creates (`~/.cache/opensoc/VENV/bin/BIN`),
/// or the path in the environment variable `env`; fails with how to get it.
pub fn venv_tool(env: &str, venv: &str, bin: &str, install: &str) -> PathBuf {
    if let Some(p) = std::env::var_os(env) {
        return PathBuf::from(p);
    }
    let p = std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/opensoc").join(venv).join("bin").join(bin));
    match p {
        Some(p) if p.is_file() => p,
        _ => panic!(
            "{bin} is needed by this test and was not found: run ./scripts/test (it installs it), or \
             `python3 -m venv ~/.cache/opensoc/{venv} && ~/.cache/opensoc/{venv}/bin/pip install {install}` \
             (or set {env})"
        ),
    }
}

/// The `opensoc` binary under test.
pub fn opensoc() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_opensoc"));
    c.env_remove("OPENSOC_LAKE").env_remove("OPENSOC_CONFIG").env("RUST_BACKTRACE", "1");
    c
}

/// Run and return output, failing with stderr on a crash (signal or panic).
pub fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().expect("running opensoc");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.code().is_some(), "killed by a signal: {stderr}");
    assert!(!stderr.contains("panicked"), "opensoc panicked: {stderr}");
    out
}

/// `opensoc ingest --format json`: the per-file reports and the totals.
pub fn ingest(lake: &Path, paths: &[PathBuf]) -> (Vec<Value>, Value, i32) {
    let out =
        run(opensoc().arg("ingest").arg("--lake").arg(lake).args(["--format", "json", "--no-progress"]).args(paths));
    let code = out.status.code().unwrap_or(-1);
    assert!(code == 0 || code == 3, "ingest failed ({code}): {}", String::from_utf8_lossy(&out.stderr));
    let mut lines: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let totals = lines.pop().expect("a totals line");
    assert!(totals.get("totals").is_some(), "last line is not the totals: {totals}");
    (lines, totals, code)
}

/// `opensoc query --format json`: the rows.
pub fn query(lake: &Path, sql: &str) -> Vec<Value> {
    let out = run(opensoc().arg("query").arg("--lake").arg(lake).args(["--format", "json", sql]));
    assert!(out.status.success(), "query {sql:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).expect("JSON row")).collect()
}

/// tshark's fields, one Vec per packet.
pub fn tshark_fields(file: &Path, fields: &[&str], extra: &[&str]) -> Vec<Vec<String>> {
    let mut c = Command::new("tshark");
    c.arg("-r").arg(file).args(extra).args(["-T", "fields", "-E", "separator=\t", "-E", "occurrence=a"]);
    for f in fields {
        c.args(["-e", f]);
    }
    let out = c.output().expect("running tshark");
    String::from_utf8_lossy(&out.stdout).lines().map(|l| l.split('\t').map(str::to_string).collect()).collect()
}

/// capinfos' packet count, and whether it says the file is cut short or damaged.
pub fn capinfos(file: &Path) -> (u64, bool) {
    let out = Command::new("capinfos").args(["-c", "-M"]).arg(file).output().expect("running capinfos");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let count = stdout
        .lines()
        .chain(stderr.lines())
        .find_map(|l| l.strip_prefix("Number of packets:").map(|v| v.trim().parse::<u64>().unwrap_or(0)))
        .unwrap_or(0);
    let damaged = !out.status.success() || stderr.contains("cut short") || stderr.contains("appears to be damaged");
    (count, damaged)
}

/// A fresh temporary folder.
pub fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().expect("temp dir")
}
