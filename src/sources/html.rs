//! HTML from feeds reduced to text: the one place that decides what of a
//! feed's markup reaches a paper's title and abstract.
//!
//! paperboy keeps no markup from a feed (docs/FEEDS.md says why): every tag
//! is removed, and the content of `script`, `style` and `applet` is dropped
//! with it, wherever it sits; every other element's text is kept, so an
//! unknown or unsafe element (`iframe`, `object`, `blink`, a whole document)
//! loses its tags and keeps only its words. Block elements become paragraph
//! breaks, line-level breaks (`br`, cells, list items) a space, inline
//! elements nothing (`H<sub>2</sub>O` reads `H₂O`: a subscript or
//! superscript whose characters all have a Unicode sub/superscript form is
//! written with them, so `Ca<sup>2+</sup>` keeps its meaning as text).
//! Character references are decoded once, after the tags are gone, so
//! escaped markup stays text.
//!
//! It also owns feedparser's rule for guessing whether an RSS text is HTML
//! ([`looks_like_html`]). It must not know about feeds or papers.

/// Elements whose content is dropped with their tags.
const HIDDEN: &[&str] = &["script", "style", "applet"];

/// Elements that start a paragraph.
const BLOCK: &[&str] = &[
    "p",
    "div",
    "blockquote",
    "ul",
    "ol",
    "dl",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "table",
    "section",
    "article",
    "aside",
    "figure",
    "pre",
    "header",
    "footer",
    "address",
    "center",
    "form",
    "fieldset",
    "nav",
    "details",
    "body",
    "html",
    "head",
    "title",
];

/// Elements that separate words.
const BREAK: &[&str] = &[
    "br",
    "hr",
    "li",
    "tr",
    "td",
    "th",
    "dt",
    "dd",
    "img",
    "figcaption",
    "caption",
    "tbody",
    "thead",
    "tfoot",
    "option",
    "legend",
];

/// HTML elements feedparser accepts in content (its sanitizer's list): a
/// plain-text RSS field that uses only these is taken for HTML.
const KNOWN: &[&str] = &[
    "a",
    "abbr",
    "acronym",
    "address",
    "area",
    "article",
    "aside",
    "audio",
    "b",
    "big",
    "blockquote",
    "br",
    "button",
    "canvas",
    "caption",
    "center",
    "cite",
    "code",
    "col",
    "colgroup",
    "command",
    "datagrid",
    "datalist",
    "dd",
    "del",
    "details",
    "dfn",
    "dialog",
    "dir",
    "div",
    "dl",
    "dt",
    "em",
    "event-source",
    "fieldset",
    "figcaption",
    "figure",
    "font",
    "footer",
    "form",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "header",
    "hr",
    "i",
    "img",
    "input",
    "ins",
    "kbd",
    "keygen",
    "label",
    "legend",
    "li",
    "m",
    "map",
    "menu",
    "meter",
    "multicol",
    "nav",
    "nextid",
    "noscript",
    "ol",
    "optgroup",
    "option",
    "output",
    "p",
    "pre",
    "progress",
    "q",
    "rp",
    "rt",
    "ruby",
    "s",
    "samp",
    "section",
    "select",
    "small",
    "sound",
    "source",
    "spacer",
    "span",
    "strike",
    "strong",
    "sub",
    "sup",
    "table",
    "tbody",
    "td",
    "textarea",
    "tfoot",
    "th",
    "thead",
    "time",
    "tr",
    "tt",
    "u",
    "ul",
    "var",
    "video",
];

