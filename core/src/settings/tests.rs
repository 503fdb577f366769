//! The settings module: the table's consistency, each kind's reads, layering, the merchant and
//! certificate rules, and no value in any problem.

use std::path::PathBuf;

use super::*;
use crate::{ApiHost, SignType, SignaturePolicy};

const KEY: &str = "192006250b4c09247ec02edce69f6a2d";

fn merchant_vars(extra: &[(&str, &str)]) -> Vars {
    let mut pairs = vec![
        ("WXPAY_APPID", "wx5edab3bdfba3dc1c"),
        ("WXPAY_MCH_ID", "10000098"),
        ("WXPAY_API_KEY", KEY),
    ];
    pairs.extend_from_slice(extra);
    Vars::new(pairs)
}

fn problems(r: Reader<'_>) -> Vec<String> {
    r.into_problems().iter().map(|p| p.to_string()).collect()
}

#[test]
fn the_table_names_each_setting_once_and_its_number_rules_match_the_limits() {
    for (i, a) in ALL.iter().enumerate() {
        for b in &ALL[i + 1..] {
            assert_ne!(a.key, b.key);
            assert!(
                a.variable.is_none() || a.variable != b.variable,
                "{}",
                a.key
            );
        }
        if let Kind::Number { min, max, default } = a.kind {
            assert_eq!(a.rule, format!("must be a number {min}–{max}"), "{}", a.key);
            assert!((min..=max).contains(&default), "{}", a.key);
        }
        assert!(a.variable.is_none_or(|v| v.starts_with("WXPAY_")));
    }
    assert_eq!(by_key("mch_id"), Some(&MCH_ID));
    assert_eq!(by_variable("WXPAY_GATEWAY_TOKENS"), Some(&CALLER_TOKENS));
    assert_eq!(
        variables([&APPID, &CA_FILE]),
        ["WXPAY_APPID", "WXPAY_CA_FILE"]
    );
}

#[test]
fn naming_and_references() {
    assert_eq!(Naming::Both.subject(&MCH_ID), "WXPAY_MCH_ID / mch_id");
    assert_eq!(Naming::Both.subject(&ALLOWED_HOSTS), "allowed_hosts");
    assert_eq!(Naming::Variable.subject(&MCH_ID), "WXPAY_MCH_ID");
    assert_eq!(Naming::Key.subject(&MCH_ID), "mch_id");
    assert_eq!(
        Naming::Variable.render("required when {cert_file} is set"),
        "required when WXPAY_CERT_FILE is set"
    );
    assert_eq!(
        Naming::Both.render("required when {cert_file} is set"),
        "required when cert_file is set"
    );
}

#[test]
fn booleans_are_read_one_way() {
    for (text, value) in [
        ("1", true),
        ("TRUE", true),
        (" yes ", true),
        ("On", true),
        ("0", false),
        ("false", false),
        ("No", false),
        ("off", false),
    ] {
        assert_eq!(parse_bool(text), Some(value), "{text}");
    }
    assert_eq!(parse_bool("maybe"), None);
    let mut keys = Keys::new(None);
    keys.insert("sandbox", Value::Bool(true));
    keys.insert("backup_host", Value::Int(1));
    let mut r = Reader::new(&keys, Naming::Key);
    assert!(r.flag(&SANDBOX));
    assert!(!r.flag(&BACKUP_HOST));
    assert!(!r.flag(&REQUIRE_SIGNED_RESPONSES));
    assert_eq!(
        problems(r),
        ["backup_host: must be true or false, 1/0, yes/no or on/off"]
    );
}

