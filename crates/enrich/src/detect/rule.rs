//! Detection rules in YAML, a Sigma-compatible subset: `title`, `id`,
//! `level`, `logsource`, `detection` (selections of field conditions or
//! keywords, `condition`, `timeframe`), `tags`, and OpenSOC's `score`.
//!
//! `logsource.category` names the table a rule reads: `flows` (also
//! `network_connection`, `firewall`), `dns`, `http` (also `proxy`,
//! `webserver`), `tls`, or `logs` (the default). For `logs`,
//! `logsource.product` picks the source type (`suricata` matches
//! `suricata-eve`; `linux` and `unix` mean syslog) and `logsource.service`
//! the app (`sshd`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use opensoc_schemas::Table;
use serde_yaml_ng::Value as Y;

use super::condition::{self, AggSpec, Expr};
use super::matcher::{FieldCond, NumOp, Pattern, pattern};

/// A rule that cannot be used, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {}{reason}", file.display(), rule.as_deref().map(|r| format!("rule {r:?}: ")).unwrap_or_default())]
pub struct RuleError {
    /// The file.
    pub file: PathBuf,
    /// The rule's title or id, when it got that far.
    pub rule: Option<String>,
    /// What is wrong.
    pub reason: String,
}

/// What one selection matches.
#[derive(Debug, Clone)]
pub enum Selection {
    /// Any of these maps, each a conjunction of field conditions.
    Maps(Vec<Vec<FieldCond>>),
    /// Any keyword in the message.
    Keywords(FieldCond),
}

/// A windowed count, with fields as ids.
#[derive(Debug, Clone)]
pub struct Aggregation {
    /// Distinct values of this field, or events when `None`.
    pub field: Option<usize>,
    /// Key fields.
    pub by: Vec<usize>,
    /// `>` or `>=`.
    pub op: NumOp,
    /// The threshold.
    pub threshold: u64,
    /// The window (tumbling, aligned to the epoch), ns.
    pub window_ns: i64,
    /// The spec as written, for descriptions.
    pub text: String,
}

/// One loaded rule.
#[derive(Debug, Clone)]
pub struct Rule {
    /// Unique id (the `id`, else the title slugged); names the finding's rule.
    pub id: String,
    /// The title.
    pub title: String,
    /// The table it reads.
    pub table: Table,
    /// Logs only: source types it applies to (prefix match).
    pub product: Option<String>,
    /// Logs only: the app it applies to.
    pub service: Option<String>,
    /// Selections by index, with their names.
    pub selections: Vec<(String, Selection)>,
    /// The condition.
    pub condition: Expr,
    /// The windowed count, if any.
    pub aggregation: Option<Aggregation>,
    /// 0–100: `score`, else from `level`.
    pub score: i32,
    /// Sigma level.
    pub level: String,
    /// Tags (ATT&CK and the like).
    pub tags: Vec<String>,
    /// Where it came from.
    pub file: PathBuf,
}

/// Field names used by rules, interned to ids.
#[derive(Debug, Default, Clone)]
pub struct Fields {
    names: Vec<String>,
    ids: HashMap<String, usize>,
}

impl Fields {
    /// The id of `name`, added if new.
    pub fn intern(&mut self, name: &str) -> usize {
        if let Some(i) = self.ids.get(name) {
            return *i;
        }
        self.names.push(name.to_string());
        self.ids.insert(name.to_string(), self.names.len() - 1);
        self.names.len() - 1
    }

    /// The id of `name`, if a rule or the detector reads it.
    pub fn id(&self, name: &str) -> Option<usize> {
        self.ids.get(name).copied()
    }

    /// Names in id order.
    pub fn names(&self) -> &[String] {
        &self.names
    }
}

/// Score of a Sigma level.
pub fn level_score(level: &str) -> Option<i32> {
    Some(match level {
        "informational" => 10,
        "low" => 30,
        "medium" => 50,
        "high" => 75,
        "critical" => 95,
        _ => return None,
    })
}

