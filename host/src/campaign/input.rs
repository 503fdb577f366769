//! Reading a campaign's recipients: openids from CSV or JSON Lines, one at a time (the list is
//! never held in memory), each either accepted or reported by line with its problem.

use std::io::BufRead;

/// How the input is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InputFormat {
    /// Comma-separated; the openid is the first column, or the column a header line names
    /// `openid`. A header is recognised by that name (any case).
    Csv,
    /// One JSON value a line: an object with an `"openid"` string, or a bare string.
    JsonLines,
}

impl InputFormat {
    /// The format a file name suggests (`.jsonl`, `.ndjson`, `.json` → JSON Lines), else the
    /// first non-blank byte (`{` or `"` → JSON Lines), else CSV.
    pub fn detect(name: Option<&str>, first_line: &str) -> InputFormat {
        let by_name = name.map(|n| n.to_ascii_lowercase());
        if by_name.as_deref().is_some_and(|n| {
            n.ends_with(".jsonl") || n.ends_with(".ndjson") || n.ends_with(".json")
        }) {
            return InputFormat::JsonLines;
        }
        match first_line.trim_start().as_bytes().first() {
            Some(b'{' | b'"') => InputFormat::JsonLines,
            _ => InputFormat::Csv,
        }
    }
}

/// One line of input, read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Line {
    /// An openid (trimmed), at this 1-based line.
    Openid {
        /// The line number.
        line: u64,
        /// The openid.
        openid: String,
    },
    /// A line that holds no usable openid, and why.
    Problem {
        /// The line number.
        line: u64,
        /// What was found, shortened (never more than 64 characters).
        text: String,
        /// Why it is not an openid.
        problem: String,
    },
}

/// The longest openid accepted (the core's cap for fields WeChat does not bound; real openids
/// have 28 characters).
pub const MAX_OPENID_CHARS: usize = 128;

/// Why `openid` cannot be one, if it cannot: empty, too long, or a character outside letters,
/// digits, `-` and `_` (what WeChat's openids are made of).
pub fn openid_problem(openid: &str) -> Option<String> {
    if openid.is_empty() {
        return Some("empty".into());
    }
    let chars = openid.chars().count();
    if chars > MAX_OPENID_CHARS {
        return Some(format!(
            "at most {MAX_OPENID_CHARS} characters (got {chars})"
        ));
    }
    if let Some(c) = openid
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_'))
    {
        return Some(format!("only letters, digits, - and _ (found {c:?})"));
    }
    None
}

/// Reads `input` line by line in `format`, calling `each` for every line that is not blank
/// (a CSV header line is skipped). I/O errors end the reading.
pub fn read_lines(
    input: impl BufRead,
    format: InputFormat,
    mut each: impl FnMut(Line) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let mut column: Option<usize> = None;
    let mut first = true;
    for (i, text) in input.lines().enumerate() {
        let text = text?;
        let line = i as u64 + 1;
        let text = text.trim_start_matches('\u{feff}');
        if text.trim().is_empty() {
            continue;
        }
        let was_first = std::mem::replace(&mut first, false);
        let candidate = match format {
            InputFormat::Csv => {
                let cells: Vec<&str> = text
                    .split(',')
                    .map(|c| c.trim().trim_matches('"').trim())
                    .collect();
                if was_first {
                    if let Some(at) = cells.iter().position(|c| c.eq_ignore_ascii_case("openid")) {
                        column = Some(at);
                        continue;
                    }
                }
                let at = column.unwrap_or(0);
                match cells.get(at) {
                    Some(cell) => Ok(cell.to_string()),
                    None => Err(format!("no column {} (the header's openid)", at + 1)),
                }
            }
            InputFormat::JsonLines => match serde_json::from_str::<serde_json::Value>(text) {
                Ok(serde_json::Value::String(s)) => Ok(s.trim().to_string()),
                Ok(serde_json::Value::Object(map)) => match map.get("openid") {
                    Some(serde_json::Value::String(s)) => Ok(s.trim().to_string()),
                    Some(_) => Err("\"openid\" must be a string".into()),
                    None => Err("no \"openid\" field".into()),
                },
                Ok(_) => Err("must be an object with \"openid\", or a string".into()),
                Err(e) => Err(format!("not JSON ({e})")),
            },
        };
        let shortened: String = text.trim().chars().take(64).collect();
        let item = match candidate {
            Ok(openid) => match openid_problem(&openid) {
                None => Line::Openid { line, openid },
                Some(problem) => Line::Problem {
                    line,
                    text: shortened,
                    problem: format!("not an openid: {problem}"),
                },
            },
            Err(problem) => Line::Problem {
                line,
                text: shortened,
                problem,
            },
        };
        each(item)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str, format: InputFormat) -> Vec<Line> {
        let mut out = Vec::new();
        read_lines(text.as_bytes(), format, |l| {
            out.push(l);
            Ok(())
        })
        .unwrap();
        out
    }

    fn ok(line: u64, openid: &str) -> Line {
        Line::Openid {
            line,
            openid: openid.into(),
        }
    }

    #[test]
    fn csv_with_and_without_a_header_trimmed() {
        let lines = read(
            "name, OpenID ,note\nAda, oA_1 ,x\n\n\"Bo\",\"oB-2\"\nCy\n",
            InputFormat::Csv,
        );
        assert_eq!(lines[0], ok(2, "oA_1"));
        assert_eq!(lines[1], ok(4, "oB-2"));
        assert!(
            matches!(&lines[2], Line::Problem { line: 5, problem, .. } if problem.contains("no column 2"))
        );
        let plain = read("\u{feff}oA\n  oB  \n", InputFormat::Csv);
        assert_eq!(plain, vec![ok(1, "oA"), ok(2, "oB")]);
    }

    #[test]
    fn json_lines_objects_and_strings() {
        let lines = read(
            "{\"openid\": \"oA\", \"x\": 1}\n\"oB\"\n{\"id\": 3}\n[1]\n{nope\n{\"openid\": 7}\n",
            InputFormat::JsonLines,
        );
        assert_eq!(lines[0], ok(1, "oA"));
        assert_eq!(lines[1], ok(2, "oB"));
        for (i, why) in [
            (2, "no \"openid\""),
            (3, "must be an object"),
            (4, "not JSON"),
            (5, "must be a string"),
        ] {
            assert!(
                matches!(&lines[i], Line::Problem { problem, .. } if problem.contains(why)),
                "{:?}",
                lines[i]
            );
        }
    }

    #[test]
    fn invalid_openids_are_reported_by_line() {
        let long = "o".repeat(129);
        let lines = read(&format!("oA\no B\n{long}\no<b>\n"), InputFormat::Csv);
        assert_eq!(lines[0], ok(1, "oA"));
        for (i, line) in [(1, 2), (2, 3), (3, 4)] {
            match &lines[i] {
                Line::Problem {
                    line: l,
                    problem,
                    text,
                } => {
                    assert_eq!(*l, line);
                    assert!(problem.starts_with("not an openid"), "{problem}");
                    assert!(text.chars().count() <= 64);
                }
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn formats_are_told_by_name_then_content() {
        assert_eq!(
            InputFormat::detect(Some("u.jsonl"), "oA"),
            InputFormat::JsonLines
        );
        assert_eq!(
            InputFormat::detect(None, " {\"openid\":1}"),
            InputFormat::JsonLines
        );
        assert_eq!(
            InputFormat::detect(Some("u.csv"), "openid"),
            InputFormat::Csv
        );
        assert_eq!(InputFormat::detect(None, "oA"), InputFormat::Csv);
    }
}
