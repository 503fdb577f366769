//! Reading what the caller sent: the `POST` body and its headers, path segments and query
//! strings.

use serde_json::Value;

use crate::errors::ApiError;

/// `POST /v1/coupons`'s body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IssueInput {
    /// The stock (a JSON string, or a non-negative integer written as digits).
    pub stock_id: String,
    /// The user.
    pub openid: String,
    /// `None`: generate one.
    pub partner_trade_no: Option<String>,
}

impl IssueInput {
    const FIELDS: [&'static str; 3] = ["stock_id", "openid", "partner_trade_no"];

    /// Reads the body: a JSON object with exactly the known fields. Field rules (required,
    /// length, characters) are the core's, applied when the request is built.
    pub fn parse(body: &[u8]) -> Result<IssueInput, ApiError> {
        let value = parse_json(body)?;
        let Value::Object(mut map) = value else {
            return Err(ApiError::new(
                400,
                "INVALID_JSON",
                "the body must be a JSON object",
            ));
        };
        if let Some(unknown) = map.keys().find(|k| !Self::FIELDS.contains(&k.as_str())) {
            return Err(ApiError::invalid(
                unknown,
                "unknown field (expected stock_id, openid, partner_trade_no)",
            ));
        }
        let stock_id = match map.remove("stock_id") {
            Some(Value::String(s)) => s,
            Some(Value::Number(n)) if n.is_u64() => n.to_string(),
            None | Some(Value::Null) => return Err(ApiError::invalid("stock_id", "required")),
            Some(_) => {
                return Err(ApiError::invalid(
                    "stock_id",
                    "must be a string or a non-negative integer",
                ))
            }
        };
        let openid = match map.remove("openid") {
            Some(Value::String(s)) => s,
            None | Some(Value::Null) => return Err(ApiError::invalid("openid", "required")),
            Some(_) => return Err(ApiError::invalid("openid", "must be a string")),
        };
        let partner_trade_no = match map.remove("partner_trade_no") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if s.trim().is_empty() => {
                return Err(ApiError::invalid(
                    "partner_trade_no",
                    "must not be empty (leave it out to have one generated)",
                ))
            }
            Some(Value::String(s)) => Some(s),
            Some(_) => return Err(ApiError::invalid("partner_trade_no", "must be a string")),
        };
        Ok(IssueInput {
            stock_id,
            openid,
            partner_trade_no,
        })
    }
}

/// Reads a JSON document, refusing a key that appears twice in one object (at any depth) as
/// `400 INVALID_JSON` naming the key: parsers disagree on which copy wins, and the gateway must
/// not issue to a different `openid` than the one a reviewing proxy saw.
pub fn parse_json(body: &[u8]) -> Result<Value, ApiError> {
    let duplicate = std::cell::RefCell::new(None);
    let mut reader = serde_json::Deserializer::from_slice(body);
    let parsed =
        serde::de::DeserializeSeed::deserialize(strict::StrictValue(&duplicate), &mut reader)
            .and_then(|value| reader.end().map(|()| value));
    parsed.map_err(|e| match duplicate.take() {
        Some(key) => ApiError {
            field: Some(key.clone()),
            ..ApiError::new(
                400,
                "INVALID_JSON",
                format!("the body must be a JSON object: the key {key:?} appears more than once"),
            )
        },
        None => ApiError::new(
            400,
            "INVALID_JSON",
            format!("the body must be a JSON object: {e}"),
        ),
    })
}

/// A `serde_json::Value` deserializer that stops at the first duplicate key and remembers it.
mod strict {
    use std::cell::RefCell;
    use std::fmt;

    use serde::de::{DeserializeSeed, Error as _, MapAccess, SeqAccess, Visitor};
    use serde_json::{Map, Value};