/// Elements outside feedparser's list that are still markup wherever they
/// appear (so they are removed, never shown as text).
const OTHER_ELEMENTS: &[&str] = &[
    "applet",
    "base",
    "basefont",
    "bdi",
    "bdo",
    "blink",
    "body",
    "data",
    "embed",
    "frame",
    "frameset",
    "head",
    "html",
    "iframe",
    "layer",
    "link",
    "main",
    "mark",
    "marquee",
    "math",
    "meta",
    "mfrac",
    "mi",
    "mn",
    "mo",
    "mrow",
    "msqrt",
    "msub",
    "msubsup",
    "msup",
    "mtext",
    "nobr",
    "noembed",
    "noframes",
    "object",
    "param",
    "picture",
    "plaintext",
    "script",
    "slot",
    "style",
    "svg",
    "template",
    "title",
    "wbr",
    "xmp",
];

fn is_element_name(name: &str) -> bool {
    // `m` (an abandoned draft of `mark`) is too common a variable name.
    (KNOWN.contains(&name) && name != "m") || OTHER_ELEMENTS.contains(&name)
}

/// One piece of an HTML fragment.
enum Token<'a> {
    Text(&'a str),
    Start(String),
    End(String),
    /// A comment, declaration or processing instruction.
    Other,
}

/// Splits HTML into text and tags. A `<` that does not open a tag, a
/// comment or a declaration is text; a tag cut off by the end is dropped.
/// An unknown name is a tag only when the fragment closes it (or it closes
/// itself), so `n<k and k>m` in a sloppy abstract stays text.
fn tokens(html: &str) -> Vec<Token<'_>> {
    let lower = html.to_ascii_lowercase();
    let mut out = Vec::new();
    let mut rest = html;
    while let Some(lt) = rest.find('<') {
        if lt > 0 {
            out.push(Token::Text(&rest[..lt]));
        }
        let after = &rest[lt + 1..];
        if let Some(comment) = after.strip_prefix("!--") {
            rest = comment.find("-->").map_or("", |i| &comment[i + 3..]);
            out.push(Token::Other);
            continue;
        }
        if let Some(cdata) = after.strip_prefix("![CDATA[") {
            // CDATA means nothing in HTML; its text is text.
            let end = cdata.find("]]>").unwrap_or(cdata.len());
            out.push(Token::Text(&cdata[..end]));
            rest = cdata.get(end + 3..).unwrap_or("");
            continue;
        }
        let closing = after.starts_with('/');
        let name_part = if closing { &after[1..] } else { after };
        let starts_name = name_part.starts_with(|c: char| c.is_ascii_alphabetic());
        if after.starts_with('!') || after.starts_with('?') || (closing && !starts_name) {
            rest = after.find('>').map_or("", |i| &after[i + 1..]);
            out.push(Token::Other);
            continue;
        }
        if !starts_name {
            out.push(Token::Text("<"));
            rest = after;
            continue;
        }
        let name_len = name_part
            .find(|c: char| c.is_whitespace() || c == '>' || c == '/')
            .unwrap_or(name_part.len());
        let name = name_part[..name_len].to_ascii_lowercase();
        let Some(end) = tag_end(&name_part[name_len..]) else {
            rest = "";
            break;
        };
        let self_closing = name_part[name_len..name_len + end]
            .trim_end()
            .ends_with('/');
        let valid_name = name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | ':' | '_'));
        let after_tag = &name_part[name_len + end + 1..];
        let closed_later = {
            let offset = html.len() - after_tag.len();
            lower[offset..].contains(&format!("</{name}"))
        };
        if !valid_name || !(is_element_name(&name) || closing || self_closing || closed_later) {
            out.push(Token::Text("<"));
            rest = after;
            continue;
        }
        rest = after_tag;
        if closing {
            out.push(Token::End(name));
        } else {
            out.push(Token::Start(name.clone()));
            if self_closing {
                out.push(Token::End(name));
            }
        }
    }
    if !rest.is_empty() {
        out.push(Token::Text(rest));
    }
    out
}

/// The offset of the `>` closing a tag's attributes, skipping quoted values.
fn tag_end(attrs: &str) -> Option<usize> {
    let mut quote: Option<char> = None;
    for (i, c) in attrs.char_indices() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '"' | '\'') => quote = Some(c),
            (None, '>') => return Some(i),
            _ => {}
        }
    }
    None
}