fn table_of(category: Option<&str>) -> Result<Table, String> {
    Ok(match category.map(str::to_ascii_lowercase).as_deref() {
        None | Some("logs") => Table::Logs,
        Some("flows" | "network_connection" | "firewall") => Table::Flows,
        Some("dns" | "dns_query") => Table::Dns,
        Some("http" | "proxy" | "webserver") => Table::Http,
        Some("tls") => Table::Tls,
        Some(other) => return Err(format!("logsource.category {other:?} is not one of flows, dns, http, tls, logs")),
    })
}

/// Parse a duration: `30s`, `5m`, `1h`, `1d`.
pub fn parse_duration(s: &str) -> Result<i64, String> {
    let s = s.trim();
    let (n, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: i64 = n.parse().map_err(|_| format!("timeframe {s:?} is not like 30s, 5m, 1h or 1d"))?;
    let secs = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(format!("timeframe {s:?} is not like 30s, 5m, 1h or 1d")),
    };
    let ns = n.checked_mul(secs * 1_000_000_000).filter(|v| *v > 0);
    ns.ok_or_else(|| format!("timeframe {s:?} must be positive and under 290 years"))
}

fn field_conds(map: &serde_yaml_ng::Mapping, fields: &mut Fields) -> Result<Vec<FieldCond>, String> {
    let mut out = Vec::with_capacity(map.len());
    for (k, v) in map {
        let key = k.as_str().ok_or("a field name must be text")?;
        let mut parts = key.split('|');
        let name = parts.next().unwrap_or_default();
        if name.is_empty() {
            return Err(format!("{key:?} has no field name"));
        }
        let mut mods: Vec<&str> = parts.collect();
        let all = mods.contains(&"all");
        let cased = mods.contains(&"cased");
        mods.retain(|m| *m != "all" && *m != "cased");
        let values: Vec<&Y> = match v {
            Y::Sequence(s) => s.iter().collect(),
            v => vec![v],
        };
        if values.is_empty() {
            return Err(format!("{key}: an empty list matches nothing"));
        }
        let patterns = values
            .into_iter()
            .map(|v| pattern(v, &mods, cased))
            .collect::<Result<Vec<Pattern>, _>>()
            .map_err(|e| format!("{key}: {e}"))?;
        out.push(FieldCond { field: fields.intern(name), all, cased, patterns });
    }
    Ok(out)
}

fn selection(v: &Y, fields: &mut Fields) -> Result<Selection, String> {
    match v {
        Y::Mapping(m) => Ok(Selection::Maps(vec![field_conds(m, fields)?])),
        Y::Sequence(items) if items.iter().all(Y::is_mapping) => Ok(Selection::Maps(
            items.iter().filter_map(Y::as_mapping).map(|m| field_conds(m, fields)).collect::<Result<_, _>>()?,
        )),
        Y::Sequence(items) => {
            let patterns = items.iter().map(|k| pattern(k, &["contains"], false)).collect::<Result<Vec<_>, _>>()?;
            Ok(Selection::Keywords(FieldCond { field: fields.intern("message"), all: false, cased: false, patterns }))
        }
        Y::String(_) => selection(&Y::Sequence(vec![v.clone()]), fields),
        _ => Err("a selection is a map of fields, a list of maps, or a list of keywords".into()),
    }
}

fn slug(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    out.trim_end_matches('-').to_string()
}

