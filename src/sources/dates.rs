//! Dates as feeds write them, read the way feedparser reads them.
//!
//! The readers are tried in feedparser's order, the first that understands
//! the string wins: W3C-DTF and its partial forms (`2003`, `2003-12`,
//! MSSQL's `2004-07-08 23:56:58 -00:20`), RFC 822 and its variants (one- or
//! two-digit years and days, named and military zones, `GMT+hh:mm`,
//! `Etc/GMT`, missing seconds or time, swapped day and month, long month
//! names, extra commas), ISO 8601 (compact, ordinal, two-digit years),
//! asctime, Perforce, and the Greek, Hungarian and Korean forms feeds from
//! those countries used. A result keeps the offset the string gave, so the
//! day an item belongs to is its own calendar day.
//!
//! Deliberate differences from feedparser: an ISO 8601 string that does not
//! say its year and month (`--12-31`, `---31`, a bare time) is not read,
//! because feedparser fills the gaps from the clock at parse time, which
//! would file an item under whatever day the fetch ran; and a two-digit ISO
//! year is taken in the 2000s (feedparser: the current century).
//! It owns no feed structure and must not do I/O.

use std::sync::LazyLock;

use chrono::{DateTime, Duration, FixedOffset, NaiveDate, NaiveDateTime, TimeZone, Utc};
use regex::Regex;

type Reader = fn(&str) -> Option<DateTime<FixedOffset>>;

/// Reads a feed date in any format feedparser reads, or `None`.
pub fn parse(s: &str) -> Option<DateTime<FixedOffset>> {
    if s.trim().is_empty() {
        return None;
    }
    let readers: [Reader; 9] = [
        w3dtf, rfc822, iso8601, asctime, perforce, hungarian, greek, nate, onblog,
    ];
    readers.iter().find_map(|read| read(s))
}

/// Zone names both the W3C-DTF and RFC 822 readers know, in hours.
fn zone_hours(name: &str) -> Option<i64> {
    Some(match name {
        "ut" | "gmt" | "z" => 0,
        "adt" => -3,
        "ast" | "at" | "edt" => -4,
        "est" | "et" | "cdt" => -5,
        "cst" | "ct" | "mdt" => -6,
        "mst" | "mt" | "pdt" => -7,
        "pst" | "pt" => -8,
        "a" => -1,
        "n" => 1,
        "m" => -12,
        "y" => 12,
        _ => return None,
    })
}

fn month_number(name: &str) -> Option<u32> {
    let three: String = name.chars().take(3).collect();
    let m = [
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ]
    .iter()
    .position(|m| *m == three)?;
    Some(m as u32 + 1)
}

/// An integer as Python's `int()` reads a string: optional sign, ASCII
/// digits, single underscores between digits.
fn int(s: &str) -> Option<i64> {
    let s = s.trim();
    let (neg, digits) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    if digits.is_empty()
        || digits.starts_with('_')
        || digits.ends_with('_')
        || digits.contains("__")
        || !digits.chars().all(|c| c.is_ascii_digit() || c == '_')
    {
        return None;
    }
    let v: i64 = digits.replace('_', "").parse().ok()?;
    Some(if neg { -v } else { v })
}

/// `int(float(s))`: the whole part of a decimal number.
fn int_of_float(s: &str) -> Option<i64> {
    let s = s.trim();
    if s.is_empty()
        || !s
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '.' | '+' | '-' | 'e' | 'E' | '_'))
    {
        return None;
    }
    let f: f64 = s.replace('_', "").parse().ok()?;
    (f.is_finite() && f.abs() < 1e15).then(|| f.trunc() as i64)
}

