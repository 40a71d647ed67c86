//! Alert workflow: what analysts do with findings, kept as append-only
//! `finding_events` rows.
//!
//! Every change — a status, an assignee, a comment, tags added or removed,
//! joining or leaving a case — is one row saying who made it and when.
//! Nothing is updated in place, so the history is never lost, and two
//! analysts editing the same finding at once both keep their change: their
//! rows are two blind appends, which Delta commits one after the other.
//!
//! A finding's current state is a fold of its events in time order
//! ([`FindingState::fold`]): the latest status, assignee and case win, tags
//! are added and removed in order, every comment is kept.

use std::collections::BTreeSet;
use std::sync::Arc;

use deltalake::arrow::array::TimestampMicrosecondArray;
use deltalake::arrow::array::{ArrayRef, Date32Array, Int64Array, ListBuilder, StringArray, StringBuilder};
use deltalake::arrow::datatypes::{DataType, Field};
use deltalake::arrow::record_batch::RecordBatch;
use opensoc_schemas::{Table, event_date, ts_micros};
use serde::{Deserialize, Serialize};

use crate::{Committed, Lake, LakeError};

/// The SQL of a finding's id over the `findings` columns: the first 16 hex
/// digits of an MD5 over what makes a finding unique (time, rule,
/// indicator, flow and endpoints). Findings have no stored id, so any
/// engine reading the lake can compute it; `finding_events` rows, the API
/// and the OCSF export (`finding_info.uid`) all use it.
pub const FINDING_ID_SQL: &str = "substr(md5(concat_ws('|', CAST(time_ns AS VARCHAR), rule, indicator, \
     coalesce(community_id, ''), coalesce(src_ip, ''), coalesce(dst_ip, ''))), 1, 16)";

/// The statuses a finding moves through; a finding with no status event is `new`.
pub const STATUSES: [&str; 5] = ["new", "acknowledged", "in_progress", "closed_true_positive", "closed_false_positive"];

/// Longest comment, characters.
pub const MAX_COMMENT_CHARS: usize = 10_000;
/// Longest assignee, case title or tag, characters.
pub const MAX_NAME_CHARS: usize = 200;
/// Longest tag, characters.
pub const MAX_TAG_CHARS: usize = 64;
/// Most tags added or removed by one event.
pub const MAX_TAGS_PER_EVENT: usize = 32;

/// The columns of `finding_events` a fold needs, for `SELECT`.
pub const EVENT_COLUMNS: &str = "finding_id, event_id, time_ns, principal, via, status, assignee, comment, \
     tags_added, tags_removed, case_id, case_title";

/// Why a change was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WorkflowError {
    /// The change is malformed (the message says which field and why).
    #[error("{0}")]
    Invalid(String),
}

fn invalid(msg: impl Into<String>) -> WorkflowError {
    WorkflowError::Invalid(msg.into())
}

/// One change to a finding, as a client asks for it. Every field is
/// optional, but a change must change something.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Change {
    /// One of [`STATUSES`] (`in progress`, `In-Progress` and the like are
    /// accepted and normalized).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// Who works the finding; empty unassigns it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assignee: Option<String>,
    /// A comment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// Tags to add.
    #[serde(default, alias = "tags", skip_serializing_if = "Vec::is_empty")]
    pub add_tags: Vec<String>,
    /// Tags to remove.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub remove_tags: Vec<String>,
    /// The case the finding joins; empty leaves its case.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub case_id: Option<String>,
    /// The case's title (recorded with the event that joins it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub case_title: Option<String>,
}

fn clean_text(field: &str, v: &str, max: usize, allow_newlines: bool) -> Result<String, WorkflowError> {
    let v = v.trim();
    if v.chars().count() > max {
        return Err(invalid(format!("{field}: longer than {max} characters")));
    }
    if let Some(c) = v.chars().find(|c| c.is_control() && !(allow_newlines && matches!(c, '\n' | '\r' | '\t'))) {
        return Err(invalid(format!("{field}: control character U+{:04X} not allowed", c as u32)));
    }
    Ok(v.to_string())
}

