//! The mails the subscriber pages send: the double opt-in confirmation,
//! and a fresh settings link for an address already confirmed. Nothing a
//! stranger typed goes into them, not even topic queries (anyone can
//! submit the form for any address, and a mail from the operator's domain
//! must not carry their text): the confirmation says what paperboy is and
//! links to the confirm page, which shows the topics behind the token.

use askama::Template;
use chrono::{DateTime, Utc};

use super::format::{ascii_html, tidy_text, RenderedEmail, ViewHelpers};
use super::message_id::{message_id, Occasion};
use crate::domain::{normalise_inline, SubscriberEmail, SubscriberId};
use crate::links::{link_url, LinkSigner, Purpose};
use crate::mail::{EmailKind, OutgoingEmail};

/// Which link mail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkMail {
    /// Double opt-in: a link that confirms the subscription.
    Confirm,
    /// A link to the subscriber's settings page.
    Manage,
}

/// One link mail to build: which, whom it goes to, and for a manage link
/// asked for from the subscribe form, the topics its settings page offers
/// to add (a confirmation carries none: nothing from the form).
#[derive(Debug, Clone)]
pub struct LinkMailRequest {
    pub kind: LinkMail,
    pub subscriber_id: SubscriberId,
    /// The subscriber's current link version: the link is signed at it.
    pub link_version: i64,
    pub to: SubscriberEmail,
    /// Manage links only: offered for adding, never added without a Save.
    pub topics: Vec<String>,
}

/// Everything the double opt-in confirmation email shows. Deliberately
/// nothing from the form: the topics are on the confirm page.
#[derive(Debug, Clone, Default)]
pub struct ConfirmView {
    pub confirm_url: String,
    pub site_name: String,
}

#[derive(Template)]
#[template(path = "email/confirm.html")]
struct ConfirmHtml<'a> {
    v: &'a ConfirmView,
}

#[derive(Template)]
#[template(path = "email/confirm.txt")]
struct ConfirmText<'a> {
    v: &'a ConfirmView,
}

#[derive(Template)]
#[template(path = "email/manage_link.html")]
struct ManageLinkHtml<'a> {
    site_name: &'a str,
    manage_url: &'a str,
}

#[derive(Template)]
#[template(path = "email/manage_link.txt")]
struct ManageLinkText<'a> {
    site_name: &'a str,
    manage_url: &'a str,
}

impl ViewHelpers for ConfirmText<'_> {}
impl ViewHelpers for ConfirmHtml<'_> {}

/// Renders the subscription confirmation mail.
pub fn render_confirm(view: &ConfirmView) -> Result<RenderedEmail, askama::Error> {
    Ok(RenderedEmail {
        subject: normalise_inline(&format!("Confirm your subscription to {}", view.site_name)),
        html: ascii_html(ConfirmHtml { v: view }.render()?),
        text: tidy_text(&ConfirmText { v: view }.render()?),
    })
}

/// Renders the mail with a fresh link to the settings page.
fn render_manage_link(site_name: &str, manage_url: &str) -> Result<RenderedEmail, askama::Error> {
    Ok(RenderedEmail {
        subject: format!("Your {site_name} settings link"),
        html: ManageLinkHtml {
            site_name,
            manage_url,
        }
        .render()?,
        text: ManageLinkText {
            site_name,
            manage_url,
        }
        .render()?,
    })
}

/// Builds link mails: signs each link and renders the mail around it.
#[derive(Debug, Clone)]
pub struct LinkMails {
    pub(super) signer: LinkSigner,
    /// `[web] base_url`: the links point there.
    pub(super) base_url: url::Url,
    pub(super) site_name: String,
    /// The right-hand side of Message-IDs: the `From:` domain.
    pub(super) domain: String,
}

impl LinkMails {
    pub fn new(signer: LinkSigner, base_url: url::Url, site_name: String, domain: String) -> Self {
        LinkMails {
            signer,
            base_url,
            site_name,
            domain,
        }
    }

