//! A small owned element tree over quick-xml, shared by the XML source parsers.
//!
//! Owns decoding the payload to text (through [`super::charset`]),
//! well-formedness checking (truncation, mismatched tags, nesting depth),
//! decoding text exactly once (XML entities, character references, the
//! HTML entities feeds use without declaring them, and simple entities
//! declared in the document's own DTD, never an external one), namespaces
//! (each element knows its namespace URI as well as the prefix it was
//! written with, because the arXiv API declares namespaces inline in one
//! format and on the root in the other, and feeds bind RSS itself to a
//! prefix), and `xml:base` (each element knows the base URI its relative
//! references resolve against: the document's URL, changed by every
//! `xml:base` on the way down, RFC 3986 §5.1 and Atom §2). It must not know
//! about any feed vocabulary.
//!
//! Every error message is made printable: a payload's control bytes never
//! reach a log line or a terminal through it.

use std::collections::HashMap;
use std::sync::Arc;

use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;
use url::Url;

use super::charset::{self, printable, Charset};
use super::ParseError;

/// Deeper nesting than this is refused: no real feed comes near it, and it
/// keeps a hostile payload from exhausting the stack when the tree is dropped.
const MAX_DEPTH: usize = 64;

/// At most this many entities are taken from a document's internal DTD.
const MAX_DTD_ENTITIES: usize = 64;

const XML_NS: &str = "http://www.w3.org/XML/1998/namespace";

/// One attribute, by local name.
#[derive(Debug, Clone, Default)]
pub(crate) struct Attribute {
    pub name: String,
    pub value: String,
}

/// One XML element with its decoded attributes, text and child elements.
#[derive(Debug, Clone, Default)]
pub(crate) struct Element {
    /// Namespace prefix as written (`arxiv`, `dc`), if any.
    pub prefix: Option<String>,
    /// Local name (`entry`, `doi`).
    pub name: String,
    /// The namespace URI the element is in, if any.
    pub ns: Option<String>,
    pub attrs: Vec<Attribute>,
    pub children: Vec<Element>,
    /// Concatenated direct text and CDATA content, decoded once.
    pub text: String,
    /// Byte offset in the parent's `text` where this element appeared, so
    /// mixed content (`a <b>bold</b> claim`) can be read back in order.
    pub at: usize,
    /// The base URI of this element's content, when one is known.
    pub base: Option<Arc<Url>>,
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

    /// The content as HTML source: text escaped, child elements written as
    /// tags by local name (inline XHTML, or markup a feed forgot to escape).
    pub fn inner_html(&self) -> String {
        let mut out = String::new();
        self.write_inner_html(&mut out);
        out
    }

    fn write_inner_html(&self, out: &mut String) {
        let mut done = 0;
        let escape = |s: &str, out: &mut String| {
            out.push_str(&html_escape::encode_text(s));
        };
        for child in &self.children {
            let at = child.at.min(self.text.len());
            if let Some(before) = self.text.get(done..at) {
                escape(before, out);
            }
            done = done.max(at);
            out.push('<');
            out.push_str(&child.name);
            for a in &child.attrs {
                out.push(' ');
                out.push_str(&a.name);
                out.push_str("=\"");
                out.push_str(&html_escape::encode_double_quoted_attribute(&a.value));
                out.push('"');
            }
            out.push('>');
            child.write_inner_html(out);
            out.push_str("</");
            out.push_str(&child.name);
            out.push('>');
        }
        if let Some(rest) = self.text.get(done..) {
            escape(rest, out);
        }
    }

    /// The decoded value of the attribute with this local name.
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|a| a.name == name)
            .map(|a| a.value.as_str())
    }
}

/// What is known about a document besides its bytes.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Origin<'a> {
    /// Where it was fetched from: the base of its relative references.
    pub url: Option<&'a Url>,
    /// The HTTP Content-Type it was served with.
    pub content_type: Option<&'a str>,
}

/// A parsed document.
#[derive(Debug, Clone)]
pub(crate) struct Document {
    pub root: Element,
    pub charset: Charset,
}

/// Parses a whole document into its root element.
///
/// A document that ends before its root closes, has mismatched tags or has
/// no root is rejected with the offset of the problem.
pub(crate) fn parse_document(body: &[u8]) -> Result<Element, ParseError> {
    parse_with(body, Origin::default()).map(|d| d.root)
}

/// Like [`parse_document`], with the document's URL and Content-Type.
pub(crate) fn parse_with(body: &[u8], origin: Origin<'_>) -> Result<Document, ParseError> {
    let http_charset = origin
        .content_type
        .and_then(charset::charset_of_content_type);
    let (text, charset) = charset::decode(body, http_charset.as_deref());
    let root = build(&text, origin.url)?;
    Ok(Document { root, charset })
}

