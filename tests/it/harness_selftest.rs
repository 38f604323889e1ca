//! Proves the test servers themselves, with the same clients paperboy uses (lettre's async SMTP
//! transport, reqwest), so that a failing app test points at the app, not at the harness.
//! It must not test paperboy code.

use std::time::Duration;

use lettre::message::{header::ContentType, MultiPart};
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use crate::support::{self, FixtureResponse, FixtureServer, SmtpServer, TestDir};

const WAIT: Duration = Duration::from_secs(5);

fn smtp_client(server: &SmtpServer) -> AsyncSmtpTransport<Tokio1Executor> {
    AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous("127.0.0.1")
        .port(server.port())
        .timeout(Some(Duration::from_secs(5)))
        .build()
}

/// lettre's async transport applies its `timeout` to connecting only, never to waiting for a
/// reply, so a client that must give up on a silent server needs its own deadline.
async fn send_within(
    transport: &AsyncSmtpTransport<Tokio1Executor>,
    message: Message,
    deadline: Duration,
) -> Option<Result<(), lettre::transport::smtp::Error>> {
    tokio::time::timeout(deadline, transport.send(message))
        .await
        .ok()
        .map(|sent| sent.map(drop))
}

fn plain_message(to: &str, subject: &str, body: &str) -> Message {
    Message::builder()
        .from("Paperboy <digest@paperboy.test>".parse().unwrap())
        .to(to.parse().unwrap())
        .subject(subject)
        .header(ContentType::TEXT_PLAIN)
        .body(body.to_owned())
        .unwrap()
}

/// A minimal line-based SMTP client for protocol cases lettre would never produce.
struct RawClient {
    stream: BufReader<TcpStream>,
}

impl RawClient {
    async fn connect(server: &SmtpServer) -> RawClient {
        let stream = TcpStream::connect(server.addr()).await.unwrap();
        let mut client = RawClient {
            stream: BufReader::new(stream),
        };
        assert_eq!(client.reply().await, 220);
        client
    }

    async fn send(&mut self, bytes: &[u8]) {
        self.stream.get_mut().write_all(bytes).await.unwrap();
    }

    /// Read one (possibly multi-line) reply and return its code; 0 if the server hung up.
    async fn reply(&mut self) -> u16 {
        loop {
            let mut line = String::new();
            let read = tokio::time::timeout(WAIT, self.stream.read_line(&mut line))
                .await
                .expect("the server answered in time")
                .unwrap_or(0);
            if read == 0 {
                return 0;
            }
            if line.as_bytes().get(3) != Some(&b'-') {
                return line
                    .get(..3)
                    .and_then(|code| code.parse().ok())
                    .unwrap_or(0);
            }
        }
    }

    async fn command(&mut self, line: &str) -> u16 {
        self.send(format!("{line}\r\n").as_bytes()).await;
        self.reply().await
    }
}

#[tokio::test]
async fn a_multipart_message_sent_with_lettre_arrives_and_parses() {
    let server = SmtpServer::start().await;
    let html = r#"<p>Hi</p><a href="https://paperboy.test/u?t=1&amp;s=2">unsubscribe</a>
        <a class="x" href='https://arxiv.org/abs/2606.01234'>paper</a>"#;
    let message = Message::builder()
        .from("Paperboy <digest@paperboy.test>".parse().unwrap())
        .to("Ada <ada@example.org>".parse().unwrap())
        .subject("Today's papers — 3 new")
        .multipart(MultiPart::alternative_plain_html(
            "Hi\nthree new papers\n".to_owned(),
            html.to_owned(),
        ))
        .unwrap();
    let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(&server.url())
        .unwrap()
        .build();
    transport.send(message).await.unwrap();

    let received = server.wait_for(1, WAIT).await;
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].mail_from, "digest@paperboy.test");
    assert_eq!(received[0].rcpt_to, vec!["ada@example.org".to_owned()]);
    assert_eq!(received[0].auth, None);
    let parsed = support::parse(&received[0]);
    assert_eq!(
        support::header(&parsed, "subject").as_deref(),
        Some("Today's papers — 3 new")
    );
    assert!(support::header_raw(&parsed, "Content-Type")
        .unwrap()
        .starts_with("multipart/alternative"));
    assert_eq!(
        support::text_part(&parsed).unwrap().replace("\r\n", "\n"),
        "Hi\nthree new papers\n"
    );
    assert_eq!(
        support::header_all(&parsed, "to"),
        vec!["Ada <ada@example.org>".to_owned()]
    );
    assert!(support::html_part(&parsed).unwrap().contains("<p>Hi</p>"));
    assert_eq!(
        support::html_links(&parsed),
        vec![
            "https://paperboy.test/u?t=1&s=2".to_owned(),
            "https://arxiv.org/abs/2606.01234".to_owned()
        ]
    );
}

