use chrono::{DateTime, TimeZone, Utc};

use super::*;
use crate::domain::SubscriberId;
use crate::inbound::event::{DeliveryKey, EventKind};
use crate::inbound::status::{BounceCause, Severity};
use crate::inbound::verp::{bounce_token, unsubscribe_token, SubscriberRef};
use crate::links::Purpose;
use crate::links::{LinkSigner, SigningKeys};

fn signer() -> LinkSigner {
    LinkSigner::new(SigningKeys::from_secrets([vec![9u8; 32]]).unwrap())
}

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 6, 12, 8, 0, 0).unwrap()
}

fn run(raw: &str, signer: &LinkSigner, envelope: Option<&str>) -> Report {
    classify(
        raw.as_bytes(),
        &Context {
            signer: Some(signer),
            envelope_recipient: envelope,
            now: now(),
        },
    )
}

/// A Postfix-style DSN for `recipient`, sent to `to`, returning an original
/// whose Return-Path is `return_path`.
fn dsn(to: &str, recipient: &str, status: &str, diagnostic: &str, return_path: &str) -> String {
    format!(
        "Return-Path: <>\r\n\
         From: MAILER-DAEMON@mx.example.net (Mail Delivery System)\r\n\
         To: {to}\r\n\
         Subject: Undelivered Mail Returned to Sender\r\n\
         Auto-Submitted: auto-replied\r\n\
         MIME-Version: 1.0\r\n\
         Content-Type: multipart/report; report-type=delivery-status; boundary=\"B\"\r\n\
         \r\n\
         --B\r\n\
         Content-Type: text/plain\r\n\
         \r\n\
         I'm sorry to have to inform you that your message could not\r\n\
         be delivered to one or more recipients.\r\n\
         \r\n\
         --B\r\n\
         Content-Type: message/delivery-status\r\n\
         \r\n\
         Reporting-MTA: dns; mx.example.net\r\n\
         \r\n\
         Final-Recipient: rfc822; {recipient}\r\n\
         Action: failed\r\n\
         Status: {status}\r\n\
         Diagnostic-Code: smtp; {diagnostic}\r\n\
         \r\n\
         --B\r\n\
         Content-Type: message/rfc822\r\n\
         \r\n\
         Return-Path: <{return_path}>\r\n\
         From: paperboy <digest@papers.example.org>\r\n\
         To: {recipient}\r\n\
         Subject: Your papers for 12 June\r\n\
         Message-ID: <digest.2026-06-12.42.abcdef123456@papers.example.org>\r\n\
         \r\n\
         Hello\r\n\
         --B--\r\n"
    )
}

#[test]
fn a_dsn_sent_to_a_deliverys_bounce_address_names_that_delivery() {
    let s = signer();
    let verp = format!("bounces+{}@papers.example.org", bounce_token(&s, 4242));
    let raw = dsn(
        &verp,
        "gone@example.com",
        "5.1.1",
        "550 5.1.1 <gone@example.com>: Recipient address rejected: User unknown",
        &verp,
    );
    let report = run(&raw, &s, None);
    assert_eq!(report.event.kind(), EventKind::HardBounce);
    assert_eq!(report.keys.best(), Some(DeliveryKey::Delivery(4242)));
    let Event::Bounce(b) = &report.event else {
        panic!("{report:?}")
    };
    assert!(b.blames_recipient());
    assert_eq!(b.cause, BounceCause::Recipient);
    assert_eq!(b.smtp_code, Some(550));
    assert_eq!(b.format, "rfc3464");
    assert_eq!(
        report.keys.message_ids,
        vec!["<digest.2026-06-12.42.abcdef123456@papers.example.org>".to_string()]
    );
    assert_eq!(report.keys.recipients[0].as_str(), "gone@example.com");
    assert!(report.summary().contains("5.1.1"));
    assert!(!report.summary().contains("gone@"));
}