struct Builder {
    stack: Vec<Element>,
    /// Namespace bindings per open element: (prefix, uri).
    scopes: Vec<Vec<(Option<String>, String)>>,
    entities: HashMap<String, String>,
    document_base: Option<Arc<Url>>,
}

fn build(text: &str, url: Option<&Url>) -> Result<Element, ParseError> {
    let mut reader = Reader::from_str(text);
    let config = reader.config_mut();
    config.check_end_names = true;
    config.allow_dangling_amp = true;
    let mut b = Builder {
        stack: Vec::new(),
        scopes: Vec::new(),
        entities: HashMap::new(),
        document_base: url.cloned().map(Arc::new),
    };
    let mut root: Option<Element> = None;
    loop {
        let pos = reader.buffer_position();
        let event = reader.read_event().map_err(|e| {
            let detail = printable(&e.to_string()).into_owned();
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
                if b.stack.len() >= MAX_DEPTH {
                    return Err(xml_err(pos, "elements nested too deeply"));
                }
                let el = b.open(&start, pos)?;
                b.stack.push(el);
            }
            Event::Empty(start) => {
                if root.is_some() {
                    return Err(xml_err(pos, "content after the root element"));
                }
                let el = b.open(&start, pos)?;
                b.scopes.pop();
                match b.stack.last_mut() {
                    Some(parent) => {
                        let mut el = el;
                        el.at = parent.text.len();
                        parent.children.push(el)
                    }
                    None => root = Some(el),
                }
            }
            Event::End(_) => {
                let mut el = b
                    .stack
                    .pop()
                    .ok_or_else(|| xml_err(pos, "closing tag without an opening tag"))?;
                b.scopes.pop();
                match b.stack.last_mut() {
                    Some(parent) => {
                        el.at = parent.text.len();
                        parent.children.push(el)
                    }
                    None => root = Some(el),
                }
            }
            Event::Text(t) => {
                let content = t.xml10_content();
                let Some(current) = b.stack.last_mut() else {
                    if content.chars().all(char::is_whitespace) {
                        continue;
                    }
                    return Err(xml_err(pos, "text outside the root element"));
                };
                current.text.push_str(&content);
            }
            Event::GeneralRef(r) => {
                let name = r.xml10_content();
                let resolved = resolve_reference(&name, &b.entities);
                let Some(current) = b.stack.last_mut() else {
                    return Err(xml_err(pos, "a reference outside the root element"));
                };
                current.text.push_str(&resolved);
            }
            Event::CData(cdata) => {
                let Some(current) = b.stack.last_mut() else {
                    return Err(xml_err(pos, "CDATA outside the root element"));
                };
                current.text.push_str(&cdata.xml10_content());
            }
            Event::DocType(doctype) => {
                if b.stack.is_empty() && root.is_none() {
                    b.entities = internal_entities(&doctype);
                }
            }
            Event::Eof => break,
            Event::Comment(_) | Event::Decl(_) | Event::PI(_) => {}
        }
    }
    if let Some(open) = b.stack.last() {
        return Err(ParseError::Truncated(format!(
            "document ends inside <{}> ({} element(s) left open)",
            printable(&open.name),
            b.stack.len()
        )));
    }
    root.ok_or_else(|| ParseError::Truncated("no root element".into()))
}

impl Builder {
    /// Reads a start tag: its namespace declarations open a scope (popped
    /// at its end), its name and attributes are resolved, its base computed.
    fn open(&mut self, start: &BytesStart<'_>, pos: u64) -> Result<Element, ParseError> {
        let qname = start.name();
        let local = qname.local_name().into_inner().to_string();
        let prefix = qname.prefix().map(|p| p.into_inner().to_string());
        let mut raw_attrs = Vec::new();
        let mut scope = Vec::new();
        for attr in start.attributes() {
            let attr = attr.map_err(|e| {
                xml_err(
                    pos,
                    &format!("bad attribute in <{}>: {e}", printable(&local)),
                )
            })?;
            let key = attr.key.into_inner();
            let value = decode_attribute(&attr.value, &self.entities);
            if key == "xmlns" {
                scope.push((None, value));
            } else if let Some(p) = key.strip_prefix("xmlns:") {
                scope.push((Some(p.to_string()), value));
            } else {
                raw_attrs.push((key.to_string(), value));
            }
        }
        self.scopes.push(scope);
        let ns = self.resolve(prefix.as_deref(), true);
        let mut attrs = Vec::with_capacity(raw_attrs.len());
        let mut xml_base = None;
        for (key, value) in raw_attrs {
            let (prefix, name) = match key.split_once(':') {
                Some((p, n)) => (Some(p.to_string()), n.to_string()),
                None => (None, key),
            };
            let attr_ns = prefix.as_deref().and_then(|p| self.resolve(Some(p), false));
            if name == "base" && attr_ns.as_deref() == Some(XML_NS) {
                xml_base = Some(value.clone());
            }
            attrs.push(Attribute { name, value });
        }
        let inherited = self
            .stack
            .last()
            .map_or_else(|| self.document_base.clone(), |p| p.base.clone());
        let base = match xml_base {
            Some(b) => resolve_base(inherited.as_deref(), &b).or(inherited),
            None => inherited,
        };
        Ok(Element {
            prefix,
            name: local,
            ns,
            attrs,
            children: Vec::new(),
            text: String::new(),
            at: 0,
            base,
        })
    }