/// Reduces an HTML fragment to text: one paragraph per line, whitespace
/// collapsed within each.
pub fn to_text(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut hidden: Vec<String> = Vec::new();
    // Where each open sub/sup started in `out`, to rewrite its text.
    let mut scripts: Vec<(String, usize)> = Vec::new();
    let mut after_markup = false;
    for token in tokens(html) {
        // A literal `<` before removed markup must not join what follows
        // into something that reads as a tag (`<<!-- -->p>`).
        if matches!(token, Token::Text(_)) && after_markup && out.ends_with('<') {
            out.push(' ');
        }
        after_markup = !matches!(token, Token::Text(_));
        match token {
            Token::Start(name) if HIDDEN.contains(&name.as_str()) => hidden.push(name),
            Token::End(name) if hidden.last() == Some(&name) => {
                hidden.pop();
            }
            _ if !hidden.is_empty() => {}
            Token::Text(t) => out.push_str(&html_escape::decode_html_entities(t)),
            Token::Start(name) | Token::End(name) if BLOCK.contains(&name.as_str()) => {
                out.push_str("\n\n")
            }
            Token::Start(name) | Token::End(name) if BREAK.contains(&name.as_str()) => {
                out.push(' ')
            }
            Token::Start(name) if name == "sub" || name == "sup" => scripts.push((name, out.len())),
            Token::End(name) if scripts.last().is_some_and(|(n, _)| *n == name) => {
                if let Some((name, at)) = scripts.pop() {
                    if let Some(mapped) = script_form(&out[at..], name == "sup") {
                        out.truncate(at);
                        out.push_str(&mapped);
                    }
                }
            }
            Token::Start(_) | Token::End(_) | Token::Other => {}
        }
    }
    paragraphs(&out)
}

