//! Detection and triage in the ingest pipeline. Every batch a table
//! receives is checked by:
//!
//! - **threat intelligence** ([`intel`]): flow and log endpoints, DNS
//!   names, HTTP hosts and URLs, TLS server names and file hashes against
//!   the indicator index;
//! - **Suricata alerts**: every EVE `alert` event is a finding, scored
//!   from the alert's severity;
//! - **rules** ([`rule`]): YAML in a Sigma-compatible subset, the built-in
//!   ones ([`builtin`]: port scans, DNS tunnels, generated domain names,
//!   SSH password guessing) and the user's folder, with windowed counts;
//! - **behavioural models** (`opensoc_model`): flows, DNS and TLS rows
//!   scored against their host's baseline, when a model is set
//!   ([`Detector::set_model`]);
//!
//! and the detections on one row are triaged into one `findings` row
//! ([`triage`]): the rules that fired, a score aggregated from theirs (max,
//! sum or mean, as configured), a severity, both endpoints, the intel
//! sources and the time window to carve.

pub mod builtin;
pub mod condition;
pub mod features;
pub mod intel;
pub mod matcher;
pub mod row;
pub mod rule;
pub mod triage;
pub mod window;

use std::collections::BTreeSet;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::Path;
use std::sync::{Arc, Mutex};

use arrow::record_batch::RecordBatch;
use opensoc_schemas::Table;

use crate::intel::IntelIndex;
use condition::Expr;
use matcher::NumOp;
use row::{BatchView, Val};
use rule::{Fields, Rule, RuleError, Selection};
use window::{Seen, Windows};

pub use triage::{ScoreAggregation, severity};

/// One rule that fired on one row of a batch.
#[derive(Debug, Clone, PartialEq)]
pub struct Detection {
    /// The row in the batch.
    pub row: usize,
    /// The rule: `intel.ip`, `suricata.alert`, a rule's id …
    pub rule: String,
    /// 0–100.
    pub score: i32,
    /// The field that matched (or the aggregation).
    pub matched_field: String,
    /// The value that matched.
    pub indicator: String,
    /// `ip`, `domain`, `url`, `hash`, `signature`, `rule`, `aggregate`.
    pub indicator_kind: String,
    /// Intel sources that named it.
    pub sources: BTreeSet<String>,
    /// What happened, for the analyst.
    pub description: Option<String>,
    /// The time window to carve, when wider than the row's own.
    pub window: Option<(i64, i64)>,
}

/// The rules in use, with the field names they read.
#[derive(Debug, Default, Clone)]
pub struct RuleSet {
    rules: Vec<Rule>,
    fields: Fields,
}

/// Fields every table's rows are read through besides the rules' own.
const SOURCE_TYPE: &str = "source_type";
const APP: &str = "app";
/// What tells two events apart when `count()` counts events.
const IDENTITY: [&str; 12] = [
    "ts_ns",
    "first_ts_ns",
    "community_id",
    "src_ip",
    "src_port",
    "dst_ip",
    "dst_port",
    "query",
    "uri",
    "sni",
    "message",
    "origin",
];

impl RuleSet {
    /// No rules.
    pub fn empty() -> Self {
        Self::default()
    }

    /// The built-in rules ([`builtin::RULES`]).
    pub fn builtin() -> Self {
        let mut set = RuleSet::default();
        for (name, text) in builtin::RULES {
            let (rules, errors) = rule::parse_rules(text, Path::new(name), &mut set.fields);
            debug_assert!(errors.is_empty(), "built-in rules parse: {errors:?}");
            set.add(rules);
        }
        set
    }

    fn add(&mut self, rules: Vec<Rule>) {
        for r in rules {
            match self.rules.iter_mut().find(|x| x.id == r.id) {
                Some(old) => {
                    tracing::info!(rule = %r.id, file = %r.file.display(), replaced = %old.file.display(), "rule replaces one with the same id");
                    *old = r;
                }
                None => self.rules.push(r),
            }
        }
    }

    /// Add every rule of the `*.yml`/`*.yaml` files under `dir` (a rule
    /// with an id already loaded replaces it). Every bad rule is an error;
    /// the good ones are added either way.
    pub fn load_dir(&mut self, dir: &Path) -> Result<usize, Vec<RuleError>> {
        let mut files = Vec::new();
        let mut errors = Vec::new();
        collect_yaml(dir, &mut files, &mut errors);
        files.sort();
        let mut added = 0;
        for f in files {
            match std::fs::read_to_string(&f) {
                Ok(text) => {
                    let (rules, errs) = rule::parse_rules(&text, &f, &mut self.fields);
                    added += rules.len();
                    self.add(rules);
                    errors.extend(errs);
                }
                Err(e) => errors.push(RuleError { file: f, rule: None, reason: format!("cannot read: {e}") }),
            }
        }
        if errors.is_empty() { Ok(added) } else { Err(errors) }
    }

