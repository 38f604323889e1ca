//! A small owned element tree over quick-xml, shared by the XML source parsers.
//!
//! Owns well-formedness checking (truncation, mismatched tags, nesting depth)
//! and decoding text exactly once (XML entities and character references).
//! Elements are matched by local name with their prefix kept, because the
//! arXiv API declares namespaces inline in one format and on the root in the
//! other. It must not know about any feed vocabulary.

use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;

use super::ParseError;

/// Deeper nesting than this is refused: no real feed comes near it, and it
/// keeps a hostile payload from exhausting the stack when the tree is dropped.
const MAX_DEPTH: usize = 64;

/// One XML element with its decoded attributes, text and child elements.
#[derive(Debug, Clone, Default)]
pub(crate) struct Element {
    /// Namespace prefix as written (`arxiv`, `dc`), if any.
    pub prefix: Option<String>,
    /// Local name (`entry`, `doi`).
    pub name: String,
    pub attrs: Vec<(String, String)>,
    pub children: Vec<Element>,
    /// Concatenated direct text and CDATA content, decoded once.
    pub text: String,
    /// Byte offset in the parent's `text` where this element appeared, so
    /// mixed content (`a <b>bold</b> claim`) can be read back in order.
    pub at: usize,
}

impl Element {
    /// The first child with this local name.
    pub fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }

    /// The first child with this local name and no prefix (RSS `link`, not `atom:link`).
    pub fn unprefixed_child(&self, name: &str) -> Option<&Element> {
        self.children
            .iter()
            .find(|c| c.name == name && c.prefix.is_none())
    }

    /// Every child with this local name, in document order.
    pub fn children_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> + 'a {
        self.children.iter().filter(move |c| c.name == name)
    }

    /// Trimmed text of the first child with this name, if present and non-empty.
    pub fn child_text(&self, name: &str) -> Option<&str> {
        self.child(name)
            .map(|c| c.text.trim())
            .filter(|t| !t.is_empty())
    }

    /// Direct text interleaved with every descendant's, in document order;
    /// `separator` says what to put around each child element.
    pub fn flat_text(&self, separator: &dyn Fn(&Element) -> &'static str) -> String {
        let mut out = String::new();
        self.write_flat(&mut out, separator);
        out
    }

    fn write_flat(&self, out: &mut String, separator: &dyn Fn(&Element) -> &'static str) {
        let mut done = 0;
        for child in &self.children {
            let at = child.at.min(self.text.len());
            if let Some(before) = self.text.get(done..at) {
                out.push_str(before);
            }
            done = done.max(at);
            let sep = separator(child);
            out.push_str(sep);
            child.write_flat(out, separator);
            out.push_str(sep);
        }
        if let Some(rest) = self.text.get(done..) {
            out.push_str(rest);
        }
    }

    /// The decoded value of the attribute with this local name.
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Parses a whole document into its root element.
///
/// A document that ends before its root closes, has mismatched tags, has no
/// root, or is not UTF-8 is rejected with the byte offset of the problem.
pub(crate) fn parse_document(body: &[u8]) -> Result<Element, ParseError> {
    let transcoded = single_byte_to_utf8(body);
    let body = transcoded.as_deref().unwrap_or(body);
    let mut reader = Reader::from_reader(body);
    reader.config_mut().check_end_names = true;
    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    loop {
        let pos = reader.buffer_position();
        let event = reader.read_event().map_err(|e| {
            let detail = e.to_string();
            if detail.contains("end of input") {
                ParseError::Truncated(format!("document ends early ({detail})"))
            } else {
                ParseError::Xml {
                    offset: reader.error_position(),
                    detail,
                }
            }
        })?;
        match event {
            Event::Start(start) => {
                if root.is_some() {
                    return Err(xml_err(pos, "content after the root element"));
                }
                if stack.len() >= MAX_DEPTH {
                    return Err(xml_err(pos, "elements nested too deeply"));
                }
                stack.push(element(&start, pos)?);
            }
            Event::Empty(start) => {
                let mut el = element(&start, pos)?;
                match stack.last_mut() {
                    Some(parent) => {
                        el.at = parent.text.len();
                        parent.children.push(el)
                    }
                    None if root.is_none() => root = Some(el),
                    None => return Err(xml_err(pos, "content after the root element")),
                }
            }
            Event::End(_) => {
                let mut el = stack
                    .pop()
                    .ok_or_else(|| xml_err(pos, "closing tag without an opening tag"))?;
                match stack.last_mut() {
                    Some(parent) => {
                        el.at = parent.text.len();
                        parent.children.push(el)
                    }
                    None => root = Some(el),
                }
            }
            Event::Text(text) => {
                let Some(current) = stack.last_mut() else {
                    if text.iter().all(u8::is_ascii_whitespace) {
                        continue;
                    }
                    return Err(xml_err(pos, "text outside the root element"));
                };
                let decoded = match text.unescape() {
                    Ok(s) => s.into_owned(),
                    // An HTML entity such as `&nbsp;` is not XML, but feeds in the
                    // wild use it; decode it rather than lose the item.
                    Err(_) => {
                        let raw = std::str::from_utf8(&text)
                            .map_err(|_| xml_err(pos, "text is not valid UTF-8"))?;
                        html_escape::decode_html_entities(raw).into_owned()
                    }
                };
                current.text.push_str(&decoded);
            }
            Event::CData(cdata) => {
                let Some(current) = stack.last_mut() else {
                    return Err(xml_err(pos, "CDATA outside the root element"));
                };
                let raw = std::str::from_utf8(&cdata)
                    .map_err(|_| xml_err(pos, "CDATA is not valid UTF-8"))?;
                current.text.push_str(raw);
            }
            Event::Eof => break,
            Event::Comment(_) | Event::Decl(_) | Event::PI(_) | Event::DocType(_) => {}
        }
    }
    if let Some(open) = stack.last() {
        return Err(ParseError::Truncated(format!(
            "document ends inside <{}> ({} element(s) left open)",
            open.name,
            stack.len()
        )));
    }
    root.ok_or_else(|| ParseError::Truncated("no root element".into()))
}