#[tokio::test]
async fn lines_starting_with_dots_round_trip_through_dot_stuffing() {
    let server = SmtpServer::start().await;
    let body = ".leading dot\n..two dots\n.\nend\n";
    smtp_client(&server)
        .send(plain_message("ada@example.org", "dots", body))
        .await
        .unwrap();
    let received = server.wait_for(1, WAIT).await;
    let parsed = support::parse(&received[0]);
    // lettre always sends CRLF before the final dot, so the body gains one empty last line.
    assert_eq!(
        support::text_part(&parsed).unwrap().replace("\r\n", "\n"),
        format!("{body}\n")
    );

    let mut raw = RawClient::connect(&server).await;
    assert_eq!(raw.command("EHLO raw").await, 250);
    assert_eq!(raw.command("MAIL FROM:<>").await, 250);
    assert_eq!(raw.command("RCPT TO:<ada@example.org>").await, 250);
    assert_eq!(raw.command("DATA").await, 354);
    raw.send(b"Subject: raw\r\n\r\n..hidden\r\n...\r\nlast\r\n.\r\n")
        .await;
    assert_eq!(raw.reply().await, 250);
    let received = server.wait_for(2, WAIT).await;
    assert_eq!(received[1].mail_from, "");
    assert_eq!(
        received[1].data,
        b"Subject: raw\r\n\r\n.hidden\r\n..\r\nlast\r\n"
    );
}

#[tokio::test]
async fn a_recipient_given_550_is_refused_while_others_are_accepted() {
    let server = SmtpServer::start().await;
    server
        .faults()
        .rcpt("Bad@Example.org", 550, "5.1.1 no such user");

    let error = smtp_client(&server)
        .send(plain_message("bad@example.org", "s", "b"))
        .await
        .unwrap_err();
    assert!(error.is_permanent(), "{error}");
    assert_eq!(error.status().unwrap().to_string(), "550");

    let mut raw = RawClient::connect(&server).await;
    assert_eq!(raw.command("HELO raw").await, 250);
    assert_eq!(raw.command("MAIL FROM:<d@paperboy.test>").await, 250);
    assert_eq!(raw.command("RCPT TO:<bad@example.org>").await, 550);
    assert_eq!(raw.command("RCPT TO:<good@example.org>").await, 250);
    assert_eq!(raw.command("DATA").await, 354);
    assert_eq!(raw.command("Subject: x\r\n\r\nbody\r\n.").await, 250);
    assert_eq!(raw.command("QUIT").await, 221);

    let received = server.wait_for(1, WAIT).await;
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].rcpt_to, vec!["good@example.org".to_owned()]);
}

#[tokio::test]
async fn a_recipient_given_451_twice_is_accepted_on_the_third_try() {
    let server = SmtpServer::start().await;
    server
        .faults()
        .rcpt_times("later@example.org", 451, "4.3.0 try later", 2);
    let transport = smtp_client(&server);
    for _ in 0..2 {
        let error = transport
            .send(plain_message("later@example.org", "s", "b"))
            .await
            .unwrap_err();
        assert!(error.is_transient(), "{error}");
    }
    transport
        .send(plain_message("later@example.org", "s", "b"))
        .await
        .unwrap();
    assert_eq!(server.wait_for(1, WAIT).await.len(), 1);
}

#[tokio::test]
async fn mail_and_data_end_faults_apply_to_the_next_n_messages_only() {
    let server = SmtpServer::start().await;
    server
        .faults()
        .mail(451, "4.3.0 busy", 1)
        .data_end(452, "4.3.1 out of space", 1);
    let transport = smtp_client(&server);
    let first = transport
        .send(plain_message("a@example.org", "1", "b"))
        .await
        .unwrap_err();
    assert_eq!(first.status().unwrap().to_string(), "451");
    let second = transport
        .send(plain_message("a@example.org", "2", "b"))
        .await
        .unwrap_err();
    assert_eq!(second.status().unwrap().to_string(), "452");
    transport
        .send(plain_message("a@example.org", "3", "b"))
        .await
        .unwrap();
    let received = server.wait_for(1, WAIT).await;
    assert_eq!(received.len(), 1);
    let parsed = support::parse(&received[0]);
    assert_eq!(support::header(&parsed, "Subject").as_deref(), Some("3"));
}