    /// The rules.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }
}

fn collect_yaml(dir: &Path, out: &mut Vec<std::path::PathBuf>, errors: &mut Vec<RuleError>) {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) => {
            errors.push(RuleError {
                file: dir.to_path_buf(),
                rule: None,
                reason: format!("cannot read the rules folder: {e}"),
            });
            return;
        }
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            collect_yaml(&p, out, errors);
        } else if p.extension().is_some_and(|x| x == "yml" || x == "yaml") {
            out.push(p);
        }
    }
}

/// Runs every detection on incoming batches and triages the results.
pub struct Detector {
    /// The rules, and the fields they and the detector itself read.
    rules: RuleSet,
    intel: Option<Arc<IntelIndex>>,
    windows: Mutex<Windows>,
    aggregation: ScoreAggregation,
    /// Anomaly scoring against the lake's model, when one is loaded.
    scorer: std::sync::RwLock<Option<Arc<opensoc_model::Scorer>>>,
}

impl Default for Detector {
    fn default() -> Self {
        Detector::new(RuleSet::builtin(), ScoreAggregation::Max)
    }
}

impl std::fmt::Debug for Detector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Detector")
            .field("rules", &self.rules.rules.len())
            .field("intel", &self.intel.as_ref().map(|i| i.len()))
            .field("aggregation", &self.aggregation)
            .finish()
    }
}

impl Detector {
    /// A detector with these rules, scoring with `aggregation`.
    pub fn new(mut rules: RuleSet, aggregation: ScoreAggregation) -> Self {
        for f in [SOURCE_TYPE, APP].iter().chain(IDENTITY.iter()).chain(triage::TIME_FIELDS.iter()) {
            rules.fields.intern(f);
        }
        for f in intel::FIELDS.iter().chain(SURICATA_FIELDS.iter()) {
            rules.fields.intern(f);
        }
        Detector {
            rules,
            intel: None,
            windows: Mutex::new(Windows::default()),
            aggregation,
            scorer: std::sync::RwLock::new(None),
        }
    }

    /// Score flows, DNS and TLS rows against `model` from now on (`None`:
    /// stop scoring). Replacing a model keeps what scoring learned from
    /// recent rows (hour volumes, connection times, recent domains).
    pub fn set_model(&self, model: Option<Arc<opensoc_model::Model>>) {
        let mut slot = self.scorer.write().unwrap_or_else(|p| p.into_inner());
        match (slot.as_ref(), model) {
            (Some(scorer), Some(m)) => scorer.replace_model(m),
            (None, Some(m)) => *slot = Some(Arc::new(opensoc_model::Scorer::new(m))),
            (_, None) => *slot = None,
        }
    }

