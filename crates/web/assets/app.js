// OpenSOC investigator page: alert queue, alert context and workflow, cases, search.
// Plain DOM, no dependencies; every value from the lake is set as text,
// never as HTML.
"use strict";

const state = { config: null };
const TIMELINE_KINDS = [["flows", "#2454c5"], ["dns", "#0f9d8a"], ["http", "#b7791f"], ["tls", "#7c3aed"], ["logs", "#667085"]];

// ---- helpers -------------------------------------------------------------

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") e.className = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

function show(...nodes) {
  const view = document.getElementById("view");
  view.replaceChildren(...nodes.flat(Infinity));
}

function status(text) {
  document.getElementById("status").textContent = text || "";
}

function authHeaders() {
  const t = sessionStorage.getItem("opensoc-token");
  return t ? { Authorization: "Bearer " + t } : {};
}

// fetch with the token; asks for one when the server wants it.
async function api(path, options = {}) {
  for (let attempt = 0; attempt < 2; attempt++) {
    const r = await fetch(path, { ...options, headers: { ...(options.headers || {}), ...authHeaders() } });
    if (r.status === 401 && attempt === 0) {
      const t = window.prompt("This OpenSOC server needs an access token:");
      if (t) { sessionStorage.setItem("opensoc-token", t.trim()); continue; }
    }
    if (!r.ok) {
      let message = r.status + " " + r.statusText;
      try { message = (await r.json()).error || message; } catch (_) { /* not JSON */ }
      const err = new Error(message);
      err.status = r.status;
      throw err;
    }
    return r;
  }
  throw new Error("not authorized");
}

async function apiJson(path, options) {
  return (await api(path, options)).json();
}

function errorBox(e) {
  return el("div", { class: "error", role: "alert" }, String(e.message || e));
}

function fmtTime(v) {
  if (v === null || v === undefined) return "";
  return String(v).replace("T", " ").replace(/(\.\d{3})\d*/, "$1").replace("Z", " UTC");
}

function cell(v) {
  if (v === null || v === undefined) return "";
  if (Array.isArray(v)) return v.join(", ");
  if (typeof v === "object") return JSON.stringify(v);
  return String(v);
}

function table(rows, columns, rowAttrs) {
  if (!rows || rows.length === 0) return el("p", { class: "muted" }, "No rows.");
  const cols = columns || Object.keys(rows[0]);
  return el("div", { class: "scroll" },
    el("table", {},
      el("thead", {}, el("tr", {}, cols.map((c) => el("th", {}, c)))),
      el("tbody", {}, rows.map((r) => el("tr", rowAttrs ? rowAttrs(r) : {},
        cols.map((c) => el("td", {}, c.endsWith("ts") || c === "time" ? fmtTime(r[c]) : cell(r[c]))))))));
}

// Save a blob under a name.
function saveBlob(blob, name) {
  const url = URL.createObjectURL(blob);
  const a = el("a", { href: url, download: name, hidden: true });
  document.body.append(a);
  a.click();
  setTimeout(() => { URL.revokeObjectURL(url); a.remove(); }, 10000);
}

function fileNameOf(response, fallback) {
  const d = response.headers.get("Content-Disposition") || "";
  const m = d.match(/filename="([^"]+)"/);
  return m ? m[1] : fallback;
}

function toIso(local) {
  // <input type=datetime-local> gives local time without zone.
  if (!local) return "";
  const d = new Date(local);
  return isNaN(d) ? "" : d.toISOString();
}

// ---- workflow ------------------------------------------------------------

const STATUSES = ["new", "acknowledged", "in_progress", "closed_true_positive", "closed_false_positive"];

function statusLabel(s) {
  return { in_progress: "in progress", closed_true_positive: "closed: true positive", closed_false_positive: "closed: false positive" }[s] || s;
}

function statusBadge(s) {
  return el("span", { class: "status st-" + (s || "new") }, statusLabel(s || "new"));
}

// What an event changed, in words.
function describeEvent(e) {
  const parts = [];
  if (e.status) parts.push("status → " + statusLabel(e.status));
  if (e.assignee !== null && e.assignee !== undefined) parts.push(e.assignee ? "assigned to " + e.assignee : "unassigned");
  if (e.tags_added && e.tags_added.length) parts.push("tagged " + e.tags_added.join(", "));
  if (e.tags_removed && e.tags_removed.length) parts.push("untagged " + e.tags_removed.join(", "));
  if (e.case_id !== null && e.case_id !== undefined) parts.push(e.case_id ? `case ${e.case_title ? e.case_title + " " : ""}(${e.case_id})` : "left its case");
  if (e.comment) parts.push("commented");
  return parts.join("; ");
}

