//! RFC 3834 automatic replies (out of office, vacation, "thanks for your
//! mail"): recognised by their headers, or by the subjects common
//! responders write, so that they are ignored rather than counted.

use std::sync::LazyLock;

use regex::Regex;

/// The top-level headers that tell an automatic reply, lower-cased names.
pub(crate) struct Headers<'a> {
    /// `(name, value)` pairs, names in any case.
    pub all: &'a [(String, String)],
    pub subject: &'a str,
}

impl Headers<'_> {
    fn get(&self, name: &str) -> Option<&str> {
        self.all
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim())
    }
}

/// Whether the message says it was sent automatically in reply
/// (`Auto-Submitted: auto-replied`, the vendors' `X-Autoreply` family,
/// `Precedence: auto_reply`) or carries an auto-reply subject.
pub(crate) fn is_auto_reply(h: &Headers<'_>) -> bool {
    if let Some(v) = h.get("auto-submitted") {
        let v = v.to_ascii_lowercase();
        if v.starts_with("auto-replied") {
            return true;
        }
    }
    for name in [
        "x-autoreply",
        "x-autorespond",
        "x-autoresponder",
        "x-auto-reply",
        "x-autoreply-from",
        "x-mail-autoreply",
        "x-vacation",
    ] {
        if let Some(v) = h.get(name) {
            if !matches!(v.to_ascii_lowercase().as_str(), "no" | "false" | "0") {
                return true;
            }
        }
    }
    for name in ["precedence", "x-precedence"] {
        if h.get(name).is_some_and(|v| {
            v.eq_ignore_ascii_case("auto_reply") || v.eq_ignore_ascii_case("auto-reply")
        }) {
            return true;
        }
    }
    if h.get("x-auto-response-suppress").is_some()
        && h.get("x-ms-exchange-inbox-rules-loop").is_some()
    {
        // Exchange's inbox-rule replies (out of office) carry both.
        return true;
    }
    subject_is_auto_reply(h.subject)
}

/// Subjects automatic responders write, in the languages most seen.
pub(crate) fn subject_is_auto_reply(subject: &str) -> bool {
    static SUBJECT: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(
            r"(?ix)^\s*(?:
                auto(?:matic|matische|matique)?[\s_-]*(?:reply|response|respons|antwort|réponse|reponse|answer|responder)
              | autoreply | autorespon\w*
              | auto: | autom\.\s*antwort
              | out\s+of\s+(?:the\s+)?office | ooo\b | away\s+(?:from|until) | away\b.*\bback
              | on\s+(?:vacation|holiday|leave) | vacation\b | holiday\s+notice
              | abwesen\w* | abwesenheitsnotiz | außer\s+haus | ausser\s+haus | nicht\s+im\s+büro
              | (?:réponse|reponse)\s+automatique | absence | absent
              | respuesta\s+autom[aá]tica | fuera\s+de\s+la\s+oficina
              | risposta\s+automatica | fuori\s+ufficio
              | automatisch\s+antwoord | afwezig
              | resposta\s+autom[aá]tica | ausente
              | 自動応答 | 自動返信 | 不在
            )",
        )
        .expect("static regex")
    });
    SUBJECT.is_match(subject)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(headers: &[(&str, &str)], subject: &str) -> bool {
        let all: Vec<(String, String)> = headers
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect();
        is_auto_reply(&Headers { all: &all, subject })
    }

    #[test]
    fn rfc_3834_and_vendor_headers_mark_an_auto_reply() {
        assert!(check(&[("Auto-Submitted", "auto-replied")], "Re: hello"));
        assert!(check(&[("X-Autoreply", "yes")], "Re: hello"));
        assert!(check(&[("Precedence", "auto_reply")], "Re: hello"));
        assert!(!check(&[("Auto-Submitted", "no")], "Re: hello"));
        assert!(!check(
            &[("Auto-Submitted", "auto-generated")],
            "Your digest"
        ));
        assert!(!check(&[("X-Autoreply", "no")], "Re: hello"));
    }

    #[test]
    fn common_auto_reply_subjects_are_recognised_and_ordinary_ones_are_not() {
        for s in [
            "Automatic reply: Your papers for today",
            "Auto: paperboy digest",
            "Out of Office: digest",
            "Abwesenheitsnotiz: digest",
            "Réponse automatique : digest",
            "AutoRespons :Nyaan",
            "Away until May 5",
        ] {
            assert!(subject_is_auto_reply(s), "{s}");
        }
        for s in [
            "Re: your paper",
            "Undelivered Mail Returned to Sender",
            "Officer report",
        ] {
            assert!(!subject_is_auto_reply(s), "{s}");
        }
    }
}
