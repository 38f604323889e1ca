//! arXiv identifiers: new style (`2606.00467`, `0704.0001`) and old style
//! (`astro-ph/0601001`, `math.GT/0309136`), with the version kept apart.

use std::fmt;
use std::sync::LazyLock;

use regex::Regex;

/// A versionless arXiv identifier; the canonical key of an arXiv paper.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ArxivId(String);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("not an arXiv identifier: {0:?}")]
pub struct ArxivIdError(pub String);

static NEW_STYLE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^(\d{4}\.\d{4,5})(?:v(\d+))?$").expect("valid regex"));
static OLD_STYLE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^([a-z]+(?:-[a-z]+)*(?:\.[A-Z]{2})?/\d{7})(?:v(\d+))?$").expect("valid regex")
});

impl ArxivId {
    /// Parses an identifier with an optional `vN` suffix, returning the
    /// versionless id and the version. Accepts a leading `arXiv:` and the
    /// `oai:arXiv.org:` prefix used by the announcement feeds.
    pub fn parse_versioned(input: &str) -> Result<(ArxivId, Option<u32>), ArxivIdError> {
        let trimmed = input.trim();
        let bare = trimmed
            .strip_prefix("oai:arXiv.org:")
            .or_else(|| trimmed.strip_prefix("arXiv:"))
            .or_else(|| trimmed.strip_prefix("arxiv:"))
            .unwrap_or(trimmed);
        for re in [&*NEW_STYLE, &*OLD_STYLE] {
            if let Some(c) = re.captures(bare) {
                let version = c.get(2).and_then(|v| v.as_str().parse().ok());
                return Ok((ArxivId(c[1].to_string()), version));
            }
        }
        Err(ArxivIdError(input.to_string()))
    }

    /// Parses an identifier, dropping any version.
    pub fn parse(input: &str) -> Result<ArxivId, ArxivIdError> {
        Self::parse_versioned(input).map(|(id, _)| id)
    }

    /// Extracts the id from an arXiv URL such as `http://arxiv.org/abs/2606.13677v1`,
    /// `https://arxiv.org/pdf/2606.13677` or `https://export.arxiv.org/abs/astro-ph/0601001`.
    pub fn from_url(url: &str) -> Option<(ArxivId, Option<u32>)> {
        let parsed = url::Url::parse(url.trim()).ok()?;
        let host = parsed.host_str()?;
        if !(host == "arxiv.org" || host.ends_with(".arxiv.org")) {
            return None;
        }
        let path = parsed.path();
        let rest = ["/abs/", "/pdf/", "/html/"]
            .iter()
            .find_map(|p| path.strip_prefix(p))?;
        let rest = rest.trim_end_matches('/').trim_end_matches(".pdf");
        Self::parse_versioned(rest).ok()
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The abstract page, which is where a digest links (never the PDF).
    pub fn abs_url(&self) -> String {
        format!("https://arxiv.org/abs/{}", self.0)
    }
}

impl fmt::Display for ArxivId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_style_ids_lose_their_version() {
        assert_eq!(
            ArxivId::parse_versioned("2606.13677v1").unwrap(),
            (ArxivId("2606.13677".into()), Some(1))
        );
        assert_eq!(ArxivId::parse("0704.0001").unwrap().as_str(), "0704.0001");
        assert_eq!(
            ArxivId::parse("oai:arXiv.org:2604.21935v12")
                .unwrap()
                .as_str(),
            "2604.21935"
        );
    }

    #[test]
    fn old_style_ids_are_accepted_and_a_v_inside_the_archive_is_not_a_version() {
        assert_eq!(
            ArxivId::parse_versioned("astro-ph/0601001v1").unwrap(),
            (ArxivId("astro-ph/0601001".into()), Some(1))
        );
        assert_eq!(
            ArxivId::parse("solv-int/9901001").unwrap().as_str(),
            "solv-int/9901001"
        );
        assert_eq!(
            ArxivId::parse("math.GT/0309136v2").unwrap().as_str(),
            "math.GT/0309136"
        );
    }

    #[test]
    fn garbage_is_rejected() {
        for bad in [
            "",
            "abc",
            "2606.1",
            "12345.67890",
            "astro-ph/06",
            "2606.00467v",
        ] {
            assert!(ArxivId::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn ids_are_read_from_arxiv_urls_only() {
        assert_eq!(
            ArxivId::from_url("http://arxiv.org/abs/2606.13677v1").unwrap(),
            (ArxivId("2606.13677".into()), Some(1))
        );
        assert_eq!(
            ArxivId::from_url("https://arxiv.org/pdf/astro-ph/0601001v1")
                .unwrap()
                .0
                .as_str(),
            "astro-ph/0601001"
        );
        assert!(ArxivId::from_url("https://example.org/abs/2606.13677").is_none());
    }
}
