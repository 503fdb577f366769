//! [`SettingsError`]: every problem found in an edge's settings, each naming the setting and
//! the rule it breaks, never a value.

use std::fmt;

use crate::error::FieldError;

/// Every problem of a set of settings, in the order found: one [`FieldError`] each, whose
/// `field` is the setting's name as the edge's users write it (`WXPAY_MCH_ID / mch_id`,
/// `WXPAY_MCH_ID`, `mch_id`, or a file: `config file wxpay.toml`) and whose `rule` never
/// contains a value. `Display` gives one problem a line; [`SettingsError::one_line`] joins them
/// with `; ` (a log line, a JSON message).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SettingsError(pub Vec<FieldError>);

impl SettingsError {
    /// One problem.
    pub fn one(subject: impl Into<String>, rule: impl Into<String>) -> SettingsError {
        SettingsError(vec![FieldError::new(subject, rule)])
    }

    /// The problems.
    pub fn problems(&self) -> &[FieldError] {
        &self.0
    }

    /// The problems on one line, `; ` between them.
    pub fn one_line(&self) -> String {
        self.joined("; ")
    }

    fn joined(&self, separator: &str) -> String {
        let texts: Vec<String> = self.0.iter().map(FieldError::to_string).collect();
        texts.join(separator)
    }
}

impl fmt::Display for SettingsError {
    /// One problem a line: `WXPAY_MCH_ID / mch_id: required`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.joined("\n"))
    }
}

impl std::error::Error for SettingsError {}