/// A tag: letters, digits and `- _ . : /`, at most [`MAX_TAG_CHARS`],
/// compared without case (stored lower-case).
pub fn clean_tag(tag: &str) -> Result<String, WorkflowError> {
    let t = tag.trim().to_lowercase();
    if t.is_empty() {
        return Err(invalid("tags: empty tag"));
    }
    if t.chars().count() > MAX_TAG_CHARS {
        return Err(invalid(format!("tags: {t:?} is longer than {MAX_TAG_CHARS} characters")));
    }
    if let Some(c) = t.chars().find(|c| !(c.is_alphanumeric() || matches!(c, '-' | '_' | '.' | ':' | '/'))) {
        return Err(invalid(format!("tags: {c:?} is not allowed in a tag (letters, digits and - _ . : /)")));
    }
    Ok(t)
}

/// A status in canonical form.
pub fn clean_status(status: &str) -> Result<String, WorkflowError> {
    let s: String =
        status.trim().chars().map(|c| if c == ' ' || c == '-' { '_' } else { c.to_ascii_lowercase() }).collect();
    let s = match s.as_str() {
        "true_positive" | "closed_tp" => "closed_true_positive".to_string(),
        "false_positive" | "closed_fp" => "closed_false_positive".to_string(),
        _ => s,
    };
    if STATUSES.contains(&s.as_str()) {
        Ok(s)
    } else {
        Err(invalid(format!("status: {:?} is not one of {}", status.trim(), STATUSES.join(", "))))
    }
}

/// A case id: `case-` and 1 to 32 letters, digits or hyphens.
pub fn clean_case_id(id: &str) -> Result<String, WorkflowError> {
    let id = id.trim();
    let ok = id.len() <= 40
        && id
            .strip_prefix("case-")
            .is_some_and(|rest| !rest.is_empty() && rest.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-'));
    if ok {
        Ok(id.to_ascii_lowercase())
    } else {
        Err(invalid(format!("case_id: {:?} is not a case id (case-…, letters, digits, hyphens)", id)))
    }
}

/// A new case id.
pub fn new_case_id() -> String {
    format!("case-{}", &uuid::Uuid::new_v4().simple().to_string()[..12])
}

impl Change {
    /// The change checked and normalized: trimmed text, canonical status,
    /// lower-case de-duplicated tags. A change that changes nothing is refused.
    pub fn validated(&self) -> Result<Change, WorkflowError> {
        let status = self.status.as_deref().map(clean_status).transpose()?;
        let assignee =
            self.assignee.as_deref().map(|a| clean_text("assignee", a, MAX_NAME_CHARS, false)).transpose()?;
        let comment = match self.comment.as_deref().map(|c| clean_text("comment", c, MAX_COMMENT_CHARS, true)) {
            Some(Ok(c)) if c.is_empty() => None,
            other => other.transpose()?,
        };
        let tags = |field: &str, list: &[String]| -> Result<Vec<String>, WorkflowError> {
            if list.len() > MAX_TAGS_PER_EVENT {
                return Err(invalid(format!("{field}: more than {MAX_TAGS_PER_EVENT} tags")));
            }
            let set: BTreeSet<String> = list.iter().map(|t| clean_tag(t)).collect::<Result<_, _>>()?;
            Ok(set.into_iter().collect())
        };
        let add_tags = tags("add_tags", &self.add_tags)?;
        let remove_tags = tags("remove_tags", &self.remove_tags)?;
        if let Some(t) = add_tags.iter().find(|t| remove_tags.contains(t)) {
            return Err(invalid(format!("tags: {t:?} is both added and removed")));
        }
        let case_id = match self.case_id.as_deref().map(str::trim) {
            None => None,
            Some("") => Some(String::new()),
            Some(id) => Some(clean_case_id(id)?),
        };
        let case_title =
            self.case_title.as_deref().map(|t| clean_text("case_title", t, MAX_NAME_CHARS, false)).transpose()?;
        if case_title.is_some() && case_id.as_deref().is_none_or(str::is_empty) {
            return Err(invalid("case_title: only with the case_id of the case the finding joins"));
        }
        let c = Change { status, assignee, comment, add_tags, remove_tags, case_id, case_title };
        if c == Change::default() {
            return Err(invalid(
                "the change changes nothing: give a status, assignee, comment, add_tags, remove_tags or case_id",
            ));
        }
        Ok(c)
    }
}

/// One stored event: a change, who made it and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FindingEvent {
    /// The finding (16 hex digits; see the web crate's finding ids).
    pub finding_id: String,
    /// Unique id of this event.
    pub event_id: String,
    /// When, ns since the epoch.
    pub time_ns: i64,
    /// Who (an IAM ARN, `token`, a local user name).
    pub principal: String,
    /// `serve`, `function` or `cli`.
    pub via: String,
    /// New status.
    pub status: Option<String>,
    /// New assignee (empty: unassigned).
    pub assignee: Option<String>,
    /// Comment.
    pub comment: Option<String>,
    /// Tags added.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub tags_added: Vec<String>,
    /// Tags removed.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub tags_removed: Vec<String>,
    /// The case joined (empty: left its case).
    pub case_id: Option<String>,
    /// The case's title.
    pub case_title: Option<String>,
}

