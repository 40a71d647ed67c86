//! The OCSF 1.3 classes the lake exports, as SQL over a table's rows (the
//! table registered as `src`): Network Activity (4001) from `flows`, HTTP
//! Activity (4002) from `http`, DNS Activity (4003) from `dns`, Detection
//! Finding (2004) from `findings`. Times are ms since the epoch; the
//! Community ID is `metadata.correlation_uid` (and
//! `connection_info.community_uid`). Every query also yields `event_day`
//! (`YYYYMMDD`, UTC), the partition, which is not written into the files.

use opensoc_schemas::Table;

/// The OCSF version written to `metadata.version`.
pub const OCSF_VERSION: &str = "1.3.0";

/// One exported class.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OcsfClass {
    /// The lake table it is made from.
    pub table: Table,
    /// `class_uid`.
    pub uid: i32,
    /// The folder under the export root (Security Lake: one custom source
    /// per class).
    pub folder: &'static str,
}

/// Every class, in export order.
pub const CLASSES: [OcsfClass; 4] = [
    OcsfClass { table: Table::Flows, uid: 4001, folder: "network_activity" },
    OcsfClass { table: Table::Http, uid: 4002, folder: "http_activity" },
    OcsfClass { table: Table::Dns, uid: 4003, folder: "dns_activity" },
    OcsfClass { table: Table::Findings, uid: 2004, folder: "detection_finding" },
];

fn metadata(uid: &str, table: &str) -> String {
    format!(
        "named_struct('version', '{OCSF_VERSION}', \
         'product', named_struct('name', 'OpenSOC', 'vendor_name', 'OpenSOC', 'version', '{}'), \
         'uid', {uid}, 'correlation_uid', community_id, 'log_name', '{table}', 'log_provider', sensor_id)",
        env!("CARGO_PKG_VERSION")
    )
}

fn endpoint(side: &str, geo: bool) -> String {
    let mut s = format!("named_struct('ip', {side}_ip, 'port', {side}_port");
    if geo {
        s.push_str(&format!(
            ", 'location', named_struct('country', {side}_country, 'city', {side}_city, \
             'lat', {side}_latitude, 'long', {side}_longitude), \
             'autonomous_system', named_struct('number', CAST({side}_asn AS INT), 'name', {side}_as_org)"
        ));
    }
    s.push(')');
    s
}

const PROTO_NAME: &str = "CASE proto WHEN 6 THEN 'tcp' WHEN 17 THEN 'udp' WHEN 1 THEN 'icmp' \
     WHEN 58 THEN 'ipv6-icmp' WHEN 132 THEN 'sctp' WHEN 47 THEN 'gre' END";

fn connection_info() -> String {
    format!(
        "named_struct('protocol_num', proto, 'protocol_name', {PROTO_NAME}, 'direction_id', CAST(0 AS INT), \
         'direction', 'Unknown', 'community_uid', community_id)"
    )
}

fn day(ns: &str) -> String {
    format!("to_char(to_timestamp_nanos({ns}), '%Y%m%d')")
}

fn head(class_uid: i32, class: &str, category_uid: i32, category: &str) -> String {
    format!(
        "CAST({category_uid} AS INT) AS category_uid, '{category}' AS category_name, CAST({class_uid} AS INT) AS class_uid, \
         '{class}' AS class_name"
    )
}

