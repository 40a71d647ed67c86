//! DNS, HTTP and TLS parsers on arbitrary payloads.
#![no_main]

use libfuzzer_sys::fuzz_target;
use opensoc_net::proto::{dns, http, tls};

fuzz_target!(|data: &[u8]| {
    let _ = dns::parse_dns(data);
    if let Ok(h) = tls::parse_client_hello(data) {
        let _ = (h.ja3(), h.ja4());
    }
    let _ = http::parse_request(data);
    let _ = http::parse_response(data);
    let _ = http::head_len(data);
});
