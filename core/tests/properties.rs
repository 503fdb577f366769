//! Property tests: sign/verify round-trip, XML write→read round-trip, parsers never panic.

use proptest::prelude::*;
use wxcoupon_core::{
    parse_response, read_xml, sign, verify, write_xml, Api, ApiKey, Fields, Merchant, SignType,
    XmlLimits,
};

fn key() -> ApiKey {
    ApiKey::new("192006250b4c09247ec02edce69f6a2d").unwrap()
}

/// Field names as WeChat writes them.
fn name() -> impl Strategy<Value = String> {
    "[a-z_][a-z0-9_]{0,20}"
}

/// Arbitrary Unicode without the characters XML cannot carry unchanged (controls other than
/// tab and newline, CR, U+FFFE/U+FFFF), and with the troublesome ones mixed in on purpose.
fn value() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        any::<char>()
            .prop_filter("XML-safe", |c| {
                (*c >= ' ' || *c == '\t' || *c == '\n') && !matches!(*c, '\u{FFFE}' | '\u{FFFF}')
            })
            .prop_map(String::from),
        Just("]]>".to_string()),
        Just("<".to_string()),
        Just("&".to_string()),
        Just("&amp;".to_string()),
        Just("<![CDATA[".to_string()),
    ];
    proptest::collection::vec(piece, 0..24).prop_map(|v| v.concat())
}

fn fields() -> impl Strategy<Value = Fields> {
    proptest::collection::btree_map(name(), value(), 0..12)
}

proptest! {
    #[test]
    fn sign_then_verify_round_trips(fields in fields(), hmac in any::<bool>()) {
        let sign_type = if hmac { SignType::HmacSha256 } else { SignType::Md5 };
        let mut fields = fields;
        let signature = sign(&fields, &key(), sign_type);
        fields.insert("sign".into(), signature.clone());
        prop_assert_eq!(verify(&fields, &key(), &signature), Ok(sign_type));
    }

    #[test]
    fn a_changed_value_fails_verification(fields in fields(), extra in "[a-z]{1,8}") {
        let signature = sign(&fields, &key(), SignType::Md5);
        let mut changed = fields.clone();
        changed.insert("zz_added".into(), extra);
        prop_assert!(verify(&changed, &key(), &signature).is_err());
    }

    #[test]
    fn xml_write_then_read_round_trips(fields in fields()) {
        let xml = write_xml(&fields).unwrap();
        prop_assert!(!xml.contains("]]>]]>"));
        let back = read_xml(xml.as_bytes(), &XmlLimits::default()).unwrap();
        prop_assert_eq!(back, fields);
    }

    #[test]
    fn read_xml_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = read_xml(&bytes, &XmlLimits::default());
    }

    #[test]
    fn parse_response_never_panics_on_xmlish_input(
        fields in fields(),
        api in prop_oneof![Just(Api::SendCoupon), Just(Api::QueryCouponStock), Just(Api::QueryCouponsInfo)],
        cut in any::<usize>(),
    ) {
        let merchant = Merchant::new("wx5edab3bdfba3dc1c", "10000098", key());
        let mut fields = fields;
        fields.insert("return_code".into(), "SUCCESS".into());
        let xml = write_xml(&fields).unwrap();
        let cut = cut % (xml.len() + 1);
        let _ = parse_response(&merchant, api, 200, &xml.as_bytes()[..cut]);
        let _ = parse_response(&merchant, api, 200, xml.as_bytes());
    }
}
