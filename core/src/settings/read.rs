//! [`Reader`]: typed reads of settings from a [`Source`], every problem collected, each named
//! the edge's way ([`Naming`]) with the setting's one rule text.

use std::path::PathBuf;

use super::error::SettingsError;
use super::source::{Found, Source, Value};
use super::table::{Kind, Naming, Setting, EMPTY_PATH_RULE, REQUIRED_RULE};
use crate::error::FieldError;

/// Reads settings one by one; a value that breaks its rule is a problem (the read gives `None`,
/// `false` or the default) and reading goes on, so that [`Reader::finish`] reports them all.
pub struct Reader<'a> {
    source: &'a dyn Source,
    naming: Naming,
    problems: Vec<FieldError>,
    /// Values an edge computed (the Envoy filter's key from `api_key_env`): found first.
    supplied: Vec<(&'static str, Value)>,
    /// Settings whose problem the edge already reported under another name: read as unset,
    /// never "required".
    excused: Vec<&'static str>,
}

impl<'a> Reader<'a> {
    /// A reader of `source` naming settings the `naming` way.
    pub fn new(source: &'a dyn Source, naming: Naming) -> Reader<'a> {
        Reader {
            source,
            naming,
            problems: Vec::new(),
            supplied: Vec::new(),
            excused: Vec::new(),
        }
    }

    /// How this reader names settings.
    pub fn naming(&self) -> Naming {
        self.naming
    }

    /// `setting`'s name at the head of a problem.
    pub fn subject(&self, setting: &Setting) -> String {
        self.naming.subject(setting)
    }

    /// `template` with its `{key}` references named this reader's way (see [`Naming::render`]).
    pub fn render(&self, template: &str) -> String {
        self.naming.render(template)
    }

    /// Records that `setting` breaks `rule`.
    pub fn problem(&mut self, setting: &Setting, rule: impl Into<String>) {
        let subject = self.subject(setting);
        self.problems.push(FieldError::new(subject, rule));
    }

    /// Records a problem of something that is no setting (a file, the configuration as a whole,
    /// an unknown key).
    pub fn problem_of(&mut self, subject: impl Into<String>, rule: impl Into<String>) {
        self.problems.push(FieldError::new(subject, rule));
    }

    /// The problems so far.
    pub fn problems(&self) -> &[FieldError] {
        &self.problems
    }

    /// Makes `setting` read as `value` (ahead of the source).
    pub fn supply(&mut self, setting: &Setting, value: Value) {
        self.supplied.push((setting.key, value));
    }

    /// Makes `setting` read as unset without a "required" problem: the edge reported it under
    /// another name.
    pub fn excuse(&mut self, setting: &Setting) {
        self.excused.push(setting.key);
    }

    /// Whether the source (or [`Reader::supply`]) sets `setting`, whatever its value.
    pub fn is_set(&self, setting: &Setting) -> bool {
        self.find(setting).is_some()
    }

    fn find(&self, setting: &Setting) -> Option<Found> {
        if self.excused.contains(&setting.key) {
            return None;
        }
        if let Some((_, value)) = self.supplied.iter().rev().find(|(k, _)| *k == setting.key) {
            return Some(Found {
                value: value.clone(),
                origin: None,
            });
        }
        self.source.find(setting)
    }

    /// A rule about the value's form, with where the value came from when several sources are
    /// layered: `must be a number 1–600000 (in the environment)`.
    fn form_problem(&mut self, setting: &Setting, rule: &str, found: &Found) {
        let rule = match found.origin {
            Some(origin) => format!("{rule} ({origin})"),
            None => rule.to_string(),
        };
        self.problem(setting, rule);
    }

    /// Text of a text kind, as given (`Value::Text` or a path's text), or a type problem.
    fn raw_text(&mut self, setting: &Setting) -> Option<String> {
        debug_assert!(matches!(setting.kind, Kind::Text | Kind::Id | Kind::Secret));
        let found = self.find(setting)?;
        match &found.value {
            Value::Text(s) => Some(s.clone()),
            Value::Path(p) => Some(p.to_string_lossy().into_owned()),
            _ => {
                self.form_problem(setting, setting.type_rule(), &found);
                None
            }
        }
    }

    /// A text setting, trimmed; empty is unset.
    pub fn text(&mut self, setting: &Setting) -> Option<String> {
        self.raw_text(setting)
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
    }

    /// Runs `read` and reports `setting` "required" when it gave nothing without a problem.
    fn required<T>(
        &mut self,
        setting: &Setting,
        read: impl FnOnce(&mut Self) -> Option<T>,
    ) -> Option<T> {
        let before = self.problems.len();
        let value = read(self);
        if value.is_none() && self.problems.len() == before && !self.excused.contains(&setting.key)
        {
            self.problem(setting, REQUIRED_RULE);
        }
        value
    }

    /// A text setting that must be set.
    pub fn required_text(&mut self, setting: &Setting) -> Option<String> {
        self.required(setting, |r| r.text(setting))
    }

    /// A WeChat Pay identifier ([`Kind::Id`]): required, trimmed, at most 32 characters, no
    /// spaces or control characters (the core's rules, [`crate::Merchant::problems`]).
    pub fn id(&mut self, setting: &Setting) -> Option<String> {
        let value = self.required_text(setting)?;
        match crate::merchant::id_rule(&value) {
            Some(rule) => {
                self.problem(setting, rule);
                None
            }
            None => Some(value),
        }
    }

    /// A secret ([`Kind::Secret`]) as given, not trimmed; empty is unset. Its value is never in
    /// a problem.
    pub fn secret(&mut self, setting: &Setting) -> Option<String> {
        self.raw_text(setting).filter(|s| !s.is_empty())
    }

    /// A secret that must be set.
    pub fn required_secret(&mut self, setting: &Setting) -> Option<String> {
        self.required(setting, |r| r.secret(setting))
    }

    /// A boolean ([`Kind::Bool`]); `false` when unset or broken.
    pub fn flag(&mut self, setting: &Setting) -> bool {
        let Some(found) = self.find(setting) else {
            return false;
        };
        let parsed = match &found.value {
            Value::Bool(b) => Some(*b),
            Value::Text(s) => parse_bool(s),
            _ => None,
        };
        parsed.unwrap_or_else(|| {
            self.form_problem(setting, setting.rule, &found);
            false
        })
    }

    /// A number ([`Kind::Number`]); the default when unset or broken.
    ///
    /// # Panics
    /// When `setting` is of another kind (a mistake in the edge's code, caught by its tests).
    pub fn number(&mut self, setting: &Setting) -> u32 {
        let Kind::Number { min, max, default } = setting.kind else {
            panic!("{} is not a number setting", setting.key);
        };
        let Some(found) = self.find(setting) else {
            return default;
        };
        let n = match &found.value {
            Value::Int(i) => u64::try_from(*i).ok(),
            Value::Text(s) => s.trim().parse::<u64>().ok(),
            _ => None,
        };
        match n {
            Some(n) if (u64::from(min)..=u64::from(max)).contains(&n) => n as u32,
            _ => {
                self.form_problem(setting, setting.rule, &found);
                default
            }
        }
    }

    /// A file path ([`Kind::Path`]), trimmed when given as text.
    pub fn path(&mut self, setting: &Setting) -> Option<PathBuf> {
        let found = self.find(setting)?;
        let path = match &found.value {
            Value::Path(p) => p.clone(),
            Value::Text(s) => PathBuf::from(s.trim()),
            _ => {
                self.form_problem(setting, setting.type_rule(), &found);
                return None;
            }
        };
        if path.as_os_str().is_empty() {
            self.problem(setting, EMPTY_PATH_RULE);
            return None;
        }
        Some(path)
    }

    /// A list of strings ([`Kind::List`]).
    pub fn list(&mut self, setting: &Setting) -> Option<Vec<String>> {
        let found = self.find(setting)?;
        match &found.value {
            Value::List(items) => Some(items.clone()),
            _ => {
                self.form_problem(setting, setting.type_rule(), &found);
                None
            }
        }
    }

    /// The problems, taken.
    pub fn into_problems(self) -> Vec<FieldError> {
        self.problems
    }

    /// `value` when no problem was found, else every problem. A `None` value without a problem
    /// (a read the edge did not check) is reported as `settings: incomplete`.
    pub fn finish<T>(self, value: Option<T>) -> Result<T, SettingsError> {
        if !self.problems.is_empty() {
            return Err(SettingsError(self.problems));
        }
        value.ok_or_else(|| SettingsError::one("settings", "incomplete"))
    }
}

/// The one way booleans are read from text: `1`/`0`, `true`/`false`, `yes`/`no`, `on`/`off`, in
/// any case, around white space.
pub fn parse_bool(text: &str) -> Option<bool> {
    match text.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Some(true),
        "0" | "false" | "no" | "off" => Some(false),
        _ => None,
    }
}

/// One problem a key of no setting among `known`: `subject(key)` names it, the rule lists the
/// keys accepted.
pub fn unknown_keys(
    keys: &[&str],
    known: &[&Setting],
    subject: impl Fn(&str) -> String,
) -> Vec<FieldError> {
    let expected: Vec<&str> = known.iter().map(|s| s.key).collect();
    let rule = format!("unknown key (expected one of {})", expected.join(", "));
    keys.iter()
        .map(|key| FieldError::new(subject(key), rule.clone()))
        .collect()
}