#[test]
fn numbers_have_bounds_defaults_and_say_where_a_bad_one_came_from() {
    let env = Vars::new([
        ("WXPAY_CONNECT_TIMEOUT_MS", "0"),
        ("WXPAY_FIRST_BYTE_TIMEOUT_MS", " 300 "),
        ("WXPAY_MAX_RESPONSE_BYTES", "lots"),
    ])
    .with_origin("in the environment");
    let mut r = Reader::new(&env, Naming::Variable);
    assert_eq!(r.number(&CONNECT_TIMEOUT_MS), DEFAULT_CONNECT_TIMEOUT_MS);
    assert_eq!(r.number(&FIRST_BYTE_TIMEOUT_MS), 300);
    assert_eq!(
        r.number(&BETWEEN_BYTES_TIMEOUT_MS),
        DEFAULT_BETWEEN_BYTES_TIMEOUT_MS
    );
    assert_eq!(r.number(&MAX_RESPONSE_BYTES), DEFAULT_MAX_RESPONSE_BYTES);
    assert_eq!(
        problems(r),
        [
            "WXPAY_CONNECT_TIMEOUT_MS: must be a number 1–600000 (in the environment)",
            "WXPAY_MAX_RESPONSE_BYTES: must be a number 1–16777216 (in the environment)",
        ]
    );
}

#[test]
fn layers_take_the_highest_source_and_empty_variables_are_unset() {
    let mut file = Keys::new(Some("in the config file"));
    file.insert("appid", Value::Text("wx-file".into()));
    file.insert("mch_id", Value::Text("1".into()));
    file.insert("ca_file", Value::Path(PathBuf::from("/etc/ca.pem")));
    let env = Vars::new([
        ("WXPAY_APPID", "wx-env"),
        ("WXPAY_MCH_ID", "   "),
        ("PATH", "/bin"),
    ]);
    let mut flags = Keys::new(Some("from the command line"));
    flags.put(&APPID, Some(Value::Text("wx-flag".into())));
    flags.put(&MCH_ID, None);
    let layers = Layers::new().over(&file).over(&env).over(&flags);
    let mut r = Reader::new(&layers, Naming::Both);
    assert_eq!(r.text(&APPID).as_deref(), Some("wx-flag"));
    assert_eq!(r.text(&MCH_ID).as_deref(), Some("1"));
    assert_eq!(r.path(&CA_FILE), Some(PathBuf::from("/etc/ca.pem")));
    assert!(!env.contains("PATH"));
    assert!(r.problems().is_empty());
}

#[test]
fn the_merchant_is_read_with_the_cores_rules() {
    let vars = merchant_vars(&[
        ("WXPAY_SIGN_TYPE", "hmac-sha256"),
        ("WXPAY_BASE_URL", " http://127.0.0.1:9000/ "),
        ("WXPAY_REQUIRE_SIGNED_RESPONSES", "yes"),
    ]);
    let mut r = Reader::new(&vars, Naming::Variable);
    let m = read_merchant(&mut r, Endpoint::FromSettings).merchant();
    let m = r.finish(m).unwrap();
    assert_eq!(m.sign_type, SignType::HmacSha256);
    assert_eq!(m.host, ApiHost::Custom("http://127.0.0.1:9000".into()));
    assert_eq!(m.signature_policy, SignaturePolicy::Require);

    let vars = merchant_vars(&[("WXPAY_BACKUP_HOST", "1")]);
    let mut r = Reader::new(&vars, Naming::Variable);
    let m = read_merchant(&mut r, Endpoint::FromSettings);
    assert_eq!(m.host, Some(ApiHost::Backup));

    let vars = Vars::new([
        ("WXPAY_APPID", "x".repeat(33).as_str()),
        ("WXPAY_MCH_ID", "has space"),
        ("WXPAY_API_KEY", "short-secret"),
        ("WXPAY_SIGN_TYPE", "sha1"),
        ("WXPAY_BASE_URL", "ftp://x"),
        ("WXPAY_BACKUP_HOST", "on"),
    ]);
    let mut r = Reader::new(&vars, Naming::Variable);
    let m = read_merchant(&mut r, Endpoint::FromSettings);
    assert_eq!(m.merchant(), None);
    let found = problems(r);
    assert_eq!(
        found,
        [
            "WXPAY_APPID: at most 32 characters (got 33)",
            "WXPAY_MCH_ID: must not contain spaces or control characters",
            "WXPAY_API_KEY: must be 32 characters, the APIv2 key's length (got 12)",
            "WXPAY_SIGN_TYPE: must be MD5 or HMAC-SHA256",
            "WXPAY_BACKUP_HOST: cannot be combined with WXPAY_BASE_URL: choose one endpoint",
            "WXPAY_BASE_URL: must start with http:// or https://",
        ]
    );
    assert!(!found.concat().contains("short-secret"));

    let vars = merchant_vars(&[
        ("WXPAY_SANDBOX", "true"),
        ("WXPAY_SIGN_TYPE", "HMAC-SHA256"),
    ]);
    let mut r = Reader::new(&vars, Naming::Both);
    read_merchant(&mut r, Endpoint::FromSettings);
    assert_eq!(
        problems(r),
        ["WXPAY_SIGN_TYPE / sign_type: the sandbox accepts MD5 signatures only"]
    );

    let none = Vars::new(Vec::<(String, String)>::new());
    let mut r = Reader::new(&none, Naming::Both);
    read_merchant(&mut r, Endpoint::FromSettings);
    assert_eq!(
        problems(r),
        [
            "WXPAY_APPID / appid: required",
            "WXPAY_MCH_ID / mch_id: required",
            "WXPAY_API_KEY / api_key: required",
        ]
    );
}