/// One line per paragraph (blank-line separated), whitespace collapsed.
pub fn paragraphs(text: &str) -> String {
    text.split("\n\n")
        .map(|para| para.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join("\n")
}

/// `text` in Unicode superscript (or subscript) characters, if every
/// character has one.
fn script_form(text: &str, sup: bool) -> Option<String> {
    let text = text.trim();
    if text.is_empty() || text.chars().count() > 12 {
        return None;
    }
    text.chars()
        .map(|c| {
            let digits_sup = ['⁰', '¹', '²', '³', '⁴', '⁵', '⁶', '⁷', '⁸', '⁹'];
            let digits_sub = ['₀', '₁', '₂', '₃', '₄', '₅', '₆', '₇', '₈', '₉'];
            if let Some(d) = c.to_digit(10).filter(|_| c.is_ascii_digit()) {
                return Some(if sup { digits_sup } else { digits_sub }[d as usize]);
            }
            match (sup, c) {
                (true, '+') => Some('⁺'),
                (true, '-' | '−' | '–') => Some('⁻'),
                (true, '=') => Some('⁼'),
                (true, '(') => Some('⁽'),
                (true, ')') => Some('⁾'),
                (true, 'n') => Some('ⁿ'),
                (true, 'i') => Some('ⁱ'),
                (false, '+') => Some('₊'),
                (false, '-' | '−' | '–') => Some('₋'),
                (false, '=') => Some('₌'),
                (false, '(') => Some('₍'),
                (false, ')') => Some('₎'),
                _ => None,
            }
        })
        .collect()
}

/// feedparser's guess that a nominally plain RSS text is HTML: it has a
/// closing tag or a character reference, every tag is a known HTML element
/// and every named reference a known HTML entity. It errs towards text, as
/// a false guess loses characters.
pub fn looks_like_html(s: &str) -> bool {
    let mut has_close = false;
    let mut has_ref = false;
    for (i, _) in s.match_indices('<') {
        let rest = &s[i + 1..];
        let (closing, rest) = match rest.strip_prefix('/') {
            Some(r) => (true, r),
            None => (false, rest),
        };
        let name: String = rest
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        if name.is_empty() {
            continue;
        }
        if !KNOWN.contains(&name.to_ascii_lowercase().as_str()) {
            return false;
        }
        if closing && rest[name.len()..].starts_with('>') {
            has_close = true;
        }
    }
    for (i, _) in s.match_indices('&') {
        let rest = &s[i + 1..];
        let numeric = rest.starts_with('#');
        let body = if numeric { &rest[1..] } else { rest };
        let word: String = body
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        if word.is_empty() || !body[word.len()..].starts_with(';') {
            continue;
        }
        if !numeric {
            let reference = format!("&{word};");
            if html_escape::decode_html_entities(&reference) == reference {
                return false;
            }
        }
        has_ref = true;
    }
    has_close || has_ref
}

/// Whether `s` holds a tag of an element that runs, embeds or restyles
/// (`script`, `style`, `iframe`, `object`, `embed`, `applet`, `meta`,
/// `link`, `frame`, `base`, `form`, `svg`): text that does is markup, never
/// shown as it is.
pub fn has_active_markup(s: &str) -> bool {
    let lower = s.to_ascii_lowercase();
    [
        "script", "style", "iframe", "object", "embed", "applet", "meta", "link", "frame", "base",
        "form", "svg",
    ]
    .iter()
    .any(|name| {
        lower.match_indices(&format!("<{name}")).any(|(i, _)| {
            lower[i + 1 + name.len()..]
                .chars()
                .next()
                .is_none_or(|c| c.is_whitespace() || c == '>' || c == '/')
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_go_and_their_text_stays_except_script_and_style() {
        assert_eq!(
            to_text("Structure of <i>E. coli</i> RNA polymerase"),
            "Structure of E. coli RNA polymerase"
        );
        assert_eq!(
            to_text("safe<script>location.href='http:/'+document.cookie</script> <style>p{}</style>description"),
            "safe description"
        );
        assert_eq!(
            to_text("<iframe src=\"x\">a</iframe><object data=y>b</object><blink>c</blink><meta http-equiv=refresh content=\"0;url=z\">d"),
            "abcd"
        );
        assert_eq!(
            to_text("<html><head><title>t</title></head><body><p>one</p><p>two</p></body></html>"),
            "t\none\ntwo"
        );
    }

    #[test]
    fn references_are_decoded_once_after_the_tags_are_gone() {
        assert_eq!(to_text("&lt;p&gt; &amp;amp; &#38;"), "<p> &amp; &");
        assert_eq!(to_text("x < y and y > z"), "x < y and y > z");
        assert_eq!(
            to_text("a <!-- gone --> b <![CDATA[<kept>]]>"),
            "a b <kept>"
        );
        assert_eq!(to_text("cut <a href=\"x>y\">link</a> <b"), "cut link");
    }

    #[test]
    fn sub_and_superscripts_keep_their_meaning_as_text() {
        assert_eq!(to_text("H<sub>2</sub>O"), "H₂O");
        assert_eq!(
            to_text("Ca<sup>2+</sup> and 10<sup>-3</sup>"),
            "Ca²⁺ and 10⁻³"
        );
        assert_eq!(to_text("x<sup>th</sup>"), "xth");
    }

    #[test]
    fn a_plain_text_is_html_only_when_it_looks_like_it() {
        assert!(looks_like_html("A <b>bold</b> claim"));
        assert!(looks_like_html("AT&amp;T"));
        assert!(!looks_like_html("The <p> element"));
        assert!(!looks_like_html("x < y"));
        assert!(!looks_like_html("<foo>bar</foo>"));
        assert!(!looks_like_html("&bogus; <b>x</b>"));
    }

    proptest::proptest! {
        #[test]
        fn reduction_never_panics_and_leaves_no_tag(s in "[<>a-z/ &;!p\"'=]{0,64}") {
            let t = to_text(&s);
            proptest::prop_assert!(!t.contains("<p>") || s.contains("&lt;"));
        }
    }
}
