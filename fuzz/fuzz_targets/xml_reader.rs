//! Owns the XML reader, `wxcoupon_core::read_xml` with the default limits (64 KiB, 256
//! fields): any bytes, as an answer body from WeChat Pay (or anything pretending to be it).
//!
//! Besides "no panic, no hang", it checks that a document the reader accepts stays within the
//! limits, and that whatever it read survives `write_xml` unchanged: the writer's output, read
//! back, gives the same fields (so a value can never turn into markup on the way out).
#![no_main]

use libfuzzer_sys::fuzz_target;
use wxcoupon_core::{read_xml, write_xml, XmlLimits};

fuzz_target!(|data: &[u8]| {
    let limits = XmlLimits::default();
    let Ok(fields) = read_xml(data, &limits) else {
        return;
    };
    assert!(data.len() <= limits.max_body_bytes);
    assert!(fields.len() <= limits.max_fields);
    // Names and values the writer refuses (not element-name syntax, control characters) are
    // legal in answers; only the ones it writes must read back the same.
    if let Ok(written) = write_xml(&fields) {
        let roomy = XmlLimits {
            max_body_bytes: usize::MAX,
            max_fields: usize::MAX,
        };
        let reread = read_xml(written.as_bytes(), &roomy)
            .unwrap_or_else(|e| panic!("write_xml wrote what read_xml refuses: {e}\n{written}"));
        assert_eq!(reread, fields, "write_xml changed the fields:\n{written}");
    }
});