async function postJson(path, body) {
  return apiJson(path, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
}

// The finding's workflow: state, the form that changes it, the history.
function workflowPanel(id, wf) {
  const st = wf.state;
  const removed = new Set();
  const statusSel = el("select", { id: "wf-status", "aria-label": "Status" },
    STATUSES.map((s) => el("option", { value: s, selected: s === st.status }, statusLabel(s))));
  const assignee = el("input", { id: "wf-assignee", value: st.assignee || "", placeholder: "unassigned", "aria-label": "Assignee" });
  const newTags = el("input", { id: "wf-tag", placeholder: "add tags, comma-separated", "aria-label": "Add tags" });
  const comment = el("textarea", { id: "wf-comment", class: "comment", placeholder: "Add a comment", "aria-label": "Comment" });
  const note = el("span", { id: "wf-note", role: "status" });
  const chips = el("span", { id: "wf-tags" }, st.tags.map((t) => {
    const chip = el("span", { class: "tag", "data-tag": t }, t, " ",
      el("button", { type: "button", class: "chip-x", title: "Remove tag " + t, "aria-label": "Remove tag " + t,
        onclick: () => { removed.add(t); chip.classList.add("removed"); } }, "×"));
    return chip;
  }));
  const save = el("button", { id: "wf-save", type: "button" }, "Save");
  save.addEventListener("click", async () => {
    // Only what this analyst changed: a concurrent change by someone else
    // to another field survives.
    const change = {};
    if (statusSel.value !== st.status) change.status = statusSel.value;
    if (assignee.value.trim() !== (st.assignee || "")) change.assignee = assignee.value.trim();
    const add = newTags.value.split(",").map((t) => t.trim()).filter(Boolean);
    if (add.length) change.add_tags = add;
    if (removed.size) change.remove_tags = [...removed];
    if (comment.value.trim()) change.comment = comment.value;
    if (Object.keys(change).length === 0) { note.textContent = "Nothing changed."; return; }
    save.disabled = true;
    note.textContent = "Saving…";
    try {
      const d = await postJson("/api/findings/" + encodeURIComponent(id) + "/events", change);
      document.getElementById("workflow").replaceWith(workflowPanel(id, d));
      document.getElementById("wf-note").textContent = "Saved.";
    } catch (e) {
      note.textContent = "";
      note.append(errorBox(e));
      save.disabled = false;
    }
  });
  const history = wf.history.slice().reverse();
  return el("section", { class: "panel", id: "workflow" },
    el("h2", {}, "Workflow ", statusBadge(st.status), st.assignee ? el("span", { class: "muted" }, " assigned to " + st.assignee) : null),
    el("div", { class: "wf-form" },
      el("label", {}, "Status", statusSel),
      el("label", {}, "Assignee", assignee),
      el("label", {}, "Tags", el("span", {}, chips, newTags)),
      el("label", { class: "wide" }, "Comment", comment)),
    el("div", { class: "actions" }, save, note),
    el("h2", {}, `History (${history.length})`),
    history.length === 0 ? el("p", { class: "muted" }, "No changes yet: the finding is new.") :
      el("ol", { id: "wf-history", class: "history" }, history.map((e) => el("li", { "data-event": e.event_id },
        el("div", {}, el("strong", {}, e.principal), " ", el("span", { class: "muted" }, fmtTime(e.time) + " via " + e.via), " — ", describeEvent(e)),
        e.comment ? el("blockquote", { class: "comment-text" }, e.comment) : null))));
}

// Findings of the same hosts in the window, and grouping them into a case.
function relatedPanel(id, d) {
  const rows = d.related_findings || [];
  const caseNow = d.case;
  const title = el("input", { id: "case-title", placeholder: "case title", "aria-label": "Case title" });
  const note = el("span", { id: "case-note", role: "status" });
  const group = el("button", { id: "make-case", type: "button" }, caseNow ? "Add checked to this case" : "Group into a case");
  group.addEventListener("click", async () => {
    const checked = [...document.querySelectorAll("#related-findings input[type=checkbox]:checked")].map((c) => c.value);
    group.disabled = true;
    try {
      if (caseNow) {
        for (const other of checked) await postJson("/api/findings/" + encodeURIComponent(other) + "/events", { case_id: caseNow.case_id });
      } else {
        if (!title.value.trim()) throw new Error("Give the case a title.");
        await postJson("/api/cases", { title: title.value.trim(), findings: [id, ...checked] });
      }
      await alertView(id);
    } catch (e) {
      note.replaceChildren(errorBox(e));
      group.disabled = false;
    }
  });
  return el("section", { class: "panel", id: "case-panel" },
    el("h2", {}, "Case"),
    caseNow ? el("p", { id: "case-link" }, "In case ", el("a", { href: "#/case/" + caseNow.case_id }, caseNow.title || caseNow.case_id),
      el("span", { class: "muted" }, ` with ${caseNow.findings.length} finding(s)`)) : el("p", { class: "muted" }, "Not in a case."),
    el("h2", {}, `Findings of the same hosts in the window (${rows.length})`),
    rows.length === 0 ? el("p", { class: "muted" }, "None.") :
      el("div", { class: "scroll" }, el("table", { id: "related-findings" },
        el("thead", {}, el("tr", {}, ["", "Score", "Severity", "Status", "Rule", "Time", "Source", "Destination", "Case"].map((c) => el("th", {}, c)))),
        el("tbody", {}, rows.map((r) => el("tr", {},
          el("td", {}, el("input", { type: "checkbox", value: r.id, "aria-label": "Select finding " + r.id, disabled: caseNow && r.case_id === caseNow.case_id })),
          el("td", {}, r.score), el("td", {}, el("span", { class: "badge sev-" + r.severity }, r.severity)),
          el("td", {}, statusBadge(r.status)), el("td", {}, el("a", { href: "#/alert/" + r.id }, r.rule)),
          el("td", {}, fmtTime(r.time)), el("td", {}, cell(r.src_ip)), el("td", {}, cell(r.dst_ip)), el("td", {}, r.case_id || "")))))),
    el("div", { class: "actions" }, caseNow ? null : title, group, note));
}

async function caseView(caseId) {
  show(el("p", { class: "muted" }, "Loading the case…"));
  try {
    const c = await apiJson("/api/cases/" + encodeURIComponent(caseId));
    show(el("p", {}, el("a", { href: "#/" }, "← Alert queue")),
      el("h1", { id: "case-title-text" }, "Case: ", c.title || c.case_id),
      el("p", { class: "muted" }, c.case_id + ` — ${c.findings.length} finding(s)`),
      table(c.findings.map((f) => ({ ...f, status: statusLabel(f.status), tags: f.tags })), ["time", "score", "severity", "status", "rule", "src_ip", "dst_ip", "assignee", "tags"],
        (r) => ({ class: "finding", tabindex: "0", onclick: () => { location.hash = "#/alert/" + r.id; } })));
  } catch (e) {
    show(el("h1", {}, "Case"), errorBox(e));
  }
}

// ---- alert queue ---------------------------------------------------------

async function queueView(params) {
  const form = el("form", { class: "filters panel", id: "queue-filters" },
    el("div", { class: "sevs" }, "Severity",
      ["Critical", "High", "Medium", "Low"].map((s) => el("label", {},
        el("input", { type: "checkbox", name: "severity", value: s, checked: (params.get("severity") || "").split(",").includes(s) }), s))),
    el("label", {}, "Rule", el("input", { name: "rule", placeholder: "opensoc.dns", value: params.get("rule") || "" })),
    el("label", {}, "Host", el("input", { name: "host", placeholder: "10.0.0.1", value: params.get("host") || "" })),
    el("label", {}, "Status", el("select", { name: "status", id: "queue-status" },
      [["", "any"], ["open", "open"], ["closed", "closed"], ...STATUSES.map((s) => [s, statusLabel(s)])].map(([v, t]) =>
        el("option", { value: v, selected: (params.get("status") || "") === v }, t)))),
    el("label", {}, "Assignee", el("input", { name: "assignee", placeholder: "none", size: "10", value: params.get("assignee") || "" })),
    el("label", {}, "Comment or tag", el("input", { name: "text", id: "queue-text", placeholder: "text in comments, tags…", value: params.get("text") || "" })),
    el("label", {}, "From", el("input", { type: "datetime-local", name: "from", step: "1" })),
    el("label", {}, "To", el("input", { type: "datetime-local", name: "to", step: "1" })),
    el("button", { type: "submit" }, "Filter"));
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const f = new FormData(form);
    const q = new URLSearchParams();
    const sev = f.getAll("severity");
    if (sev.length) q.set("severity", sev.join(","));
    for (const k of ["rule", "host", "status", "assignee", "text"]) if (f.get(k)) q.set(k, f.get(k).trim());
    for (const k of ["from", "to"]) if (toIso(f.get(k))) q.set(k, toIso(f.get(k)));
    location.hash = "#/?" + q.toString();
  });
  const body = el("div", { id: "queue" }, el("p", { class: "muted" }, "Loading findings…"));
  show(el("h1", {}, "Alert queue"), form, body);
  try {
    const q = new URLSearchParams();
    for (const k of ["severity", "rule", "host", "status", "assignee", "tag", "text", "case", "from", "to"]) if (params.get(k)) q.set(k, params.get(k));
    const data = await apiJson("/api/findings?" + q.toString());
    const rows = data.findings;
    body.replaceChildren(
      el("p", { class: "muted" }, `${data.total} finding(s)` + (data.total > rows.length ? `, the ${rows.length} highest scored shown` : "")),
      rows.length === 0 ? el("p", { class: "muted" }, "No findings match.") :
        el("div", { class: "scroll" }, el("table", { id: "queue-table" },
          el("thead", {}, el("tr", {}, ["Score", "Severity", "Status", "Rule", "Time", "Source", "Destination", "Indicator", "Assignee", "Tags"].map((c) => el("th", {}, c)))),
          el("tbody", {}, rows.map((r) => el("tr", {
            class: "finding", "data-id": r.id, tabindex: "0",
            onclick: () => { location.hash = "#/alert/" + r.id; },
            onkeydown: (e) => { if (e.key === "Enter") location.hash = "#/alert/" + r.id; },
          },
          el("td", {}, r.score),
          el("td", {}, el("span", { class: "badge sev-" + r.severity }, r.severity)),
          el("td", { class: "wf-status" }, statusBadge(r.status)),
          el("td", {}, r.rule),
          el("td", {}, fmtTime(r.time)),
          el("td", {}, cell(r.src_ip) + (r.src_port !== null ? ":" + r.src_port : "") + (r.src_country ? ` (${r.src_country})` : "")),
          el("td", {}, cell(r.dst_ip) + (r.dst_port !== null ? ":" + r.dst_port : "") + (r.dst_country ? ` (${r.dst_country})` : "")),
          el("td", {}, r.indicator),
          el("td", { class: "wf-assignee" }, r.assignee || ""),
          el("td", { class: "wf-tags" }, (r.tags || []).map((t) => el("span", { class: "tag" }, t)),
            r.comments ? el("span", { class: "muted" }, ` ${r.comments} comment(s)`) : null)))))));
  } catch (e) {
    body.replaceChildren(errorBox(e));
  }
}

