//! Where values come from: the [`Source`] seam (anything that maps a [`Setting`] to a
//! [`Value`]), environment pairs ([`Vars`]), values by key ([`Keys`]: a TOML file flattened, an
//! Envoy plugin JSON object, CLI flags), and [`Layers`] of sources (file < environment < flags).

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use super::table::{by_key, by_variable, Kind, Setting};

/// One value as a source holds it, before it is read as its setting's kind.
#[derive(Clone, PartialEq, Eq)]
pub enum Value {
    /// Text (an environment variable's value, a TOML or JSON string).
    Text(String),
    /// A boolean (TOML, JSON, a flag).
    Bool(bool),
    /// A whole number (TOML, JSON, a flag); negative numbers are kept to be refused.
    Int(i64),
    /// A list of strings (TOML, JSON).
    List(Vec<String>),
    /// A file path that is already one (a flag; a TOML path resolved against the file's
    /// directory).
    Path(PathBuf),
    /// Anything else (a table, a float, a list of non-strings): wrong for every kind.
    Other,
}

impl fmt::Debug for Value {
    /// The shape only: a value may be a secret.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Text(s) => write!(f, "Text(<{} characters>)", s.chars().count()),
            Value::Bool(b) => write!(f, "Bool({b})"),
            Value::Int(i) => write!(f, "Int({i})"),
            Value::List(l) => write!(f, "List(<{} items>)", l.len()),
            Value::Path(p) => write!(f, "Path({p:?})"),
            Value::Other => f.write_str("Other"),
        }
    }
}

/// A value found for a setting, and where: `origin` is said after a rule about the value's
/// form (`must be a number 1–600000 (in the environment)`) where several sources are layered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Found {
    /// The value.
    pub value: Value,
    /// `"in the environment"`, `"in the config file"`, …; `None` for a lone source.
    pub origin: Option<&'static str>,
}

/// Anything that holds setting values: the seam every edge reads through.
pub trait Source {
    /// The value of `setting`, or `None` when this source does not set it.
    fn find(&self, setting: &Setting) -> Option<Found>;
}

impl<F> Source for F
where
    F: Fn(&Setting) -> Option<Found>,
{
    fn find(&self, setting: &Setting) -> Option<Found> {
        self(setting)
    }
}

/// Environment variables: `(name, value)` pairs. Later duplicates win; a value that is empty or
/// only white space counts as unset; names of no setting are dropped.
#[derive(Clone, Default)]
pub struct Vars {
    values: BTreeMap<String, String>,
    origin: Option<&'static str>,
}

impl Vars {
    /// The settings' variables among `pairs` (pass `std::env::vars()`, or a list in tests).
    pub fn new<I, K, V>(pairs: I) -> Vars
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: AsRef<str>,
    {
        let mut values = BTreeMap::new();
        for (name, value) in pairs {
            let (name, value) = (name.as_ref(), value.as_ref());
            if by_variable(name).is_none() {
                continue;
            }
            if value.trim().is_empty() {
                values.remove(name);
            } else {
                values.insert(name.to_string(), value.to_string());
            }
        }
        Vars {
            values,
            origin: None,
        }
    }

    /// The same variables, said to be `origin` in problems (`"in the environment"`).
    pub fn with_origin(mut self, origin: &'static str) -> Vars {
        self.origin = Some(origin);
        self
    }

    /// Only the variables of `settings`: any other reads as unset, so that an edge cannot read
    /// more than it declares.
    pub fn only(mut self, settings: &[&Setting]) -> Vars {
        self.values
            .retain(|name, _| settings.iter().any(|s| s.variable == Some(name.as_str())));
        self
    }

    /// Whether `variable` is set.
    pub fn contains(&self, variable: &str) -> bool {
        self.values.contains_key(variable)
    }
}

impl Source for Vars {
    fn find(&self, setting: &Setting) -> Option<Found> {
        let value = self.values.get(setting.variable?)?;
        Some(Found {
            value: Value::Text(value.clone()),
            origin: self.origin,
        })
    }
}

impl fmt::Debug for Vars {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown = self.values.iter().map(|(name, value)| {
            let secret = by_variable(name).is_some_and(|s| s.kind == Kind::Secret);
            (name, Shown(secret, value))
        });
        f.debug_map().entries(shown).finish()
    }
}

/// Values by setting key: a TOML table or a JSON object flattened, or flags. Keys of no setting
/// are kept (see [`Keys::unknown`]) but never found.
#[derive(Clone, Default)]
pub struct Keys {
    values: BTreeMap<String, Value>,
    origin: Option<&'static str>,
}

impl Keys {
    /// No values yet, said to be `origin` in problems (`None` for a lone source).
    pub fn new(origin: Option<&'static str>) -> Keys {
        Keys {
            values: BTreeMap::new(),
            origin,
        }
    }

    /// Sets `key` (a later value replaces an earlier one).
    pub fn insert(&mut self, key: impl Into<String>, value: Value) {
        self.values.insert(key.into(), value);
    }

    /// Sets `setting` when `value` is `Some`.
    pub fn put(&mut self, setting: &Setting, value: Option<Value>) {
        if let Some(value) = value {
            self.insert(setting.key, value);
        }
    }

    /// The keys that are not among `known`, in order.
    pub fn unknown<'k>(&'k self, known: &[&Setting]) -> Vec<&'k str> {
        self.values
            .keys()
            .map(String::as_str)
            .filter(|key| !known.iter().any(|s| s.key == *key))
            .collect()
    }
}

impl Source for Keys {
    fn find(&self, setting: &Setting) -> Option<Found> {
        Some(Found {
            value: self.values.get(setting.key)?.clone(),
            origin: self.origin,
        })
    }
}

impl fmt::Debug for Keys {
    /// Every key with its value, secrets as `<redacted>`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown = self.values.iter().map(|(key, value)| {
            let secret = by_key(key).is_none_or(|s| s.kind == Kind::Secret);
            let text = match value {
                Value::Text(s) => s.clone(),
                Value::Bool(b) => b.to_string(),
                Value::Int(i) => i.to_string(),
                Value::List(l) => format!("{l:?}"),
                Value::Path(p) => p.display().to_string(),
                Value::Other => "<other>".to_string(),
            };
            (key, Shown(secret, text))
        });
        f.debug_map().entries(shown).finish()
    }
}

/// A value in `Debug`, or `<redacted>`.
struct Shown<T>(bool, T);

impl<T: fmt::Debug> fmt::Debug for Shown<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 {
            f.write_str("<redacted>")
        } else {
            self.1.fmt(f)
        }
    }
}

/// Sources stacked lowest first: a setting's value is that of the highest source that sets it
/// (file < environment < flags).
#[derive(Default)]
pub struct Layers<'a> {
    layers: Vec<&'a dyn Source>,
}

impl<'a> Layers<'a> {
    /// No layers.
    pub fn new() -> Layers<'a> {
        Layers { layers: Vec::new() }
    }

    /// `source` on top of the layers so far.
    pub fn over(mut self, source: &'a dyn Source) -> Layers<'a> {
        self.layers.push(source);
        self
    }
}

impl Source for Layers<'_> {
    fn find(&self, setting: &Setting) -> Option<Found> {
        self.layers.iter().rev().find_map(|s| s.find(setting))
    }
}
