//! Turning an [`OutgoingEmail`] into an RFC 5322 message: multipart text +
//! HTML, deterministic Message-ID, and the list headers mailbox providers
//! require (RFC 2369 `List-Unsubscribe`, RFC 8058 one-click, RFC 2919
//! `List-Id`, RFC 3834 `Auto-Submitted`). It renders no templates and opens
//! no connections.

use std::time::SystemTime;

use chrono::{DateTime, Utc};
use lettre::message::header::{
    ContentTransferEncoding, ContentType, Header, HeaderName, HeaderValue,
};
use lettre::message::{Body, Mailbox, MultiPart, SinglePart};
use lettre::Message;

use crate::domain::{normalise_inline, SubscriberEmail};

/// What kind of mail this is; decides the bulk/list headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EmailKind {
    /// The daily/weekly digest: a list mail (`Precedence: bulk`, `List-Id`).
    Digest,
    /// A double opt-in confirmation: transactional, no list headers.
    Confirmation,
}

/// One message ready to send. Every text field is already rendered.
#[derive(Debug, Clone)]
pub struct OutgoingEmail {
    pub to: SubscriberEmail,
    /// CR and LF are replaced by spaces when the message is built.
    pub subject: String,
    pub html: String,
    pub text: String,
    /// Deterministic id (see `crate::email::message_id`): re-sending the same mail keeps
    /// the same id, so the file outbox overwrites and receivers can dedupe.
    pub message_id: String,
    pub date: DateTime<Utc>,
    /// One-click unsubscribe URL; `None` for confirmation mails.
    pub list_unsubscribe: Option<url::Url>,
    pub kind: EmailKind,
}

macro_rules! text_header {
    ($(#[$doc:meta])* $ty:ident, $name:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub struct $ty(pub String);

        impl Header for $ty {
            fn name() -> HeaderName {
                HeaderName::new_from_ascii_str($name)
            }

            fn parse(s: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
                Ok($ty(s.trim().to_string()))
            }

            fn display(&self) -> HeaderValue {
                HeaderValue::new(Self::name(), normalise_inline(&self.0))
            }
        }
    };
}

text_header!(
    /// RFC 2369 `List-Unsubscribe: <https://…/unsubscribe/TOKEN>`.
    ListUnsubscribe,
    "List-Unsubscribe"
);
text_header!(
    /// RFC 8058 `List-Unsubscribe-Post: List-Unsubscribe=One-Click`.
    ListUnsubscribePost,
    "List-Unsubscribe-Post"
);
text_header!(
    /// RFC 2919 `List-Id: <digest.example.org>`.
    ListId,
    "List-Id"
);
text_header!(
    /// RFC 3834 `Auto-Submitted: auto-generated`: keeps vacation responders quiet.
    AutoSubmitted,
    "Auto-Submitted"
);
text_header!(
    /// `Precedence: bulk`: the de-facto signal for list mail.
    Precedence,
    "Precedence"
);

/// A message built, signed and formatted once: what goes on the wire, for
/// every attempt to send it. Made by [`super::Mailer::prepare`], which may
/// run on any thread, away from the sending task.
#[derive(Debug, Clone)]
pub struct PreparedEmail {
    pub(crate) envelope: lettre::address::Envelope,
    pub(crate) bytes: Vec<u8>,
    pub(crate) message_id: String,
    /// The envelope sender when it is a per-delivery bounce address rather
    /// than the `From:` address; the file outbox writes it as the
    /// `Return-Path:` a delivering MTA would add.
    pub(crate) return_path: Option<String>,
}

impl PreparedEmail {
    /// The formatted message (headers and body, CRLF line ends).
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }
}

/// Sender identity shared by every message of one mailer.
#[derive(Debug, Clone)]
pub(crate) struct Composer {
    pub from: Mailbox,
    pub list_id: String,
    /// Signs every built message when `[mail.dkim]` is set.
    pub dkim: Option<super::DkimSigner>,
}