#[tokio::test]
async fn a_421_to_mail_closes_the_connection() {
    let server = SmtpServer::start().await;
    server.faults().mail(421, "4.3.2 closing", 1);
    let mut raw = RawClient::connect(&server).await;
    assert_eq!(raw.command("EHLO raw").await, 250);
    assert_eq!(raw.command("MAIL FROM:<a@b.c>").await, 421);
    assert_eq!(raw.reply().await, 0, "the server hung up after 421");
}

#[tokio::test]
async fn a_stalled_message_is_not_recorded_and_the_client_times_out() {
    let server = SmtpServer::start().await;
    server.faults().stall_from(2);
    let transport = smtp_client(&server);
    transport
        .send(plain_message("a@example.org", "1", "b"))
        .await
        .unwrap();
    let second = send_within(
        &transport,
        plain_message("a@example.org", "2", "b"),
        Duration::from_millis(500),
    )
    .await;
    assert!(
        second.is_none(),
        "the second message got an answer: {second:?}"
    );
    let received = server.wait_for(2, Duration::from_millis(300)).await;
    assert_eq!(received.len(), 1);
}

#[tokio::test]
async fn a_connection_dropped_mid_data_loses_only_that_message() {
    let server = SmtpServer::start().await;
    server.faults().drop_during_data(1);
    let transport = smtp_client(&server);
    assert!(transport
        .send(plain_message("a@example.org", "lost", "b"))
        .await
        .is_err());
    transport
        .send(plain_message("a@example.org", "kept", "b"))
        .await
        .unwrap();
    let received = server.wait_for(1, WAIT).await;
    assert_eq!(received.len(), 1);
    let parsed = received[0].parsed();
    assert_eq!(support::header(&parsed, "Subject").as_deref(), Some("kept"));
}

#[tokio::test]
async fn delayed_replies_make_an_impatient_client_time_out() {
    let server = SmtpServer::start().await;
    server.faults().delay(Duration::from_millis(100));
    let transport = smtp_client(&server);
    let impatient = send_within(
        &transport,
        plain_message("a@example.org", "s", "b"),
        Duration::from_millis(300),
    )
    .await;
    assert!(
        impatient.is_none(),
        "answered despite the delay: {impatient:?}"
    );

    // Greeting, EHLO, MAIL, RCPT, DATA and the final dot are each delayed.
    let patient = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous("127.0.0.1")
        .port(server.port())
        .build();
    let started = std::time::Instant::now();
    patient
        .send(plain_message("a@example.org", "s", "b"))
        .await
        .unwrap();
    assert!(started.elapsed() >= Duration::from_millis(600));
    server.faults().clear();
    let started = std::time::Instant::now();
    // Not `transport`: lettre returns a connection abandoned mid-transaction to its pool.
    patient
        .send(plain_message("a@example.org", "s", "b"))
        .await
        .unwrap();
    assert!(started.elapsed() < Duration::from_millis(600));
}

#[tokio::test]
async fn auth_plain_and_login_credentials_are_captured_with_the_message() {
    let server = SmtpServer::start().await;
    for (mechanism, user) in [
        (Mechanism::Plain, "plain-user"),
        (Mechanism::Login, "login-user"),
    ] {
        AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous("127.0.0.1")
            .port(server.port())
            .credentials(Credentials::new(user.to_owned(), "s3cret pass".to_owned()))
            .authentication(vec![mechanism])
            .build()
            .send(plain_message("a@example.org", "s", "b"))
            .await
            .unwrap();
    }
    let received = server.wait_for(2, WAIT).await;
    let auths: Vec<_> = received.iter().map(|mail| mail.auth.clone()).collect();
    assert_eq!(
        auths,
        vec![
            Some(("plain-user".to_owned(), "s3cret pass".to_owned())),
            Some(("login-user".to_owned(), "s3cret pass".to_owned())),
        ]
    );
}

