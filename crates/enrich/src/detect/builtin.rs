//! The rules OpenSOC ships, loaded before the user's (a user rule with the
//! same id replaces one). Readable YAML, like any other rule.

/// (file name, text) of every built-in rule file.
pub const RULES: [(&str, &str); 3] = [
    ("builtin/portscan.yml", include_str!("builtin/portscan.yml")),
    ("builtin/dns.yml", include_str!("builtin/dns.yml")),
    ("builtin/ssh.yml", include_str!("builtin/ssh.yml")),
];
