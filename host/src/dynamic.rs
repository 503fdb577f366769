//! Any export of the component called by name, with arguments and results as JSON: the
//! conformance suite's canonical form of WIT values (`conformance/README.md`), the same in every
//! host. `wxcoupon call` reads such calls from stdin.
//!
//! The JSON form of a WIT value, driven by the WIT type:
//!
//! | WIT | JSON |
//! |---|---|
//! | `record` | an object keyed by the field names with `-` as `_`; a missing `option` field is `none` |
//! | `variant` | `"case"` without a payload (or with a `none` one), else `{"case": payload}` |
//! | `enum` | `"case"` |
//! | `option<T>` | `null` or the value |
//! | `list<u8>` | lower-case hex text |
//! | other `list`, `tuple` | an array |
//! | integers, `bool`, `string`, `char` | as they are |
//! | `borrow<merchant>` (argument) | the `merchant-settings` object: the merchant is opened once per settings |
//!
//! A call's answer is `{"ok": VALUE}`, or `{"error": ERROR}` for a `result`'s `err`; a merchant
//! argument whose settings `merchant.open` refuses answers `{"error": …}` with that refusal.

use std::collections::HashMap;

use serde_json::{json, Map, Value};
use wasmtime::component::{ComponentExportIndex, Func, Instance, ResourceAny, Type, Val};
use wasmtime::Store;

use crate::runtime::{linker, HostState};
use crate::{HostError, HostResult, Runtime};

/// One instance of the component whose exports are called by name.
pub struct DynamicSession {
    store: Store<HostState>,
    instance: Instance,
    /// Exported interfaces by their short name (`v3` for `wxpay:coupon/v3@…`).
    interfaces: HashMap<String, String>,
    /// Merchants opened in this instance, by their settings' JSON text.
    merchants: HashMap<String, ResourceAny>,
}

/// Why a call by name could not be made (the component's own `err` answers are not errors).
#[derive(Debug, thiserror::Error)]
pub enum DynamicError {
    /// The function name is not `interface.function` of an export.
    #[error("no export {0} (write interface.function, e.g. v3.build-issue-coupon)")]
    UnknownFunction(String),
    /// An argument does not fit its WIT type.
    #[error("argument {path}: {problem}")]
    Argument {
        /// Where in the arguments (`args[0].stock_id`).
        path: String,
        /// What does not fit.
        problem: String,
    },
    /// Opening a merchant for a `borrow<merchant>` argument failed: its `v3-error`.
    #[error("the merchant settings were refused: {0}")]
    Merchant(Value),
    /// The call trapped or wasmtime refused it.
    #[error("the call failed: {0}")]
    Call(String),
}

impl Runtime {
    /// A fresh instance whose exports are called by name ([`DynamicSession::call`]), with the
    /// runtime's outbound HTTP.
    pub async fn dynamic_session(&self) -> HostResult<DynamicSession> {
        let mut store = Store::new(&self.engine, HostState::new((self.hooks)()));
        let linker = linker(&self.engine).map_err(HostError::component)?;
        let instance = linker
            .instantiate_async(&mut store, &self.component)
            .await
            .map_err(HostError::component)?;
        let interfaces = self
            .component
            .component_type()
            .exports(&self.engine)
            .filter_map(|(name, _)| {
                let short = name.strip_prefix("wxpay:coupon/")?.split('@').next()?;
                Some((short.to_string(), name.to_string()))
            })
            .collect();
        Ok(DynamicSession {
            store,
            instance,
            interfaces,
            merchants: HashMap::new(),
        })
    }
}

impl DynamicSession {
    /// Calls `function` (`interface.function`, e.g. `v3.parse-query-stock`) with `args`; the
    /// answer is `{"ok": …}` or `{"error": …}`.
    pub async fn call(&mut self, function: &str, args: &[Value]) -> Result<Value, DynamicError> {
        let func = self.func(function)?;
        let ty = func.ty(&self.store);
        let params: Vec<(String, Type)> = ty.params().map(|(n, t)| (n.to_string(), t)).collect();
        let results: Vec<Type> = ty.results().collect();
        if params.len() != args.len() {
            return Err(DynamicError::Argument {
                path: "args".into(),
                problem: format!("{function} takes {} arguments", params.len()),
            });
        }
        let mut vals = Vec::with_capacity(args.len());
        for (i, ((_, t), arg)) in params.iter().zip(args).enumerate() {
            match self.lower(t, arg, &format!("args[{i}]")).await {
                Ok(v) => vals.push(v),
                // A merchant that does not open answers the call with `open`'s own error.
                Err(DynamicError::Merchant(error)) => return Ok(json!({ "error": error })),
                Err(e) => return Err(e),
            }
        }
        let mut out = vec![Val::Bool(false); results.len()];
        func.call_async(&mut self.store, &vals, &mut out)
            .await
            .map_err(|e| DynamicError::Call(format!("{e:#}")))?;
        Ok(match (results.first(), out.into_iter().next()) {
            (Some(Type::Result(r)), Some(Val::Result(answer))) => match answer {
                Ok(v) => json!({"ok": opt_lift(r.ok(), v)}),
                Err(e) => json!({"error": opt_lift(r.err(), e)}),
            },
            (Some(t), Some(v)) => json!({"ok": lift(t, &v)}),
            _ => json!({"ok": null}),
        })
    }