#[tokio::test]
async fn an_auth_fault_rejects_the_credentials() {
    let server = SmtpServer::start().await;
    server.faults().auth(535, "5.7.8 bad credentials", 1);
    let error = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous("127.0.0.1")
        .port(server.port())
        .credentials(Credentials::new("u".to_owned(), "p".to_owned()))
        .build()
        .send(plain_message("a@example.org", "s", "b"))
        .await
        .unwrap_err();
    assert!(error.is_permanent(), "{error}");
    assert!(server.messages().is_empty());
}

#[tokio::test]
async fn after_refuse_after_n_the_server_refuses_new_connections() {
    let server = SmtpServer::start().await;
    server.faults().refuse_after(1);
    let mut idle = RawClient::connect(&server).await;
    let transport = smtp_client(&server);
    transport
        .send(plain_message("a@example.org", "1", "b"))
        .await
        .unwrap();
    assert_eq!(
        idle.reply().await,
        421,
        "idle connections are told to go away"
    );
    assert!(transport
        .send(plain_message("a@example.org", "2", "b"))
        .await
        .is_err());
    assert!(TcpStream::connect(server.addr()).await.is_err());
    assert_eq!(server.messages().len(), 1);

    let revived = SmtpServer::start_on(server.port()).await.unwrap();
    smtp_client(&revived)
        .send(plain_message("a@example.org", "3", "b"))
        .await
        .unwrap();
    assert_eq!(revived.wait_for(1, WAIT).await.len(), 1);
}

#[tokio::test]
async fn a_stopped_server_can_be_started_again_on_the_same_port() {
    let server = SmtpServer::start().await;
    let port = server.port();
    server.stop().await;
    assert!(TcpStream::connect(("127.0.0.1", port)).await.is_err());

    let server = SmtpServer::start_on(port).await.unwrap();
    assert_eq!(server.port(), port);
    smtp_client(&server)
        .send(plain_message("a@example.org", "back", "b"))
        .await
        .unwrap();
    assert_eq!(server.wait_for(1, WAIT).await.len(), 1);
}

#[tokio::test]
async fn garbage_and_overlong_lines_get_errors_and_the_session_survives() {
    let server = SmtpServer::start().await;
    let mut raw = RawClient::connect(&server).await;
    assert_eq!(raw.command("\u{1}\u{2}garbage \u{ff}").await, 500);
    assert_eq!(raw.command("").await, 500);
    assert_eq!(raw.command("MAIL FROM:<a@b.c>").await, 503);
    assert_eq!(raw.command("EHLO").await, 501);
    assert_eq!(raw.command("EHLO raw").await, 250);
    assert_eq!(raw.command("RCPT TO:<a@b.c>").await, 503);
    assert_eq!(raw.command("DATA").await, 503);
    assert_eq!(raw.command("MAIL FROM a@b.c").await, 501);
    assert_eq!(
        raw.command(&format!("NOOP {}", "x".repeat(100_000))).await,
        500
    );
    raw.send(&[0xff, 0xfe, 0x00, b'\r', b'\n']).await;
    assert_eq!(raw.reply().await, 500);
    assert_eq!(raw.command("AUTH CRAM-MD5").await, 504);
    assert_eq!(raw.command("AUTH PLAIN !!notbase64").await, 501);
    assert_eq!(
        raw.command("MAIL FROM:<a@b.c> BODY=8BITMIME SMTPUTF8")
            .await,
        250
    );
    assert_eq!(raw.command("MAIL FROM:<a@b.c>").await, 503);
    assert_eq!(raw.command("RSET").await, 250);
    assert_eq!(raw.command("NOOP").await, 250);
    // Pipelined: three commands in one write, three replies in order.
    raw.send(b"MAIL FROM:<a@b.c>\r\nRCPT TO:<x@y.z>\r\nDATA\r\n")
        .await;
    assert_eq!(raw.reply().await, 250);
    assert_eq!(raw.reply().await, 250);
    assert_eq!(raw.reply().await, 354);
    assert_eq!(raw.command("body\r\n.").await, 250);
    assert_eq!(raw.command("QUIT").await, 221);
    assert_eq!(server.wait_for(1, WAIT).await[0].rcpt_to, vec!["x@y.z"]);
    assert_eq!(server.panicked_connections(), 0);
}

