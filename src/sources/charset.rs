//! Which character encoding an XML payload is in, and decoding it to UTF-8.
//!
//! The order is the one the XML specification (appendix F) and RFC 7303
//! (§3, §8) give: a byte order mark wins; then the `charset` parameter of the
//! HTTP Content-Type; then the encoding the XML declaration names (read in
//! the byte family the first four bytes show, so UTF-16 and UTF-32 without a
//! mark are found too); then UTF-8. Decoding is done by `encoding_rs`, except
//! UTF-32, which the WHATWG Encoding Standard (and so `encoding_rs`) leaves
//! out and which is decoded here.
//!
//! A document whose bytes are not valid in the encoding chosen by a label
//! (declared or defaulted) is read as feedparser reads it: as UTF-8 when it
//! is valid UTF-8, else as Windows-1252, so one stray byte does not cost a
//! whole feed. It owns no XML parsing and must not look past the declaration.

use std::borrow::Cow;

use encoding_rs::{Encoding, UTF_16BE, UTF_16LE, UTF_8, WINDOWS_1252};

/// The encoding a document was read in, for messages and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Charset {
    Utf32Le,
    Utf32Be,
    /// Anything `encoding_rs` knows (UTF-8, UTF-16, EUC-KR, ISO-8859-7, ...).
    Web(&'static Encoding),
}

impl Charset {
    /// The encoding's canonical name.
    pub fn name(self) -> &'static str {
        match self {
            Charset::Utf32Le => "UTF-32LE",
            Charset::Utf32Be => "UTF-32BE",
            Charset::Web(e) => e.name(),
        }
    }
}

/// Where the chosen encoding came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Origin {
    Bom,
    Http,
    Declared,
    Default,
}

/// The `charset` parameter of a Content-Type header value, unquoted.
pub fn charset_of_content_type(content_type: &str) -> Option<String> {
    content_type.split(';').skip(1).find_map(|param| {
        let (key, value) = param.split_once('=')?;
        if !key.trim().eq_ignore_ascii_case("charset") {
            return None;
        }
        let value = value.trim().trim_matches(|c| c == '"' || c == '\'').trim();
        (!value.is_empty()).then(|| value.to_string())
    })
}

/// Decodes `body` to text, choosing the encoding as the module says, with
/// any byte order mark removed.
pub fn decode(body: &[u8], http_charset: Option<&str>) -> (String, Charset) {
    let (charset, origin, skip) = detect(body, http_charset);
    let bytes = &body[skip..];
    // `us-ascii` is Windows-1252 to the Encoding Standard; a document that
    // says ASCII and is not is read as the rest of its kind (feedparser too).
    if origin != Origin::Bom && says_ascii(body, http_charset) && !bytes.is_ascii() {
        return fallback(bytes);
    }
    let text = match charset {
        Charset::Utf32Le => utf32(bytes, u32::from_le_bytes),
        Charset::Utf32Be => utf32(bytes, u32::from_be_bytes),
        Charset::Web(encoding) => {
            let (text, had_errors) = encoding.decode_without_bom_handling(bytes);
            // A label that does not fit the bytes: read what is there rather
            // than lose the feed. A mark or a UTF-16 family is kept as found.
            let guessable = matches!(origin, Origin::Declared | Origin::Default | Origin::Http)
                && encoding != UTF_16LE
                && encoding != UTF_16BE;
            if had_errors && guessable {
                return fallback(bytes);
            }
            text.into_owned()
        }
    };
    let text = match text.strip_prefix('\u{feff}') {
        Some(rest) => rest.to_string(),
        None => text,
    };
    (text, charset)
}

fn fallback(bytes: &[u8]) -> (String, Charset) {
    match std::str::from_utf8(bytes) {
        Ok(s) => (s.to_string(), Charset::Web(UTF_8)),
        Err(_) => {
            let (text, _) = WINDOWS_1252.decode_without_bom_handling(bytes);
            (text.into_owned(), Charset::Web(WINDOWS_1252))
        }
    }
}