#[test]
fn the_envelope_recipient_from_the_mta_finds_the_delivery_when_no_header_does() {
    let s = signer();
    let verp = format!(
        "BOUNCES+{}@PAPERS.EXAMPLE.ORG",
        bounce_token(&s, 7).to_uppercase()
    );
    let raw = dsn(
        "bounces@papers.example.org",
        "full@example.com",
        "4.2.2",
        "452 4.2.2 Mailbox full",
        "bounces@papers.example.org",
    );
    let report = run(&raw, &s, Some(&verp));
    assert_eq!(report.event.kind(), EventKind::SoftBounce);
    assert_eq!(report.keys.delivery, Some(7));
}

#[test]
fn a_bounce_address_quoted_in_the_returned_headers_finds_the_delivery() {
    let s = signer();
    let verp = format!("bounces+{}@papers.example.org", bounce_token(&s, 99));
    let raw = dsn(
        "postmaster@papers.example.org",
        "gone@example.com",
        "5.1.1",
        "550 unknown",
        &verp,
    );
    assert_eq!(run(&raw, &s, None).keys.delivery, Some(99));
}

#[test]
fn a_forged_or_foreign_token_finds_nothing_and_falls_back_to_unsigned_keys() {
    let s = signer();
    let other = LinkSigner::new(SigningKeys::from_secrets([vec![1u8; 32]]).unwrap());
    let forged = format!("bounces+{}@papers.example.org", bounce_token(&other, 4242));
    let raw = dsn(&forged, "gone@example.com", "5.1.1", "550 unknown", &forged);
    let report = run(&raw, &s, Some(&forged));
    assert_eq!(report.keys.delivery, None);
    assert!(matches!(
        report.keys.best(),
        Some(DeliveryKey::MessageId(_))
    ));
    assert!(!report.keys.best().unwrap().is_verified());
    // Without keys configured no token is trusted at all.
    let unsigned = classify(
        raw.as_bytes(),
        &Context {
            signer: None,
            envelope_recipient: None,
            now: now(),
        },
    );
    assert_eq!(unsigned.keys.delivery, None);
    assert_eq!(unsigned.event.kind(), EventKind::HardBounce);
}

#[test]
fn a_policy_refusal_is_a_hard_bounce_that_does_not_blame_the_address() {
    let s = signer();
    let raw = dsn(
        "bounces@papers.example.org",
        "ada@example.com",
        "5.7.1",
        "554 5.7.1 Service unavailable; Client host [192.0.2.1] blocked using zen.spamhaus.org",
        "bounces@papers.example.org",
    );
    let report = run(&raw, &s, None);
    let Event::Bounce(b) = &report.event else {
        panic!("{report:?}")
    };
    assert_eq!(b.severity, Severity::Hard);
    assert_eq!(b.cause, BounceCause::Policy);
    assert!(!b.blames_recipient());
}

fn arf(feedback_type: &str, original_mail_from: &str, list_unsubscribe: &str) -> String {
    format!(
        "From: <staff@fbl.example.net>\r\n\
         To: <fbl@papers.example.org>\r\n\
         Subject: FW: Your papers for 12 June\r\n\
         MIME-Version: 1.0\r\n\
         Content-Type: multipart/report; report-type=feedback-report; boundary=\"F\"\r\n\
         \r\n\
         --F\r\n\
         Content-Type: text/plain\r\n\
         \r\n\
         This is an email abuse report.\r\n\
         --F\r\n\
         Content-Type: message/feedback-report\r\n\
         \r\n\
         Feedback-Type: {feedback_type}\r\n\
         User-Agent: ExampleFBL/1.0\r\n\
         Version: 1\r\n\
         Original-Mail-From: <{original_mail_from}>\r\n\
         Original-Rcpt-To: <ada@example.net>\r\n\
         \r\n\
         --F\r\n\
         Content-Type: text/rfc822-headers\r\n\
         \r\n\
         From: paperboy <digest@papers.example.org>\r\n\
         To: ada@example.net\r\n\
         List-Unsubscribe: {list_unsubscribe}\r\n\
         Message-ID: <digest.2026-06-12.42.abcdef123456@papers.example.org>\r\n\
         \r\n\
         --F--\r\n"
    )
}