// ---- one alert -----------------------------------------------------------

function endpointCard(title, ep, id) {
  const facts = [["IP", ep.ip], ["Port", ep.port], ["Country", ep.country], ["City", ep.city],
    ["ASN", ep.asn !== null && ep.asn !== undefined ? "AS" + ep.asn : null], ["AS organisation", ep.as_org],
    ["Anonymity", ep.anonymity]];
  return el("section", { class: "panel endpoint", id },
    el("h2", {}, title),
    el("dl", { class: "facts" }, facts.map(([k, v]) => [el("dt", {}, k), el("dd", { "data-field": k.toLowerCase().replace(/ /g, "_") }, v === null || v === undefined ? "—" : String(v))])),
    el("h2", {}, "Threat intel"),
    ep.intel.length === 0 ? el("p", { class: "muted intel-none" }, "No indicator in the current intel loads.") :
      ep.intel.map((h) => el("div", { class: "intel-hit" },
        el("strong", {}, h.source), ` — ${h.kind} ${h.value}`, h.confidence !== null ? ` (confidence ${h.confidence})` : "",
        h.description ? el("div", { class: "muted" }, h.description) : null)));
}

function timelineChart(data) {
  const buckets = new Map();
  let max = 1;
  for (const t of data.timeline) {
    const b = buckets.get(t.bucket) || {};
    b[t.kind] = t.n;
    buckets.set(t.bucket, b);
    max = Math.max(max, TIMELINE_KINDS.reduce((s, [k]) => s + (b[k] || 0), 0));
  }
  const n = 60, w = 1000, h = 120, bw = w / n;
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", `0 0 ${w} ${h + 20}`);
  svg.setAttribute("class", "timeline");
  svg.setAttribute("id", "timeline");
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", "Activity of the finding's hosts over its time window");
  for (const [bucket, counts] of buckets) {
    let y = h;
    for (const [kind, color] of TIMELINE_KINDS) {
      const c = counts[kind] || 0;
      if (!c) continue;
      const bh = Math.max(1, (c / max) * (h - 10));
      y -= bh;
      const r = document.createElementNS(ns, "rect");
      r.setAttribute("x", (bucket * bw + 1).toFixed(1));
      r.setAttribute("y", y.toFixed(1));
      r.setAttribute("width", Math.max(1, bw - 2).toFixed(1));
      r.setAttribute("height", bh.toFixed(1));
      r.setAttribute("fill", color);
      r.setAttribute("data-kind", kind);
      const title = document.createElementNS(ns, "title");
      title.textContent = `${kind}: ${c}`;
      r.append(title);
      svg.append(r);
    }
  }
  for (const [x, label, anchor] of [[2, data.window.from, "start"], [w - 2, data.window.to, "end"]]) {
    const t = document.createElementNS(ns, "text");
    t.setAttribute("x", x);
    t.setAttribute("y", h + 15);
    t.setAttribute("font-size", "11");
    t.setAttribute("fill", "#667085");
    t.setAttribute("text-anchor", anchor);
    t.textContent = fmtTime(label);
    svg.append(t);
  }
  return el("div", {}, svg, el("div", { class: "legend" },
    TIMELINE_KINDS.map(([k]) => el("span", { class: "k-" + k }, k))));
}