    /// The scorer in use, if a model is set.
    pub fn scorer(&self) -> Option<Arc<opensoc_model::Scorer>> {
        self.scorer.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Hand the model (and what scoring learned) to `other`, which replaces this detector.
    pub fn pass_scorer_to(&self, other: &Detector) {
        *other.scorer.write().unwrap_or_else(|p| p.into_inner()) = self.scorer();
    }

    /// Also match against these indicators.
    pub fn with_intel(mut self, ix: Arc<IntelIndex>) -> Self {
        self.intel = Some(ix);
        self
    }

    /// The indicators in use, shared.
    pub fn intel_index(&self) -> Option<Arc<IntelIndex>> {
        self.intel.clone()
    }

    /// The rules in use.
    pub fn rules(&self) -> &[Rule] {
        self.rules.rules()
    }

    /// How scores combine.
    pub fn aggregation(&self) -> ScoreAggregation {
        self.aggregation
    }

    fn id(&self, name: &str) -> usize {
        self.rules.fields.id(name).unwrap_or(usize::MAX)
    }

    /// The batch read through the detector's fields, when it is one that
    /// detection looks at.
    fn view<'b>(&self, table: Table, batch: &'b RecordBatch) -> Option<BatchView<'b>> {
        let skipped = matches!(table, Table::Findings | Table::Quarantine | Table::Packets | Table::Intel);
        (batch.num_rows() > 0 && !skipped).then(|| BatchView::new(batch, self.rules.fields.names()))
    }

    /// Every detection on `batch` of `table`.
    pub fn detect(&self, table: Table, batch: &RecordBatch) -> Vec<Detection> {
        match self.view(table, batch) {
            Some(view) => self.detect_in(table, batch, &view),
            None => Vec::new(),
        }
    }

    fn detect_in(&self, table: Table, batch: &RecordBatch, view: &BatchView<'_>) -> Vec<Detection> {
        let mut out = Vec::new();
        if let Some(scorer) = self.scorer() {
            let model = scorer.model();
            let source = BTreeSet::from([format!("model:{}", model.id)]);
            out.extend(scorer.score(table, batch).into_iter().map(|a| Detection {
                row: a.row,
                rule: a.rule.to_string(),
                score: a.score,
                matched_field: a.matched_field.to_string(),
                indicator: a.indicator,
                indicator_kind: a.indicator_kind.to_string(),
                sources: source.clone(),
                description: Some(a.description),
                window: a.window,
            }));
        }
        if let Some(ix) = self.intel.as_deref().filter(|ix| !ix.is_empty()) {
            intel::detect(table, view, ix, &|n| self.id(n), &mut out);
        }
        if table == Table::Logs {
            self.suricata_alerts(view, &mut out);
        }
        let mut in_time_order = None;
        for rule in self.rules.rules.iter().filter(|r| r.table == table) {
            self.run_rule(rule, table, view, &mut in_time_order, &mut out);
        }
        out
    }

    /// The batch's rows in the order of their start times (field
    /// `start_id`; stable). A
    /// batch's rows are not in time order (a capture's last flows end
    /// together, in no particular order); counted in time order, a window
    /// crosses its threshold when the data did, and the finding's time
    /// range spans the observations that made it.
    fn rows_in_time_order(view: &BatchView<'_>, start_id: usize) -> Vec<usize> {
        let mut rows: Vec<(i64, usize)> =
            (0..view.rows()).map(|row| (view.get(start_id, row).int().unwrap_or(i64::MIN), row)).collect();
        rows.sort_by_key(|&(t, _)| t);
        rows.into_iter().map(|(_, row)| row).collect()
    }

    /// Detect and triage: the `findings` rows of `batch`, if any.
    pub fn findings(&self, table: Table, batch: &RecordBatch) -> Result<Option<RecordBatch>, arrow::error::ArrowError> {
        let Some(view) = self.view(table, batch) else { return Ok(None) };
        let detections = self.detect_in(table, batch, &view);
        if detections.is_empty() {
            return Ok(None);
        }
        triage::findings(table, &view, &|n| self.id(n), detections, self.aggregation).map(Some)
    }

    fn suricata_alerts(&self, view: &BatchView<'_>, out: &mut Vec<Detection>) {
        let [st, app, sid, sev, sig, cat] = SURICATA_FIELDS.map(|f| self.id(f));
        for row in 0..view.rows() {
            if view.get(st, row).text().as_deref() != Some("suricata-eve")
                || view.get(app, row).text().as_deref() != Some("alert")
            {
                continue;
            }
            let severity = view.get(sev, row).number().map_or(3, |s| s as i64);
            let signature = view.get(sig, row).text().map(|s| s.into_owned());
            let category = view.get(cat, row).text().map(|s| s.into_owned());
            out.push(Detection {
                row,
                rule: "suricata.alert".into(),
                score: match severity {
                    ..=1 => 80,
                    2 => 60,
                    3 => 40,
                    _ => 20,
                },
                matched_field: "alert.signature_id".into(),
                indicator: view.get(sid, row).text().map(|s| s.into_owned()).unwrap_or_default(),
                indicator_kind: "signature".into(),
                sources: BTreeSet::from(["suricata".to_string()]),
                description: match (signature, category) {
                    (Some(s), Some(c)) => Some(format!("{s} ({c})")),
                    (s, c) => s.or(c),
                },
                window: None,
            });
        }
    }

    fn applies(&self, rule: &Rule, view: &BatchView<'_>, row: usize) -> bool {
        if let Some(p) = &rule.product {
            let st = view.get(self.id(SOURCE_TYPE), row);
            if !st.text().is_some_and(|s| s.starts_with(p.as_str())) {
                return false;
            }
        }
        if let Some(s) = &rule.service {
            let app = view.get(self.id(APP), row);
            if !app.text().is_some_and(|a| a.eq_ignore_ascii_case(s)) {
                return false;
            }
        }
        true
    }

    /// Run one rule over the batch. Aggregation rules count rows in time
    /// order (`in_time_order`, worked out once per batch when first needed).
    fn run_rule(
        &self,
        rule: &Rule,
        table: Table,
        view: &BatchView<'_>,
        in_time_order: &mut Option<Vec<usize>>,
        out: &mut Vec<Detection>,
    ) {
        let (start_field, end_field) = triage::time_fields(table);
        let (start_id, end_id) = (self.id(start_field), self.id(end_field));
        let order = if rule.aggregation.is_some() {
            Some(in_time_order.get_or_insert_with(|| Self::rows_in_time_order(view, start_id)).as_slice())
        } else {
            None
        };
        for row in (0..view.rows()).map(|i| order.map_or(i, |o| o[i])) {
            if !self.applies(rule, view, row) || !eval(&rule.condition, rule, view, row) {
                continue;
            }
            let (field, value) = first_condition(rule, view, row, self.rules.fields.names());
            let Some(agg) = &rule.aggregation else {
                out.push(Detection {
                    row,
                    rule: rule.id.clone(),
                    score: rule.score,
                    matched_field: field,
                    indicator: value,
                    indicator_kind: "rule".into(),
                    sources: BTreeSet::new(),
                    description: Some(rule.title.clone()),
                    window: None,
                });
                continue;
            };
            let t = view.get(start_id, row).int().unwrap_or(0);
            let key_values: Vec<String> =
                agg.by.iter().map(|f| view.get(*f, row).text().map(|s| s.into_owned()).unwrap_or_default()).collect();
            let key = hash_all(key_values.iter().map(String::as_str));
            let value = match agg.field {
                Some(f) => hash_all(view.get(f, row).text().as_deref()),
                None => {
                    let ids = IDENTITY.iter().map(|f| view.get(self.id(f), row));
                    let texts: Vec<Option<String>> = ids.map(|v| v.text().map(|s| s.into_owned())).collect();
                    hash_all(texts.iter().map(|t| t.as_deref()))
                }
            };
            let over = |n: u64| match agg.op {
                NumOp::Gte => n >= agg.threshold,
                _ => n > agg.threshold,
            };
            let seen = {
                let mut w = self.windows.lock().unwrap_or_else(|p| p.into_inner());
                w.observe(&rule.id, agg.window_ns, t, key, value, over)
            };
            if let Seen::Crossed(n, first_seen) = seen {
                let end = view.get(end_id, row).int().unwrap_or(t);
                let names = self.rules.fields.names();
                let key_text = agg
                    .by
                    .iter()
                    .zip(&key_values)
                    .map(|(f, v)| format!("{}={v}", names[*f]))
                    .collect::<Vec<_>>()
                    .join(" ");
                out.push(Detection {
                    row,
                    rule: rule.id.clone(),
                    score: rule.score,
                    matched_field: agg.text.clone(),
                    indicator: if key_text.is_empty() { n.to_string() } else { key_text.clone() },
                    indicator_kind: "aggregate".into(),
                    sources: BTreeSet::new(),
                    description: Some(format!(
                        "{}: {} reached {n} within {}s{}",
                        rule.title,
                        agg.text.split(['>', '<']).next().unwrap_or("count").trim(),
                        agg.window_ns / 1_000_000_000,
                        if key_text.is_empty() { String::new() } else { format!(" for {key_text}") }
                    )),
                    window: Some((first_seen.min(t), end.max(t))),
                });
            }
        }
    }
}