    fn func(&mut self, function: &str) -> Result<Func, DynamicError> {
        let unknown = || DynamicError::UnknownFunction(function.to_string());
        let (short, name) = function.split_once('.').ok_or_else(unknown)?;
        let iface = self.interfaces.get(short).ok_or_else(unknown)?.clone();
        let index = self.export(None, &iface).ok_or_else(unknown)?;
        let index = self.export(Some(&index), name).ok_or_else(unknown)?;
        self.instance
            .get_func(&mut self.store, index)
            .ok_or_else(unknown)
    }

    fn export(
        &mut self,
        parent: Option<&ComponentExportIndex>,
        name: &str,
    ) -> Option<ComponentExportIndex> {
        self.instance
            .get_export_index(&mut self.store, parent, name)
    }

    /// The merchant of these settings, opened on first use (`v3.[static]merchant.open`).
    async fn merchant(
        &mut self,
        settings: &Value,
        path: &str,
    ) -> Result<ResourceAny, DynamicError> {
        let key = settings.to_string();
        if let Some(m) = self.merchants.get(&key) {
            return Ok(*m);
        }
        let open = self.func("v3.[static]merchant.open")?;
        let ty = open.ty(&self.store);
        let (_, settings_ty) = ty.params().next().ok_or_else(|| DynamicError::Argument {
            path: path.into(),
            problem: "merchant.open takes no settings".into(),
        })?;
        let arg = Box::pin(self.lower(&settings_ty, settings, path)).await?;
        let mut out = [Val::Bool(false)];
        open.call_async(&mut self.store, &[arg], &mut out)
            .await
            .map_err(|e| DynamicError::Call(format!("{e:#}")))?;
        let result_ty = ty.results().next();
        match (out.into_iter().next(), result_ty) {
            (Some(Val::Result(Ok(Some(v)))), _) => match *v {
                Val::Resource(m) => {
                    self.merchants.insert(key, m);
                    Ok(m)
                }
                other => Err(DynamicError::Call(format!("merchant.open gave {other:?}"))),
            },
            (Some(Val::Result(Err(e))), Some(Type::Result(r))) => {
                Err(DynamicError::Merchant(opt_lift(r.err(), e)))
            }
            (other, _) => Err(DynamicError::Call(format!("merchant.open gave {other:?}"))),
        }
    }