/// A calendar date-time, validated as Python's `datetime` does, then moved
/// by `offset_minutes` to UTC; the result keeps the offset when it is a real
/// one (under a day).
fn instant(
    (year, month, day): (i64, i64, i64),
    (hour, minute, second): (i64, i64, i64),
    offset_minutes: i64,
) -> Option<DateTime<FixedOffset>> {
    if !(1..=9999).contains(&year) {
        return None;
    }
    let date = NaiveDate::from_ymd_opt(
        i32::try_from(year).ok()?,
        u32::try_from(month).ok()?,
        u32::try_from(day).ok()?,
    )?;
    let naive = date.and_hms_opt(
        u32::try_from(hour).ok()?,
        u32::try_from(minute).ok()?,
        u32::try_from(second).ok()?,
    )?;
    let utc = naive.checked_sub_signed(Duration::try_minutes(offset_minutes)?)?;
    if !(1..=9999).contains(&chrono::Datelike::year(&utc)) {
        return None;
    }
    let zone = i32::try_from(offset_minutes * 60)
        .ok()
        .and_then(FixedOffset::east_opt)
        .unwrap_or(FixedOffset::east_opt(0)?);
    Some(zone.from_utc_datetime(&utc))
}

/// W3C-DTF (`2003-12-31T10:14:55Z`, `2003-12`, `2003`) and the MSSQL form
/// with spaces for `T` and before the zone.
fn w3dtf(s: &str) -> Option<DateTime<FixedOffset>> {
    let lower = s.to_lowercase();
    let mut parts: Vec<String> = lower.split('t').map(str::to_string).collect();
    if parts.len() == 1 {
        parts = parts[0].split_whitespace().map(str::to_string).collect();
        if parts.is_empty() {
            return None;
        }
        if parts.len() == 1 {
            parts.push("00:00:00z".into());
        }
    } else if parts.len() > 2 {
        return None;
    }
    let mut date: Vec<&str> = parts[0].splitn(3, '-').collect();
    if date[0].chars().count() != 4 {
        return None;
    }
    while date.len() < 3 {
        date.push("1");
    }
    let (year, month, day) = (int(date[0])?, int(date[1])?, int(date[2])?);
    if let Some(t) = parts[1].strip_suffix('z') {
        parts[1] = t.to_string();
        parts.push("z".into());
    }
    let time_part = parts[1].clone();
    let loc = time_part
        .find('-')
        .or_else(|| time_part.find('+'))
        .unwrap_or(time_part.len());
    parts.push(time_part[loc..].to_string());
    parts[1] = time_part[..loc].to_string();
    let mut time: Vec<&str> = parts[1].splitn(3, ':').collect();
    while time.len() < 3 {
        time.push("0");
    }
    let zone = parts[2].as_str();
    let offset = if zone.starts_with(['-', '+']) {
        let hours = int(zone.get(1..3)?)?;
        let minutes = int(zone.get(4..)?)?;
        let sign = if zone.starts_with('-') { -1 } else { 1 };
        sign * (hours * 60 + minutes)
    } else {
        zone_hours(zone).unwrap_or(0) * 60
    };
    let (hour, minute, second) = (
        int_of_float(time[0])?,
        int_of_float(time[1])?,
        int_of_float(time[2])?,
    );
    instant((year, month, day), (hour, minute, second), offset)
}

/// RFC 822 with the variants feeds use.
fn rfc822(s: &str) -> Option<DateTime<FixedOffset>> {
    let lower = s.to_lowercase();
    let mut parts: Vec<String> = lower.split_whitespace().map(str::to_string).collect();
    if parts.is_empty() {
        return None;
    }
    if parts.len() < 5 {
        parts.push("00:00:00".into());
        parts.push("0000".into());
    }
    let first3: String = parts[0].chars().take(3).collect();
    if ["mon", "tue", "wed", "thu", "fri", "sat", "sun"].contains(&first3.as_str()) {
        // `Fri,24 Nov 2023 ...`: a comma with no space after the day name.
        if parts[0].contains(',') && !parts[0].ends_with(',') {
            let after = parts[0].rsplit(',').next().unwrap_or("").to_string();
            parts.insert(1, after);
        }
        parts.remove(0);
    }
    if parts.len() < 5 {
        return None;
    }
    let (day, month) = match int(&parts[0]) {
        Some(day) => (day, month_number(&parts[1])?),
        None => {
            // `Thu Aug 30 2012 ...`: month and day swapped.
            let month = month_number(&parts[0])?;
            (int(&parts[1])?, month)
        }
    };
    let mut year = int(&parts[2])?;
    if parts[2].chars().count() <= 2 {
        year += if year < 90 { 2000 } else { 1900 };
    }
    let mut time: Vec<&str> = parts[3].split(':').collect();
    if time.len() > 3 {
        return None;
    }
    while time.len() < 3 {
        time.push("0");
    }
    let (hour, minute, second) = (int(time[0])?, int(time[1])?, int(time[2])?);
    let mut zone = parts[4].clone();
    if let Some(z) = zone.strip_prefix("etc/") {
        zone = z.to_string();
    }
    if let Some(rest) = zone.strip_prefix("gmt") {
        let joined: String = rest.split(':').collect();
        zone = if joined.is_empty() {
            "gmt".into()
        } else {
            joined
        };
    }
    let offset = if zone.starts_with(['-', '+']) {
        let hours = int(zone.get(1..3)?)?;
        let minutes = if zone.contains(':') {
            int(zone.get(4..)?)?
        } else {
            int(zone.get(3..)?)?
        };
        let sign = if zone.starts_with('-') { -1 } else { 1 };
        sign * (hours * 60 + minutes)
    } else {
        match zone.as_str() {
            "met" => 60,
            "mest" => 120,
            other => zone_hours(other).unwrap_or(0) * 60,
        }
    };
    instant((year, month as i64, day), (hour, minute, second), offset)
}

