//! HTTP/1.x request and response heads.

use memchr::memmem;

/// Longest request or response head that is parsed.
pub const MAX_HEAD: usize = 16 * 1024;

/// Longest value kept for any one field.
pub const MAX_FIELD: usize = 2048;

/// An HTTP request head.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HttpRequest {
    /// Method, e.g. `GET`.
    pub method: String,
    /// Request target as sent.
    pub uri: String,
    /// Protocol version, e.g. `1.1`.
    pub version: String,
    /// `Host` header.
    pub host: Option<String>,
    /// `User-Agent` header.
    pub user_agent: Option<String>,
    /// `Referer` header.
    pub referrer: Option<String>,
    /// `Content-Type` header.
    pub content_type: Option<String>,
    /// `Content-Length` header.
    pub content_length: Option<u64>,
}

/// An HTTP response head.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HttpResponse {
    /// Protocol version.
    pub version: String,
    /// Status code.
    pub status: u16,
    /// Reason phrase.
    pub reason: String,
    /// `Content-Type` header.
    pub content_type: Option<String>,
    /// `Content-Length` header.
    pub content_length: Option<u64>,
    /// `Server` header.
    pub server: Option<String>,
}

/// What the start of a TCP payload is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpStart {
    /// A request line begins here.
    Request,
    /// A status line begins here.
    Response,
}

const METHODS: &[&[u8]] = &[
    b"GET ",
    b"POST ",
    b"HEAD ",
    b"PUT ",
    b"DELETE ",
    b"OPTIONS ",
    b"PATCH ",
    b"CONNECT ",
    b"TRACE ",
    b"PROPFIND ",
    b"PROPPATCH ",
    b"MKCOL ",
    b"COPY ",
    b"MOVE ",
    b"LOCK ",
    b"UNLOCK ",
    b"SEARCH ",
    b"REPORT ",
    b"SUBSCRIBE ",
    b"NOTIFY ",
    b"M-SEARCH ",
    b"BPROPFIND ",
    b"POLL ",
];

/// Does this payload start an HTTP/1.x message?
pub fn detect(payload: &[u8]) -> Option<HttpStart> {
    if payload.starts_with(b"HTTP/1.") || payload.starts_with(b"HTTP/0.9") {
        return Some(HttpStart::Response);
    }
    if METHODS.iter().any(|m| payload.starts_with(m)) {
        return Some(HttpStart::Request);
    }
    None
}

/// Length of the head (through the blank line), if the head is complete.
pub fn head_len(buf: &[u8]) -> Option<usize> {
    memmem::find(buf, b"\r\n\r\n").map(|i| i + 4).or_else(|| memmem::find(buf, b"\n\n").map(|i| i + 2))
}

fn text(b: &[u8]) -> String {
    let b = &b[..b.len().min(MAX_FIELD)];
    String::from_utf8_lossy(b).into_owned()
}

fn lines(head: &[u8]) -> impl Iterator<Item = &[u8]> {
    head.split(|&c| c == b'\n').map(|l| l.strip_suffix(b"\r").unwrap_or(l))
}

fn header(line: &[u8]) -> Option<(&[u8], &[u8])> {
    let colon = memchr::memchr(b':', line)?;
    let value = &line[colon + 1..];
    let start = value.iter().position(|c| !c.is_ascii_whitespace()).unwrap_or(value.len());
    let value = &value[start..];
    let end = value.iter().rposition(|c| !c.is_ascii_whitespace()).map_or(0, |p| p + 1);
    Some((&line[..colon], &value[..end]))
}

fn parse_len(v: &[u8]) -> Option<u64> {
    std::str::from_utf8(v).ok()?.trim().parse().ok()
}