/// The SQL that maps `src` (rows of `class.table`) to the class.
pub fn sql(class: &OcsfClass) -> String {
    match class.uid {
        4001 => format!(
            "SELECT CAST(6 AS INT) AS activity_id, 'Traffic' AS activity_name, {head}, CAST(400106 AS BIGINT) AS type_uid, \
             'Network Activity: Traffic' AS type_name, CAST(1 AS INT) AS severity_id, 'Informational' AS severity, \
             CAST(first_ts_ns / 1000000 AS BIGINT) AS time, CAST(first_ts_ns / 1000000 AS BIGINT) AS start_time, \
             CAST(last_ts_ns / 1000000 AS BIGINT) AS end_time, \
             CAST((last_ts_ns - first_ts_ns) / 1000000 AS BIGINT) AS duration, \
             {meta} AS metadata, {src} AS src_endpoint, {dst} AS dst_endpoint, {conn} AS connection_info, \
             named_struct('bytes', bytes, 'packets', packets, 'bytes_out', src_bytes, 'packets_out', src_packets, \
             'bytes_in', dst_bytes, 'packets_in', dst_packets) AS traffic, app_proto AS app_name, \
             {day} AS event_day FROM src",
            head = head(4001, "Network Activity", 4, "Network Activity"),
            meta = metadata("concat(community_id, '/', CAST(first_ts_ns AS VARCHAR))", "flows"),
            src = endpoint("src", true),
            dst = endpoint("dst", true),
            conn = connection_info(),
            day = day("first_ts_ns"),
        ),
        4002 => {
            let methods = [
                ("CONNECT", 1, "Connect"),
                ("DELETE", 2, "Delete"),
                ("GET", 3, "Get"),
                ("HEAD", 4, "Head"),
                ("OPTIONS", 5, "Options"),
                ("POST", 6, "Post"),
                ("PUT", 7, "Put"),
                ("TRACE", 8, "Trace"),
            ];
            let id: String = methods.iter().map(|(m, id, _)| format!(" WHEN '{m}' THEN {id}")).collect();
            let name: String = methods.iter().map(|(m, _, n)| format!(" WHEN '{m}' THEN '{n}'")).collect();
            format!(
                "SELECT activity_id, activity_name, {head}, CAST(400200 + activity_id AS BIGINT) AS type_uid, \
                 concat('HTTP Activity: ', activity_name) AS type_name, CAST(1 AS INT) AS severity_id, 'Informational' AS severity, \
                 time, metadata, src_endpoint, dst_endpoint, connection_info, http_request, http_response, \
                 http_status, event_day FROM (SELECT \
                 CAST(CASE upper(method){id} ELSE 99 END AS INT) AS activity_id, \
                 CASE upper(method){name} ELSE 'Other' END AS activity_name, \
                 CAST(ts_ns / 1000000 AS BIGINT) AS time, {meta} AS metadata, {src} AS src_endpoint, \
                 {dst} AS dst_endpoint, {conn} AS connection_info, \
                 named_struct('http_method', method, 'version', version, 'user_agent', user_agent, \
                 'referrer', referrer, 'length', request_content_length, 'url', named_struct('hostname', host, \
                 'path', uri, 'port', dst_port, 'url_string', concat('http://', coalesce(host, dst_ip), uri))) \
                 AS http_request, \
                 CASE WHEN status IS NULL THEN NULL ELSE named_struct('code', status, 'message', reason, \
                 'content_type', response_content_type, 'length', response_content_length) END AS http_response, \
                 status AS http_status, {day} AS event_day FROM src)",
                head = head(4002, "HTTP Activity", 4, "Network Activity"),
                meta = metadata("concat(coalesce(community_id, ''), '/', CAST(ts_ns AS VARCHAR))", "http"),
                src = endpoint("src", false),
                dst = endpoint("dst", false),
                conn = connection_info(),
                day = day("ts_ns"),
            )
        }
        4003 => format!(
            "SELECT CAST(CASE WHEN rcode IS NULL THEN 1 ELSE 6 END AS INT) AS activity_id, \
             CASE WHEN rcode IS NULL THEN 'Query' ELSE 'Traffic' END AS activity_name, {head}, \
             CAST(CASE WHEN rcode IS NULL THEN 400301 ELSE 400306 END AS BIGINT) AS type_uid, \
             CASE WHEN rcode IS NULL THEN 'DNS Activity: Query' ELSE 'DNS Activity: Traffic' END AS type_name, \
             CAST(1 AS INT) AS severity_id, 'Informational' AS severity, CAST(ts_ns / 1000000 AS BIGINT) AS time, \
             {meta} AS metadata, {src} AS src_endpoint, {dst} AS dst_endpoint, {conn} AS connection_info, \
             CASE WHEN query IS NULL THEN NULL ELSE named_struct('hostname', query, 'type', qtype_name, \
             'class', CASE qclass WHEN 1 THEN 'IN' ELSE CAST(qclass AS VARCHAR) END, 'packet_uid', trans_id, \
             'opcode_id', CAST(0 AS INT), 'opcode', 'Query') END AS query, \
             rcode AS rcode_id, rcode_name AS rcode, CAST(rtt_ns / 1000000 AS BIGINT) AS response_time, \
             answers AS answers, ttls AS answer_ttls, {day} AS event_day FROM src",
            head = head(4003, "DNS Activity", 4, "Network Activity"),
            meta = metadata("concat(coalesce(community_id, ''), '/', CAST(ts_ns AS VARCHAR))", "dns"),
            src = endpoint("src", false),
            dst = endpoint("dst", false),
            conn = connection_info(),
            day = day("ts_ns"),
        ),
        _ => format!(
            "SELECT CAST(1 AS INT) AS activity_id, 'Create' AS activity_name, {head}, CAST(200401 AS BIGINT) AS type_uid, \
             'Detection Finding: Create' AS type_name, \
             CAST(CASE severity WHEN 'Low' THEN 2 WHEN 'Medium' THEN 3 WHEN 'High' THEN 4 WHEN 'Critical' THEN 5 \
             ELSE 0 END AS INT) AS severity_id, severity, CAST(time_ns / 1000000 AS BIGINT) AS time, \
             CAST(1 AS INT) AS status_id, 'New' AS status, score AS risk_score, description AS message, \
             {meta} AS metadata, \
             named_struct('uid', {id}, 'title', rule, 'desc', description, \
             'analytic', named_struct('uid', rule, 'name', rule, 'type_id', CAST(1 AS INT), 'type', 'Rule'), \
             'data_sources', make_array(source_table), 'types', make_array(indicator_kind), \
             'created_time', CAST(time_ns / 1000000 AS BIGINT)) AS finding_info, \
             make_array(named_struct('src_endpoint', {src}, 'dst_endpoint', {dst}, \
             'connection_info', {conn})) AS evidences, \
             {day} AS event_day FROM src",
            head = head(2004, "Detection Finding", 2, "Findings"),
            meta = metadata(opensoc_lake_finding_id(), "findings"),
            id = opensoc_lake_finding_id(),
            src = endpoint("src", true),
            dst = endpoint("dst", true),
            conn = connection_info(),
            day = day("time_ns"),
        ),
    }
}

fn opensoc_lake_finding_id() -> &'static str {
    crate::workflow::FINDING_ID_SQL
}