/// ISO 8601 templates, most specific first; each may be followed by a time.
static ISO8601: LazyLock<Vec<Regex>> = LazyLock::new(|| {
    let time = r"(?:T?(?P<hour>[0-9]{2}):(?P<minute>[0-9]{2})(?::(?P<second>[0-9]{2}))?(?:\.(?P<frac>[0-9]+))?(?P<tz>[+-](?P<tzhour>[0-9]{2})(?::(?P<tzmin>[0-9]{2}))?|Z)?)?";
    [
        r"(?P<year>[0-9]{4})-?(?P<month>[01][0-9])-?(?P<day>[0123][0-9])",
        r"(?P<year>[0-9]{4})-0(?P<month>[01][0-9])?-?(?P<day>[0123][0-9])",
        r"(?P<year>[0-9]{4})-(?P<month>[01][0-9])",
        r"(?P<year>[0-9]{4})-?(?P<ordinal>[0123][0-9][0-9])",
        r"(?P<year>[0-9]{2})-?(?P<month>[01][0-9])-?(?P<day>[0123][0-9])",
        r"(?P<year>[0-9]{2})-?(?P<ordinal>[0123][0-9][0-9])",
        r"(?P<year>[0-9]{4})",
        r"-(?P<year>[0-9]{2})-?(?P<month>[01][0-9])",
        r"-(?P<ordinal>[0123][0-9][0-9])",
        r"-(?P<year>[0-9]{2})",
        r"--(?P<month>[01][0-9])-?(?P<day>[0123][0-9])",
        r"--(?P<month>[01][0-9])",
        r"---(?P<day>[0123][0-9])",
        r"(?P<century>[0-9]{2}$)",
        r"",
    ]
    .iter()
    .map(|t| Regex::new(&format!("^{t}{time}")).expect("valid regex"))
    .collect()
});

fn iso8601(s: &str) -> Option<DateTime<FixedOffset>> {
    let caps = ISO8601.iter().find_map(|re| re.captures(s))?;
    if caps.get(0)?.end() == 0 {
        return None;
    }
    let num = |name: &str| caps.name(name).and_then(|m| int(m.as_str()));
    // Without a year, or without a month or day of the year, feedparser
    // takes the missing parts from the clock: not a date of the item.
    let year_text = caps.name("year")?.as_str();
    let mut year = int(year_text)?;
    if year_text.len() == 2 {
        year += 2000;
    }
    let ordinal = num("ordinal").filter(|o| *o > 0);
    let (month, day) = match (num("month"), ordinal) {
        (Some(m), _) if caps.name("month").is_some() => (m, num("day").unwrap_or(1)),
        (_, Some(o)) => (1, o),
        _ => return None,
    };
    let mut hour = num("hour").unwrap_or(0);
    let mut minute = num("minute").unwrap_or(0);
    let second = num("second").unwrap_or(0);
    match caps.name("tz").map(|m| m.as_str()) {
        Some(tz) if tz.starts_with('-') => {
            hour += num("tzhour").unwrap_or(0);
            minute += num("tzmin").unwrap_or(0);
        }
        Some(tz) if tz.starts_with('+') => {
            hour -= num("tzhour").unwrap_or(0);
            minute -= num("tzmin").unwrap_or(0);
        }
        _ => {}
    }
    // Out-of-range fields roll over, as C's mktime() normalises them.
    let months = year * 12 + month - 1;
    let first = NaiveDate::from_ymd_opt(
        i32::try_from(months.div_euclid(12)).ok()?,
        u32::try_from(months.rem_euclid(12) + 1).ok()?,
        1,
    )?;
    let naive: NaiveDateTime = first.and_hms_opt(0, 0, 0)?
        + Duration::try_days(day - 1)?
        + Duration::try_hours(hour)?
        + Duration::try_minutes(minute)?
        + Duration::try_seconds(second)?;
    if !(1..=9999).contains(&chrono::Datelike::year(&naive)) {
        return None;
    }
    Some(naive.and_utc().fixed_offset())
}

