//! The argument structs keep the secrets they carry (the API key, the `.p12` password) out of
//! `Debug`: each is parsed from a real command line and, if it implements `Debug` at all,
//! formatted with `{:?}` and `{:#?}`, which must not contain them in any letter case.

use super::*;
use args::{ConfigArgs, IdentityArgs};
use clap::Parser;

/// WeChat's documented example key.
const KEY: &str = "192006250b4c09247ec02edce69f6a2d";
const P12_PASSWORD: &str = "p12-Pa55word-do-not-print";

/// `(&Probe(&value)).debug_texts()` is `Some` of both renderings when the value implements
/// `Debug`, `None` when it does not (method resolution prefers the by-value impl). Which of the
/// two traits is used depends on the types, hence `dead_code` allowed on both.
struct Probe<T>(T);

#[allow(dead_code)]
trait ViaDebug {
    fn debug_texts(&self) -> Option<[String; 2]>;
}

impl<T: std::fmt::Debug> ViaDebug for Probe<T> {
    fn debug_texts(&self) -> Option<[String; 2]> {
        Some([format!("{:?}", self.0), format!("{:#?}", self.0)])
    }
}

#[allow(dead_code)]
trait WithoutDebug {
    fn debug_texts(&self) -> Option<[String; 2]>;
}

impl<T> WithoutDebug for &Probe<T> {
    fn debug_texts(&self) -> Option<[String; 2]> {
        None
    }
}

fn assert_hidden(what: &str, texts: Option<[String; 2]>) {
    let secrets = [KEY, P12_PASSWORD]
        .into_iter()
        .flat_map(|s| [s.to_string(), s.to_lowercase(), s.to_uppercase()]);
    let texts = texts.unwrap_or_default();
    for secret in secrets {
        for text in &texts {
            assert!(
                !text.contains(&secret),
                "{what}: Debug shows a secret ({secret}):\n{text}"
            );
        }
    }
}

macro_rules! assert_redacted {
    ($what:expr, $value:expr) => {
        #[allow(clippy::needless_borrow)]
        let texts = (&Probe(&$value)).debug_texts();
        assert_hidden($what, texts);
    };
}

fn parse(args: &[&str]) -> Cli {
    Cli::try_parse_from(std::iter::once("wxcoupon").chain(args.iter().copied()))
        .unwrap_or_else(|e| panic!("{args:?}: {e}"))
}

/// The flags every configured subcommand gets here: the key and a `.p12` with its password.
const SECRET_FLAGS: [&str; 6] = [
    "--api-key",
    KEY,
    "--p12-file",
    "apiclient_cert.p12",
    "--p12-password",
    P12_PASSWORD,
];

fn with_secrets(args: &[&'static str]) -> Vec<&'static str> {
    with_secrets_after(1, args)
}

/// The secret flags after the first `words` words (a subcommand's own flags follow it).
fn with_secrets_after(words: usize, args: &[&'static str]) -> Vec<&'static str> {
    let mut all = args[..words].to_vec();
    all.extend(SECRET_FLAGS);
    all.extend(&args[words..]);
    all
}

fn check_config(config: &ConfigArgs) {
    assert_eq!(config.api_key.as_deref(), Some(KEY));
    assert_redacted!("ConfigArgs", config);
    check_identity(&config.identity);
}

fn check_identity(identity: &IdentityArgs) {
    assert_eq!(identity.p12_password.as_deref(), Some(P12_PASSWORD));
    assert_redacted!("IdentityArgs", identity);
}

#[test]
fn no_argument_struct_shows_a_secret() {
    let lines: Vec<Vec<&str>> = vec![
        vec!["sign", "--api-key", KEY, "appid=wx5edab3bdfba3dc1c"],
        with_secrets(&["build", "send", "--stock-id", "1757", "--openid", "o"]),
        with_secrets(&["parse", "stock"]),
        with_secrets(&[
            "send",
            "--stock-id",
            "1757",
            "--openid",
            "o",
            "--partner-trade-no",
            "1",
        ]),
        with_secrets(&["stock", "--stock-id", "1757"]),
        with_secrets(&[
            "coupon",
            "--coupon-id",
            "1",
            "--openid",
            "o",
            "--stock-id",
            "1757",
        ]),
        with_secrets(&["serve"]),
        with_secrets_after(2, &["stock", "start", "--stock-id", "1757"]),
        with_secrets_after(2, &["stock", "list"]),
        with_secrets_after(2, &["coupons", "list", "--openid", "o"]),
        with_secrets_after(2, &["callbacks", "get"]),
        with_secrets_after(2, &["notification", "verify", "captured.json"]),
        with_secrets(&["certificates"]),
        vec![
            "egress",
            "--p12-file",
            "x.p12",
            "--p12-password",
            P12_PASSWORD,
        ],
    ];
    let mut campaign = vec!["campaign", "run"];
    campaign.extend(SECRET_FLAGS);
    campaign.extend(["--journal", "j.sqlite"]);
    let lines: Vec<Vec<&str>> = lines.into_iter().chain([campaign]).collect();
    for line in &lines {
        let cli = parse(line);
        let what = format!("Cli for `wxcoupon {}`", line[0]);
        assert_redacted!(&what, cli);
        assert_redacted!(&format!("Command for `wxcoupon {}`", line[0]), cli.command);
        match &cli.command {
            Command::Sign { api_key, .. } => assert_eq!(api_key, KEY),
            Command::Build { config, .. }
            | Command::Parse { config, .. }
            | Command::Send { config, .. }
            | Command::Stock {
                action: None,
                config,
                ..
            }
            | Command::Coupon { config, .. }
            | Command::Certificates { config, .. }
            | Command::Serve { config, .. } => check_config(config),
            Command::Coupons { action } => check_config(action.config()),
            Command::Callbacks { action } => check_config(action.config()),
            Command::Notification { action } => check_config(action.config()),
            Command::Stock {
                action: Some(action),
                ..
            } => check_config(action.config()),
            Command::Egress { identity, .. } => check_identity(identity),
            Command::Campaign { action } => match action {
                super::campaign::CampaignCommand::Run { config, .. } => check_config(config),
                _ => unreachable!(),
            },
            #[cfg(feature = "demo")]
            Command::Demo => unreachable!(),
            // `call` takes no secret: its merchants come in its stdin's arguments.
            Command::Info | Command::Call { .. } => unreachable!(),
        }
    }
}