#[tokio::test]
async fn many_concurrent_clients_all_get_their_messages_recorded() {
    let server = SmtpServer::start().await;
    let transport = smtp_client(&server);
    let sends = (0..60).map(|i| {
        let transport = transport.clone();
        async move {
            transport
                .send(plain_message(
                    &format!("r{i}@example.org"),
                    &i.to_string(),
                    "b",
                ))
                .await
        }
    });
    // lettre never times out a reply, so a lost one would hang the suite:
    // bound the whole exchange, and keep at most 100 sends in flight.
    let results: Vec<_> = tokio::time::timeout(
        Duration::from_secs(120),
        futures::StreamExt::collect::<Vec<_>>(futures::StreamExt::buffer_unordered(
            futures::stream::iter(sends),
            100,
        )),
    )
    .await
    .expect("1,000 sends finish within two minutes");
    for result in results {
        result.unwrap();
    }
    let received = server.wait_for(60, WAIT).await;
    assert_eq!(received.len(), 60);
    assert!(
        server.connections() > 1,
        "the pool used several connections"
    );
}

#[tokio::test]
async fn a_fixture_file_is_served_with_its_content_type_and_the_request_is_logged() {
    let server = FixtureServer::start().await;
    server.route("/feed", FixtureResponse::fixture("harness/feed.xml"));
    let client = paperboy::sources::client_builder()
        .user_agent("paperboy-selftest/1.0 (mailto:ops@paperboy.test)")
        .build()
        .unwrap();
    let response = client
        .get(server.url("/feed?date=2026-06-12&cat=cs.LG"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "application/xml; charset=utf-8"
    );
    let body = response.bytes().await.unwrap();
    assert_eq!(
        body.as_ref(),
        std::fs::read(support::fixture_path("harness/feed.xml")).unwrap()
    );

    let missing = client.get(server.url("/nowhere")).send().await.unwrap();
    assert_eq!(missing.status(), 404);

    let requests = server.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[0].path, "/feed");
    assert_eq!(
        requests[0].header("User-Agent"),
        Some("paperboy-selftest/1.0 (mailto:ops@paperboy.test)")
    );
    assert_eq!(
        requests[0].query_param("date").as_deref(),
        Some("2026-06-12")
    );
    assert_eq!(requests[0].query_param("cat").as_deref(), Some("cs.LG"));
    assert_eq!(requests[1].status, 404);
    assert_eq!(server.requests_to("/feed").len(), 1);
}

