//! Times as WeChat sends them: Unix seconds (`1575820800`) or `yyyyMMddHHmmss` in Beijing time
//! (UTC+8, `20191209000000`). Kept as given, with the instant worked out where the form is known.

/// Beijing time's offset from UTC, in seconds.
pub const BEIJING_OFFSET_SECONDS: i64 = 8 * 3600;

/// A time field as received.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct WechatTime {
    /// The text as sent.
    pub raw: String,
    /// The instant in Unix seconds, when `raw` is Unix seconds or `yyyyMMddHHmmss` (UTC+8).
    pub unix_seconds: Option<i64>,
}

impl WechatTime {
    /// Reads a time field; `unix_seconds` is `None` when the form is not recognised.
    pub fn parse(raw: &str) -> WechatTime {
        let raw = raw.trim();
        WechatTime {
            raw: raw.to_string(),
            unix_seconds: unix_seconds(raw),
        }
    }
}

/// Unix seconds from either WeChat form: 14 digits are `yyyyMMddHHmmss` in UTC+8; 1 to 12 digits
/// are Unix seconds.
pub fn unix_seconds(raw: &str) -> Option<i64> {
    if raw.is_empty() || !raw.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    match raw.len() {
        14 => parse_beijing(raw),
        1..=12 => raw.parse().ok(),
        _ => None,
    }
}

/// Unix seconds from `yyyyMMddHHmmss` in Beijing time; `None` if any part is out of range.
pub fn parse_beijing(raw: &str) -> Option<i64> {
    if raw.len() != 14 || !raw.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n = |r: std::ops::Range<usize>| raw[r].parse::<i64>().ok();
    let date = (n(0..4)?, n(4..6)?, n(6..8)?);
    let time = (n(8..10)?, n(10..12)?, n(12..14)?);
    Some(civil_seconds(date, time)? - BEIJING_OFFSET_SECONDS)
}

/// Seconds since 1970 of a UTC date and time; `None` when a part is out of range.
fn civil_seconds(
    (year, month, day): (i64, i64, i64),
    (hour, minute, second): (i64, i64, i64),
) -> Option<i64> {
    if !(1..=12).contains(&month)
        || day < 1
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 59
    {
        return None;
    }
    Some(days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second)
}

/// Formats Unix seconds as `yyyyMMddHHmmss` in Beijing time.
pub fn format_beijing(unix_seconds: i64) -> String {
    let local = unix_seconds + BEIJING_OFFSET_SECONDS;
    let days = local.div_euclid(86_400);
    let secs = local.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}{m:02}{d:02}{:02}{:02}{:02}",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

/// Unix seconds from an RFC 3339 time as API v3 sends and takes them
/// (`2023-11-15T12:30:05+08:00`, `…Z`, optional fractional seconds); `None` when it is not one.
pub fn parse_rfc3339(raw: &str) -> Option<i64> {
    let b = raw.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't') {
        return None;
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let n = |r: std::ops::Range<usize>| -> Option<i64> {
        let part = raw.get(r)?;
        part.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| part.parse().ok())?
    };
    let date = (n(0..4)?, n(5..7)?, n(8..10)?);
    let time = (n(11..13)?, n(14..16)?, n(17..19)?);
    let local = civil_seconds(date, time)?;
    let mut rest = &raw[19..];
    if let Some(fraction) = rest.strip_prefix('.') {
        let digits = fraction.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        rest = &fraction[digits..];
    }
    let offset = match rest {
        "Z" | "z" => 0,
        _ => {
            let o = rest.as_bytes();
            if o.len() != 6 || !matches!(o[0], b'+' | b'-') || o[3] != b':' {
                return None;
            }
            let hours: i64 = rest.get(1..3)?.parse().ok()?;
            let minutes: i64 = rest.get(4..6)?.parse().ok()?;
            if hours > 23 || minutes > 59 {
                return None;
            }
            let sign = if o[0] == b'-' { -1 } else { 1 };
            sign * (hours * 3600 + minutes * 60)
        }
    };
    Some(local - offset)
}

/// Formats Unix seconds as RFC 3339 in Beijing time (`2023-11-15T12:30:05+08:00`), the form
/// API v3 uses.
pub fn format_rfc3339_beijing(unix_seconds: i64) -> String {
    let local = unix_seconds + BEIJING_OFFSET_SECONDS;
    let (y, m, d) = civil_from_days(local.div_euclid(86_400));
    let secs = local.rem_euclid(86_400);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}+08:00",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

fn is_leap(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if is_leap(year) => 29,
        _ => 28,
    }
}

// Howard Hinnant's days-from-civil algorithm (proleptic Gregorian, days since 1970-01-01).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_reads_the_forms_v3_sends_and_formats_beijing_time() {
        // The vectors' notification create_time and its Unix seconds.
        assert_eq!(
            parse_rfc3339("2023-11-15T12:30:05+08:00"),
            Some(1_700_022_605)
        );
        assert_eq!(parse_rfc3339("2023-11-15T04:30:05Z"), Some(1_700_022_605));
        assert_eq!(
            parse_rfc3339("2023-11-15T04:30:05.250Z"),
            Some(1_700_022_605)
        );
        assert_eq!(
            parse_rfc3339("2023-11-14T23:30:05-05:00"),
            Some(1_700_022_605)
        );
        assert_eq!(
            format_rfc3339_beijing(1_700_022_605),
            "2023-11-15T12:30:05+08:00"
        );
        for bad in [
            "2023-11-15 12:30:05+08:00",
            "2023-11-15T12:30:05",
            "2023-02-30T00:00:00+08:00",
            "2023-11-15T24:00:00+08:00",
            "2023-11-15T12:30:05+0800",
            "2023-11-15T12:30:05.+08:00",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
    }

    #[test]
    fn real_traffic_pairs_are_the_same_instants() {
        // begin/end/create_time and their *_t twins from a real query_coupon_stock response.
        for (unix, beijing) in [
            (1575820800, "20191209000000"),
            (1577203199, "20191224235959"),
            (1575883248, "20191209172048"),
        ] {
            assert_eq!(parse_beijing(beijing), Some(unix));
            assert_eq!(format_beijing(unix), beijing);
            assert_eq!(unix_seconds(&unix.to_string()), Some(unix));
        }
        assert_eq!(parse_beijing("20190230000000"), None);
        assert_eq!(unix_seconds("2019-12-09"), None);
    }
}
