//! The `<xml>` documents of the v2 APIs: a flat list of elements under one root.
//!
//! Writing: names in byte order with `sign` last; digit-only values bare, every other value in
//! CDATA, and a value holding `]]>` split over two CDATA sections so none carries it raw.
//!
//! Reading (quick-xml): CDATA and text (entities and character references resolved) mixed freely;
//! `<x/>`, `<x></x>` and `<x><![CDATA[]]></x>` all read as the empty string; fields kept whatever
//! their name, so signatures cover fields this crate does not know yet. Refused: DOCTYPE (and so any
//! entity declaration or expansion), unknown entities, nesting below a field, duplicate fields,
//! bodies over the size limit, and more fields than the field limit.

use quick_xml::events::Event;
use quick_xml::Reader;

use crate::error::{Error, MalformedResponse};
use crate::Fields;

/// Bounds on what [`read_xml`] accepts. The defaults fit every v2 coupon response with a wide
/// margin (real ones are under 2 KiB with about 30 fields).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct XmlLimits {
    /// Largest body, in bytes.
    pub max_body_bytes: usize,
    /// Most fields under the root.
    pub max_fields: usize,
}

impl Default for XmlLimits {
    fn default() -> Self {
        XmlLimits {
            max_body_bytes: 64 * 1024,
            max_fields: 256,
        }
    }
}

/// Checks that `name` can be written as an element name: ASCII letters, digits and `_`, not
/// starting with a digit (every WeChat field name has this form).
pub fn check_field_name(name: &str) -> Result<(), Error> {
    let mut chars = name.chars();
    let ok = match chars.next() {
        Some(c) if c.is_ascii_alphabetic() || c == '_' => {
            chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        }
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(
            if name.is_empty() {
                "(field name)"
            } else {
                name
            },
            "a field name must be ASCII letters, digits and '_', not starting with a digit",
        ))
    }
}

/// Checks that `value` holds only characters an XML 1.0 document can carry unchanged.
///
/// Control characters other than tab and line feed are refused; so is carriage return, which
/// every XML parser turns into a line feed (the value would arrive changed and fail its signature).
pub fn check_field_value(name: &str, value: &str) -> Result<(), Error> {
    for c in value.chars() {
        let ok = match c {
            '\t' | '\n' => true,
            '\r' => false,
            c if (c as u32) < 0x20 => false,
            '\u{FFFE}' | '\u{FFFF}' => false,
            _ => true,
        };
        if !ok {
            return Err(Error::invalid(
                name,
                format!(
                    "contains U+{:04X}, a character XML cannot carry unchanged",
                    c as u32
                ),
            ));
        }
    }
    Ok(())
}

/// Writes `fields` as an `<xml>` document. Fields with an empty value are written as empty
/// elements (they are left out of the signature, as on the wire).
pub fn write_xml(fields: &Fields) -> Result<String, Error> {
    let mut out = String::with_capacity(64 + fields.len() * 48);
    out.push_str("<xml>");
    let ordered = fields
        .iter()
        .filter(|(name, _)| name.as_str() != "sign")
        .chain(fields.get_key_value("sign"));
    for (name, value) in ordered {
        check_field_name(name)?;
        check_field_value(name, value)?;
        out.push('<');
        out.push_str(name);
        out.push('>');
        if value.bytes().all(|b| b.is_ascii_digit()) {
            out.push_str(value);
        } else {
            out.push_str("<![CDATA[");
            // `]]>` would end the section early: close after `]]` and reopen before `>`.
            out.push_str(&value.replace("]]>", "]]]]><![CDATA[>"));
            out.push_str("]]>");
        }
        out.push_str("</");
        out.push_str(name);
        out.push('>');
    }
    out.push_str("</xml>");
    Ok(out)
}

/// The body as text: within the size limit and UTF-8, or why not.
pub fn body_text<'a>(body: &'a [u8], limits: &XmlLimits) -> Result<&'a str, MalformedResponse> {
    if body.len() > limits.max_body_bytes {
        return Err(MalformedResponse::document(format!(
            "body is {} bytes, over the limit of {} bytes",
            body.len(),
            limits.max_body_bytes
        )));
    }
    std::str::from_utf8(body).map_err(|e| {
        MalformedResponse::document(format!(
            "body is not UTF-8 (invalid byte at offset {})",
            e.valid_up_to()
        ))
    })
}