/// Windows-1252 code points for bytes 0x80..=0x9F; the rest of the range
/// is ISO-8859-1, where each byte is its own code point.
const CP1252_HIGH: [char; 32] = [
    '€', '\u{81}', '‚', 'ƒ', '„', '…', '†', '‡', 'ˆ', '‰', 'Š', '‹', 'Œ', '\u{8D}', 'Ž', '\u{8F}',
    '\u{90}', '‘', '’', '“', '”', '•', '–', '—', '˜', '™', 'š', '›', 'œ', '\u{9D}', 'ž', 'Ÿ',
];

/// Some journal feeds are still ISO-8859-1 or Windows-1252. The parser only
/// reads UTF-8, so such a document (declared so, and not valid UTF-8) is
/// transcoded first; anything else is left alone.
fn single_byte_to_utf8(body: &[u8]) -> Option<Vec<u8>> {
    if std::str::from_utf8(body).is_ok() {
        return None;
    }
    let head = String::from_utf8_lossy(&body[..body.len().min(200)]).to_ascii_lowercase();
    let declared = head.starts_with("<?xml")
        && [
            "iso-8859-1",
            "iso8859-1",
            "latin1",
            "latin-1",
            "windows-1252",
            "cp1252",
        ]
        .iter()
        .any(|e| head.contains(e));
    if !declared {
        return None;
    }
    let text: String = body
        .iter()
        .map(|&b| match b {
            0x80..=0x9F => CP1252_HIGH[usize::from(b - 0x80)],
            _ => char::from(b),
        })
        .collect();
    Some(text.into_bytes())
}

fn element(start: &BytesStart<'_>, pos: u64) -> Result<Element, ParseError> {
    let qname = start.name();
    let local = std::str::from_utf8(qname.local_name().into_inner())
        .map_err(|_| xml_err(pos, "element name is not valid UTF-8"))?
        .to_string();
    let prefix = qname
        .prefix()
        .map(|p| String::from_utf8_lossy(p.into_inner()).into_owned());
    let mut attrs = Vec::new();
    for attr in start.attributes() {
        let attr = attr.map_err(|e| xml_err(pos, &format!("bad attribute in <{local}>: {e}")))?;
        let key = String::from_utf8_lossy(attr.key.local_name().into_inner()).into_owned();
        let value = match attr.unescape_value() {
            Ok(v) => v.into_owned(),
            Err(_) => {
                let raw = std::str::from_utf8(&attr.value)
                    .map_err(|_| xml_err(pos, "attribute is not valid UTF-8"))?;
                html_escape::decode_html_entities(raw).into_owned()
            }
        };
        attrs.push((key, value));
    }
    Ok(Element {
        prefix,
        name: local,
        attrs,
        children: Vec::new(),
        text: String::new(),
        at: 0,
    })
}

fn xml_err(offset: u64, detail: &str) -> ParseError {
    ParseError::Xml {
        offset,
        detail: detail.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entities_are_decoded_once_and_cdata_is_kept_verbatim() {
        let root = parse_document(
            b"<a><b>Gould &amp;amp; &lt;x&gt; &#36;5</b><c><![CDATA[<p>&amp;</p>]]></c></a>",
        )
        .unwrap();
        assert_eq!(root.child_text("b"), Some("Gould &amp; <x> $5"));
        assert_eq!(root.child_text("c"), Some("<p>&amp;</p>"));
    }

    #[test]
    fn mixed_content_is_read_back_in_document_order() {
        let root = parse_document(b"<d>A <b>bold</b> and <i>brave <u>new</u></i> claim<br/>.</d>")
            .unwrap();
        assert_eq!(root.flat_text(&|_| ""), "A bold and brave new claim.");
        assert_eq!(
            root.flat_text(&|e| if e.name == "br" { "|" } else { "" }),
            "A bold and brave new claim||."
        );
    }

    #[test]
    fn a_latin1_document_is_transcoded_when_it_says_so() {
        let root = parse_document(
            b"<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><a>Fr\xe9chet \x93quoted\x94</a>",
        )
        .unwrap();
        assert_eq!(root.text, "Fr\u{e9}chet \u{201c}quoted\u{201d}");
        // Undeclared invalid UTF-8 is still an error, not a guess.
        assert!(parse_document(b"<a>Fr\xe9chet</a>").is_err());
    }

    #[test]
    fn a_utf8_byte_order_mark_is_accepted() {
        let root = parse_document(b"\xEF\xBB\xBF<?xml version=\"1.0\"?><a>x</a>").unwrap();
        assert_eq!(root.text, "x");
    }

    #[test]
    fn a_truncated_document_is_rejected_naming_the_open_element() {
        let err = parse_document(b"<feed><entry><title>x</title>").unwrap_err();
        assert!(err.to_string().contains("<entry>"), "{err}");
    }

    #[test]
    fn mismatched_tags_and_empty_input_are_rejected() {
        assert!(parse_document(b"<a><b></a>").is_err());
        assert!(parse_document(b"").is_err());
        assert!(parse_document(b"   ").is_err());
    }

    #[test]
    fn deep_nesting_is_refused() {
        let doc = "<a>".repeat(1000);
        let err = parse_document(doc.as_bytes()).unwrap_err();
        assert!(err.to_string().contains("nested too deeply"), "{err}");
    }
}