function carveQuery(c) {
  const q = new URLSearchParams();
  if (c.community_id) q.set("community_id", c.community_id);
  q.set("from", c.from);
  q.set("to", c.to);
  return q;
}

async function downloadPcap(button, c) {
  button.disabled = true;
  status("");
  const note = document.getElementById("carve-note");
  note.textContent = "Carving…";
  try {
    const base = state.config ? state.config.carve_url : "/api/carve";
    const r = await api(base + "?" + carveQuery(c).toString(), { headers: { Accept: "application/vnd.tcpdump.pcap, application/json" } });
    if ((r.headers.get("Content-Type") || "").startsWith("application/json")) {
      const d = await r.json();
      note.textContent = `${d.summary.packets} packets; the file is in S3 for ${d.expires_in_seconds} s.`;
      window.location.assign(d.url);
    } else {
      const blob = await r.blob();
      saveBlob(blob, fileNameOf(r, "opensoc.pcap"));
      note.textContent = `${r.headers.get("X-OpenSOC-Packets")} packets, ${blob.size} bytes downloaded.`;
    }
  } catch (e) {
    note.textContent = "";
    note.append(errorBox(e));
  } finally {
    button.disabled = false;
  }
}

async function alertView(id) {
  show(el("p", { class: "muted" }, "Loading the alert…"));
  let d;
  try {
    d = await apiJson("/api/findings/" + encodeURIComponent(id));
  } catch (e) {
    show(el("h1", {}, "Alert"), errorBox(e), el("p", {}, el("a", { href: "#/" }, "Back to the queue")));
    return;
  }
  const f = d.finding;
  const button = el("button", { id: "download-pcap", type: "button", onclick: () => downloadPcap(button, d.carve) }, "Download PCAP");
  const sections = [["Flows", "flows", ["first_ts", "src_ip", "src_port", "dst_ip", "dst_port", "proto", "app_proto", "packets", "bytes", "community_id"]],
    ["DNS", "dns", ["ts", "src_ip", "dst_ip", "query", "qtype_name", "rcode_name", "answers"]],
    ["HTTP", "http", ["ts", "src_ip", "dst_ip", "method", "host", "uri", "status", "user_agent"]],
    ["TLS", "tls", ["ts", "src_ip", "dst_ip", "sni", "version", "alpn", "ja4"]],
    ["Logs", "logs", ["ts", "source_type", "host", "src_ip", "dst_ip", "app", "message"]]];
  show(
    el("p", {}, el("a", { href: "#/" }, "← Alert queue")),
    el("h1", { id: "alert-title" }, el("span", { class: "badge sev-" + f.severity }, f.severity), " ", f.rule),
    el("section", { class: "panel", id: "finding" },
      el("dl", { class: "facts" },
        [["Score", f.score], ["Time", fmtTime(f.time)], ["Description", f.description], ["Indicator", f.indicator],
          ["Matched field", f.matched_field], ["Rules", cell(f.rules)], ["Intel sources", cell(f.intel_sources)],
          ["Community ID", f.community_id], ["Sensor", f.sensor_id], ["Source table", f.source_table]]
          .map(([k, v]) => [el("dt", {}, k), el("dd", {}, v === null || v === undefined || v === "" ? "—" : String(v))])),
      el("div", { class: "actions" }, button,
        el("span", { class: "muted" }, `packets of ${f.community_id ? "this flow" : "these hosts"} from ${fmtTime(d.carve.from)} to ${fmtTime(d.carve.to)}`),
        el("span", { id: "carve-note", role: "status" }))),
    workflowPanel(f.id, d),
    relatedPanel(f.id, d),
    el("div", { class: "grid" }, endpointCard("Source " + cell(f.src_ip), d.endpoints.src, "endpoint-src"),
      endpointCard("Destination " + cell(f.dst_ip), d.endpoints.dst, "endpoint-dst")),
    el("h2", {}, `Activity from ${fmtTime(d.window.from)} to ${fmtTime(d.window.to)}`),
    timelineChart(d),
    sections.map(([title, key, cols]) => el("section", { id: "related-" + key },
      el("h2", {}, `${title} (${d[key].length}${d[key].length >= 200 ? "+" : ""})`), table(d[key], cols))));
}