/// Reads a flat `<xml>` document into its fields.
pub fn read_xml(body: &[u8], limits: &XmlLimits) -> Result<Fields, MalformedResponse> {
    let text = body_text(body, limits)?;
    let text = text.strip_prefix('\u{FEFF}').unwrap_or(text);

    let mut reader = Reader::from_str(text);
    let config = reader.config_mut();
    config.trim_text(false);
    config.check_end_names = true;
    config.expand_empty_elements = false;

    let mut fields = Fields::new();
    let mut root_seen = false;
    let mut root_closed = false;
    // The field being read: its name and the text gathered so far.
    let mut current: Option<(String, String)> = None;
    let syntax = |e: quick_xml::Error, pos: u64| {
        MalformedResponse::document(format!("not well-formed XML at byte {pos}: {e}"))
    };

    loop {
        let event = reader
            .read_event()
            .map_err(|e| syntax(e, reader.error_position()))?;
        match event {
            Event::Decl(_) | Event::Comment(_) | Event::PI(_) => {}
            Event::DocType(_) => {
                return Err(MalformedResponse::document(
                    "DOCTYPE is not allowed (no DTDs, entity declarations or expansions)",
                ))
            }
            Event::Start(start) => {
                let name = start.name().as_ref().to_string();
                if place_element(&name, root_seen, root_closed, &current)? == Place::Root {
                    root_seen = true;
                } else {
                    current = Some((name, String::new()));
                }
            }
            Event::Empty(start) => {
                let name = start.name().as_ref().to_string();
                if place_element(&name, root_seen, root_closed, &current)? == Place::Root {
                    root_seen = true;
                    root_closed = true;
                } else {
                    insert(&mut fields, name, String::new(), limits)?;
                }
            }
            Event::Text(t) => {
                let content = t.xml10_content();
                match &mut current {
                    Some((_, value)) => value.push_str(&content),
                    None if content.trim().is_empty() => {}
                    None => {
                        return Err(MalformedResponse::document(
                            "text outside any field element",
                        ))
                    }
                }
            }
            Event::CData(c) => match &mut current {
                Some((_, value)) => value.push_str(&c.xml10_content()),
                None => {
                    return Err(MalformedResponse::document(
                        "CDATA outside any field element",
                    ))
                }
            },
            Event::GeneralRef(r) => {
                let resolved = if r.is_char_ref() {
                    r.resolve_char_ref()
                        .map_err(|e| syntax(e, reader.error_position()))?
                        .map(String::from)
                } else {
                    quick_xml::escape::resolve_predefined_entity(&r.xml10_content())
                        .map(String::from)
                };
                let Some(resolved) = resolved else {
                    return Err(MalformedResponse::document(format!(
                        "unknown entity &{};",
                        r.xml10_content()
                    )));
                };
                match &mut current {
                    Some((_, value)) => value.push_str(&resolved),
                    None => {
                        return Err(MalformedResponse::document(
                            "entity reference outside any field element",
                        ))
                    }
                }
            }
            Event::End(_) => match current.take() {
                Some((name, value)) => insert(&mut fields, name, value, limits)?,
                None => root_closed = true,
            },
            Event::Eof => break,
        }
    }
    if !root_seen {
        return Err(MalformedResponse::document("no <xml> root element"));
    }
    if !root_closed {
        return Err(MalformedResponse::document(
            "document ends before </xml> (truncated?)",
        ));
    }
    Ok(fields)
}

#[derive(PartialEq, Eq)]
enum Place {
    Root,
    Field,
}

/// Decides what an opening tag is: the root, or a field directly under it. Anything else (a
/// second root, an element after the root closed, nesting inside a field) is refused.
fn place_element(
    name: &str,
    root_seen: bool,
    root_closed: bool,
    current: &Option<(String, String)>,
) -> Result<Place, MalformedResponse> {
    if !root_seen {
        return if name == "xml" {
            Ok(Place::Root)
        } else {
            Err(MalformedResponse::document(format!(
                "root element is <{name}>, expected <xml>"
            )))
        };
    }
    if root_closed {
        return Err(MalformedResponse::document(format!(
            "element <{name}> after the root element closed"
        )));
    }
    if let Some((field, _)) = current {
        return Err(MalformedResponse::field(
            field.clone(),
            format!("holds a nested element <{name}>; v2 responses are flat"),
        ));
    }
    Ok(Place::Field)
}

fn insert(
    fields: &mut Fields,
    name: String,
    value: String,
    limits: &XmlLimits,
) -> Result<(), MalformedResponse> {
    if fields.len() >= limits.max_fields {
        return Err(MalformedResponse::document(format!(
            "more than {} fields",
            limits.max_fields
        )));
    }
    if fields.contains_key(&name) {
        return Err(MalformedResponse::field(name, "appears more than once"));
    }
    fields.insert(name, value);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(s: &str) -> Result<Fields, MalformedResponse> {
        read_xml(s.as_bytes(), &XmlLimits::default())
    }

    #[test]
    fn reads_cdata_text_entities_and_empty_forms() {
        let f = read(
            "<?xml version=\"1.0\"?>\n<xml>\n <a><![CDATA[x<y]]></a>\n <b>1 &amp; 2 &#x4E2D;</b>\
             <c/><d></d><e><![CDATA[]]></e><f>p<![CDATA[q]]>r</f></xml>",
        )
        .unwrap();
        assert_eq!(f["a"], "x<y");
        assert_eq!(f["b"], "1 & 2 中");
        assert_eq!(f["c"], "");
        assert_eq!(f["d"], "");
        assert_eq!(f["e"], "");
        assert_eq!(f["f"], "pqr");
    }

    #[test]
    fn writes_cdata_without_raw_terminator() {
        let mut f = Fields::new();
        f.insert("sign".into(), "AB".into());
        f.insert("a".into(), "x]]>y".into());
        f.insert("n".into(), "42".into());
        let xml = write_xml(&f).unwrap();
        assert_eq!(
            xml,
            "<xml><a><![CDATA[x]]]]><![CDATA[>y]]></a><n>42</n><sign><![CDATA[AB]]></sign></xml>"
        );
        assert_eq!(read(&xml).unwrap(), f);
    }

    #[test]
    fn self_closing_root_is_an_empty_document() {
        assert_eq!(read("<xml/>").unwrap(), Fields::new());
    }
}
