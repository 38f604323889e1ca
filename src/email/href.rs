//! The one rule for links: a URL becomes a link only if it is an `http` or
//! `https` URL, read the way a browser reads it (the WHATWG parser of the
//! `url` crate, which also drops the tabs and newlines that could hide a
//! `javascript:` scheme). It applies to every URL that came from outside
//! (a paper's abstract, PDF, code and project links in a source's payload)
//! and to every `href` a mail template writes; the manage page's preview
//! uses it too. Escaping alone does not stop a `javascript:` or `data:`
//! link, and nothing paperboy links to is anything but a web page.

/// `raw` as a web link, normalised as the URL parser writes it; `None` for
/// anything else (another scheme, no host, not a URL).
pub fn web_link(raw: &str) -> Option<String> {
    let url = url::Url::parse(raw.trim()).ok()?;
    (matches!(url.scheme(), "http" | "https") && url.host().is_some()).then(|| url.to_string())
}

/// [`web_link`], or `#` (a link to nowhere) for anything that is not one.
pub fn safe_href(raw: &str) -> String {
    web_link(raw).unwrap_or_else(|| "#".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_web_links_are_links() {
        assert_eq!(safe_href(" https://a.example/x "), "https://a.example/x");
        assert_eq!(safe_href("HTTP://A.example"), "http://a.example/");
        assert_eq!(
            safe_href("https://arxiv.org/abs/2606.01234v2"),
            "https://arxiv.org/abs/2606.01234v2"
        );
        for inert in [
            "javascript:alert(1)",
            "JavaScript:alert(1)",
            "java\tscript:alert(1)",
            " \njavascript:alert(1)",
            "data:text/html,<script>alert(1)</script>",
            "mailto:ada@example.org",
            "vbscript:msgbox(1)",
            "file:///etc/passwd",
            "//evil.example/x",
            "/relative/path",
            "https://",
            "",
        ] {
            assert_eq!(safe_href(inert), "#", "{inert:?}");
            assert_eq!(web_link(inert), None, "{inert:?}");
        }
    }
}