impl Composer {
    /// Builds and formats `email`. The envelope sender (`MAIL FROM`) is
    /// `return_path` when given (a per-delivery bounce address), else the
    /// `From:` address.
    pub fn prepare(
        &self,
        email: &OutgoingEmail,
        return_path: Option<&str>,
    ) -> Result<PreparedEmail, lettre::error::Error> {
        let message = self.build(email)?;
        let envelope = match return_path {
            Some(path) => {
                let from: lettre::Address = path
                    .parse()
                    .map_err(|_| lettre::error::Error::MissingFrom)?;
                lettre::address::Envelope::new(Some(from), message.envelope().to().to_vec())?
            }
            None => message.envelope().clone(),
        };
        Ok(PreparedEmail {
            envelope,
            bytes: message.formatted(),
            message_id: email.message_id.clone(),
            return_path: return_path.map(str::to_string),
        })
    }

    pub fn build(&self, email: &OutgoingEmail) -> Result<Message, lettre::error::Error> {
        let to: lettre::Address = email
            .to
            .to_ascii()
            .parse()
            .map_err(|_| lettre::error::Error::MissingTo)?;
        // Header values never carry line breaks (nor other control
        // characters): a CR/LF in a subject would let the text after it
        // become a header of its own.
        let mut builder = Message::builder()
            .from(self.from.clone())
            .to(Mailbox::new(None, to))
            .subject(normalise_inline(&email.subject))
            .date(SystemTime::from(email.date))
            .message_id(Some(normalise_inline(&email.message_id)))
            .header(AutoSubmitted("auto-generated".into()));
        if let Some(url) = &email.list_unsubscribe {
            builder = builder
                .header(ListUnsubscribe(format!("<{url}>")))
                .header(ListUnsubscribePost("List-Unsubscribe=One-Click".into()));
        }
        if email.kind == EmailKind::Digest {
            builder = builder
                .header(ListId(self.list_id.clone()))
                .header(Precedence("bulk".into()));
        }
        let mut message = builder.multipart(
            MultiPart::alternative()
                .singlepart(
                    SinglePart::builder()
                        .header(ContentType::TEXT_PLAIN)
                        .body(encoded_body(&email.text)),
                )
                .singlepart(
                    SinglePart::builder()
                        .header(ContentType::TEXT_HTML)
                        .body(encoded_body(&email.html)),
                ),
        )?;
        if let Some(signer) = &self.dkim {
            signer.sign(&mut message);
        }
        Ok(message)
    }
}

/// Longest line a 7bit body may carry, CRLF not counted (RFC 5322 2.1.1).
const MAX_LINE_OCTETS: usize = 998;

/// A MIME body with its transfer encoding chosen in one pass: `7bit` when
/// `text` is ASCII without NUL or bare CR and no line is longer than 998
/// octets (the renderer keeps the HTML part so), else quoted-printable,
/// which keeps a text part readable; never base64. lettre's own choice
/// (`Body::new`) caps 7bit lines at 76 characters, so an HTML part would
/// always be quoted-printable, and it scans and copies the text several
/// times; both encodings here are one pass that also makes the line ends
/// CRLF. Kept by hand for a measured reason: lettre's quoted-printable path
/// (chooser, CRLF pass, encoder) was 9 % of a digest run's samples; this
/// one-pass encoding, `memmem` dot-stuffing and ledger rows without
/// RETURNING, measured together, took a run of 20,000 digests from 16.3 to
/// 12.2 CPU seconds (BENCHMARKS.md, "Rendered paper blocks, page-wide
/// reservations, one-pass encodings").
fn encoded_body(text: &str) -> Body {
    match seven_bit_crlf(text) {
        Some(crlf) => Body::dangerous_pre_encoded(crlf, ContentTransferEncoding::SevenBit),
        None => Body::dangerous_pre_encoded(
            quoted_printable_crlf(text),
            ContentTransferEncoding::QuotedPrintable,
        ),
    }
}

/// Longest line of a quoted-printable body, a soft break's `=` included
/// (RFC 2045 6.7).
const QP_LINE_OCTETS: usize = 76;

