//! How a subcommand's result and failures are reported: JSON on stdout, one line on stderr,
//! the exit code (the policy the module doc of `cli` describes).

use std::process::ExitCode;

use wxcoupon::config::ConfigErrors;
use wxcoupon_core as core;

use super::Cli;

/// The exit code for errors WeChat Pay (or its answer) caused.
pub const EXIT_REFUSED: u8 = 1;
/// The exit code for bad input.
pub const EXIT_INPUT: u8 = 2;
/// The exit code for failures of the host itself.
pub const EXIT_HOST: u8 = 3;
/// The exit code for an unknown outcome: the coupon may have been issued (the core's
/// `Error::outcome_unknown`). Retry with the same `--partner-trade-no`.
pub const EXIT_OUTCOME_UNKNOWN: u8 = 4;

/// How a subcommand failed.
pub(crate) enum Failure {
    /// The component (or WeChat's answer) reported an error.
    Component(core::Error),
    /// `send` failed after the request may have left: the coupon may have been issued.
    OutcomeUnknown {
        error: Box<core::Error>,
        partner_trade_no: String,
    },
    /// A v3 call failed: the component (or WeChat's answer) reported an error.
    V3(wxcoupon_core::v3::error::Error),
    /// A v3 issue failed after the request may have left: the coupon may have been issued.
    V3OutcomeUnknown {
        error: Box<wxcoupon_core::v3::error::Error>,
        out_request_no: String,
    },
    /// A callback was not verified, not decrypted or not a `COUPON.USE`.
    Notification(wxcoupon_core::v3::notification::NotificationError),
    /// The configuration is incomplete or invalid (every problem listed).
    Config(ConfigErrors),
    /// A campaign run ended short of done: what to print on stdout, the reason, the exit code.
    Campaign(String, String, u8),
    /// The host could not do its part.
    Host(anyhow::Error),
}

impl From<anyhow::Error> for Failure {
    fn from(e: anyhow::Error) -> Self {
        Failure::Host(e)
    }
}

impl From<wxcoupon::HostError> for Failure {
    fn from(e: wxcoupon::HostError) -> Self {
        Failure::Host(e.into())
    }
}

impl From<wxcoupon_core::v3::error::Error> for Failure {
    fn from(e: wxcoupon_core::v3::error::Error) -> Self {
        Failure::V3(e)
    }
}

impl From<core::Error> for Failure {
    fn from(e: core::Error) -> Self {
        Failure::Component(e)
    }
}

/// Runs one subcommand and reports its outcome.
pub async fn run(cli: Cli) -> ExitCode {
    match super::execute(cli.command).await {
        Ok(json) => {
            if !json.is_empty() {
                println!("{json}");
            }
            ExitCode::SUCCESS
        }
        Err(Failure::Component(e)) => {
            eprintln!("error: {e}");
            println!("{}", serde_json::json!({ "error": e }));
            ExitCode::from(match e {
                core::Error::InvalidInput(_) => EXIT_INPUT,
                _ => EXIT_REFUSED,
            })
        }
        Err(Failure::OutcomeUnknown {
            error,
            partner_trade_no,
        }) => {
            eprintln!(
                "error: {error}\n{} (partner_trade_no {partner_trade_no})",
                core::OUTCOME_UNKNOWN_ADVICE
            );
            println!(
                "{}",
                serde_json::json!({
                    "error": error,
                    "outcome_unknown": true,
                    "partner_trade_no": partner_trade_no,
                    "advice": core::OUTCOME_UNKNOWN_ADVICE,
                })
            );
            ExitCode::from(EXIT_OUTCOME_UNKNOWN)
        }
        Err(Failure::V3(e)) => {
            eprintln!("error: {e}");
            println!("{}", serde_json::json!({ "error": e }));
            ExitCode::from(match e {
                wxcoupon_core::v3::error::Error::InvalidInput(_) => EXIT_INPUT,
                _ => EXIT_REFUSED,
            })
        }
        Err(Failure::V3OutcomeUnknown {
            error,
            out_request_no,
        }) => {
            let advice = wxcoupon_core::v3::error::ISSUE_OUTCOME_UNKNOWN_ADVICE;
            eprintln!("error: {error}\n{advice} (out_request_no {out_request_no})");
            println!(
                "{}",
                serde_json::json!({
                    "error": error,
                    "outcome_unknown": true,
                    "out_request_no": out_request_no,
                    "advice": advice,
                })
            );
            ExitCode::from(EXIT_OUTCOME_UNKNOWN)
        }
        Err(Failure::Notification(e)) => {
            eprintln!("error: {e}");
            println!("{}", serde_json::json!({ "error": e }));
            ExitCode::from(EXIT_REFUSED)
        }
        Err(Failure::Campaign(out, why, code)) => {
            if !out.is_empty() {
                println!("{out}");
            }
            eprintln!("error: {why}");
            ExitCode::from(code)
        }
        Err(Failure::Config(e)) => {
            eprintln!("error: the configuration is incomplete or invalid:\n{e}");
            let problems: Vec<_> =
                e.0.iter()
                    .map(|f| serde_json::json!({"field": f.field, "rule": f.rule}))
                    .collect();
            println!(
                "{}",
                serde_json::json!({ "error": { "kind": "invalid-config", "problems": problems } })
            );
            ExitCode::from(EXIT_INPUT)
        }
        Err(Failure::Host(e)) => {
            eprintln!("error: {e:#}");
            ExitCode::from(EXIT_HOST)
        }
    }
}