    /// The WIT value of `value` as type `ty`.
    async fn lower(&mut self, ty: &Type, value: &Value, path: &str) -> Result<Val, DynamicError> {
        let bad = |problem: &str| DynamicError::Argument {
            path: path.to_string(),
            problem: problem.to_string(),
        };
        let int = |v: &Value| v.as_i64().ok_or_else(|| bad("expected an integer"));
        Ok(match ty {
            Type::Bool => Val::Bool(value.as_bool().ok_or_else(|| bad("expected a bool"))?),
            Type::U8 => Val::U8(int(value)?.try_into().map_err(|_| bad("out of range"))?),
            Type::U16 => Val::U16(int(value)?.try_into().map_err(|_| bad("out of range"))?),
            Type::U32 => Val::U32(int(value)?.try_into().map_err(|_| bad("out of range"))?),
            Type::U64 => Val::U64(value.as_u64().ok_or_else(|| bad("expected a u64"))?),
            Type::S8 => Val::S8(int(value)?.try_into().map_err(|_| bad("out of range"))?),
            Type::S16 => Val::S16(int(value)?.try_into().map_err(|_| bad("out of range"))?),
            Type::S32 => Val::S32(int(value)?.try_into().map_err(|_| bad("out of range"))?),
            Type::S64 => Val::S64(int(value)?),
            Type::String => Val::String(text(value).ok_or_else(|| bad("expected text"))?),
            Type::Char => {
                let s = text(value).ok_or_else(|| bad("expected a character"))?;
                let mut chars = s.chars();
                match (chars.next(), chars.next()) {
                    (Some(c), None) => Val::Char(c),
                    _ => return Err(bad("expected one character")),
                }
            }
            Type::List(l) if l.ty() == Type::U8 => {
                let hex = value.as_str().ok_or_else(|| bad("expected hex text"))?;
                Val::List(
                    unhex(hex)
                        .ok_or_else(|| bad("not hex"))?
                        .into_iter()
                        .map(Val::U8)
                        .collect(),
                )
            }
            Type::List(l) => {
                let items = value.as_array().ok_or_else(|| bad("expected an array"))?;
                let mut out = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    out.push(Box::pin(self.lower(&l.ty(), item, &format!("{path}[{i}]"))).await?);
                }
                Val::List(out)
            }
            Type::Tuple(t) => {
                let items = value.as_array().ok_or_else(|| bad("expected an array"))?;
                let types: Vec<Type> = t.types().collect();
                if items.len() != types.len() {
                    return Err(bad(&format!("expected {} items", types.len())));
                }
                let mut out = Vec::with_capacity(items.len());
                for (i, (t, item)) in types.iter().zip(items).enumerate() {
                    out.push(Box::pin(self.lower(t, item, &format!("{path}[{i}]"))).await?);
                }
                Val::Tuple(out)
            }
            Type::Record(r) => {
                let object = value.as_object().ok_or_else(|| bad("expected an object"))?;
                let fields: Vec<(String, Type)> =
                    r.fields().map(|f| (f.name.to_string(), f.ty)).collect();
                if let Some(extra) = object
                    .keys()
                    .find(|k| !fields.iter().any(|(n, _)| n.replace('-', "_") == **k))
                {
                    return Err(bad(&format!("no field {extra}")));
                }
                let mut out = Vec::with_capacity(fields.len());
                for (name, t) in fields {
                    let key = name.replace('-', "_");
                    let v = match (object.get(&key), &t) {
                        (Some(v), _) => {
                            Box::pin(self.lower(&t, v, &format!("{path}.{key}"))).await?
                        }
                        (None, Type::Option(_)) => Val::Option(None),
                        (None, _) => return Err(bad(&format!("missing field {key}"))),
                    };
                    out.push((name, v));
                }
                Val::Record(out)
            }
            Type::Variant(v) => {
                let (case, payload) = match value {
                    Value::String(case) => (case.clone(), None),
                    Value::Object(o) if o.len() == 1 => {
                        let (k, v) = o.iter().next().expect("one entry");
                        (k.clone(), Some(v))
                    }
                    _ => return Err(bad("expected \"case\" or {\"case\": payload}")),
                };
                let found = v
                    .cases()
                    .find(|c| c.name == case)
                    .ok_or_else(|| bad(&format!("no case {case}")))?;
                let payload = match (found.ty, payload) {
                    (None, None) => None,
                    (Some(Type::Option(_)), None) => Some(Box::new(Val::Option(None))),
                    (Some(t), Some(p)) => Some(Box::new(
                        Box::pin(self.lower(&t, p, &format!("{path}.{case}"))).await?,
                    )),
                    (None, Some(_)) => return Err(bad(&format!("case {case} has no payload"))),
                    (Some(_), None) => return Err(bad(&format!("case {case} needs a payload"))),
                };
                Val::Variant(case, payload)
            }
            Type::Enum(e) => {
                let case = value.as_str().ok_or_else(|| bad("expected a case name"))?;
                if !e.names().any(|n| n == case) {
                    return Err(bad(&format!("no case {case}")));
                }
                Val::Enum(case.to_string())
            }
            Type::Option(o) => match value {
                Value::Null => Val::Option(None),
                v => Val::Option(Some(Box::new(
                    Box::pin(self.lower(&o.ty(), v, path)).await?,
                ))),
            },
            Type::Borrow(_) | Type::Own(_) => Val::Resource(self.merchant(value, path).await?),
            other => return Err(bad(&format!("no JSON form for {other:?}"))),
        })
    }
}

fn text(value: &Value) -> Option<String> {
    value.as_str().map(str::to_string)
}

fn unhex(hex: &str) -> Option<Vec<u8>> {
    if !hex.len().is_multiple_of(2) {
        return None;
    }
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect()
}

fn opt_lift(ty: Option<Type>, value: Option<Box<Val>>) -> Value {
    match (ty, value) {
        (Some(t), Some(v)) => lift(&t, &v),
        _ => Value::Null,
    }
}