/// `text` quoted-printable encoded (RFC 2045 6.7) with CRLF line ends. A
/// line short enough, of printable ASCII without `=` and not ending in
/// white space (most lines of a wrapped text part) is copied as it is;
/// any other is encoded octet by octet, with soft line breaks.
fn quoted_printable_crlf(text: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len() + text.len() / 16);
    let mut pieces = text.split('\n').peekable();
    while let Some(piece) = pieces.next() {
        let ends_line = pieces.peek().is_some();
        let line = if ends_line {
            piece.strip_suffix('\r').unwrap_or(piece)
        } else {
            piece
        };
        quoted_printable_line(line.as_bytes(), &mut out);
        if ends_line {
            out.extend_from_slice(b"\r\n");
        }
    }
    out
}

/// Octets a quoted-printable line carries as they are: printable ASCII
/// but `=` (1), and space and tab (2), which may not end a line.
const QP_CLASS: [u8; 256] = {
    let mut class = [0u8; 256];
    let mut b = b'!';
    while b <= b'~' {
        class[b as usize] = 1;
        b += 1;
    }
    class[b'=' as usize] = 0;
    class[b' ' as usize] = 2;
    class[b'\t' as usize] = 2;
    class
};

fn quoted_printable_line(line: &[u8], out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let literal = |b: u8| QP_CLASS[usize::from(b)] == 1;
    let blank = |b: u8| QP_CLASS[usize::from(b)] == 2;
    if line.len() <= QP_LINE_OCTETS
        && line.iter().all(|&b| QP_CLASS[usize::from(b)] != 0)
        && !line.last().is_some_and(|&b| blank(b))
    {
        out.extend_from_slice(line);
        return;
    }
    let mut len = 0;
    for (i, &b) in line.iter().enumerate() {
        let last = i + 1 == line.len();
        // White space stays literal unless it would end the line.
        let plain = literal(b) || (blank(b) && !last);
        let width = if plain { 1 } else { 3 };
        // Every line but the last keeps room for its soft break's `=`.
        let room = if last {
            QP_LINE_OCTETS
        } else {
            QP_LINE_OCTETS - 1
        };
        if len + width > room {
            out.extend_from_slice(b"=\r\n");
            len = 0;
        }
        if plain {
            out.push(b);
        } else {
            out.extend_from_slice(&[b'=', HEX[usize::from(b >> 4)], HEX[usize::from(b & 15)]]);
        }
        len += width;
    }
}