#[test]
fn an_arf_abuse_report_is_a_complaint_keyed_by_its_original_mail_from_and_list_unsubscribe() {
    let s = signer();
    let verp = format!("bounces+{}@papers.example.org", bounce_token(&s, 31));
    let link = s.sign(
        Purpose::Unsubscribe,
        SubscriberId::new(42),
        3,
        now() + chrono::Duration::days(3000),
    );
    let who = SubscriberRef {
        subscriber_id: SubscriberId::new(42),
        link_version: 3,
    };
    let mailto = format!(
        "unsubscribe+{}@papers.example.org",
        unsubscribe_token(&s, who)
    );
    let header = format!("<https://papers.example.org/unsubscribe/{link}>, <mailto:{mailto}>");
    let report = run(&arf("abuse", &verp, &header), &s, None);
    let Event::Complaint(c) = &report.event else {
        panic!("{report:?}")
    };
    assert_eq!(c.feedback_type, FeedbackType::Abuse);
    assert_eq!(c.user_agent.as_deref(), Some("ExampleFBL/1.0"));
    assert_eq!(report.keys.delivery, Some(31));
    assert_eq!(report.keys.subscriber, Some(who));
    assert_eq!(report.keys.recipients[0].as_str(), "ada@example.net");

    // With only the https link to go by, the link's token names the subscriber.
    let header = format!("<https://papers.example.org/unsubscribe/{link}>");
    let report = run(
        &arf("abuse", "bounces@papers.example.org", &header),
        &s,
        None,
    );
    assert_eq!(report.keys.best(), Some(DeliveryKey::Subscriber(who)));
}

#[test]
fn arf_reports_that_are_not_complaints_say_what_they_are() {
    let s = signer();
    let opt_out = run(
        &arf("opt-out", "x@example.org", "<mailto:x@example.org>"),
        &s,
        None,
    );
    assert_eq!(opt_out.event, Event::UnsubscribeRequest);
    let auth = run(
        &arf("auth-failure", "x@example.org", "<mailto:x@example.org>"),
        &s,
        None,
    );
    assert_eq!(auth.event, Event::Unknown(Unrecognised::NotAComplaint));
}

#[test]
fn a_mail_to_the_unsubscribe_address_is_an_unsubscribe_request_whatever_it_says() {
    let s = signer();
    let who = SubscriberRef {
        subscriber_id: SubscriberId::new(5),
        link_version: 1,
    };
    let to = format!(
        "unsubscribe+{}@papers.example.org",
        unsubscribe_token(&s, who)
    );
    let raw = format!(
        "From: ada@example.net\r\nTo: {to}\r\nSubject: Unsubscribe\r\n\r\nThis message was automatically generated by Gmail.\r\n"
    );
    let report = run(&raw, &s, None);
    assert_eq!(report.event, Event::UnsubscribeRequest);
    assert_eq!(report.keys.best(), Some(DeliveryKey::Subscriber(who)));
    assert!(report.keys.best().unwrap().is_verified());
}

#[test]
fn a_mailto_unsubscribe_without_our_token_is_keyed_only_by_its_unverified_sender() {
    let s = signer();
    let raw = "From: ada@example.net\r\nTo: list-unsubscribe@papers.example.org\r\nSubject: unsubscribe\r\nX-Apple-Unsubscribe: true\r\n\r\nApple Mail sent this email to unsubscribe.\r\n";
    let report = run(raw, &s, None);
    assert_eq!(report.event, Event::UnsubscribeRequest);
    let key = report.keys.best().unwrap();
    assert!(matches!(key, DeliveryKey::Recipient(a) if a.as_str() == "ada@example.net"));
    assert!(!key.is_verified());
}

