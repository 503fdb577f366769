//! Owns the Envoy filter's settings parser, `Settings::parse` in `envoy/src/config.rs`: any
//! bytes as the plugin configuration (the filter's `configuration` string).
//!
//! The filter is a `cdylib` for `wasm32-wasip1` whose modules are private, so the parser's
//! source file is compiled into this target as a module (it depends on the core, the API crate
//! and serde_json only); a change to that file is fuzzed as soon as it is made.
//!
//! `api_key_env` can name three VM variables: `WXPAY_API_KEY` (a valid key) and two broken
//! secrets, `SHORT_KEY` and `SPACE_KEY`. Checks: accepted settings have clusters and a
//! 32-character key; neither their `summary` and `Debug` nor any refusal shows one of the three
//! secrets (unless the configuration itself contains it); every refusal names a key and a rule.
#![no_main]

#[allow(dead_code)]
#[path = "../../envoy/src/config.rs"]
mod config;

use libfuzzer_sys::fuzz_target;

const SECRETS: [(&str, &str); 3] = [
    ("WXPAY_API_KEY", "192006250b4c09247ec02edce69f6a2d"),
    ("SHORT_KEY", "sekrit-short-7431"),
    ("SPACE_KEY", "sekrit 0123456789abcdef012345678"),
];

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

fuzz_target!(|data: &[u8]| {
    let env = |name: &str| {
        SECRETS
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.to_string())
    };
    let shown = match config::Settings::parse(data, env) {
        Ok(settings) => {
            assert!(!settings.query_cluster.is_empty());
            // v2 needs the client certificate's cluster and the APIv2 key; v3 neither.
            if let Some(merchant) = settings.v2() {
                assert!(!settings.send_cluster.is_empty());
                assert_eq!(merchant.api_key.expose().chars().count(), 32);
            }
            format!("{} {settings:?}", settings.summary())
        }
        Err(problems) => {
            assert!(!problems.0.is_empty(), "refused without a problem");
            for problem in &problems.0 {
                let (key, rule) = (&problem.field, &problem.rule);
                // An empty name is the configuration's own (`{"": 1}`, an unknown key).
                assert!(!key.is_empty() || contains(data, "\"\""), "{problems}");
                assert!(!rule.is_empty(), "{problems}");
            }
            format!("{problems} {problems:?}")
        }
    };
    for (_, secret) in SECRETS {
        assert!(
            !shown.contains(secret) || contains(data, secret),
            "{secret:?} shown: {shown}"
        );
    }
});