/// `Sun Jan  4 16:29:06 2004`, optionally with a zone before the year.
fn asctime(s: &str) -> Option<DateTime<FixedOffset>> {
    let mut parts: Vec<&str> = s.split_whitespace().collect();
    if parts.len() == 5 {
        parts.insert(4, "+0000");
    }
    if parts.len() != 6 {
        return None;
    }
    rfc822(&[parts[0], parts[2], parts[1], parts[5], parts[3], parts[4]].join(" "))
}

static PERFORCE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(\w{0,3}), ([0-9]{0,4})/([0-9]{0,2})/([0-9]{2}) ([0-9]{0,2}):([0-9]{2}):([0-9]{2}) (\w{0,3})")
        .expect("valid regex")
});

/// `Fri, 2006/09/15 08:19:53 EDT`.
fn perforce(s: &str) -> Option<DateTime<FixedOffset>> {
    let c = PERFORCE.captures(s)?;
    let n = |i: usize| int(&c[i]);
    let offset = match c[8].to_ascii_uppercase().as_str() {
        "UT" | "UTC" | "GMT" | "Z" | "" => 0,
        "AST" => -4 * 60,
        "ADT" => -3 * 60,
        "EST" => -5 * 60,
        "EDT" => -4 * 60,
        "CST" => -6 * 60,
        "CDT" => -5 * 60,
        "MST" => -7 * 60,
        "MDT" => -6 * 60,
        "PST" => -8 * 60,
        "PDT" => -7 * 60,
        _ => 0,
    };
    let month = n(3)?;
    if !(1..=12).contains(&month) {
        return None;
    }
    instant((n(2)?, month, n(4)?), (n(5)?, n(6)?, n(7)?), offset)
}

static HUNGARIAN: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"^([0-9]{4})-([^-]+)-([0-9]{0,2})T([0-9]{0,2}):([0-9]{2})([+-]([0-9]{0,2}:[0-9]{2}))",
    )
    .expect("valid regex")
});

/// `2004-július-13T9:15-05:00`.
fn hungarian(s: &str) -> Option<DateTime<FixedOffset>> {
    let c = HUNGARIAN.captures(s)?;
    let month = match &c[2] {
        "január" => "01",
        "februári" => "02",
        "március" => "03",
        "április" => "04",
        "máujus" => "05",
        "június" => "06",
        "július" => "07",
        "augusztus" => "08",
        "szeptember" => "09",
        "október" => "10",
        "november" => "11",
        "december" => "12",
        _ => return None,
    };
    w3dtf(&format!(
        "{}-{month}-{:0>2}T{:0>2}:{}{}",
        &c[1], &c[3], &c[4], &c[5], &c[6]
    ))
}

static GREEK: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"^([^,]+),\s+([0-9]{2})\s+(\S+)\s+([0-9]{4})\s+([0-9]{2}):([0-9]{2}):([0-9]{2})\s+(\S+)",
    )
    .expect("valid regex")
});