// ---- search --------------------------------------------------------------

const SEARCH_TABLES = {
  flows: { time: "first_ts_ns", cols: "first_ts, src_ip, src_port, dst_ip, dst_port, proto, app_proto, packets, bytes, src_country, dst_country, community_id" },
  dns: { time: "ts_ns", cols: "ts, src_ip, dst_ip, query, qtype_name, rcode_name, answers, community_id" },
  http: { time: "ts_ns", cols: "ts, src_ip, dst_ip, method, host, uri, status, user_agent, community_id" },
  tls: { time: "ts_ns", cols: "ts, src_ip, dst_ip, sni, version, alpn, ja4, community_id" },
  logs: { time: "ts_ns", cols: "ts, source_type, host, src_ip, dst_ip, app, message" },
  findings: { time: "time_ns", cols: "time, rule, score, severity, src_ip, dst_ip, indicator, description" },
  finding_events: { time: "time_ns", cols: "time, finding_id, principal, status, assignee, comment, tags_added, tags_removed, case_id" },
};

function sqlText(v) {
  return "'" + String(v).replace(/'/g, "''") + "'";
}

function buildSql(f) {
  const t = SEARCH_TABLES[f.get("table")] || SEARCH_TABLES.flows;
  const where = [];
  const host = (f.get("host") || "").trim();
  if (host && f.get("table") !== "finding_events") where.push(`(src_ip = ${sqlText(host)} OR dst_ip = ${sqlText(host)})`);
  const port = (f.get("port") || "").trim();
  if (port && !["findings", "logs", "finding_events"].includes(f.get("table"))) {
    if (!/^\d{1,5}$/.test(port)) throw new Error("port: a number from 0 to 65535");
    where.push(`(src_port = ${port} OR dst_port = ${port})`);
  }
  const text = (f.get("text") || "").trim();
  if (text) {
    if (f.get("table") === "finding_events") {
      where.push(`(comment ILIKE ${sqlText("%" + text + "%")} OR array_has(tags_added, ${sqlText(text.toLowerCase())}))`);
    } else {
      const textCol = { flows: "community_id", dns: "query", http: "host", tls: "sni", logs: "message", findings: "description" }[f.get("table")];
      where.push(`${textCol} ILIKE ${sqlText("%" + text + "%")}`);
    }
  }
  for (const [k, op] of [["from", ">="], ["to", "<="]]) {
    const iso = toIso(f.get(k));
    if (iso) {
      const ms = Date.parse(iso);
      where.push(`${t.time} ${op} ${ms}000000`);
      where.push(`event_date ${op} DATE '${iso.slice(0, 10)}'`);
    }
  }
  return `SELECT ${t.cols}\nFROM ${f.get("table")}` + (where.length ? "\nWHERE " + where.join("\n  AND ") : "") + `\nORDER BY ${t.time} DESC\nLIMIT 500`;
}

async function runQuery(sql, out, button) {
  button.disabled = true;
  out.replaceChildren(el("p", { class: "muted" }, "Running…"));
  try {
    const d = await apiJson("/api/query?format=json", { method: "POST", headers: { "Content-Type": "text/plain" }, body: sql });
    out.replaceChildren(
      el("p", { class: "muted", id: "result-summary" },
        `${d.row_count} row(s)${d.truncated ? " (cut at the row limit)" : ""} in ${d.elapsed_ms} ms; read ${d.scan.files_scanned} of ${d.scan.files_total} files, ${d.scan.bytes_scanned} bytes`),
      el("div", { id: "results" }, table(d.rows, d.columns.map((c) => c.name))));
  } catch (e) {
    out.replaceChildren(errorBox(e));
  } finally {
    button.disabled = false;
  }
}

async function exportCsv(sql, button, out) {
  button.disabled = true;
  try {
    const r = await api("/api/query?format=csv", { method: "POST", headers: { "Content-Type": "text/plain" }, body: sql });
    saveBlob(await r.blob(), "opensoc-query.csv");
  } catch (e) {
    out.replaceChildren(errorBox(e));
  } finally {
    button.disabled = false;
  }
}

function searchView() {
  const form = el("form", { class: "filters panel", id: "search-filters" },
    el("label", {}, "Table", el("select", { name: "table" }, Object.keys(SEARCH_TABLES).map((t) => el("option", { value: t }, t)))),
    el("label", {}, "Host", el("input", { name: "host", placeholder: "10.0.0.1" })),
    el("label", {}, "Port", el("input", { name: "port", size: "6" })),
    el("label", {}, "Contains", el("input", { name: "text", placeholder: "query, host, SNI, message, comment…" })),
    el("label", {}, "From", el("input", { type: "datetime-local", name: "from", step: "1" })),
    el("label", {}, "To", el("input", { type: "datetime-local", name: "to", step: "1" })),
    el("button", { type: "submit", class: "secondary" }, "Write SQL"));
  const sql = el("textarea", { id: "sql", spellcheck: "false", "aria-label": "SQL" },
    "SELECT src_ip, dst_ip, sum(bytes) AS bytes, count(*) AS flows\nFROM flows\nGROUP BY 1, 2\nORDER BY bytes DESC\nLIMIT 20");
  const out = el("div", { id: "search-output" });
  const run = el("button", { id: "run-query", type: "button", onclick: () => runQuery(sql.value, out, run) }, "Run");
  const csv = el("button", { id: "export-csv", type: "button", class: "secondary", onclick: () => exportCsv(sql.value, csv, out) }, "Export CSV");
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    try {
      sql.value = buildSql(new FormData(form));
      runQuery(sql.value, out, run);
    } catch (e) {
      out.replaceChildren(errorBox(e));
    }
  });
  sql.addEventListener("keydown", (e) => { if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) runQuery(sql.value, out, run); });
  show(el("h1", {}, "Search"), form, el("section", { class: "panel" }, sql, el("div", { class: "actions" }, run, csv,
    el("span", { class: "muted" }, "Read-only SQL over every table (Ctrl+Enter runs)."))), out);
}

// ---- routing -------------------------------------------------------------

function route() {
  const hash = location.hash || "#/";
  const [path, query] = hash.slice(1).split("?");
  const params = new URLSearchParams(query || "");
  document.getElementById("nav-queue").classList.toggle("active", path === "/" || path.startsWith("/alert"));
  document.getElementById("nav-search").classList.toggle("active", path === "/search");
  status("");
  if (path.startsWith("/alert/")) return alertView(decodeURIComponent(path.slice(7)));
  if (path.startsWith("/case/")) return caseView(decodeURIComponent(path.slice(6)));
  if (path === "/search") return searchView();
  return queueView(params);
}

window.addEventListener("hashchange", route);
window.addEventListener("DOMContentLoaded", async () => {
  try { state.config = await apiJson("/api/config"); } catch (e) { status(String(e.message || e)); }
  route();
});