    /// The mail for `request`, its link signed and its Message-ID fixed by
    /// the minute `now` (see [`Occasion`]).
    pub fn build(
        &self,
        request: LinkMailRequest,
        now: DateTime<Utc>,
    ) -> Result<OutgoingEmail, askama::Error> {
        let (purpose, occasion) = match request.kind {
            LinkMail::Confirm => (Purpose::Confirm, Occasion::Confirm(now)),
            LinkMail::Manage => (Purpose::Manage, Occasion::ManageLink(now)),
        };
        let token = self.signer.sign(
            purpose,
            request.subscriber_id,
            request.link_version,
            purpose.default_expiry(now),
        );
        let mut url = link_url(&self.base_url, purpose, &token);
        if request.kind == LinkMail::Manage && !request.topics.is_empty() {
            // Asked for from the subscribe form by a confirmed subscriber:
            // their settings page offers to add what they asked for.
            let mut query = url.query_pairs_mut();
            for topic in &request.topics {
                query.append_pair("add", topic);
            }
        }
        let url = url.to_string();
        let rendered = match request.kind {
            LinkMail::Confirm => render_confirm(&ConfirmView {
                confirm_url: url,
                site_name: self.site_name.clone(),
            })?,
            LinkMail::Manage => render_manage_link(&self.site_name, &url)?,
        };
        Ok(self.transactional(request.to, rendered, occasion, request.subscriber_id, now))
    }

    /// A transactional mail to one subscriber (confirmation, settings link,
    /// welcome): no list headers, and a Message-ID fixed by its occasion.
    pub(super) fn transactional(
        &self,
        to: SubscriberEmail,
        rendered: RenderedEmail,
        occasion: Occasion,
        subscriber_id: SubscriberId,
        now: DateTime<Utc>,
    ) -> OutgoingEmail {
        OutgoingEmail {
            to,
            subject: rendered.subject,
            html: rendered.html,
            text: rendered.text,
            message_id: message_id(occasion, subscriber_id, &self.domain),
            date: now,
            list_unsubscribe: None,
            list_unsubscribe_mailto: None,
            kind: EmailKind::Confirmation,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::links::SigningKeys;

    #[test]
    fn the_confirmation_mail_says_what_paperboy_is_and_carries_the_link() {
        let c = render_confirm(&ConfirmView {
            confirm_url: "https://example.org/confirm/TOK".into(),
            site_name: "Paperboy".into(),
        })
        .unwrap();
        assert_eq!(c.subject, "Confirm your subscription to Paperboy");
        assert!(c.html.contains("href=\"https://example.org/confirm/TOK\""));
        assert!(c.text.contains("\nhttps://example.org/confirm/TOK\n"));
        let words = c.text.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(words.contains("a paper digest service"), "{words}");
        assert!(c.html.contains("shows what you will receive"));
        assert!(!c.html.contains("Unsubscribe"));
    }

    #[test]
    fn a_link_mail_carries_a_signed_link_of_its_purpose_and_a_stable_id() {
        let signer = LinkSigner::new(SigningKeys::from_secrets([vec![7u8; 32]]).unwrap());
        let mails = LinkMails::new(
            signer.clone(),
            "https://example.org/papers/".parse().unwrap(),
            "Paperboy".into(),
            "mail.example.org".into(),
        );
        let now = DateTime::parse_from_rfc3339("2026-11-26T18:05:30Z")
            .unwrap()
            .with_timezone(&Utc);
        let request = |kind| LinkMailRequest {
            kind,
            subscriber_id: SubscriberId::new(42),
            link_version: 3,
            to: SubscriberEmail::parse("ada@example.org").unwrap(),
            topics: vec!["ti:diffusion".to_string()],
        };
        for (kind, purpose, prefix) in [
            (
                LinkMail::Confirm,
                Purpose::Confirm,
                "<confirm.202611261805.42.",
            ),
            (
                LinkMail::Manage,
                Purpose::Manage,
                "<manage-link.202611261805.42.",
            ),
        ] {
            let mail = mails.build(request(kind), now).unwrap();
            assert!(mail.message_id.starts_with(prefix), "{}", mail.message_id);
            assert!(mail.message_id.ends_with("@mail.example.org>"));
            assert_eq!(
                mail.message_id,
                mails.build(request(kind), now).unwrap().message_id
            );
            let base = format!("https://example.org/papers/{}/", purpose.path_segment());
            let link = mail
                .text
                .split_whitespace()
                .find_map(|w| w.strip_prefix(base.as_str()))
                .unwrap_or_else(|| panic!("no {base} link in {:?}", mail.text));
            let (token, query) = link.split_once('?').unwrap_or((link, ""));
            if kind == LinkMail::Manage {
                assert_eq!(query, "add=ti%3Adiffusion");
            } else {
                assert_eq!(query, "");
            }
            let claims = signer.verify(token, purpose, now).unwrap();
            assert_eq!(
                (claims.subscriber_id, claims.link_version),
                (SubscriberId::new(42), 3)
            );
            assert!(mail.list_unsubscribe.is_none());
        }
    }
}