/// `text` with LF line ends turned into CRLF, if it is fit to go out as
/// 7bit; `None` otherwise.
fn seven_bit_crlf(text: &str) -> Option<Vec<u8>> {
    if !text.is_ascii() || text.contains('\0') {
        return None;
    }
    let mut out = Vec::with_capacity(text.len() + text.len() / 32);
    for piece in text.split_inclusive('\n') {
        let (line, ends_line) = match piece.strip_suffix('\n') {
            Some(line) => (line.strip_suffix('\r').unwrap_or(line), true),
            None => (piece, false),
        };
        if line.len() > MAX_LINE_OCTETS || line.contains('\r') {
            return None;
        }
        out.extend_from_slice(line.as_bytes());
        if ends_line {
            out.extend_from_slice(b"\r\n");
        }
    }
    Some(out)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use chrono::TimeZone;
    use mail_parser::{HeaderValue as PHeader, MessageParser, MimeHeaders};

    pub(crate) fn sample(kind: EmailKind) -> OutgoingEmail {
        OutgoingEmail {
            to: SubscriberEmail::parse("ada@example.org").unwrap(),
            subject: "7 new papers on your topics — 12 Jun 2026\r\nBcc: evil@example.org".into(),
            html: "<p>Hello <b>Ada</b> — ünïcödé</p>".into(),
            text: "Hello Ada — ünïcödé\nhttps://example.org/p/unsubscribe/TOKEN\n".into(),
            message_id: match kind {
                EmailKind::Digest => "<digest.2026-06-12.42.0a1b2c3d4e5f@example.org>",
                EmailKind::Confirmation => "<confirm.2026-06-12.42.0a1b2c3d4e5f@example.org>",
            }
            .into(),
            date: Utc.with_ymd_and_hms(2026, 6, 12, 6, 30, 0).unwrap(),
            list_unsubscribe: (kind == EmailKind::Digest)
                .then(|| url::Url::parse("https://example.org/p/unsubscribe/AbC-_123").unwrap()),
            kind,
        }
    }

    pub(crate) fn composer() -> Composer {
        Composer {
            from: "Paperboy <papers@example.org>".parse().unwrap(),
            list_id: "<digest.example.org>".into(),
            dkim: None,
        }
    }

    fn header<'a>(msg: &'a mail_parser::Message<'a>, name: &str) -> Option<String> {
        msg.header_raw(name).map(|v| v.trim().to_string())
    }

    #[test]
    fn a_digest_carries_every_list_header_and_both_parts_text_first() {
        let raw = composer()
            .build(&sample(EmailKind::Digest))
            .unwrap()
            .formatted();
        let msg = MessageParser::default().parse(&raw).unwrap();

        assert_eq!(
            msg.subject().unwrap(),
            "7 new papers on your topics — 12 Jun 2026 Bcc: evil@example.org"
        );
        assert!(msg.header("Bcc").is_none());
        let from = msg.from().unwrap().first().unwrap();
        assert_eq!(from.address().unwrap(), "papers@example.org");
        assert_eq!(from.name().unwrap(), "Paperboy");
        assert_eq!(
            msg.to().unwrap().first().unwrap().address().unwrap(),
            "ada@example.org"
        );
        let expected_id = sample(EmailKind::Digest).message_id;
        assert_eq!(
            msg.message_id().unwrap(),
            expected_id.trim_start_matches('<').trim_end_matches('>')
        );
        assert_eq!(msg.date().unwrap().to_timestamp(), 1_781_245_800);
        assert_eq!(
            header(&msg, "List-Unsubscribe").unwrap(),
            "<https://example.org/p/unsubscribe/AbC-_123>"
        );
        assert_eq!(
            header(&msg, "List-Unsubscribe-Post").unwrap(),
            "List-Unsubscribe=One-Click"
        );
        assert_eq!(header(&msg, "List-Id").unwrap(), "<digest.example.org>");
        assert_eq!(header(&msg, "Auto-Submitted").unwrap(), "auto-generated");
        assert_eq!(header(&msg, "Precedence").unwrap(), "bulk");

        let ct = msg.content_type().unwrap();
        assert_eq!(
            (ct.ctype(), ct.subtype()),
            ("multipart", Some("alternative"))
        );
        assert_eq!(msg.text_body.len(), 1);
        assert_eq!(msg.html_body.len(), 1);
        assert!(
            msg.text_body[0] < msg.html_body[0],
            "text part must come first"
        );
        assert_eq!(
            msg.body_text(0).unwrap().replace("\r\n", "\n"),
            sample(EmailKind::Digest).text
        );
        assert!(msg.body_html(0).unwrap().contains("<b>Ada</b> — ünïcödé"));
        assert!(!matches!(msg.header("Precedence"), Some(PHeader::Empty)));
    }

    #[test]
    fn a_long_unsubscribe_url_survives_header_folding_intact() {
        let url = format!(
            "https://papers.example.org/some/deep/prefix/unsubscribe/{}",
            "AbCdEfGh-_".repeat(8)
        );
        let mut email = sample(EmailKind::Digest);
        email.list_unsubscribe = Some(url::Url::parse(&url).unwrap());
        let raw = composer().build(&email).unwrap().formatted();
        let msg = MessageParser::default().parse(&raw).unwrap();
        let value: String = header(&msg, "List-Unsubscribe")
            .unwrap()
            .split_whitespace()
            .collect();
        assert_eq!(value, format!("<{url}>"));
        let text = String::from_utf8_lossy(&raw);
        let line = text
            .split("\r\n")
            .find(|l| l.starts_with("List-Unsubscribe:"))
            .unwrap();
        assert_eq!(
            line,
            format!("List-Unsubscribe: <{url}>"),
            "folded or MIME-encoded"
        );
    }

    #[test]
    fn a_confirmation_mail_has_no_list_headers() {
        let raw = composer()
            .build(&sample(EmailKind::Confirmation))
            .unwrap()
            .formatted();
        let msg = MessageParser::default().parse(&raw).unwrap();
        for absent in [
            "List-Unsubscribe",
            "List-Unsubscribe-Post",
            "List-Id",
            "Precedence",
        ] {
            assert!(header(&msg, absent).is_none(), "{absent} should be absent");
        }
        assert_eq!(header(&msg, "Auto-Submitted").unwrap(), "auto-generated");
        assert!(msg
            .message_id()
            .unwrap()
            .starts_with("confirm.2026-06-12.42."));
    }

    #[test]
    fn a_body_is_7bit_with_crlf_only_when_ascii_with_short_lines_and_no_bare_cr() {
        assert_eq!(
            seven_bit_crlf("a\nb\r\nc\n").as_deref(),
            Some(&b"a\r\nb\r\nc\r\n"[..])
        );
        assert_eq!(
            seven_bit_crlf("no newline").as_deref(),
            Some(&b"no newline"[..])
        );
        assert_eq!(
            seven_bit_crlf(&"x".repeat(MAX_LINE_OCTETS)).map(|v| v.len()),
            Some(MAX_LINE_OCTETS)
        );
        for unfit in [
            "x".repeat(MAX_LINE_OCTETS + 1),
            "a\rb".into(),
            "ends in a bare CR\r".into(),
            "caf\u{e9}".into(),
            "nul \0 byte".into(),
        ] {
            assert!(seven_bit_crlf(&unfit).is_none(), "{unfit:?}");
        }
    }

    /// RFC 2045 6.7 decoding, strict: anything but a soft break, `=XX` in
    /// upper-case hex or a literal octet fails the test.
    fn qp_decode(encoded: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut i = 0;
        while i < encoded.len() {
            match encoded[i] {
                b'=' if encoded[i + 1..].starts_with(b"\r\n") => i += 3,
                b'=' => {
                    let hex = std::str::from_utf8(&encoded[i + 1..i + 3]).unwrap();
                    assert_eq!(hex, hex.to_ascii_uppercase());
                    out.push(u8::from_str_radix(hex, 16).unwrap());
                    i += 3;
                }
                b => {
                    out.push(b);
                    i += 1;
                }
            }
        }
        out
    }

    fn assert_fit_quoted_printable(encoded: &[u8]) {
        let text = std::str::from_utf8(encoded).expect("ASCII");
        assert!(text.is_ascii(), "{text:?}");
        for line in text.split("\r\n") {
            assert!(line.len() <= QP_LINE_OCTETS, "{line:?}");
            assert!(!line.ends_with([' ', '\t']), "{line:?}");
            assert!(!line.contains(['\r', '\n']), "{line:?}");
        }
    }

    #[test]
    fn quoted_printable_copies_plain_lines_and_encodes_the_rest() {
        assert_eq!(
            quoted_printable_crlf("plain line\nsecond\r\n\nlast"),
            b"plain line\r\nsecond\r\n\r\nlast"
        );
        assert_eq!(quoted_printable_crlf(""), b"");
        assert_eq!(
            quoted_printable_crlf("caf\u{e9} = 1 \nbare\rcr\n"),
            b"caf=C3=A9 =3D 1=20\r\nbare=0Dcr\r\n"
        );
        let long = "word ".repeat(40);
        let encoded = quoted_printable_crlf(&long);
        assert_fit_quoted_printable(&encoded);
        assert_eq!(qp_decode(&encoded), long.as_bytes());
    }

    proptest::proptest! {
        #[test]
        fn quoted_printable_decodes_to_the_text_with_crlf_line_ends(
            text in "([a-z=. \t\r\n\u{e9}\u{2026}\u{1f680}]{0,30}){0,12}"
        ) {
            let encoded = quoted_printable_crlf(&text);
            assert_fit_quoted_printable(&encoded);
            let expected: Vec<u8> = text
                .split('\n')
                .map(|l| l.strip_suffix('\r').unwrap_or(l))
                .collect::<Vec<_>>()
                .join("\r\n")
                .into_bytes();
            // A CR ending the text is not a line end: it stays, encoded.
            let expected = if text.ends_with('\r') && !text.ends_with("\r\n") {
                [&expected[..], b"\r"].concat()
            } else {
                expected
            };
            proptest::prop_assert_eq!(qp_decode(&encoded), expected);
        }
    }

    fn transfer_encoding(msg: &mail_parser::Message<'_>, part: u32) -> String {
        msg.part(part)
            .and_then(|p| p.content_transfer_encoding())
            .unwrap_or("")
            .to_ascii_lowercase()
    }

    #[test]
    fn an_html_line_too_long_for_7bit_goes_quoted_printable_and_arrives_intact() {
        let mut email = sample(EmailKind::Digest);
        email.html = format!("<p>{}\u{e9}</p>\n", "x".repeat(2000));
        let raw = composer().build(&email).unwrap().formatted();
        let msg = MessageParser::default().parse(&raw).unwrap();
        assert_eq!(
            transfer_encoding(&msg, msg.html_body[0]),
            "quoted-printable"
        );
        assert_eq!(msg.body_html(0).unwrap().replace("\r\n", "\n"), email.html);
    }

    #[test]
    fn a_digest_with_non_ascii_names_reads_the_same_in_both_parts() {
        use crate::email::digest::{
            render_digest, DigestView, PaperBlock, PaperView, Span, TopicSection,
        };
        let names = [
            "M\u{fc}ller",
            "\u{15a}liwi\u{144}ski",
            "\u{6df1}\u{5ea6}\u{5b66}\u{4e60}",
            "\u{1f680} Launch",
        ];
        let paper = |name: &str| PaperView {
            title: format!("{name}: \u{201c}quotes\u{201d} \u{2014} and dashes"),
            url: "https://arxiv.org/abs/2606.01234".into(),
            authors: format!("J\u{f6}rg {name}, Zo\u{eb} \u{c5}ngstr\u{f6}m"),
            // Long enough that the HTML line must be broken to stay short.
            excerpt: vec![
                Span::plain(format!("{name} ").repeat(30)),
                Span::hit(name.to_string()),
            ],
            matched: format!("au:{name}"),
            ..PaperView::default()
        };
        let view = DigestView {
            date_label: "Friday, 12 June 2026".into(),
            short_date: "12 Jun 2026".into(),
            sections: vec![TopicSection {
                name: "\u{dc}n\u{ef}c\u{f6}d\u{e9}".into(),
                query: "au:m\u{fc}ller".into(),
                papers: names
                    .iter()
                    .map(|n| PaperBlock::render(&paper(n)).unwrap().into())
                    .collect(),
            }],
            total_count: names.len(),
            manage_url: "https://example.org/manage/M".into(),
            unsubscribe_url: "https://example.org/unsubscribe/U".into(),
            site_name: "Paperboy".into(),
            base_url: "https://example.org/".into(),
            ..DigestView::default()
        };
        let rendered = render_digest(&view).unwrap();
        let mut email = sample(EmailKind::Digest);
        email.html = rendered.html.clone();
        email.text = rendered.text.clone();
        let raw = composer().build(&email).unwrap().formatted();
        for line in raw.split(|&b| b == b'\n') {
            assert!(
                line.len() <= MAX_LINE_OCTETS + 1,
                "a line of {} octets",
                line.len()
            );
        }
        let msg = MessageParser::default().parse(&raw).unwrap();

        // The text part: exactly what was rendered, readable, never base64.
        assert_eq!(
            transfer_encoding(&msg, msg.text_body[0]),
            "quoted-printable"
        );
        let text = msg.body_text(0).unwrap().replace("\r\n", "\n");
        assert_eq!(text, rendered.text);

        // The HTML part: 7bit, pure ASCII, short lines, the same text.
        assert_eq!(transfer_encoding(&msg, msg.html_body[0]), "7bit");
        let html = msg.body_html(0).unwrap();
        assert!(html.is_ascii());
        assert!(html.split("\r\n").all(|l| l.len() <= MAX_LINE_OCTETS));
        assert!(
            html.split("\r\n")
                .any(|l| l.len() > 100 && l.contains("&#")),
            "the excerpt lines should carry character references"
        );
        let words = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
        let shown = words(&html_escape::decode_html_entities(&html));
        for name in names {
            for phrase in [
                format!("{name}: \u{201c}quotes\u{201d} \u{2014} and dashes"),
                format!("J\u{f6}rg {name}, Zo\u{eb} \u{c5}ngstr\u{f6}m"),
                words(&format!("{name} ").repeat(30)),
            ] {
                assert!(shown.contains(&phrase), "HTML lacks {phrase:?}");
                assert!(words(&text).contains(&phrase), "text lacks {phrase:?}");
            }
        }
    }
}
