//! TLS ClientHello: SNI, versions, ALPN, and the JA3 and JA4 fingerprints.

use std::fmt::Write as _;

use md5::Md5;
use sha2::{Digest, Sha256};

use crate::decode::be16;

/// A parsed ClientHello.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ClientHello {
    /// Record-layer version.
    pub record_version: u16,
    /// `legacy_version` of the hello.
    pub legacy_version: u16,
    /// Highest non-GREASE entry of `supported_versions`, if present.
    pub supported_version: Option<u16>,
    /// Server name indication.
    pub sni: Option<String>,
    /// ALPN protocols in order.
    pub alpn: Vec<String>,
    /// Cipher suites in order (GREASE included).
    pub ciphers: Vec<u16>,
    /// Extension types in order (GREASE included).
    pub extensions: Vec<u16>,
    /// Supported groups (elliptic curves).
    pub groups: Vec<u16>,
    /// EC point formats.
    pub point_formats: Vec<u8>,
    /// Signature algorithms.
    pub sig_algs: Vec<u16>,
}

/// Why a ClientHello could not be parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TlsError {
    /// Not a handshake record carrying a ClientHello.
    #[error("not a TLS ClientHello")]
    NotClientHello,
    /// More bytes are needed (the hello spans several segments).
    #[error("TLS ClientHello incomplete: {needed} bytes needed")]
    Incomplete {
        /// Total bytes the record(s) need.
        needed: usize,
    },
    /// Lengths inside the hello are inconsistent.
    #[error("malformed TLS ClientHello: {0}")]
    Malformed(&'static str),
}

/// Is `v` a GREASE value (RFC 8701)?
pub fn is_grease(v: u16) -> bool {
    v & 0x0f0f == 0x0a0a && (v >> 8) == (v & 0xff)
}

/// Does this payload start a TLS handshake record with a ClientHello?
pub fn detect_client_hello(p: &[u8]) -> bool {
    p.len() >= 6 && p[0] == 0x16 && p[1] == 3 && p[2] <= 4 && p[5] == 1
}

/// Parse a ClientHello from the start of a client-to-server byte stream. The
/// handshake message may span several records.
pub fn parse_client_hello(stream: &[u8]) -> Result<ClientHello, TlsError> {
    if !detect_client_hello(stream) {
        return Err(TlsError::NotClientHello);
    }
    // Gather handshake bytes across records until the message is complete.
    let mut hs: Vec<u8> = Vec::new();
    let mut at = 0;
    loop {
        if stream.len() < at + 5 {
            return Err(TlsError::Incomplete { needed: at + 5 });
        }
        if stream[at] != 0x16 {
            return Err(TlsError::Malformed("handshake continues in a non-handshake record"));
        }
        let rlen = be16(stream, at + 3) as usize;
        let end = at + 5 + rlen;
        if stream.len() < end {
            // Use what is here if it already completes the message.
            hs.extend_from_slice(&stream[at + 5..]);
            if let Some(n) = msg_len(&hs)
                && hs.len() >= n
            {
                break;
            }
            return Err(TlsError::Incomplete { needed: end });
        }
        hs.extend_from_slice(&stream[at + 5..end]);
        at = end;
        if let Some(n) = msg_len(&hs)
            && hs.len() >= n
        {
            break;
        }
        if rlen == 0 {
            return Err(TlsError::Malformed("empty handshake record"));
        }
    }
    let n = msg_len(&hs).ok_or(TlsError::Malformed("no handshake header"))?;
    let mut h = parse_hello_body(&hs[4..n])?;
    h.record_version = be16(stream, 1);
    Ok(h)
}

fn msg_len(hs: &[u8]) -> Option<usize> {
    (hs.len() >= 4).then(|| 4 + (((hs[1] as usize) << 16) | ((hs[2] as usize) << 8) | hs[3] as usize))
}