fn null_as_empty<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    Ok(Option::<Vec<Option<String>>>::deserialize(d)?.unwrap_or_default().into_iter().flatten().collect())
}

impl FindingEvent {
    /// The event of a validated `change` to `finding_id`.
    pub fn new(finding_id: &str, principal: &str, via: &str, time_ns: i64, change: Change) -> FindingEvent {
        FindingEvent {
            finding_id: finding_id.to_string(),
            event_id: uuid::Uuid::new_v4().simple().to_string(),
            time_ns,
            principal: principal.to_string(),
            via: via.to_string(),
            status: change.status,
            assignee: change.assignee,
            comment: change.comment,
            tags_added: change.add_tags,
            tags_removed: change.remove_tags,
            case_id: change.case_id,
            case_title: change.case_title,
        }
    }
}

/// Events as one `finding_events` batch.
pub fn to_batch(events: &[FindingEvent]) -> Result<RecordBatch, LakeError> {
    let text = |get: &dyn Fn(&FindingEvent) -> Option<&str>| -> ArrayRef {
        Arc::new(events.iter().map(get).collect::<StringArray>())
    };
    let list = |get: &dyn Fn(&FindingEvent) -> &Vec<String>| -> ArrayRef {
        let mut b =
            ListBuilder::new(StringBuilder::new()).with_field(Arc::new(Field::new("element", DataType::Utf8, true)));
        for e in events {
            let tags = get(e);
            if tags.is_empty() {
                b.append_null();
            } else {
                for t in tags {
                    b.values().append_value(t);
                }
                b.append(true);
            }
        }
        Arc::new(b.finish())
    };
    let columns: Vec<ArrayRef> = vec![
        Arc::new(
            TimestampMicrosecondArray::from(events.iter().map(|e| ts_micros(e.time_ns)).collect::<Vec<_>>())
                .with_timezone("UTC"),
        ),
        text(&|e| Some(&e.finding_id)),
        text(&|e| Some(&e.event_id)),
        text(&|e| Some(&e.principal)),
        text(&|e| Some(&e.via)),
        text(&|e| e.status.as_deref()),
        text(&|e| e.assignee.as_deref()),
        text(&|e| e.comment.as_deref()),
        list(&|e| &e.tags_added),
        list(&|e| &e.tags_removed),
        text(&|e| e.case_id.as_deref()),
        text(&|e| e.case_title.as_deref()),
        Arc::new(Int64Array::from(events.iter().map(|e| e.time_ns).collect::<Vec<_>>())),
        Arc::new(Date32Array::from(events.iter().map(|e| event_date(e.time_ns)).collect::<Vec<_>>())),
    ];
    RecordBatch::try_new(Table::FindingEvents.schema(), columns)
        .map_err(|source| LakeError::Rows(opensoc_rows::RowsError::Arrow { table: "finding_events", source }))
}

/// Commit attempts when concurrent writers keep winning.
const APPEND_ATTEMPTS: usize = 8;