#[test]
fn an_edges_own_endpoint_is_checked_under_its_setting() {
    let mut keys = Keys::new(None);
    for (key, value) in [("appid", "a"), ("mch_id", "1"), ("api_key", KEY)] {
        keys.insert(key, Value::Text(value.into()));
    }
    let mut r = Reader::new(&keys, Naming::Key);
    let host = Some(ApiHost::Custom("https://a b".into()));
    read_merchant(
        &mut r,
        Endpoint::Given {
            host,
            setting: &AUTHORITY,
        },
    );
    assert_eq!(
        problems(r),
        ["authority: must not contain spaces or control characters"]
    );
}

#[test]
fn secrets_are_strings_taken_as_given_and_never_shown() {
    let mut keys = Keys::new(Some("in the config file"));
    keys.insert("api_key", Value::Int(123));
    keys.insert("p12_password", Value::Text(" pa55 ".into()));
    let mut r = Reader::new(&keys, Naming::Key);
    assert_eq!(r.required_secret(&API_KEY), None);
    assert_eq!(r.secret(&P12_PASSWORD).as_deref(), Some(" pa55 "));
    assert_eq!(
        problems(r),
        ["api_key: must be a string (in the config file)"]
    );
    let shown = format!("{keys:?}");
    assert!(!shown.contains("pa55") && !shown.contains("123"), "{shown}");
    let vars = Vars::new([("WXPAY_API_KEY", KEY), ("WXPAY_APPID", "wx1")]);
    let shown = format!("{vars:?}");
    assert!(!shown.contains(KEY) && shown.contains("wx1"), "{shown}");
    assert!(!format!("{:?}", Value::Text(KEY.into())).contains(KEY));
}

#[test]
fn supplied_and_excused_settings() {
    let keys = Keys::new(None);
    let mut r = Reader::new(&keys, Naming::Key);
    r.supply(&API_KEY, Value::Text(KEY.into()));
    assert_eq!(r.required_secret(&API_KEY).as_deref(), Some(KEY));
    r.excuse(&SEND_CLUSTER);
    assert_eq!(r.required_text(&SEND_CLUSTER), None);
    assert_eq!(r.required_text(&QUERY_CLUSTER), None);
    assert_eq!(problems(r), ["query_cluster: required"]);
}