    /// Deserializes one value; a duplicate key is written to the cell and fails the parse.
    #[derive(Clone, Copy)]
    pub struct StrictValue<'a>(pub &'a RefCell<Option<String>>);

    impl<'de> DeserializeSeed<'de> for StrictValue<'_> {
        type Value = Value;
        fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
            d.deserialize_any(self)
        }
    }

    impl<'de> Visitor<'de> for StrictValue<'_> {
        type Value = Value;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a JSON value")
        }
        fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
            Ok(Value::Bool(v))
        }
        fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
            Ok(Value::from(v))
        }
        fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
            Ok(Value::from(v))
        }
        fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
            Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
        }
        fn visit_str<E>(self, v: &str) -> Result<Value, E> {
            Ok(Value::String(v.to_string()))
        }
        fn visit_string<E>(self, v: String) -> Result<Value, E> {
            Ok(Value::String(v))
        }
        fn visit_unit<E>(self) -> Result<Value, E> {
            Ok(Value::Null)
        }
        fn visit_none<E>(self) -> Result<Value, E> {
            Ok(Value::Null)
        }
        fn visit_some<D: serde::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
            d.deserialize_any(self)
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
            let mut items = Vec::new();
            while let Some(item) = seq.next_element_seed(self)? {
                items.push(item);
            }
            Ok(Value::Array(items))
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
            let mut object = Map::new();
            while let Some(key) = map.next_key::<String>()? {
                if object.contains_key(&key) {
                    *self.0.borrow_mut() = Some(key);
                    return Err(A::Error::custom("duplicate key"));
                }
                let value = map.next_value_seed(self)?;
                object.insert(key, value);
            }
            Ok(Value::Object(object))
        }
    }
}

/// Checks `POST /v1/coupons`'s `content-type` (its first value; `None` when absent or not
/// UTF-8): `application/json` or any `+json` type, in any case and with parameters. An absent
/// one is refused too (`415`): a browser sends a body without it, or as a form, from any page
/// (`navigator.sendBeacon`, `<form>`), and no such request may issue a coupon.
pub fn check_content_type(content_type: Option<&str>) -> Result<(), ApiError> {
    let media = content_type
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim();
    let media = media.to_ascii_lowercase();
    if media != "application/json" && !media.ends_with("+json") {
        return Err(ApiError::new(
            415,
            "UNSUPPORTED_MEDIA_TYPE",
            "the body must be JSON (content-type: application/json)",
        ));
    }
    Ok(())
}

/// Checks an announced `content-length` (first value; `None` when absent or not UTF-8) against
/// `max` before any of the body is read.
pub fn check_content_length(content_length: Option<&str>, max: usize) -> Result<(), ApiError> {
    let Some(length) = content_length else {
        return Ok(());
    };
    match length.trim().parse::<u64>() {
        Ok(n) if n > max as u64 => Err(ApiError::body_too_large(max)),
        Ok(_) => Ok(()),
        Err(_) => Err(ApiError::invalid(
            "content-length",
            "must be a decimal number",
        )),
    }
}

/// Decodes `%XX` escapes (`XX` exactly two hexadecimal digits; and `+` as a space when `plus_is_space`, for query strings) into UTF-8
/// text; `None` for a broken escape or bytes that are not UTF-8.
pub fn percent_decode(text: &str, plus_is_space: bool) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                // Exactly two hex digits (`from_str_radix` alone would take `+4`).
                let hex = bytes.get(i + 1..i + 3)?;
                if !hex.iter().all(u8::is_ascii_hexdigit) {
                    return None;
                }
                let hex = std::str::from_utf8(hex).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' if plus_is_space => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// The query string as decoded `(name, value)` pairs, in order; an undecodable pair is an error
/// naming the parameter (or `query` when even the name cannot be read).
pub fn query_pairs(query: &str) -> Result<Vec<(String, String)>, ApiError> {
    let mut pairs = Vec::new();
    for part in query.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = part.split_once('=').unwrap_or((part, ""));
        let name = percent_decode(name, true)
            .ok_or_else(|| ApiError::invalid("query", "must be valid percent-encoded UTF-8"))?;
        let value = percent_decode(value, true)
            .ok_or_else(|| ApiError::invalid(&name, "must be valid percent-encoded UTF-8"))?;
        pairs.push((name, value));
    }
    Ok(pairs)
}