    /// The namespace URI bound to `prefix` (the default namespace for
    /// `None`, which attributes do not take).
    fn resolve(&self, prefix: Option<&str>, element: bool) -> Option<String> {
        if prefix == Some("xml") {
            return Some(XML_NS.to_string());
        }
        if prefix.is_none() && !element {
            return None;
        }
        self.scopes
            .iter()
            .rev()
            .flat_map(|s| s.iter().rev())
            .find(|(p, _)| p.as_deref() == prefix)
            .map(|(_, uri)| uri.clone())
            .filter(|uri| !uri.is_empty())
    }
}

/// `xml:base` resolved against the base in force; a base that is not an
/// absolute URL with a usable scheme is ignored, as feedparser does.
fn resolve_base(current: Option<&Url>, value: &str) -> Option<Arc<Url>> {
    let value = value.trim();
    let url = match current {
        Some(c) => c.join(value).ok()?,
        None => Url::parse(value).ok()?,
    };
    matches!(url.scheme(), "http" | "https" | "ftp" | "file").then(|| Arc::new(url))
}

/// The text a reference stands for; an unknown one stays as written.
fn resolve_reference(name: &str, entities: &HashMap<String, String>) -> String {
    if let Some(num) = name.strip_prefix('#') {
        let code = match num.strip_prefix(['x', 'X']) {
            Some(hex) => u32::from_str_radix(hex, 16).ok(),
            None => num.parse().ok(),
        };
        return match code.and_then(char::from_u32).filter(|c| *c != '\0') {
            Some(c) => c.to_string(),
            None => format!("&{name};"),
        };
    }
    match name {
        "lt" => return "<".into(),
        "gt" => return ">".into(),
        "amp" => return "&".into(),
        "quot" => return "\"".into(),
        "apos" => return "'".into(),
        _ => {}
    }
    if let Some(value) = entities.get(name) {
        return value.clone();
    }
    let written = format!("&{name};");
    // An HTML entity such as `&nbsp;` is not XML, but feeds use it.
    html_escape::decode_html_entities(&written).into_owned()
}