/// Append `events` to `finding_events` (created when missing) in one
/// commit, re-reading the table and retrying when a concurrent commit wins
/// the race.
pub async fn append(lake: &Lake, events: &[FindingEvent]) -> Result<Committed, LakeError> {
    lake.ensure_table(Table::FindingEvents).await?;
    let batch = to_batch(events)?;
    let mut attempt = 0;
    loop {
        attempt += 1;
        match lake.append(Table::FindingEvents, vec![batch.clone()], None).await {
            Err(e) if e.is_commit_conflict() && attempt < APPEND_ATTEMPTS => {
                tracing::debug!(attempt, "finding_events commit lost a race; retrying");
                lake.reload(Table::FindingEvents).await?;
            }
            other => return other,
        }
    }
}

/// A comment in a finding's state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Comment {
    /// Who wrote it.
    pub principal: String,
    /// When, ns since the epoch.
    pub time_ns: i64,
    /// The text.
    pub text: String,
}

/// A finding's current state: the fold of its events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FindingState {
    /// The latest status (`new` when none was set).
    pub status: String,
    /// The latest assignee (`None` when unassigned).
    pub assignee: Option<String>,
    /// The tags now on it, sorted.
    pub tags: Vec<String>,
    /// The case it is in.
    pub case_id: Option<String>,
    /// That case's title, as last given.
    pub case_title: Option<String>,
    /// Every comment, oldest first.
    pub comments: Vec<Comment>,
    /// When it last changed, ns (`None`: never touched).
    pub updated_ns: Option<i64>,
    /// Who changed it last.
    pub updated_by: Option<String>,
    /// How many events it has.
    pub events: usize,
}

impl Default for FindingState {
    fn default() -> Self {
        FindingState {
            status: STATUSES[0].to_string(),
            assignee: None,
            tags: Vec::new(),
            case_id: None,
            case_title: None,
            comments: Vec::new(),
            updated_ns: None,
            updated_by: None,
            events: 0,
        }
    }
}

impl FindingState {
    /// Fold events (of one finding, in any order) into its current state.
    /// Events are applied by time, ties broken by event id, so every reader
    /// computes the same state from the same rows.
    pub fn fold(events: &[FindingEvent]) -> FindingState {
        let mut ordered: Vec<&FindingEvent> = events.iter().collect();
        ordered.sort_by(|a, b| (a.time_ns, &a.event_id).cmp(&(b.time_ns, &b.event_id)));
        let mut s = FindingState::default();
        let mut tags = BTreeSet::new();
        for e in ordered {
            if let Some(st) = &e.status {
                s.status = st.clone();
            }
            if let Some(a) = &e.assignee {
                s.assignee = if a.is_empty() { None } else { Some(a.clone()) };
            }
            if let Some(c) = &e.comment {
                s.comments.push(Comment { principal: e.principal.clone(), time_ns: e.time_ns, text: c.clone() });
            }
            for t in &e.tags_added {
                tags.insert(t.clone());
            }
            for t in &e.tags_removed {
                tags.remove(t);
            }
            if let Some(c) = &e.case_id {
                if c.is_empty() {
                    s.case_id = None;
                    s.case_title = None;
                } else {
                    if s.case_id.as_deref() != Some(c) {
                        s.case_title = None;
                    }
                    s.case_id = Some(c.clone());
                    if e.case_title.is_some() {
                        s.case_title = e.case_title.clone();
                    }
                }
            }
            s.updated_ns = Some(e.time_ns);
            s.updated_by = Some(e.principal.clone());
            s.events += 1;
        }
        s.tags = tags.into_iter().collect();
        s
    }

