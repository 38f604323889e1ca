//! Characters that change how text looks, or in which order it reads,
//! without showing themselves: control characters (C0, C1, DEL), format
//! characters (bidi overrides and isolates, zero-width characters, the byte
//! order mark, the soft hyphen, ...) and the Unicode line and paragraph
//! separators.
//!
//! This module owns the one definition of them and the three treatments
//! paperboy gives them: *refuse* (text a person types, such as a topic),
//! *strip* (text from a source, such as a paper title) and *escape* (stored
//! text the command line prints). It does not decide which treatment applies
//! where: the edges that take the text in, or print it, do.

use std::borrow::Cow;
use std::fmt::Write as _;

use unicode_properties::{GeneralCategory, UnicodeGeneralCategory as _};

/// Whether `c` is invisible in the sense of this module: a control
/// character (general category Cc, which includes tab, line feed, carriage
/// return, vertical tab, form feed and U+0085 NEXT LINE), a format character
/// (Cf: U+202A–U+202E, U+2066–U+2069, U+200B–U+200F, U+2060–U+2064, U+FEFF,
/// U+00AD, ...) or a line or paragraph separator (U+2028, U+2029).
pub fn is_invisible(c: char) -> bool {
    c.is_control()
        || matches!(
            c.general_category(),
            GeneralCategory::Format
                | GeneralCategory::LineSeparator
                | GeneralCategory::ParagraphSeparator
        )
}

/// The first invisible character of `s` that is not in `allowed`, with its
/// 1-based character column.
pub fn find_invisible(s: &str, allowed: &[char]) -> Option<(usize, char)> {
    s.chars()
        .enumerate()
        .find(|&(_, c)| is_invisible(c) && !allowed.contains(&c))
        .map(|(i, c)| (i + 1, c))
}

/// A short description of an invisible character for an error message,
/// e.g. "a right-to-left override (U+202E)".
pub fn describe(c: char) -> String {
    let name = match c {
        '\t' => "a tab",
        '\n' => "a line feed",
        '\r' => "a carriage return",
        '\u{b}' => "a vertical tab",
        '\u{c}' => "a form feed",
        '\u{1b}' => "an escape character",
        '\u{85}' => "a next-line character",
        '\u{ad}' => "a soft hyphen",
        '\u{200b}' => "a zero-width space",
        '\u{200c}' => "a zero-width non-joiner",
        '\u{200d}' => "a zero-width joiner",
        '\u{200e}' => "a left-to-right mark",
        '\u{200f}' => "a right-to-left mark",
        '\u{2028}' => "a line separator",
        '\u{2029}' => "a paragraph separator",
        '\u{202a}' => "a left-to-right embedding",
        '\u{202b}' => "a right-to-left embedding",
        '\u{202c}' => "a pop-directional-formatting character",
        '\u{202d}' => "a left-to-right override",
        '\u{202e}' => "a right-to-left override",
        '\u{2060}' => "a word joiner",
        '\u{2066}' => "a left-to-right isolate",
        '\u{2067}' => "a right-to-left isolate",
        '\u{2068}' => "a first-strong isolate",
        '\u{2069}' => "a pop-directional-isolate character",
        '\u{feff}' => "a zero-width no-break space (byte order mark)",
        c if c.is_control() => "a control character",
        _ => "an invisible formatting character",
    };
    format!("{name} (U+{:04X})", u32::from(c))
}

/// `s` without its invisible characters, line feeds excepted (they are the
/// paragraph breaks of an abstract). Borrowed when there is nothing to drop,
/// which is almost always.
pub fn strip_invisible(s: &str) -> Cow<'_, str> {
    if !s.chars().any(|c| c != '\n' && is_invisible(c)) {
        return Cow::Borrowed(s);
    }
    Cow::Owned(
        s.chars()
            .filter(|&c| c == '\n' || !is_invisible(c))
            .collect(),
    )
}

/// `s` with every invisible character written as an escape (`\t`, `\n`,
/// `\r`, else `\u{202e}`), for printing stored text on a terminal: a
/// carriage return cannot overwrite what the operator reads, a bidi override
/// cannot reorder it, and a tab cannot forge a column.
pub fn escape_invisible(s: &str) -> Cow<'_, str> {
    if !s.chars().any(is_invisible) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c if is_invisible(c) => {
                let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// A line of JSON with every invisible character inside its strings written
/// as a `\uXXXX` escape (a surrogate pair above U+FFFF), so the line prints
/// safely and still parses to the same value. serde_json escapes only
/// U+0000–U+001F; JSON's own syntax is printable ASCII, so every invisible
/// character of a serialised line is inside a string.
pub fn escape_invisible_json(json: &str) -> Cow<'_, str> {
    if !json.chars().any(is_invisible) {
        return Cow::Borrowed(json);
    }
    let mut out = String::with_capacity(json.len() + 8);
    for c in json.chars() {
        if is_invisible(c) {
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                let _ = write!(out, "\\u{unit:04x}");
            }
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_bidi_and_zero_width_characters_are_invisible_and_letters_are_not() {
        for c in [
            '\r',
            '\u{b}',
            '\u{c}',
            '\u{85}',
            '\u{1b}',
            '\u{7f}',
            '\u{202a}',
            '\u{202e}',
            '\u{2066}',
            '\u{2069}',
            '\u{200b}',
            '\u{200c}',
            '\u{200d}',
            '\u{2060}',
            '\u{feff}',
            '\u{ad}',
            '\u{2028}',
            '\u{2029}',
            '\u{e0001}',
        ] {
            assert!(is_invisible(c), "U+{:04X}", u32::from(c));
        }
        for c in ['a', 'é', 'ß', 'ツ', 'א', ' ', '\u{a0}', '\u{301}', '-', '"'] {
            assert!(!is_invisible(c), "U+{:04X}", u32::from(c));
        }
    }

    #[test]
    fn stripping_keeps_line_feeds_and_everything_visible() {
        assert_eq!(
            strip_invisible("diff\u{200b}usion \u{202e}txt.exe\u{202c}\nnext"),
            "diffusion txt.exe\nnext"
        );
        assert!(matches!(strip_invisible("plain"), Cow::Borrowed(_)));
    }

    #[test]
    fn escaping_names_every_invisible_character_and_keeps_the_rest() {
        assert_eq!(
            escape_invisible("a\rb\tc\u{202e}d\u{85}é"),
            "a\\rb\\tc\\u{202e}d\\u{85}é"
        );
        assert!(matches!(escape_invisible("ti:diffusion"), Cow::Borrowed(_)));
    }

    #[test]
    fn escaped_json_parses_back_to_the_same_value() {
        let value = serde_json::json!({"topics": ["a\u{202e}b\u{85}c\u{7f}\u{e0041}\r"]});
        let line = serde_json::to_string(&value).unwrap();
        let escaped = escape_invisible_json(&line);
        assert!(!escaped.chars().any(is_invisible), "{escaped}");
        let back: serde_json::Value = serde_json::from_str(&escaped).unwrap();
        assert_eq!(back, value);
    }

    #[test]
    fn descriptions_name_the_character_and_its_code_point() {
        assert_eq!(describe('\r'), "a carriage return (U+000D)");
        assert_eq!(describe('\u{202e}'), "a right-to-left override (U+202E)");
        assert_eq!(
            describe('\u{e0001}'),
            "an invisible formatting character (U+E0001)"
        );
        assert_eq!(find_invisible("ab\u{200b}", &[]), Some((3, '\u{200b}')));
        assert_eq!(find_invisible("a\tb", &['\t']), None);
    }
}