fn detect(body: &[u8], http_charset: Option<&str>) -> (Charset, Origin, usize) {
    let head = &body[..body.len().min(4)];
    match head {
        [0x00, 0x00, 0xFE, 0xFF] => return (Charset::Utf32Be, Origin::Bom, 4),
        [0xFF, 0xFE, 0x00, 0x00] => return (Charset::Utf32Le, Origin::Bom, 4),
        [0xEF, 0xBB, 0xBF, ..] => return (Charset::Web(UTF_8), Origin::Bom, 3),
        [0xFE, 0xFF, ..] => return (Charset::Web(UTF_16BE), Origin::Bom, 2),
        [0xFF, 0xFE, ..] => return (Charset::Web(UTF_16LE), Origin::Bom, 2),
        _ => {}
    }
    if let Some(charset) = http_charset.and_then(charset_for_label) {
        return (charset, Origin::Http, 0);
    }
    // Without a mark, the first four bytes tell the family ('<?' or '<').
    let family = match head {
        [0x00, 0x00, 0x00, 0x3C] => Some(Charset::Utf32Be),
        [0x3C, 0x00, 0x00, 0x00] => Some(Charset::Utf32Le),
        [0x00, 0x3C, 0x00, _] => Some(Charset::Web(UTF_16BE)),
        [0x3C, 0x00, _, 0x00] => Some(Charset::Web(UTF_16LE)),
        _ => None,
    };
    if let Some(family) = family {
        // The declaration can only name an encoding of the same family.
        return (family, Origin::Declared, 0);
    }
    match declared_encoding(body).and_then(|label| charset_for_label(&label)) {
        // A declaration read in ASCII cannot truthfully name UTF-16 or -32.
        Some(Charset::Web(e)) if e != UTF_16LE && e != UTF_16BE => {
            (Charset::Web(e), Origin::Declared, 0)
        }
        _ => (Charset::Web(UTF_8), Origin::Default, 0),
    }
}

fn says_ascii(body: &[u8], http_charset: Option<&str>) -> bool {
    let label = match http_charset.filter(|l| charset_for_label(l).is_some()) {
        Some(l) => l.to_string(),
        None => declared_encoding(body).unwrap_or_default(),
    };
    matches!(
        label.trim().to_ascii_lowercase().as_str(),
        "us-ascii" | "ascii" | "ansi_x3.4-1968" | "iso646-us"
    )
}

/// An encoding label as HTTP or an XML declaration writes it.
fn charset_for_label(label: &str) -> Option<Charset> {
    let lower = label.trim().to_ascii_lowercase();
    match lower.as_str() {
        "utf-32" | "utf32" | "ucs-4" | "utf-32be" => return Some(Charset::Utf32Be),
        "utf-32le" => return Some(Charset::Utf32Le),
        _ => {}
    }
    let encoding = Encoding::for_label(lower.as_bytes())?;
    // The Encoding Standard maps some labels to "replacement" (a decoder
    // that yields only U+FFFD); that is no help for a feed.
    (encoding != encoding_rs::REPLACEMENT).then_some(Charset::Web(encoding))
}

/// The `encoding` of an XML declaration at the very start of an
/// ASCII-compatible document.
fn declared_encoding(body: &[u8]) -> Option<String> {
    let head = &body[..body.len().min(512)];
    if !head.starts_with(b"<?xml") {
        return None;
    }
    let end = head.windows(2).position(|w| w == b"?>")?;
    let decl = std::str::from_utf8(&head[..end]).ok()?;
    let at = decl.find("encoding")?;
    let rest = decl[at + "encoding".len()..]
        .trim_start()
        .strip_prefix('=')?;
    let rest = rest.trim_start();
    let quote = rest.chars().next().filter(|c| *c == '"' || *c == '\'')?;
    let value = &rest[1..];
    let value = &value[..value.find(quote)?];
    Some(value.trim().to_string())
}

fn utf32(bytes: &[u8], word: fn([u8; 4]) -> u32) -> String {
    bytes
        .chunks(4)
        .map(|c| match <[u8; 4]>::try_from(c) {
            Ok(w) => char::from_u32(word(w)).unwrap_or('\u{FFFD}'),
            Err(_) => '\u{FFFD}',
        })
        .collect()
}