struct Cursor<'a> {
    b: &'a [u8],
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], TlsError> {
        if self.b.len() < n {
            return Err(TlsError::Malformed(what));
        }
        let (h, t) = self.b.split_at(n);
        self.b = t;
        Ok(h)
    }
    fn u8(&mut self, what: &'static str) -> Result<u8, TlsError> {
        Ok(self.take(1, what)?[0])
    }
    fn u16(&mut self, what: &'static str) -> Result<u16, TlsError> {
        let b = self.take(2, what)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }
    fn vec8(&mut self, what: &'static str) -> Result<&'a [u8], TlsError> {
        let n = self.u8(what)? as usize;
        self.take(n, what)
    }
    fn vec16(&mut self, what: &'static str) -> Result<&'a [u8], TlsError> {
        let n = self.u16(what)? as usize;
        self.take(n, what)
    }
}

fn u16s(b: &[u8]) -> Vec<u16> {
    b.chunks_exact(2).map(|c| u16::from_be_bytes([c[0], c[1]])).collect()
}

fn parse_hello_body(body: &[u8]) -> Result<ClientHello, TlsError> {
    let mut c = Cursor { b: body };
    let mut h = ClientHello { legacy_version: c.u16("version")?, ..Default::default() };
    c.take(32, "random")?;
    c.vec8("session id")?;
    h.ciphers = u16s(c.vec16("cipher suites")?);
    c.vec8("compression methods")?;
    if c.b.is_empty() {
        return Ok(h); // no extensions (SSLv3-style hello)
    }
    let mut exts = Cursor { b: c.vec16("extensions")? };
    while !exts.b.is_empty() {
        let ty = exts.u16("extension type")?;
        let data = exts.vec16("extension data")?;
        h.extensions.push(ty);
        let mut d = Cursor { b: data };
        match ty {
            0 => {
                let mut list = Cursor { b: d.vec16("server name list")? };
                while !list.b.is_empty() {
                    let kind = list.u8("server name type")?;
                    let name = list.vec16("server name")?;
                    if kind == 0 && h.sni.is_none() {
                        h.sni = Some(String::from_utf8_lossy(name).into_owned());
                    }
                }
            }
            16 => {
                let mut list = Cursor { b: d.vec16("alpn list")? };
                while !list.b.is_empty() {
                    h.alpn.push(String::from_utf8_lossy(list.vec8("alpn protocol")?).into_owned());
                }
            }
            43 => {
                let versions = u16s(d.vec8("supported versions")?);
                h.supported_version = versions.into_iter().filter(|v| !is_grease(*v)).max();
            }
            10 => h.groups = u16s(d.vec16("supported groups")?),
            11 => h.point_formats = d.vec8("point formats")?.to_vec(),
            13 => h.sig_algs = u16s(d.vec16("signature algorithms")?),
            _ => {}
        }
    }
    Ok(h)
}

fn join<T: std::fmt::Display>(it: impl Iterator<Item = T>, sep: &str) -> String {
    let mut out = String::new();
    for (i, v) in it.enumerate() {
        if i > 0 {
            out.push_str(sep);
        }
        let _ = write!(out, "{v}");
    }
    out
}

impl ClientHello {
    /// The negotiated-at-most version: `supported_versions` if present, else `legacy_version`.
    pub fn max_version(&self) -> u16 {
        self.supported_version.unwrap_or(self.legacy_version)
    }

    /// The JA3 string: `version,ciphers,extensions,groups,point_formats`, GREASE removed.
    pub fn ja3_string(&self) -> String {
        let ng = |v: &&u16| !is_grease(**v);
        format!(
            "{},{},{},{},{}",
            self.legacy_version,
            join(self.ciphers.iter().filter(ng), "-"),
            join(self.extensions.iter().filter(ng), "-"),
            join(self.groups.iter().filter(ng), "-"),
            join(self.point_formats.iter(), "-"),
        )
    }

    /// JA3: the MD5 of [`ClientHello::ja3_string`], in hex.
    pub fn ja3(&self) -> String {
        hex(&Md5::digest(self.ja3_string().as_bytes()))
    }

    /// JA4 (FoxIO), for TLS over TCP.
    pub fn ja4(&self) -> String {
        let version = match self.max_version() {
            0x0304 => "13",
            0x0303 => "12",
            0x0302 => "11",
            0x0301 => "10",
            0x0300 => "s3",
            0x0002 => "s2",
            0xfeff => "d1",
            0xfefd => "d2",
            0xfefc => "d3",
            _ => "00",
        };
        let sni = if self.extensions.contains(&0) { 'd' } else { 'i' };
        let ciphers: Vec<u16> = self.ciphers.iter().copied().filter(|v| !is_grease(*v)).collect();
        let exts: Vec<u16> = self.extensions.iter().copied().filter(|v| !is_grease(*v)).collect();
        let alpn = match self.alpn.first().map(|s| s.as_bytes()) {
            None | Some([]) => "00".to_string(),
            Some(b) => {
                let (f, l) = (b[0], b[b.len() - 1]);
                if f.is_ascii_alphanumeric() && l.is_ascii_alphanumeric() {
                    format!("{}{}", f as char, l as char)
                } else {
                    let hf = format!("{f:02x}");
                    let hl = format!("{l:02x}");
                    format!("{}{}", &hf[..1], &hl[1..])
                }
            }
        };
        let a = format!("t{version}{sni}{:02}{:02}{alpn}", ciphers.len().min(99), exts.len().min(99));
        let mut sorted_c = ciphers.clone();
        sorted_c.sort_unstable();
        let b = truncated_sha256(&join(sorted_c.iter().map(|v| format!("{v:04x}")), ","));
        let mut sorted_e: Vec<u16> = exts.iter().copied().filter(|e| *e != 0 && *e != 16).collect();
        sorted_e.sort_unstable();
        let mut c_in = join(sorted_e.iter().map(|v| format!("{v:04x}")), ",");
        if !self.sig_algs.is_empty() {
            c_in.push('_');
            c_in.push_str(&join(self.sig_algs.iter().map(|v| format!("{v:04x}")), ","));
        }
        let c = if sorted_e.is_empty() { "000000000000".to_string() } else { truncated_sha256(&c_in) };
        let b = if ciphers.is_empty() { "000000000000".to_string() } else { b };
        format!("{a}_{b}_{c}")
    }
}

fn truncated_sha256(s: &str) -> String {
    hex(&Sha256::digest(s.as_bytes())[..6])
}

fn hex(b: &[u8]) -> String {
    let mut out = String::with_capacity(b.len() * 2);
    for x in b {
        let _ = write!(out, "{x:02x}");
    }
    out
}

/// Human name of a TLS version number.
pub fn version_name(v: u16) -> &'static str {
    match v {
        0x0300 => "SSLv3",
        0x0301 => "TLSv1.0",
        0x0302 => "TLSv1.1",
        0x0303 => "TLSv1.2",
        0x0304 => "TLSv1.3",
        _ => "unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hello(sni: &str) -> Vec<u8> {
        let mut body = vec![3, 3];
        body.extend([7u8; 32]);
        body.push(0);
        body.extend([0, 6, 0x0a, 0x0a, 0x13, 0x01, 0xc0, 0x2f]);
        body.extend([1, 0]);
        let mut exts = Vec::new();
        let name = sni.as_bytes();
        exts.extend([0, 0]);
        exts.extend(((name.len() + 5) as u16).to_be_bytes());
        exts.extend(((name.len() + 3) as u16).to_be_bytes());
        exts.push(0);
        exts.extend((name.len() as u16).to_be_bytes());
        exts.extend(name);
        exts.extend([0, 16, 0, 5, 0, 3, 2, b'h', b'2']);
        exts.extend([0, 43, 0, 5, 4, 0x03, 0x04, 0x03, 0x03]);
        exts.extend([0, 10, 0, 4, 0, 2, 0, 29]);
        exts.extend([0, 11, 0, 2, 1, 0]);
        exts.extend([0, 13, 0, 4, 0, 2, 0x04, 0x03]);
        body.extend((exts.len() as u16).to_be_bytes());
        body.extend(exts);
        let mut hs = vec![1, 0, (body.len() >> 8) as u8, body.len() as u8];
        hs.extend(body);
        let mut rec = vec![0x16, 3, 1, (hs.len() >> 8) as u8, hs.len() as u8];
        rec.extend(hs);
        rec
    }

    #[test]
    fn parses_fields_and_fingerprints() {
        let rec = hello("example.org");
        let h = parse_client_hello(&rec).unwrap();
        assert_eq!(h.sni.as_deref(), Some("example.org"));
        assert_eq!(h.alpn, vec!["h2"]);
        assert_eq!(h.max_version(), 0x0304);
        assert_eq!(h.ja3_string(), "771,4865-49199,0-16-43-10-11-13,29,0");
        let ja4 = h.ja4();
        assert!(ja4.starts_with("t13d0206h2_"), "{ja4}");
        assert_eq!(ja4.len(), 36);
    }

    #[test]
    fn split_hello_needs_more_then_parses() {
        let rec = hello("split.example");
        assert!(matches!(parse_client_hello(&rec[..40]), Err(TlsError::Incomplete { .. })));
        // the same hello split across two records
        let hs = &rec[5..];
        let mut two = vec![0x16, 3, 1, 0, 20];
        two.extend(&hs[..20]);
        two.extend([0x16, 3, 1, 0, (hs.len() - 20) as u8]);
        two.extend(&hs[20..]);
        assert_eq!(parse_client_hello(&two).unwrap().sni.as_deref(), Some("split.example"));
    }

    #[test]
    fn truncated_lengths_are_errors_not_panics() {
        let rec = hello("x");
        for cut in 0..rec.len() {
            let mut r = rec[..cut].to_vec();
            if r.len() >= 5 {
                r[3] = 0;
                r[4] = (cut - 5) as u8;
            }
            let _ = parse_client_hello(&r);
        }
    }
}
