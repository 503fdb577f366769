//! WIT values ⇄ core values: the core's one table ([`wxcoupon_core::v2_wit_mapping!`]) expanded
//! over this component's bindings, plus what only the component needs.

use crate::exports::wxpay::coupon::v2_types as wit;
use wxcoupon_core as core;

wxcoupon_core::v2_wit_mapping!(wit);

/// `sign`/`verify` input: a name given twice is refused, not silently merged.
pub fn fields_in(fields: wit::Fields) -> Result<core::Fields, wit::ProtocolError> {
    let mut out = core::Fields::new();
    for (name, value) in fields {
        if out.contains_key(&name) {
            return Err(protocol_error_out(core::Error::invalid(
                name,
                "appears more than once",
            )));
        }
        out.insert(name, value);
    }
    Ok(out)
}

/// The merchant of a sans-IO call.
pub fn merchant_in(m: wit::Merchant) -> Result<core::Merchant, wit::ProtocolError> {
    merchant_from_wit(m).map_err(protocol_error_out)
}

/// A core error of the sans-IO functions. The core makes neither `Transport` nor `Denied` there;
/// were one to reach this function it would stay readable, as `invalid-input` naming its kind.
pub fn protocol_error_out(e: core::Error) -> wit::ProtocolError {
    match call_error_to_wit(e) {
        wit::CallError::Protocol(p) => p,
        wit::CallError::Transport(t) => wit::ProtocolError::InvalidInput(wit::FieldError {
            field: "transport".into(),
            rule: t.message,
        }),
        wit::CallError::Denied(message) => wit::ProtocolError::InvalidInput(wit::FieldError {
            field: "denied".into(),
            rule: message,
        }),
    }
}