    /// Whether the finding still needs work (not closed).
    pub fn is_open(&self) -> bool {
        !self.status.starts_with("closed_")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(json: &str) -> Result<Change, WorkflowError> {
        serde_json::from_str::<Change>(json).expect("parses").validated()
    }

    fn event(t: i64, id: &str, json: &str) -> FindingEvent {
        let mut e = FindingEvent::new("0123456789abcdef", "alice", "serve", t, change(json).unwrap());
        e.event_id = id.into();
        e
    }

    #[test]
    fn changes_are_normalized_and_checked() {
        let c = change(r#"{"status":"In Progress","add_tags":["C2"," c2 ","Beacon"],"assignee":" bob "}"#).unwrap();
        assert_eq!(c.status.as_deref(), Some("in_progress"));
        assert_eq!(c.add_tags, vec!["beacon", "c2"]);
        assert_eq!(c.assignee.as_deref(), Some("bob"));
        assert_eq!(change(r#"{"status":"false positive"}"#).unwrap().status.as_deref(), Some("closed_false_positive"));
        let err = |j: &str| change(j).unwrap_err().to_string();
        assert!(err(r#"{"status":"done"}"#).contains("not one of new, acknowledged"));
        assert!(err(r#"{}"#).contains("changes nothing"));
        assert!(err(r#"{"comment":"   "}"#).contains("changes nothing"));
        assert!(err(r#"{"add_tags":["a b"]}"#).contains("not allowed in a tag"));
        assert!(err(r#"{"add_tags":["x"],"remove_tags":["X"]}"#).contains("both added and removed"));
        assert!(err(r#"{"assignee":"a\u0000b"}"#).contains("control character"));
        assert!(err(&format!(r#"{{"comment":"{}"}}"#, "x".repeat(MAX_COMMENT_CHARS + 1))).contains("longer than"));
        assert!(err(r#"{"case_id":"../etc"}"#).contains("not a case id"));
        assert!(err(r#"{"case_title":"t"}"#).contains("only with the case_id"));
        assert!(serde_json::from_str::<Change>(r#"{"statuz":"new"}"#).is_err(), "unknown fields are refused");
        assert!(change("{\"comment\":\"line one\\nline two\"}").is_ok());
    }

    #[test]
    fn the_state_is_the_fold_of_the_events_in_time_order() {
        assert_eq!(FindingState::fold(&[]).status, "new");
        let events = vec![
            // Given out of order: the fold sorts.
            event(30, "c", r#"{"remove_tags":["c2"],"comment":"not C2 after all"}"#),
            event(10, "a", r#"{"status":"acknowledged","assignee":"bob","add_tags":["c2","beacon"]}"#),
            event(20, "b", r#"{"comment":"looking","case_id":"case-1","case_title":"Beacons"}"#),
            event(40, "d", r#"{"status":"closed_true_positive","assignee":""}"#),
        ];
        let s = FindingState::fold(&events);
        assert_eq!(s.status, "closed_true_positive");
        assert!(!s.is_open());
        assert_eq!(s.assignee, None);
        assert_eq!(s.tags, vec!["beacon"]);
        assert_eq!(s.case_id.as_deref(), Some("case-1"));
        assert_eq!(s.case_title.as_deref(), Some("Beacons"));
        assert_eq!(s.comments.iter().map(|c| c.text.as_str()).collect::<Vec<_>>(), ["looking", "not C2 after all"]);
        assert_eq!((s.updated_ns, s.events), (Some(40), 4));
        // Two edits at the same instant: both apply, in event-id order.
        let tie = vec![event(5, "y", r#"{"status":"in_progress"}"#), event(5, "x", r#"{"status":"acknowledged"}"#)];
        assert_eq!(FindingState::fold(&tie).status, "in_progress");
    }

    #[test]
    fn events_round_trip_through_a_batch_and_json_rows() {
        let events = vec![event(1_700_000_000_000_000_000, "a", r#"{"add_tags":["x"],"comment":"hi"}"#)];
        let batch = to_batch(&events).unwrap();
        assert_eq!(batch.num_rows(), 1);
        assert_eq!(batch.schema(), Table::FindingEvents.schema());
        // Rows as the SQL layer hands them out: lists may be null.
        let row = serde_json::json!({"finding_id":"0123456789abcdef","event_id":"a","time_ns":1,"principal":"p",
            "via":"serve","status":null,"assignee":null,"comment":null,"tags_added":null,"tags_removed":["x"],
            "case_id":null,"case_title":null});
        let e: FindingEvent = serde_json::from_value(row).unwrap();
        assert!(e.tags_added.is_empty());
        assert_eq!(e.tags_removed, vec!["x"]);
        assert!(clean_case_id(&new_case_id()).is_ok());
    }
}
