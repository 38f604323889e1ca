//! Finding the signed keys of a delivery in header values, wherever a
//! report quotes them: bounce-address and unsubscribe-address tokens, and
//! the token of an `https://…/unsubscribe/TOKEN` link. Shared by the mail
//! classifier and the webhook readers, with the [`Context`] both take.

use chrono::{DateTime, Utc};

use super::event::DeliveryKeys;
use super::verp::{self, SubscriberRef, TokenClaims};
use crate::links::{LinkSigner, Purpose};

/// What the mail classifier and the webhook readers need besides the
/// message or request.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    /// Verifies bounce-address and link tokens. Without it no token is
    /// trusted and only unsigned keys (Message-ID, addresses) are found.
    pub signer: Option<&'a LinkSigner>,
    /// The envelope recipient, when the MTA passes it (Postfix pipe's
    /// `${original_recipient}`, Exim's `$local_part+$local_part_suffix`,
    /// procmail's `$ORIGINAL_RECIPIENT`): the surest place for the token.
    /// Webhooks have none.
    pub envelope_recipient: Option<&'a str>,
    /// Now, for the expiry of `List-Unsubscribe` link tokens quoted in the
    /// returned headers.
    pub now: DateTime<Utc>,
}

impl<'a> Context<'a> {
    pub(crate) fn finder(&self) -> KeyFinder<'a> {
        KeyFinder {
            signer: self.signer,
            now: self.now,
        }
    }
}

/// Verifies tokens with the link-signing keys; without keys, finds none.
#[derive(Clone, Copy)]
pub(crate) struct KeyFinder<'a> {
    pub signer: Option<&'a LinkSigner>,
    pub now: DateTime<Utc>,
}

impl KeyFinder<'_> {
    /// The first valid address token in `text`.
    pub fn token(&self, text: &str) -> Option<TokenClaims> {
        verp::find_token(self.signer?, text)
    }

    /// Adds the token in `text`, if any, to `keys` (a key already found is
    /// kept: the first place searched is the surest).
    pub fn add_token(&self, text: &str, keys: &mut DeliveryKeys) {
        match self.token(text) {
            Some(TokenClaims::Bounce { delivery_id }) => {
                keys.delivery.get_or_insert(delivery_id);
            }
            Some(TokenClaims::Unsubscribe(who)) => {
                keys.subscriber.get_or_insert(who);
            }
            None => {}
        }
    }

    /// The subscriber named by an `https://…/unsubscribe/TOKEN` link in a
    /// `List-Unsubscribe` value, if its token verifies now.
    pub fn unsubscribe_link(&self, value: &str) -> Option<SubscriberRef> {
        let signer = self.signer?;
        value
            .split(['<', '>', ',', ' '])
            .filter_map(|item| {
                let item = item.trim();
                item.strip_prefix("https://")
                    .or_else(|| item.strip_prefix("http://"))
            })
            .filter_map(|rest| rest.rsplit_once("/unsubscribe/").map(|(_, t)| t))
            .map(|t| t.split(['?', '#', '/']).next().unwrap_or(""))
            .find_map(|t| signer.verify(t, Purpose::Unsubscribe, self.now).ok())
            .map(|c| SubscriberRef {
                subscriber_id: c.subscriber_id,
                link_version: c.link_version,
            })
    }

    /// Keys from one header of the returned original: its Message-ID, the
    /// tokens of Return-Path, List-Unsubscribe and the `X-` headers a
    /// provider may copy the envelope into.
    pub fn returned_header(&self, name: &str, value: &str, keys: &mut DeliveryKeys) {
        let name = name.to_ascii_lowercase();
        match name.as_str() {
            "message-id" => {
                let id = value.split_whitespace().next().unwrap_or("");
                keys.add_message_id(id);
            }
            "list-unsubscribe" => {
                if let Some(who) = self.unsubscribe_link(value) {
                    keys.subscriber.get_or_insert(who);
                }
            }
            _ => {}
        }
        if matches!(
            name.as_str(),
            "return-path" | "list-unsubscribe" | "sender" | "errors-to" | "from"
        ) || name.starts_with("x-")
        {
            self.add_token(value, keys);
        }
    }
}