/// Fields the Suricata alert detection reads.
const SURICATA_FIELDS: [&str; 6] =
    [SOURCE_TYPE, APP, "alert.signature_id", "alert.severity", "alert.signature", "alert.category"];

fn hash_all<'a, T: Hash + 'a>(items: impl IntoIterator<Item = T>) -> u64 {
    let mut h = DefaultHasher::new();
    for i in items {
        i.hash(&mut h);
    }
    h.finish()
}

fn eval(e: &Expr, rule: &Rule, view: &BatchView<'_>, row: usize) -> bool {
    match e {
        Expr::Sel(i) => selection_matches(&rule.selections[*i].1, view, row),
        Expr::Not(x) => !eval(x, rule, view, row),
        Expr::And(xs) => xs.iter().all(|x| eval(x, rule, view, row)),
        Expr::Or(xs) => xs.iter().any(|x| eval(x, rule, view, row)),
    }
}

fn selection_matches(s: &Selection, view: &BatchView<'_>, row: usize) -> bool {
    match s {
        Selection::Maps(maps) => maps.iter().any(|conds| conds.iter().all(|c| c.matches(&view.get(c.field, row)))),
        Selection::Keywords(c) => c.matches(&view.get(c.field, row)),
    }
}

/// The first field condition of the first selection that matched, and
/// its value in the row: what the finding names as matched.
fn first_condition(rule: &Rule, view: &BatchView<'_>, row: usize, names: &[String]) -> (String, String) {
    for (_, sel) in &rule.selections {
        if !selection_matches(sel, view, row) {
            continue;
        }
        let field = match sel {
            Selection::Maps(maps) => maps
                .iter()
                .find(|c| c.iter().all(|c| c.matches(&view.get(c.field, row))))
                .and_then(|c| c.first())
                .map(|c| c.field),
            Selection::Keywords(c) => Some(c.field),
        };
        if let Some(f) = field {
            let v = view.get(f, row);
            let text = match &v {
                Val::List(items) => {
                    items.iter().filter_map(|i| i.text().map(|t| t.into_owned())).collect::<Vec<_>>().join(",")
                }
                v => v.text().map(|t| t.into_owned()).unwrap_or_default(),
            };
            return (names[f].clone(), text);
        }
    }
    (String::new(), String::new())
}

#[cfg(test)]
mod tests;