#[test]
fn certificate_files_and_their_combinations() {
    let read = |pairs: &[(&str, &str)], mch_id: Option<&str>, need| {
        let vars = Vars::new(pairs.iter().copied());
        let mut r = Reader::new(&vars, Naming::Variable);
        let files = read_certificate_files(&mut r, mch_id, need);
        (files, problems(r))
    };
    let (files, found) = read(
        &[("WXPAY_CERT_FILE", "c.pem"), ("WXPAY_KEY_FILE", "k.pem")],
        None,
        Need::Required,
    );
    assert!(found.is_empty());
    assert_eq!(
        files,
        Some(CertificateFiles::Pem {
            cert_file: "c.pem".into(),
            key_file: "k.pem".into()
        })
    );
    let (_, found) = read(&[("WXPAY_CERT_FILE", "c.pem")], None, Need::Optional);
    assert_eq!(
        found,
        ["WXPAY_KEY_FILE: required when WXPAY_CERT_FILE is set"]
    );
    let (_, found) = read(
        &[("WXPAY_KEY_FILE", "k.pem"), ("WXPAY_P12_FILE", "a.p12")],
        None,
        Need::Optional,
    );
    assert_eq!(
        found,
        [
            "WXPAY_P12_FILE: cannot be combined with WXPAY_CERT_FILE/WXPAY_KEY_FILE: give either \
          the PEM pair or the .p12"
        ]
    );
    let (_, found) = read(&[("WXPAY_P12_FILE", "a.p12")], None, Need::Optional);
    assert_eq!(
        found,
        [
            "WXPAY_P12_PASSWORD: required with WXPAY_P12_FILE unless WXPAY_MCH_ID is set (the \
          default password)"
        ]
    );
    let (files, _) = read(
        &[("WXPAY_P12_FILE", "a.p12")],
        Some("10000098"),
        Need::Optional,
    );
    let Some(CertificateFiles::Pkcs12 {
        password, mch_id, ..
    }) = files
    else {
        panic!("{files:?}")
    };
    assert_eq!((password, mch_id.as_str()), (None, "10000098"));
    let (files, found) = read(&[], None, Need::Optional);
    assert!(files.is_none() && found.is_empty());
    let (_, found) = read(&[], None, Need::Required);
    assert_eq!(found.len(), 1);
    assert!(
        found[0].starts_with("WXPAY_CERT_FILE: required"),
        "{found:?}"
    );
    let (_, found) = read(&[("WXPAY_P12_PASSWORD", "secret-pw")], None, Need::Optional);
    assert_eq!(
        found,
        ["WXPAY_P12_PASSWORD: only meaningful with WXPAY_P12_FILE"]
    );
    let shown = format!(
        "{:?}",
        CertificateFiles::Pkcs12 {
            p12_file: "a.p12".into(),
            password: Some("secret-pw".into()),
            mch_id: "1".into()
        }
    );
    assert!(!shown.contains("secret-pw"), "{shown}");
}

#[test]
fn unknown_keys_and_the_error_type() {
    let mut keys = Keys::new(None);
    keys.insert("colour", Value::Text("blue".into()));
    keys.insert("appid", Value::Text("wx".into()));
    let unknown = keys.unknown(&[&APPID, &MCH_ID]);
    assert_eq!(unknown, ["colour"]);
    let found = unknown_keys(&unknown, &[&APPID, &MCH_ID], |k| format!("file: {k}"));
    let e = SettingsError(found);
    assert_eq!(
        e.to_string(),
        "file: colour: unknown key (expected one of appid, mch_id)"
    );
    let two = SettingsError(vec![
        crate::FieldError::new("a", "required"),
        crate::FieldError::new("b", "required"),
    ]);
    assert_eq!(two.to_string(), "a: required\nb: required");
    assert_eq!(two.one_line(), "a: required; b: required");
    assert_eq!(setting_of_field("merchant.api_key"), Some(&API_KEY));
    assert_eq!(setting_of_field("openid"), None);
}