/// `Κυρ, 11 Ιούλ 2004 12:00:00 EST`.
fn greek(s: &str) -> Option<DateTime<FixedOffset>> {
    let c = GREEK.captures(s)?;
    let weekday = match &c[1] {
        "Κυρ" => "Sun",
        "Δευ" => "Mon",
        "Τρι" => "Tue",
        "Τετ" => "Wed",
        "Πεμ" => "Thu",
        "Παρ" => "Fri",
        "Σαβ" => "Sat",
        _ => return None,
    };
    let month = match &c[3] {
        "Ιαν" => "Jan",
        "Φεβ" => "Feb",
        "Μάώ" | "Μαώ" => "Mar",
        "Απρ" => "Apr",
        "Μάι" | "Μαϊ" | "Μαι" => "May",
        "Ιούν" | "Ιον" => "Jun",
        "Ιούλ" | "Ιολ" => "Jul",
        "Αύγ" | "Αυγ" => "Aug",
        "Σεπ" => "Sep",
        "Οκτ" => "Oct",
        "Νοέ" | "Νοε" => "Nov",
        "Δεκ" => "Dec",
        _ => return None,
    };
    rfc822(&format!(
        "{weekday}, {} {month} {} {}:{}:{} {}",
        &c[2], &c[4], &c[5], &c[6], &c[7], &c[8]
    ))
}

static NATE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"^([0-9]{4})-([0-9]{2})-([0-9]{2})\s+(오전|오후)\s+([0-9]{0,2}):([0-9]{0,2}):([0-9]{0,2})",
    )
    .expect("valid regex")
});

/// `2004-05-25 오후 11:23:17` (Korea, +09:00).
fn nate(s: &str) -> Option<DateTime<FixedOffset>> {
    let c = NATE.captures(s)?;
    let mut hour = int(&c[5])?;
    if &c[4] == "오후" {
        hour += 12;
    }
    w3dtf(&format!(
        "{}-{}-{}T{hour:02}:{}:{}+09:00",
        &c[1], &c[2], &c[3], &c[6], &c[7]
    ))
}

static ONBLOG: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^([0-9]{4})년\s+([0-9]{2})월\s+([0-9]{2})일\s+([0-9]{2}):([0-9]{2}):([0-9]{2})")
        .expect("valid regex")
});

/// `2004년 05월 28일  01:31:15` (Korea, +09:00).
fn onblog(s: &str) -> Option<DateTime<FixedOffset>> {
    let c = ONBLOG.captures(s)?;
    w3dtf(&format!(
        "{}-{}-{}T{}:{}:{}+09:00",
        &c[1], &c[2], &c[3], &c[4], &c[5], &c[6]
    ))
}

