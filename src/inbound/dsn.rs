//! RFC 3464 delivery status notifications: the per-recipient fields of a
//! `message/delivery-status` part (RFC 6533's `message/global-delivery-status`
//! too), read into failed recipients.

use super::address;
use super::event::FailedRecipient;
use super::fields::{self, Field};
use super::status::{find_reply_code, BounceCause, Severity, StatusCode};

/// What the DSN parts say, recipient by recipient.
#[derive(Debug, Default)]
pub(crate) struct DsnReading {
    /// Recipients whose delivery failed or is delayed.
    pub failed: Vec<FailedRecipient>,
    /// Recipients reported delivered, relayed or expanded.
    pub succeeded: usize,
    /// Every address in `Final-Recipient`/`Original-Recipient`, for keys.
    pub addresses: Vec<String>,
}

/// Reads every per-recipient group of the given DSN bodies.
pub(crate) fn read(bodies: &[String]) -> DsnReading {
    let mut reading = DsnReading::default();
    // One delivery has one recipient; a report naming hundreds is read
    // only so far.
    for body in bodies {
        for group in recipient_groups(body).into_iter().take(100) {
            read_recipient(&group, &mut reading);
        }
    }
    reading
}

/// Per-recipient groups: those with a recipient field. A DSN that forgot the
/// blank line between two recipients is split at the second
/// `Final-Recipient`.
fn recipient_groups(body: &str) -> Vec<Vec<Field>> {
    let mut out = Vec::new();
    for group in fields::groups(body) {
        let mut current: Vec<Field> = Vec::new();
        for field in group {
            let starts_new = field.name.eq_ignore_ascii_case("final-recipient")
                && fields::get(&current, "final-recipient").is_some();
            if starts_new {
                out.push(std::mem::take(&mut current));
            }
            current.push(field);
        }
        let has_recipient = fields::get(&current, "final-recipient").is_some()
            || fields::get(&current, "original-recipient").is_some();
        if has_recipient {
            out.push(current);
        }
    }
    out
}

fn read_recipient(group: &[Field], reading: &mut DsnReading) {
    let final_rcpt = fields::get(group, "final-recipient").map(fields::typed_value);
    let original = fields::get(group, "original-recipient").map(fields::typed_value);
    for raw in [original, final_rcpt].into_iter().flatten() {
        if let Some(a) = address::first_in(raw) {
            reading.addresses.push(a);
        }
    }
    let action = fields::get(group, "action")
        .map(|a| a.trim().to_ascii_lowercase())
        .unwrap_or_default();
    let status = fields::get(group, "status").and_then(StatusCode::parse);
    let diagnostic = fields::get(group, "diagnostic-code").map(fields::typed_value);
    let diagnostic_status = diagnostic.and_then(StatusCode::find_in);
    let smtp_code = diagnostic.and_then(find_reply_code).or_else(|| {
        diagnostic
            .and_then(|d| d.get(..3))
            .and_then(|c| c.parse::<u16>().ok())
            .filter(|c| matches!(c, 200..=259 | 400..=459 | 500..=559))
    });

    let success_action = matches!(
        action.as_str(),
        "delivered" | "relayed" | "expanded" | "deliverable"
    );
    let failure_action = action.starts_with("fail") || action.starts_with("delay");
    let success_status = status.is_some_and(StatusCode::is_success);
    if success_action || (!failure_action && success_status) {
        reading.succeeded += 1;
        return;
    }

    // The remote server's own enhanced code, when its reply quotes one,
    // decides over the reporting MTA's Status (Postfix writes 4.5.0 for a
    // greeting refused with 550 5.5.0); then Status (RFC 3464 §2.3.4).
    let effective = diagnostic_status
        .filter(|s| !s.is_success())
        .or(status.filter(|s| !s.is_success()));
    let severity = match (effective, smtp_code) {
        (Some(s), _) if s.is_transient() => Severity::Soft,
        (Some(_), _) => Severity::Hard,
        (None, Some(400..=499)) => Severity::Soft,
        (None, Some(500..=599)) => Severity::Hard,
        (None, _) if action == "delayed" => Severity::Soft,
        // "failed" means the MTA will not try again.
        _ => Severity::Hard,
    };
    let cause = BounceCause::of_report(status, diagnostic_status, diagnostic);
    reading.failed.push(FailedRecipient {
        // The address paperboy sent to is the Original-Recipient (ORCPT)
        // when the relays kept it; Final-Recipient may be a forward target.
        address: original
            .and_then(address::first_in)
            .and_then(|a| address::parse(&a))
            .or_else(|| {
                final_rcpt
                    .and_then(address::first_in)
                    .and_then(|a| address::parse(&a))
            }),
        severity,
        cause,
        status: effective,
        smtp_code,
        diagnostic: diagnostic.map(address::one_line),
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_recipient_with_a_permanent_status_is_hard() {
        let body = "Reporting-MTA: dns; mx.example\n\nFinal-Recipient: rfc822; gone@example.org\nAction: failed\nStatus: 5.1.1\nDiagnostic-Code: smtp; 550 5.1.1 <gone@example.org>: Recipient address rejected: User unknown\n";
        let r = read(&[body.to_string()]);
        assert_eq!(r.failed.len(), 1);
        let f = &r.failed[0];
        assert_eq!(f.severity, Severity::Hard);
        assert_eq!(f.cause, BounceCause::Recipient);
        assert_eq!(f.smtp_code, Some(550));
        assert_eq!(f.address.as_ref().unwrap().as_str(), "gone@example.org");
    }

    #[test]
    fn a_delayed_recipient_and_a_transient_status_are_soft_and_success_is_not_a_failure() {
        let body = "Final-Recipient: rfc822; slow@example.org\nAction: delayed\nStatus: 4.4.7\n\nFinal-Recipient: rfc822; fine@example.org\nAction: delivered\nStatus: 2.0.0\n";
        let r = read(&[body.to_string()]);
        assert_eq!(r.failed.len(), 1);
        assert_eq!(r.failed[0].severity, Severity::Soft);
        assert_eq!(r.failed[0].cause, BounceCause::Network);
        assert_eq!(r.succeeded, 1);
    }

    #[test]
    fn a_missing_status_falls_back_to_the_servers_reply() {
        let body = "Final-Recipient: rfc822;full@example.org\nAction: failed\nDiagnostic-Code: smtp; 452 mailbox full\n";
        let r = read(&[body.to_string()]);
        assert_eq!(r.failed[0].severity, Severity::Soft);
        assert_eq!(r.failed[0].cause, BounceCause::MailboxFull);
    }

    #[test]
    fn two_recipients_without_a_blank_line_between_them_are_two() {
        let body = "Final-Recipient: rfc822; a@example.org\nAction: failed\nStatus: 5.0.0\nFinal-Recipient: rfc822; b@example.org\nAction: failed\nStatus: 5.2.2\n";
        let r = read(&[body.to_string()]);
        assert_eq!(r.failed.len(), 2);
        assert_eq!(r.failed[1].cause, BounceCause::MailboxFull);
    }

    #[test]
    fn a_policy_refusal_does_not_blame_the_recipient() {
        let cause = BounceCause::of_report(
            StatusCode::parse("5.7.1"),
            None,
            Some("554 5.7.1 Service unavailable; Client host [192.0.2.1] blocked using zen.spamhaus.org"),
        );
        assert_eq!(cause, BounceCause::Policy);
        let cause = BounceCause::of_report(
            StatusCode::parse("5.7.1"),
            None,
            Some("550 5.7.1 No such user"),
        );
        assert_eq!(cause, BounceCause::Recipient);
    }
}