/// Build a rule from one YAML document.
pub fn parse_rule(doc: &Y, file: &Path, fields: &mut Fields) -> Result<Rule, RuleError> {
    let title = doc.get("title").and_then(Y::as_str).map(str::to_string);
    let fail = |reason: String| RuleError { file: file.to_path_buf(), rule: title.clone(), reason };
    let title = title.clone().ok_or_else(|| fail("no title".into()))?;
    let id = doc
        .get("id")
        .and_then(|v| v.as_str().map(str::to_string).or_else(|| v.as_u64().map(|n| n.to_string())))
        .unwrap_or_else(|| slug(&title));
    let level = doc.get("level").and_then(Y::as_str).unwrap_or("medium").to_ascii_lowercase();
    let score = match doc.get("score") {
        Some(s) => s.as_i64().filter(|s| (0..=100).contains(s)).map(|s| s as i32),
        None => level_score(&level),
    }
    .ok_or_else(|| {
        fail(format!("score must be 0–100 and level one of informational, low, medium, high, critical (got {level:?})"))
    })?;
    let logsource = doc.get("logsource");
    let ls = |k: &str| logsource.and_then(|l| l.get(k)).and_then(Y::as_str);
    let table = table_of(ls("category")).map_err(fail)?;
    let product = ls("product").map(|p| match p.to_ascii_lowercase().as_str() {
        "linux" | "unix" => "syslog".to_string(),
        p => p.to_string(),
    });
    let product = product.filter(|p| p != "opensoc");
    let detection = doc.get("detection").and_then(Y::as_mapping).ok_or_else(|| fail("no detection map".into()))?;
    let mut selections = Vec::new();
    let mut condition_text = None;
    let mut timeframe = doc.get("timeframe").and_then(Y::as_str).map(str::to_string);
    for (k, v) in detection {
        let name = k.as_str().ok_or_else(|| fail("detection keys must be text".into()))?;
        match name {
            "condition" => {
                condition_text = Some(match v {
                    Y::String(s) => s.clone(),
                    Y::Sequence(list) if list.len() == 1 => list[0].as_str().unwrap_or_default().to_string(),
                    _ => return Err(fail("condition must be one expression".into())),
                })
            }
            "timeframe" => timeframe = v.as_str().map(str::to_string),
            _ => selections.push((name.to_string(), selection(v, fields).map_err(|e| fail(format!("{name}: {e}")))?)),
        }
    }
    let condition_text = condition_text.ok_or_else(|| fail("detection has no condition".into()))?;
    let names: Vec<String> = selections.iter().map(|(n, _)| n.clone()).collect();
    let (condition, agg) = condition::parse(&condition_text, &names).map_err(|e| fail(format!("condition: {e}")))?;
    let aggregation = match agg {
        Some(AggSpec { field, by, op, threshold }) => {
            let window_ns = parse_duration(timeframe.as_deref().unwrap_or("5m")).map_err(&fail)?;
            Some(Aggregation {
                field: field.as_deref().map(|f| fields.intern(f)),
                by: by.iter().map(|b| fields.intern(b)).collect(),
                op,
                threshold,
                window_ns,
                text: condition_text.split_once('|').map(|(_, a)| a.trim().to_string()).unwrap_or_default(),
            })
        }
        None => None,
    };
    let tags = doc
        .get("tags")
        .and_then(Y::as_sequence)
        .map(|t| t.iter().filter_map(Y::as_str).map(str::to_string).collect())
        .unwrap_or_default();
    Ok(Rule {
        id,
        title,
        table,
        product,
        service: ls("service").map(str::to_ascii_lowercase),
        selections,
        condition,
        aggregation,
        score,
        level,
        tags,
        file: file.to_path_buf(),
    })
}

/// Every rule in a YAML text (documents separated by `---`); an error per
/// bad rule, the good ones kept.
pub fn parse_rules(text: &str, file: &Path, fields: &mut Fields) -> (Vec<Rule>, Vec<RuleError>) {
    use serde::Deserialize;
    let mut rules = Vec::new();
    let mut errors = Vec::new();
    for doc in serde_yaml_ng::Deserializer::from_str(text) {
        match Y::deserialize(doc) {
            Ok(Y::Null) => {}
            Ok(v) => match parse_rule(&v, file, fields) {
                Ok(r) => rules.push(r),
                Err(e) => errors.push(e),
            },
            Err(e) => {
                errors.push(RuleError { file: file.to_path_buf(), rule: None, reason: format!("not YAML: {e}") });
                // The rest of the stream cannot be trusted after a syntax error.
                break;
            }
        }
    }
    (rules, errors)
}