/// The UTC instant of a parsed date, for storage.
pub fn to_utc(d: DateTime<FixedOffset>) -> DateTime<Utc> {
    d.with_timezone(&Utc)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> Option<String> {
        parse(s).map(|d| {
            d.with_timezone(&Utc)
                .format("%Y-%m-%d %H:%M:%S")
                .to_string()
        })
    }

    #[test]
    fn rfc_822_variants_are_read() {
        let cases = [
            ("Thu, 01 Jan 2004 19:48:21 GMT", "2004-01-01 19:48:21"),
            ("Thu, 01 Jan 04 19:48:21 GMT", "2004-01-01 19:48:21"),
            ("Thu,  5 Apr 2012 10:00:00 GMT", "2012-04-05 10:00:00"),
            ("Wed, 19 Aug 2009 18:28:00 Etc/GMT", "2009-08-19 18:28:00"),
            ("Wed, 19 Feb 2012 22:40:00 GMT-01:01", "2012-02-19 23:41:00"),
            ("Wed, 19 Feb 2012 22:40:00 -01:01", "2012-02-19 23:41:00"),
            ("Mon, 13 Feb, 2012 06:28:00 UTC", "2012-02-13 06:28:00"),
            ("Thu, 01 Jan 2004 00:00 GMT", "2004-01-01 00:00:00"),
            ("Thu, 01 Jan 2004", "2004-01-01 00:00:00"),
            ("Mon, 26 January 2004 16:31:00 ET", "2004-01-26 21:31:00"),
            ("Mon, 26 January 2004 16:31:00 PT", "2004-01-27 00:31:00"),
            ("Thu Aug 30 2012 17:26:16 +0200", "2012-08-30 15:26:16"),
            ("Fri,24 Nov 2023 18:28:36 -0000", "2023-11-24 18:28:36"),
            ("Thu, 30 Apr 2015 08:57:00 MEST", "2015-04-30 06:57:00"),
            ("Sun, 16 Dec 2012 11:47:32 +00:00", "2012-12-16 11:47:32"),
        ];
        for (s, want) in cases {
            assert_eq!(utc(s).as_deref(), Some(want), "{s}");
        }
        for bad in [
            "Sun, 16 Dec 2012 1:2:3:4 GMT",
            "Sun, 16 zzz 2012 11:47:32 GMT",
            "Sun, 16 Dec 2012 11:47:32 +zz:00",
            "Sun, 99 Jun 2009 12:00:00 GMT",
            "Sun, 31 Dec 9999 23:59:59 -9999",
        ] {
            assert_eq!(utc(bad), None, "{bad}");
        }
    }

    #[test]
    fn w3c_dtf_and_iso_8601_forms_are_read() {
        let cases = [
            ("2003-12-31T10:14:55Z", "2003-12-31 10:14:55"),
            ("2003-12-31T10:14:55-08:00", "2003-12-31 18:14:55"),
            ("2007-04-23T23:25:47.538+10:00", "2007-04-23 13:25:47"),
            ("2003-12", "2003-12-01 00:00:00"),
            ("2003", "2003-01-01 00:00:00"),
            ("2004-07-08 23:56:58 -00:20", "2004-07-09 00:16:58"),
            ("2004-07-08 23:56:58.0", "2004-07-08 23:56:58"),
            ("-0312", "2003-12-01 00:00:00"),
            ("031231", "2003-12-31 00:00:00"),
            ("03335", "2003-12-01 00:00:00"),
            ("2003-012-31T10:14:55+00:00", "2003-12-31 10:14:55"),
            ("20040105", "2004-01-05 00:00:00"),
        ];
        for (s, want) in cases {
            assert_eq!(utc(s).as_deref(), Some(want), "{s}");
        }
        for bad in ["--12-31", "---31", "T10:14"] {
            assert_eq!(utc(bad), None, "{bad}");
        }
        // W3C-DTF refuses hour 25; ISO 8601 then rolls it over, as mktime().
        assert_eq!(w3dtf("2003-12-31T25:14:55Z"), None);
        assert_eq!(
            utc("2003-12-31T25:14:55Z").as_deref(),
            Some("2004-01-01 01:14:55")
        );
    }

    #[test]
    fn asctime_perforce_and_national_forms_are_read() {
        let cases = [
            ("Sun Jan  4 16:29:06 2004", "2004-01-04 16:29:06"),
            ("Sun Jul 15 01:16:00 +0000 2012", "2012-07-15 01:16:00"),
            ("Fri, 2006/09/15 08:19:53 EDT", "2006-09-15 12:19:53"),
            ("Κυρ, 11 Ιούλ 2004 12:00:00 EST", "2004-07-11 17:00:00"),
            ("2004-július-13T9:15-05:00", "2004-07-13 14:15:00"),
            ("2004년 05월 28일  01:31:15", "2004-05-27 16:31:15"),
        ];
        for (s, want) in cases {
            assert_eq!(utc(s).as_deref(), Some(want), "{s}");
        }
        // The ISO 8601 reader comes first and takes the date part, as in
        // feedparser; the Korean reader alone reads the time.
        let nate_form = "2004-05-25 오후 11:23:17";
        assert_eq!(utc(nate_form).as_deref(), Some("2004-05-25 00:00:00"));
        let read = nate(nate_form).unwrap().with_timezone(&Utc);
        assert_eq!(read.to_rfc3339(), "2004-05-25T14:23:17+00:00");
    }

    #[test]
    fn the_offset_of_the_string_is_kept_for_the_day() {
        let d = parse("Mon, 27 Apr 2026 23:30:00 -0400").unwrap();
        assert_eq!(d.date_naive().to_string(), "2026-04-27");
        assert_eq!(to_utc(d).date_naive().to_string(), "2026-04-28");
    }

    proptest::proptest! {
        #[test]
        fn no_string_panics_a_reader(s in "\\PC{0,40}") {
            let _ = parse(&s);
        }

        #[test]
        fn date_like_strings_never_panic(s in "[0-9TZ:+ ,/-]{0,30}") {
            let _ = parse(&s);
        }
    }
}
