//! Who may post: a caller that knows the shared secret, shown either as
//! `Authorization: Bearer SECRET` or as an HMAC-SHA256 of the raw body
//! keyed by it (`X-OpenSOC-Signature: sha256=HEX`, or GitHub's
//! `X-Hub-Signature-256` in the same form). Both compare in constant time.

use axum::http::HeaderMap;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The signature headers read, in order.
pub const SIGNATURE_HEADERS: [&str; 2] = ["x-opensoc-signature", "x-hub-signature-256"];

/// Why a request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No credentials at all.
    #[error(
        "missing credentials: send Authorization: Bearer SECRET, or X-OpenSOC-Signature: sha256=HMAC-SHA256(secret, body) in hex"
    )]
    Missing,
    /// The bearer secret is wrong.
    #[error("the secret is not valid")]
    BadSecret,
    /// The signature header is not `sha256=` and 64 hex digits.
    #[error("the signature header must be sha256= and 64 hex digits")]
    MalformedSignature,
    /// The signature does not match the body.
    #[error("the signature does not match the body")]
    BadSignature,
}

/// The shared secret.
#[derive(Clone)]
pub struct Secret(Vec<u8>);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(…)")
    }
}

/// Equal bytes, in time that depends only on the lengths.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok()).collect()
}

impl Secret {
    /// A secret (at least 16 bytes, so it is not guessable).
    pub fn new(secret: &str) -> Result<Secret, String> {
        let s = secret.trim();
        if s.len() < 16 {
            return Err("the webhook secret must be at least 16 characters".into());
        }
        Ok(Secret(s.as_bytes().to_vec()))
    }

    /// The signature header value of `body` (`sha256=HEX`).
    pub fn sign(&self, body: &[u8]) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes keys of any length");
        mac.update(body);
        let tag = mac.finalize().into_bytes();
        let hex: String = tag.iter().map(|b| format!("{b:02x}")).collect();
        format!("sha256={hex}")
    }

    /// Check the request's credentials against the raw body (as received,
    /// before gzip is undone). A signature, when present, must match even
    /// if a bearer secret is sent too.
    pub fn verify(&self, headers: &HeaderMap, raw_body: &[u8]) -> Result<(), AuthError> {
        let signature = SIGNATURE_HEADERS.iter().find_map(|h| headers.get(*h)).map(|v| v.to_str().unwrap_or(""));
        if let Some(sig) = signature {
            let hex = sig.trim().strip_prefix("sha256=").ok_or(AuthError::MalformedSignature)?;
            let given = unhex(hex).filter(|b| b.len() == 32).ok_or(AuthError::MalformedSignature)?;
            let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes keys of any length");
            mac.update(raw_body);
            // verify_slice compares in constant time.
            return mac.verify_slice(&given).map_err(|_| AuthError::BadSignature);
        }
        let bearer = headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")));
        match bearer {
            None => Err(AuthError::Missing),
            Some(b) if constant_time_eq(b.trim().as_bytes(), &self.0) => Ok(()),
            Some(_) => Err(AuthError::BadSecret),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn bearer_secrets_and_body_signatures_are_checked() {
        let s = Secret::new("0123456789abcdef-secret").unwrap();
        let body = br#"{"a":1}"#;
        assert_eq!(s.verify(&headers(&[]), body), Err(AuthError::Missing));
        assert_eq!(s.verify(&headers(&[("authorization", "Bearer 0123456789abcdef-secret")]), body), Ok(()));
        assert_eq!(s.verify(&headers(&[("authorization", "Bearer nope")]), body), Err(AuthError::BadSecret));
        let sig = s.sign(body);
        assert_eq!(s.verify(&headers(&[("x-opensoc-signature", &sig)]), body), Ok(()));
        assert_eq!(s.verify(&headers(&[("x-hub-signature-256", &sig)]), body), Ok(()));
        assert_eq!(s.verify(&headers(&[("x-opensoc-signature", &sig)]), b"{\"a\":2}"), Err(AuthError::BadSignature));
        assert_eq!(s.verify(&headers(&[("x-opensoc-signature", "md5=00")]), body), Err(AuthError::MalformedSignature));
        assert_eq!(
            s.verify(&headers(&[("x-opensoc-signature", "sha256=zz")]), body),
            Err(AuthError::MalformedSignature)
        );
        // A forged signature fails even beside the right bearer secret.
        let both = headers(&[
            ("authorization", "Bearer 0123456789abcdef-secret"),
            ("x-opensoc-signature", &Secret::new("another-secret-of-16").unwrap().sign(body)),
        ]);
        assert_eq!(s.verify(&both, body), Err(AuthError::BadSignature));
        assert!(Secret::new("short").is_err());
        // RFC 4231 test case 4's key and data give its published tag.
        let key: String = (1u8..=25).map(char::from).collect();
        let rfc = Secret(key.into_bytes());
        assert_eq!(rfc.sign(&[0xcd; 50]), "sha256=82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b");
    }
}