/// Parse a request head (complete or cut short: whatever lines are present).
pub fn parse_request(head: &[u8]) -> Option<HttpRequest> {
    let mut it = lines(head);
    let first = it.next()?;
    let mut parts = first.splitn(3, |&c| c == b' ');
    let method = parts.next()?;
    let uri = parts.next()?;
    let version = parts.next().and_then(|v| v.strip_prefix(b"HTTP/")).unwrap_or(b"0.9");
    if method.is_empty() || !method.iter().all(|c| c.is_ascii_uppercase() || *c == b'-') {
        return None;
    }
    let mut r = HttpRequest { method: text(method), uri: text(uri), version: text(version), ..Default::default() };
    for line in it {
        if line.is_empty() {
            break;
        }
        let Some((name, value)) = header(line) else { continue };
        if name.eq_ignore_ascii_case(b"host") {
            r.host.get_or_insert_with(|| text(value));
        } else if name.eq_ignore_ascii_case(b"user-agent") {
            r.user_agent.get_or_insert_with(|| text(value));
        } else if name.eq_ignore_ascii_case(b"referer") {
            r.referrer.get_or_insert_with(|| text(value));
        } else if name.eq_ignore_ascii_case(b"content-type") {
            r.content_type.get_or_insert_with(|| text(value));
        } else if name.eq_ignore_ascii_case(b"content-length") {
            r.content_length = r.content_length.or(parse_len(value));
        }
    }
    Some(r)
}

/// Parse a response head.
pub fn parse_response(head: &[u8]) -> Option<HttpResponse> {
    let mut it = lines(head);
    let first = it.next()?;
    let rest = first.strip_prefix(b"HTTP/")?;
    let mut parts = rest.splitn(3, |&c| c == b' ');
    let version = parts.next()?;
    let status = std::str::from_utf8(parts.next()?).ok()?.parse().ok()?;
    let reason = parts.next().unwrap_or(b"");
    let mut r = HttpResponse { version: text(version), status, reason: text(reason), ..Default::default() };
    for line in it {
        if line.is_empty() {
            break;
        }
        let Some((name, value)) = header(line) else { continue };
        if name.eq_ignore_ascii_case(b"content-type") {
            r.content_type.get_or_insert_with(|| text(value));
        } else if name.eq_ignore_ascii_case(b"content-length") {
            r.content_length = r.content_length.or(parse_len(value));
        } else if name.eq_ignore_ascii_case(b"server") {
            r.server.get_or_insert_with(|| text(value));
        }
    }
    Some(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_and_response() {
        let req =
            b"GET /index.html?a=1 HTTP/1.1\r\nHost: example.com\r\nUser-Agent: curl/8\r\nContent-Length: 0\r\n\r\n";
        assert_eq!(detect(req), Some(HttpStart::Request));
        assert_eq!(head_len(req), Some(req.len()));
        let r = parse_request(req).unwrap();
        assert_eq!((r.method.as_str(), r.uri.as_str(), r.version.as_str()), ("GET", "/index.html?a=1", "1.1"));
        assert_eq!(r.host.as_deref(), Some("example.com"));
        assert_eq!(r.user_agent.as_deref(), Some("curl/8"));
        let resp = b"HTTP/1.1 404 Not Found\r\nContent-Type: text/html\r\nContent-Length: 12\r\n\r\n";
        let s = parse_response(resp).unwrap();
        assert_eq!((s.status, s.reason.as_str()), (404, "Not Found"));
        assert_eq!(s.content_length, Some(12));
        assert_eq!(s.content_type.as_deref(), Some("text/html"));
    }

    #[test]
    fn hostile_heads_do_not_panic() {
        assert!(parse_response(b"HTTP/1.1 99999999999 x").is_none());
        assert!(parse_request(b"get / HTTP/1.1").is_none());
        assert!(parse_request(b"GET").is_none());
        let r = parse_request(b"GET / HTTP/1.1\r\nHost:\r\n: \r\n\xff\xfe: \xff\r\n").unwrap();
        assert_eq!(r.host.as_deref(), Some(""));
    }
}
