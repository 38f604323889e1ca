//! Header-style field blocks as RFC 3464 (`message/delivery-status`) and
//! RFC 5965 (`message/feedback-report`) write them: `Name: value` lines,
//! folded continuation lines, groups separated by blank lines. The MIME
//! structure around them is mail-parser's job; these are the bodies of
//! its parts.

/// One unfolded field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Field {
    /// As written (compare with `eq_ignore_ascii_case`).
    pub name: String,
    /// Unfolded, trimmed, single-line.
    pub value: String,
}

/// Splits `text` into groups of fields. A blank line ends a group; so does
/// a line that is not a field at all (the free text some MTAs put in the
/// report part). Continuation lines (starting with white space) join the
/// field above. At most 1,000 fields are read.
pub(crate) fn groups(text: &str) -> Vec<Vec<Field>> {
    let mut groups: Vec<Vec<Field>> = Vec::new();
    let mut current: Vec<Field> = Vec::new();
    let mut count = 0usize;
    for line in text.lines() {
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() {
            if !current.is_empty() {
                groups.push(std::mem::take(&mut current));
            }
            continue;
        }
        if line.starts_with([' ', '\t']) {
            if let Some(last) = current.last_mut() {
                if last.value.len() < 2000 {
                    if !last.value.is_empty() {
                        last.value.push(' ');
                    }
                    last.value.push_str(line.trim());
                }
            }
            continue;
        }
        match split_field(line) {
            Some((name, value)) => {
                count += 1;
                if count > 1000 {
                    break;
                }
                current.push(Field {
                    name: name.to_string(),
                    value: value.to_string(),
                });
            }
            None => {
                if !current.is_empty() {
                    groups.push(std::mem::take(&mut current));
                }
            }
        }
    }
    if !current.is_empty() {
        groups.push(current);
    }
    groups
}

/// `Name: value` with an RFC 5322 field name (printable ASCII, no colon or
/// space).
fn split_field(line: &str) -> Option<(&str, &str)> {
    let (name, value) = line.split_once(':')?;
    let valid = !name.is_empty()
        && name.len() <= 76
        && name.bytes().all(|b| b.is_ascii_graphic() && b != b':');
    valid.then(|| (name, value.trim()))
}

/// The first value of `name` in `group`.
pub(crate) fn get<'a>(group: &'a [Field], name: &str) -> Option<&'a str> {
    group
        .iter()
        .find(|f| f.name.eq_ignore_ascii_case(name))
        .map(|f| f.value.as_str())
}

/// Every value of `name` in `group`.
pub(crate) fn get_all<'a>(group: &'a [Field], name: &'a str) -> impl Iterator<Item = &'a str> {
    group
        .iter()
        .filter(move |f| f.name.eq_ignore_ascii_case(name))
        .map(|f| f.value.as_str())
}

/// The value after a `type;` prefix (`rfc822; a@b`, `smtp; 550 …`), or the
/// whole value when there is none.
pub(crate) fn typed_value(value: &str) -> &str {
    match value.split_once(';') {
        Some((kind, rest))
            if !kind.is_empty()
                && kind.len() <= 20
                && kind
                    .trim()
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-') =>
        {
            rest.trim()
        }
        _ => value.trim(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_split_on_blank_lines_and_unfold_continuations() {
        let text = "Reporting-MTA: dns; mx.example\r\n\r\nFinal-Recipient: rfc822; a@example.org\r\nAction: failed\r\nDiagnostic-Code: smtp; 550 5.1.1\r\n    user unknown\r\n\r\nFinal-Recipient: rfc822; b@example.org\r\nAction: delayed\r\n";
        let g = groups(text);
        assert_eq!(g.len(), 3);
        assert_eq!(
            get(&g[1], "diagnostic-code"),
            Some("smtp; 550 5.1.1 user unknown")
        );
        assert_eq!(
            typed_value(get(&g[1], "Final-Recipient").unwrap()),
            "a@example.org"
        );
        assert_eq!(get(&g[2], "ACTION"), Some("delayed"));
    }

    #[test]
    fn free_text_ends_a_group_and_is_not_a_field() {
        let g = groups("Feedback-Type: abuse\nthis line is prose\nVersion: 1\n");
        assert_eq!(g.len(), 2);
        assert_eq!(get_all(&g[0], "feedback-type").count(), 1);
        assert_eq!(typed_value("no type here"), "no type here");
        assert_eq!(
            typed_value("this is prose; with a semicolon"),
            "this is prose; with a semicolon"
        );
    }
}