/// `s` with every control character other than tab and newline written as
/// an escape (`\u{0}`), so an error message quoting a payload never puts raw
/// control bytes on an operator's terminal or in a log line.
pub fn printable(s: &str) -> Cow<'_, str> {
    if !s.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
        return Cow::Borrowed(s);
    }
    Cow::Owned(
        s.chars()
            .map(|c| {
                if c.is_control() && c != '\n' && c != '\t' {
                    format!("\\u{{{:x}}}", c as u32)
                } else {
                    c.to_string()
                }
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utf16le(s: &str) -> Vec<u8> {
        s.encode_utf16().flat_map(u16::to_le_bytes).collect()
    }

    fn utf32be(s: &str) -> Vec<u8> {
        s.chars().flat_map(|c| (c as u32).to_be_bytes()).collect()
    }

    const DOC: &str = "<?xml version=\"1.0\" encoding=\"utf-16\"?><a>Ωmega</a>";

    #[test]
    fn utf16_and_utf32_are_read_with_or_without_a_byte_order_mark() {
        let plain = utf16le(DOC);
        let (text, cs) = decode(&plain, None);
        assert_eq!((text.as_str(), cs.name()), (DOC, "UTF-16LE"));
        let mut marked = vec![0xFF, 0xFE];
        marked.extend(&plain);
        assert_eq!(decode(&marked, None).0, DOC);
        let doc32 = DOC.replace("utf-16", "utf-32");
        let (text, cs) = decode(&utf32be(&doc32), None);
        assert_eq!((text.as_str(), cs), (doc32.as_str(), Charset::Utf32Be));
        let mut marked = vec![0x00, 0x00, 0xFE, 0xFF];
        marked.extend(utf32be(&doc32));
        assert_eq!(decode(&marked, None).0, doc32);
    }

    #[test]
    fn the_http_charset_overrides_the_declaration_and_a_mark_overrides_both() {
        let body = b"<?xml version=\"1.0\" encoding=\"iso-8859-1\"?><a>\xe1</a>";
        assert_eq!(
            decode(body, None).0,
            "<?xml version=\"1.0\" encoding=\"iso-8859-1\"?><a>á</a>"
        );
        let greek = decode(body, Some("iso-8859-7")).0;
        assert!(greek.ends_with("<a>α</a>"), "{greek}");
        let mut marked = b"\xEF\xBB\xBF".to_vec();
        marked.extend("<a>é</a>".as_bytes());
        assert_eq!(decode(&marked, Some("iso-8859-7")).0, "<a>é</a>");
    }

    #[test]
    fn declared_east_asian_encodings_are_decoded() {
        let (bytes, _, _) = encoding_rs::EUC_KR.encode("<a>한국어</a>");
        let mut doc = b"<?xml version='1.0' encoding='euc-kr'?>".to_vec();
        doc.extend(bytes.iter());
        let (text, cs) = decode(&doc, None);
        assert!(text.ends_with("<a>한국어</a>"), "{text}");
        assert_eq!(cs.name(), "EUC-KR");
    }

    #[test]
    fn bytes_that_do_not_fit_the_label_are_read_as_utf8_or_windows_1252() {
        let doc = "<?xml version='1.0' encoding='us-ascii'?><a>café</a>";
        let (text, cs) = decode(doc.as_bytes(), None);
        assert_eq!(text, doc);
        assert_eq!(cs.name(), "UTF-8");
        let (text, cs) = decode(b"<a>Fr\xe9chet \x93q\x94</a>", None);
        assert_eq!(text, "<a>Fréchet “q”</a>");
        assert_eq!(cs.name(), "windows-1252");
    }

    #[test]
    fn the_charset_parameter_is_read_from_a_content_type() {
        assert_eq!(
            charset_of_content_type("text/xml; charset=\"ISO-8859-7\"").as_deref(),
            Some("ISO-8859-7")
        );
        assert_eq!(
            charset_of_content_type("application/rss+xml;Charset= utf-8 ").as_deref(),
            Some("utf-8")
        );
        assert_eq!(charset_of_content_type("text/xml"), None);
        assert_eq!(charset_of_content_type("text/xml; q=1"), None);
    }

    #[test]
    fn control_characters_are_escaped_for_messages() {
        assert_eq!(printable("a\u{0}b\u{1b}[31m\n"), "a\\u{0}b\\u{1b}[31m\n");
        assert!(matches!(printable("plain"), Cow::Borrowed(_)));
    }
}