#[test]
fn an_out_of_office_reply_is_an_auto_reply_and_an_exim_bounce_is_not() {
    let s = signer();
    let ooo = "From: Ada <ada@example.net>\r\nTo: bounces@papers.example.org\r\nSubject: Automatic reply: Your papers for 12 June\r\nAuto-Submitted: auto-replied\r\n\r\nI am away until Monday.\r\n";
    assert_eq!(run(ooo, &s, None).event, Event::AutoReply);
    let exim = "From: Mail Delivery System <Mailer-Daemon@mx.example.net>\r\nTo: bounces@papers.example.org\r\nSubject: Mail delivery failed: returning message to sender\r\nAuto-Submitted: auto-replied\r\nX-Failed-Recipients: gone@example.com\r\n\r\nThis message was created automatically by mail delivery software.\r\n\r\nA message that you sent could not be delivered to one or more of its\r\nrecipients. This is a permanent error. The following address(es) failed:\r\n\r\n  gone@example.com\r\n    SMTP error from remote mail server after RCPT TO:<gone@example.com>:\r\n    host mx.example.com [192.0.2.1]: 550 5.1.1 <gone@example.com>: User unknown\r\n";
    let report = run(exim, &s, None);
    assert_eq!(report.event.kind(), EventKind::HardBounce);
    let Event::Bounce(b) = &report.event else {
        unreachable!()
    };
    assert_eq!(b.format, "exim");
    assert_eq!(
        b.recipients[0].address.as_ref().unwrap().as_str(),
        "gone@example.com"
    );
}

#[test]
fn a_dsn_reporting_success_is_delivered_not_a_bounce() {
    let s = signer();
    let raw = dsn(
        "bounces@papers.example.org",
        "ada@example.com",
        "2.0.0",
        "250 ok",
        "x@example.org",
    )
    .replace("Action: failed", "Action: delivered");
    assert_eq!(run(&raw, &s, None).event, Event::Delivered);
}

#[test]
fn an_ordinary_mail_is_not_a_bounce_and_nonsense_is_not_a_message() {
    let s = signer();
    let letter = "From: Bob <bob@example.net>\r\nTo: bounces@papers.example.org\r\nSubject: Hello\r\n\r\nCan you add my colleague ada@example.com?\r\n";
    assert_eq!(
        run(letter, &s, None).event,
        Event::Unknown(Unrecognised::NotABounce)
    );
    for junk in ["", "\r\n\r\n", "not a message at all", "\u{0}\u{1}\u{2}"] {
        let report = run(junk, &s, None);
        assert_eq!(report.event.kind(), EventKind::Unknown, "{junk:?}");
    }
}

#[test]
fn an_mbox_from_line_before_the_headers_is_skipped() {
    let s = signer();
    let verp = format!("bounces+{}@papers.example.org", bounce_token(&s, 12));
    let raw = format!(
        "From MAILER-DAEMON  Thu Jun 12 08:00:00 2026\n{}",
        dsn(&verp, "gone@example.com", "5.1.1", "550 unknown", &verp)
    );
    let report = run(&raw, &s, None);
    assert_eq!(report.event.kind(), EventKind::HardBounce);
    assert_eq!(report.keys.delivery, Some(12));
}

#[test]
fn a_huge_message_is_read_up_to_the_limit_without_trouble() {
    let s = signer();
    let verp = format!("bounces+{}@papers.example.org", bounce_token(&s, 3));
    let mut raw = dsn(&verp, "gone@example.com", "5.1.1", "550 unknown", &verp);
    raw.push_str(&"x".repeat(MAX_MESSAGE_BYTES + 10));
    let report = run(&raw, &s, None);
    assert_eq!(report.event.kind(), EventKind::HardBounce);
}