/// The JSON form of a WIT value of type `ty`.
pub fn lift(ty: &Type, value: &Val) -> Value {
    match (ty, value) {
        (_, Val::Bool(b)) => json!(b),
        (_, Val::U8(n)) => json!(n),
        (_, Val::U16(n)) => json!(n),
        (_, Val::U32(n)) => json!(n),
        (_, Val::U64(n)) => json!(n),
        (_, Val::S8(n)) => json!(n),
        (_, Val::S16(n)) => json!(n),
        (_, Val::S32(n)) => json!(n),
        (_, Val::S64(n)) => json!(n),
        (_, Val::Float32(n)) => json!(n),
        (_, Val::Float64(n)) => json!(n),
        (_, Val::Char(c)) => json!(c.to_string()),
        (_, Val::String(s)) => json!(s),
        (Type::List(l), Val::List(items)) if l.ty() == Type::U8 => {
            let bytes = items.iter().map(|v| match v {
                Val::U8(b) => format!("{b:02x}"),
                _ => String::new(),
            });
            Value::String(bytes.collect())
        }
        (Type::List(l), Val::List(items)) => {
            Value::Array(items.iter().map(|v| lift(&l.ty(), v)).collect())
        }
        (Type::Tuple(t), Val::Tuple(items)) => {
            Value::Array(t.types().zip(items).map(|(t, v)| lift(&t, v)).collect())
        }
        (Type::Record(r), Val::Record(fields)) => {
            let mut object = Map::new();
            for (f, (name, v)) in r.fields().zip(fields) {
                object.insert(name.replace('-', "_"), lift(&f.ty, v));
            }
            Value::Object(object)
        }
        (Type::Variant(t), Val::Variant(case, payload)) => {
            let case_ty = t.cases().find(|c| c.name == case).and_then(|c| c.ty);
            match payload.as_deref() {
                None | Some(Val::Option(None)) => json!(case),
                Some(v) => json!({ case: case_ty.map(|t| lift(&t, v)).unwrap_or(Value::Null) }),
            }
        }
        (_, Val::Enum(case)) => json!(case),
        (Type::Option(o), Val::Option(v)) => match v {
            None => Value::Null,
            Some(v) => lift(&o.ty(), v),
        },
        (Type::Result(r), Val::Result(v)) => match v {
            Ok(v) => json!({"ok": opt_lift(r.ok(), v.clone())}),
            Err(e) => json!({"error": opt_lift(r.err(), e.clone())}),
        },
        (_, other) => json!(format!("<{other:?}>")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn session() -> DynamicSession {
        Runtime::new().unwrap().dynamic_session().await.unwrap()
    }

    #[tokio::test]
    async fn a_call_by_name_answers_in_the_canonical_form() {
        let mut s = session().await;
        let ok = s
            .call("v3.stock-status-of", &[json!("PAUSED")])
            .await
            .unwrap();
        assert_eq!(ok, json!({"ok": "paused"}));
        let refused = s
            .call(
                "v3.build-get-callback",
                &[
                    json!({"mchid": "1"}),
                    json!(1_700_000_000),
                    json!("not a nonce!"),
                ],
            )
            .await
            .unwrap();
        assert_eq!(
            refused["error"]["invalid-input"]["field"],
            json!("nonce"),
            "{refused}"
        );
    }

    #[tokio::test]
    async fn what_cannot_be_called_says_where() {
        let mut s = session().await;
        assert!(matches!(
            s.call("v3.no-such-function", &[]).await,
            Err(DynamicError::UnknownFunction(_))
        ));
        match s
            .call(
                "v3.build-get-callback",
                &[json!({"mchid": 1}), json!(0), json!(null)],
            )
            .await
        {
            Err(DynamicError::Argument { path, .. }) => assert_eq!(path, "args[0].mchid"),
            other => panic!("{other:?}"),
        }
        match s
            .call(
                "v3.build-get-callback",
                &[json!({"mchd": "1"}), json!(0), json!(null)],
            )
            .await
        {
            Err(DynamicError::Argument { problem, .. }) => assert_eq!(problem, "no field mchd"),
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn a_merchant_that_does_not_open_answers_with_its_refusal_and_no_secret() {
        let mut s = session().await;
        let settings = json!({"mchid": "1", "merchant_serial_no": "", "apiv3_key": "short-and-secret",
            "platform_certificates": []});
        let answer = s
            .call(
                "v3.decrypt-resource",
                &[
                    settings,
                    json!({"algorithm": "AEAD_AES_256_GCM",
                "nonce": "n", "associated_data": "", "ciphertext": ""}),
                ],
            )
            .await
            .unwrap();
        assert!(answer["error"]["invalid-input"].is_object(), "{answer}");
        assert!(!answer.to_string().contains("short-and-secret"), "{answer}");
    }
}