#[tokio::test]
async fn an_etag_is_served_and_a_matching_if_none_match_gets_304() {
    let server = FixtureServer::start().await;
    server.route(
        "/hello",
        FixtureResponse::fixture("harness/hello.txt").with_etag("v1"),
    );
    let client = paperboy::sources::client_builder().build().unwrap();
    let first = client.get(server.url("/hello")).send().await.unwrap();
    assert_eq!(first.status(), 200);
    let etag = first.headers()["etag"].to_str().unwrap().to_owned();
    assert_eq!(etag, "\"v1\"");
    assert_eq!(
        first.text().await.unwrap(),
        "hello from the harness fixture\n"
    );

    let second = client
        .get(server.url("/hello"))
        .header("If-None-Match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(second.status(), 304);
    assert!(second.bytes().await.unwrap().is_empty());

    let stale = client
        .get(server.url("/hello"))
        .header("If-None-Match", "\"v0\"")
        .send()
        .await
        .unwrap();
    assert_eq!(stale.status(), 200);
}

#[tokio::test]
async fn last_modified_is_served_and_if_modified_since_gets_304_only_when_not_newer() {
    let server = FixtureServer::start().await;
    let modified = chrono::DateTime::parse_from_rfc3339("2026-06-12T08:00:00Z")
        .unwrap()
        .to_utc();
    server.route(
        "/hello",
        FixtureResponse::body("x").with_last_modified(modified),
    );
    let client = paperboy::sources::client_builder().build().unwrap();
    let first = client.get(server.url("/hello")).send().await.unwrap();
    let last_modified = first.headers()["last-modified"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(last_modified, "Fri, 12 Jun 2026 08:00:00 GMT");
    let same = client
        .get(server.url("/hello"))
        .header("If-Modified-Since", &last_modified)
        .send()
        .await
        .unwrap();
    assert_eq!(same.status(), 304);
    let older = client
        .get(server.url("/hello"))
        .header("If-Modified-Since", "Thu, 11 Jun 2026 08:00:00 GMT")
        .send()
        .await
        .unwrap();
    assert_eq!(older.status(), 200);
}

#[tokio::test]
async fn a_script_serves_503_then_429_with_retry_after_then_200_and_repeats_the_last() {
    let server = FixtureServer::start().await;
    server.route_script(
        "/api",
        vec![
            FixtureResponse::status(503),
            FixtureResponse::status(429).with_header("Retry-After", "1"),
            FixtureResponse::body("ok"),
        ],
    );
    let client = paperboy::sources::client_builder().build().unwrap();
    let mut statuses = Vec::new();
    for _ in 0..4 {
        let response = client.get(server.url("/api")).send().await.unwrap();
        if response.status() == 429 {
            assert_eq!(response.headers()["retry-after"], "1");
        }
        statuses.push(response.status().as_u16());
    }
    assert_eq!(statuses, vec![503, 429, 200, 200]);
}

#[tokio::test]
async fn a_route_with_a_query_wins_over_the_bare_path() {
    let server = FixtureServer::start().await;
    server
        .route("/query", FixtureResponse::body("any"))
        .route("/query?start=10", FixtureResponse::body("page two"));
    let get = |url: String| async move { reqwest::get(url).await.unwrap().text().await.unwrap() };
    assert_eq!(get(server.url("/query?start=10")).await, "page two");
    assert_eq!(get(server.url("/query?start=0")).await, "any");
    assert_eq!(get(server.url("/query")).await, "any");
}

#[tokio::test]
async fn a_delayed_response_makes_a_client_timeout_fire() {
    let server = FixtureServer::start().await;
    server.route(
        "/slow",
        FixtureResponse::body("late").with_delay(Duration::from_millis(800)),
    );
    let client = paperboy::sources::client_builder()
        .timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    let error = client.get(server.url("/slow")).send().await.unwrap_err();
    assert!(error.is_timeout(), "{error}");
    assert_eq!(server.requests_to("/slow").len(), 1);
}

#[tokio::test]
async fn requests_are_timestamped_in_order_and_a_stopped_server_refuses_connections() {
    let server = FixtureServer::start().await;
    server.route("/a", FixtureResponse::body("a"));
    let url = server.url("/a");
    assert_eq!(url, format!("{}/a", server.base_url()));
    let client = paperboy::sources::client_builder().build().unwrap();
    client.get(&url).send().await.unwrap();
    tokio::time::sleep(Duration::from_millis(150)).await;
    client.head(&url).send().await.unwrap();
    let requests = server.requests_to("/a");
    assert_eq!(requests[0].method, "GET");
    assert_eq!(requests[1].method, "HEAD");
    assert!(requests[1].at - requests[0].at >= Duration::from_millis(150));

    let addr = server.addr();
    server.stop().await;
    assert!(TcpStream::connect(addr).await.is_err());
}

#[tokio::test]
async fn a_truncated_response_reaches_the_client_as_an_error() {
    let server = FixtureServer::start().await;
    server.route(
        "/feed",
        FixtureResponse::fixture("harness/feed.xml").with_truncation(40),
    );
    let response = reqwest::get(server.url("/feed")).await.unwrap();
    assert_eq!(response.status(), 200);
    let full = std::fs::read(support::fixture_path("harness/feed.xml")).unwrap();
    assert_eq!(response.content_length(), Some(full.len() as u64));
    assert!(response.bytes().await.is_err());
}

#[test]
fn a_test_dir_offers_a_database_url_and_an_outbox_and_is_removed_on_drop() {
    let dir = TestDir::new();
    let root = dir.path().to_owned();
    assert!(dir.outbox().is_dir());
    assert!(dir.db_path().starts_with(&root));
    assert!(dir.db_url().starts_with("sqlite://") && dir.db_url().ends_with("?mode=rwc"));
    std::fs::write(dir.outbox().join("b.eml"), "x").unwrap();
    std::fs::write(dir.outbox().join("a.eml"), "x").unwrap();
    assert_eq!(
        dir.outbox_files(),
        vec![dir.outbox().join("a.eml"), dir.outbox().join("b.eml")]
    );
    drop(dir);
    assert!(!root.exists());
}

#[test]
fn free_port_returns_a_bindable_port() {
    let port = support::free_port();
    assert_ne!(port, 0);
    std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
}

#[tokio::test]
async fn a_client_killed_mid_data_leaves_nothing_recorded_and_the_server_serving() {
    let server = SmtpServer::start().await;
    let mut killed = RawClient::connect(&server).await;
    assert_eq!(killed.command("EHLO raw").await, 250);
    assert_eq!(killed.command("MAIL FROM:<a@b.c>").await, 250);
    assert_eq!(killed.command("RCPT TO:<x@y.z>").await, 250);
    assert_eq!(killed.command("DATA").await, 354);
    killed.send(b"Subject: half\r\n\r\nhalf a bo").await;
    drop(killed);

    smtp_client(&server)
        .send(plain_message("a@example.org", "whole", "b"))
        .await
        .unwrap();
    let received = server.wait_for(2, Duration::from_millis(300)).await;
    assert_eq!(received.len(), 1);
    assert_eq!(
        support::header(&received[0].parsed(), "Subject").as_deref(),
        Some("whole")
    );
}

#[tokio::test]
async fn taken_messages_are_gone_and_commands_show_every_retry() {
    let server = SmtpServer::start().await;
    server
        .faults()
        .rcpt_times("later@example.org", 451, "4.3.0 later", 1);
    let transport = smtp_client(&server);
    assert!(transport
        .send(plain_message("later@example.org", "1", "b"))
        .await
        .is_err());
    transport
        .send(plain_message("later@example.org", "1", "b"))
        .await
        .unwrap();
    assert_eq!(server.take_messages().len(), 1);
    assert!(server.messages().is_empty());
    transport
        .send(plain_message("a@example.org", "2", "b"))
        .await
        .unwrap();
    assert_eq!(server.wait_for(1, WAIT).await.len(), 1);

    let rcpts = server
        .commands()
        .iter()
        .filter(|command| command.starts_with("RCPT TO:<later@example.org>"))
        .count();
    assert_eq!(rcpts, 2);
}

#[tokio::test]
async fn auth_secrets_are_not_kept_in_the_command_log() {
    let server = SmtpServer::start().await;
    AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous("127.0.0.1")
        .port(server.port())
        .credentials(Credentials::new("user".to_owned(), "hunter2".to_owned()))
        .authentication(vec![Mechanism::Plain])
        .build()
        .send(plain_message("a@example.org", "s", "b"))
        .await
        .unwrap();
    let commands = server.commands();
    assert!(commands.contains(&"AUTH PLAIN".to_owned()), "{commands:?}");
    assert!(commands.iter().all(|command| !command.contains("AHVzZXI")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_messages_over_concurrent_connections_are_all_recorded_once() {
    let server = SmtpServer::start().await;
    let transport = smtp_client(&server);
    let sends = (0..1000).map(|i| {
        let transport = transport.clone();
        async move {
            transport
                .send(plain_message(
                    &format!("r{i}@example.org"),
                    &i.to_string(),
                    "b",
                ))
                .await
        }
    });
    // lettre never times out a reply, so a lost one would hang the suite:
    // bound the whole exchange, and keep at most 100 sends in flight.
    let results: Vec<_> = tokio::time::timeout(
        Duration::from_secs(120),
        futures::StreamExt::collect::<Vec<_>>(futures::StreamExt::buffer_unordered(
            futures::stream::iter(sends),
            100,
        )),
    )
    .await
    .expect("1,000 sends finish within two minutes");
    for result in results {
        result.unwrap();
    }
    let received = server.wait_for(1000, Duration::from_secs(30)).await;
    let mut recipients: Vec<_> = received.iter().map(|m| m.rcpt_to[0].clone()).collect();
    recipients.sort();
    recipients.dedup();
    assert_eq!(recipients.len(), 1000);
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(24))]

    #[test]
    fn arbitrary_bytes_never_bring_the_server_down(
        garbage in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..6000),
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let server = SmtpServer::start().await;
            let mut raw = RawClient::connect(&server).await;
            raw.send(&garbage).await;
            raw.send(b"\r\nQUIT\r\n").await;
            drop(raw);
            smtp_client(&server)
                .send(plain_message("a@example.org", "after", "b"))
                .await
                .unwrap();
            let received = server.wait_for(1, WAIT).await;
            assert_eq!(received.len(), 1);
            assert_eq!(server.panicked_connections(), 0);
        });
    }
}