/// An attribute value with its references decoded and its whitespace
/// normalised (XML 1.0 §3.3.3).
fn decode_attribute(raw: &str, entities: &HashMap<String, String>) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        let after = &rest[amp + 1..];
        match after.find(';') {
            Some(end)
                if end > 0
                    && after[..end]
                        .chars()
                        .all(|c| c.is_alphanumeric() || matches!(c, '#' | '_' | '-' | '.')) =>
            {
                out.push_str(&resolve_reference(&after[..end], entities));
                rest = &after[end + 1..];
            }
            _ => {
                out.push('&');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out.chars()
        .map(|c| {
            if matches!(c, '\t' | '\n' | '\r') {
                ' '
            } else {
                c
            }
        })
        .collect()
}

/// Simple general entities of an internal DTD subset: `<!ENTITY name
/// "value">` whose value holds no reference or markup (so no entity can
/// expand into others: no exponential blow-up), never an external one.
fn internal_entities(doctype: &str) -> HashMap<String, String> {
    let mut out = HashMap::new();
    let mut rest = doctype;
    while let Some(at) = rest.find("<!ENTITY") {
        rest = &rest[at + "<!ENTITY".len()..];
        let Some(end) = rest.find('>') else { break };
        let decl = rest[..end].trim();
        rest = &rest[end..];
        if decl.starts_with('%') || out.len() >= MAX_DTD_ENTITIES {
            continue;
        }
        let Some((name, value)) = decl.split_once(char::is_whitespace) else {
            continue;
        };
        let value = value.trim();
        let quote = match value.chars().next() {
            Some(q @ ('"' | '\'')) => q,
            _ => continue,
        };
        let Some(inner) = value[1..].strip_suffix(quote) else {
            continue;
        };
        if inner.contains(['&', '<', '%']) || inner.len() > 1024 {
            continue;
        }
        out.insert(name.to_string(), inner.to_string());
    }
    out
}

fn xml_err(offset: u64, detail: &str) -> ParseError {
    ParseError::Xml {
        offset,
        detail: printable(detail).into_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entities_are_decoded_once_and_cdata_is_kept_verbatim() {
        let root = parse_document(
            b"<a><b>Gould &amp;amp; &lt;x&gt; &#36;5 &nbsp;AT&T</b><c><![CDATA[<p>&amp;</p>]]></c></a>",
        )
        .unwrap();
        assert_eq!(root.child_text("b"), Some("Gould &amp; <x> $5 \u{a0}AT&T"));
        assert_eq!(root.child_text("c"), Some("<p>&amp;</p>"));
    }

    #[test]
    fn mixed_content_is_read_back_in_document_order() {
        let root = parse_document(b"<d>A <b>bold</b> and <i>brave <u>new</u></i> claim<br/>.</d>")
            .unwrap();
        assert_eq!(
            root.inner_html(),
            "A <b>bold</b> and <i>brave <u>new</u></i> claim<br></br>."
        );
    }

    #[test]
    fn namespaces_are_resolved_whatever_the_prefix() {
        let root = parse_document(
            br#"<r:rss xmlns:r="http://backend.userland.com/rss2" xmlns="urn:default"><r:channel><title/><x:y xmlns:x="urn:x"/></r:channel></r:rss>"#,
        )
        .unwrap();
        assert_eq!(root.ns.as_deref(), Some("http://backend.userland.com/rss2"));
        let channel = root.child("channel").unwrap();
        assert_eq!(channel.prefix.as_deref(), Some("r"));
        let ns = |name: &str| channel.child(name).unwrap().ns.clone();
        assert_eq!(ns("title").as_deref(), Some("urn:default"));
        assert_eq!(ns("y").as_deref(), Some("urn:x"));
    }

    #[test]
    fn xml_base_is_resolved_against_the_document_url_on_the_way_down() {
        let url = Url::parse("http://example.org/feeds/main.xml").unwrap();
        let doc = parse_with(
            br#"<feed xml:base="/blog/"><entry xml:base="2026/"><link/></entry><entry/></feed>"#,
            Origin {
                url: Some(&url),
                content_type: None,
            },
        )
        .unwrap();
        let entries: Vec<&Element> = doc.root.children_named("entry").collect();
        let base = |e: &Element| e.base.as_ref().map(|b| b.to_string());
        assert_eq!(
            base(entries[0].child("link").unwrap()).as_deref(),
            Some("http://example.org/blog/2026/")
        );
        assert_eq!(
            base(entries[1]).as_deref(),
            Some("http://example.org/blog/")
        );
    }

    #[test]
    fn simple_internal_entities_are_expanded_and_nothing_else() {
        let root = parse_document(
            br#"<!DOCTYPE rss [<!ENTITY co "Example &amp; Co"><!ENTITY name "Ann"><!ENTITY ext SYSTEM "file:///etc/passwd">]><rss>&name; &co; &ext;</rss>"#,
        )
        .unwrap();
        assert_eq!(root.text, "Ann &co; &ext;");
    }

    #[test]
    fn a_declared_single_byte_document_is_decoded() {
        let root = parse_document(
            b"<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><a>Fr\xe9chet \x93quoted\x94</a>",
        )
        .unwrap();
        assert_eq!(root.text, "Fr\u{e9}chet \u{201c}quoted\u{201d}");
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
    fn errors_never_carry_raw_control_characters() {
        for body in [
            &b"\x00<\x00?\x00x\x00m\x00l\x00 \x00v\x00=\x00'\x00"[..],
            b"<a\x1b[31m b='\x07'>",
            b"<a>\x01</b>",
        ] {
            if let Err(e) = parse_document(body) {
                let msg = e.to_string();
                assert!(!msg.chars().any(|c| c.is_control()), "{msg:?}");
            }
        }
    }

    #[test]
    fn deep_nesting_is_refused() {
        let doc = "<a>".repeat(1000);
        let err = parse_document(doc.as_bytes()).unwrap_err();
        assert!(err.to_string().contains("nested too deeply"), "{err}");
    }
}
