//! RFC 5965 feedback reports (ARF): the fields of a
//! `message/feedback-report` part.

use super::address;
use super::event::FeedbackType;
use super::fields;

/// The fields paperboy uses from one feedback report.
#[derive(Debug, Default)]
pub(crate) struct ArfReading {
    pub feedback_type: Option<FeedbackType>,
    pub user_agent: Option<String>,
    /// `Original-Mail-From`: the envelope sender of the reported mail,
    /// which for paperboy is the delivery's bounce address.
    pub original_mail_from: Option<String>,
    /// `Original-Rcpt-To` and `Removal-Recipient` addresses (often redacted
    /// by the reporting provider).
    pub recipients: Vec<String>,
}

pub(crate) fn read(body: &str) -> ArfReading {
    let all: Vec<fields::Field> = fields::groups(body).into_iter().flatten().collect();
    let mut reading = ArfReading {
        feedback_type: fields::get(&all, "feedback-type").map(FeedbackType::parse),
        user_agent: fields::get(&all, "user-agent")
            .map(|u| address::one_line(u).chars().take(100).collect()),
        original_mail_from: fields::get(&all, "original-mail-from").map(str::to_string),
        recipients: Vec::new(),
    };
    for name in ["original-rcpt-to", "removal-recipient"] {
        for value in fields::get_all(&all, name) {
            if let Some(a) = address::first_in(value) {
                reading.recipients.push(a);
            }
        }
    }
    reading
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fields_of_an_abuse_report_are_read() {
        let r = read(
            "Feedback-Type: abuse\nUser-Agent: SomeGenerator/1.0\nVersion: 1\nOriginal-Mail-From: <bounces+x@example.org>\nOriginal-Rcpt-To: <user@example.com>\nRemoval-Recipient: user@example.com\n",
        );
        assert_eq!(r.feedback_type, Some(FeedbackType::Abuse));
        assert_eq!(r.user_agent.as_deref(), Some("SomeGenerator/1.0"));
        assert_eq!(
            r.original_mail_from.as_deref(),
            Some("<bounces+x@example.org>")
        );
        assert_eq!(r.recipients, vec!["user@example.com", "user@example.com"]);
    }
}
