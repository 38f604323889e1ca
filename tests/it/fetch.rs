//! Fetching from real HTTP servers on loopback serving recorded payloads.

use chrono::NaiveDate;
use paperboy::digest::Frequencies;
use paperboy::domain::PaperId;
use paperboy::ranking::{DayDf, DocumentFrequencies, Features, PaperVector};

use crate::env::{hf_day, TestEnv, HF_DAY};
use crate::support::FixtureResponse;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_day_is_fetched_with_its_date_and_a_descriptive_user_agent() {
    let env = TestEnv::new().await;
    let out = env.ok(&["fetch", "--date", HF_DAY]);
    assert!(out.contains("hf: 30 papers (30 new"), "{out}");
    let reqs = env.http.requests_to("/api/daily_papers");
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0].query_param("date").as_deref(), Some(HF_DAY));
    let ua = reqs[0].header("user-agent").unwrap_or_default().to_string();
    assert!(
        ua.starts_with("paperboy/") && ua.contains("papers.example.org"),
        "{ua}"
    );
    let app = env.app().await;
    assert_eq!(
        app.store
            .papers_between(hf_day(), hf_day())
            .await
            .unwrap()
            .len(),
        31
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_truncated_payload_fails_naming_the_source_and_stored_papers_stay_intact() {
    let env = TestEnv::new().await;
    env.ok(&["fetch", "--date", HF_DAY]);
    let app = env.app().await;
    let before = app.store.papers_between(hf_day(), hf_day()).await.unwrap();

    let full = std::fs::read(crate::support::fixture_path(
        "hf_daily_papers_2026-06-12_full_30items.json",
    ))
    .unwrap();
    env.http.route(
        "/api/daily_papers",
        FixtureResponse::body(full[..full.len() / 2].to_vec())
            .with_content_type("application/json"),
    );
    let out = env.paperboy(&["fetch", "--date", HF_DAY]);
    assert!(!out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("hf: FAILED") && stdout.contains("hf"),
        "{stdout}"
    );
    // The other source still landed, and nothing stored was damaged.
    assert!(stdout.contains("hostile: 1 papers"), "{stdout}");
    let after = app.store.papers_between(hf_day(), hf_day()).await.unwrap();
    assert_eq!(before, after);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http_error_fails_naming_the_source_and_the_status() {
    let env = TestEnv::new().await;
    env.http
        .route("/api/daily_papers", FixtureResponse::status(500));
    let out = env.paperboy(&["fetch", "--date", HF_DAY, "--source", "hf"]);
    assert!(!out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("hf: FAILED") && stdout.contains("500"),
        "{stdout}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paper_seen_by_two_sources_is_one_paper_with_the_fields_of_both() {
    let extra = "\n[[sources]]\nname = \"group\"\nkind = \"feed\"\nurl = \"FEED\"\nretries = 0\n";
    let env = TestEnv::with_config(extra).await;
    env.http.route(
        "/feed.xml",
        FixtureResponse::fixture("synthetic/feed_links_to_arxiv.xml")
            .with_content_type("application/rss+xml"),
    );
    env.edit_config("FEED", &env.http.url("/feed.xml"));
    env.ok(&["fetch", "--date", HF_DAY]);
    let app = env.app().await;
    let p = app
        .store
        .papers_by_id(&[PaperId::from_stored("2606.13392".into())])
        .await
        .unwrap();
    assert_eq!(p.len(), 1);
    assert_eq!(p[0].upvotes, Some(103), "from Hugging Face");
    assert!(
        p[0].categories.contains(&"cs.LG".to_string()),
        "from the feed: {:?}",
        p[0].categories
    );
    // 30 + 1 hostile + 1 non-arXiv item from the feed.
    assert_eq!(app.store.paper_count().await.unwrap(), 32);
}

/// Ranking's data follows the fetch: each stored paper gets its vector and
/// the day its document frequencies; a source that adds papers to a day
/// already counted has the day recounted, and the daemon's sum in memory
/// (adjusted by removing the old day and adding the new) equals a count of
/// the stored papers from scratch.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fetch_stores_vectors_and_the_day_and_a_later_source_recounts_it_exactly() {
    let env = TestEnv::new().await;
    let app = env.app().await;
    let rows = |sql: &'static str| {
        let pool = app.store.pool().clone();
        async move {
            sqlx::query_scalar::<_, i64>(sql)
                .fetch_one(&pool)
                .await
                .unwrap()
        }
    };
    app.fetch_job().run(&[hf_day()], Some("hf")).await.unwrap();
    assert_eq!(rows("SELECT COUNT(*) FROM paper_vectors").await, 30);
    assert_eq!(rows("SELECT papers FROM ranking_df_days").await, 30);
    let after_hf = app.frequencies.current(&app.store, hf_day()).await.unwrap();
    assert_eq!(after_hf.papers(), 30);

    app.fetch_job()
        .run(&[hf_day()], Some("hostile"))
        .await
        .unwrap();
    assert_eq!(rows("SELECT COUNT(*) FROM paper_vectors").await, 31);
    assert_eq!(rows("SELECT papers FROM ranking_df_days").await, 31);
    assert_eq!(rows("SELECT revision FROM ranking_df_days").await, 2);
    let features = Features::new();
    let papers = app.store.papers_between(hf_day(), hf_day()).await.unwrap();
    let counts: Vec<_> = papers.iter().map(|p| features.counts(p)).collect();
    let day = DayDf::new(counts.iter());
    let expected = DocumentFrequencies::recount(365, [(hf_day(), &day)]).unwrap();
    let adjusted = app.frequencies.current(&app.store, hf_day()).await.unwrap();
    assert_eq!(*adjusted, expected);
    // A process that reads the stored days afresh agrees.
    let fresh = Frequencies::new()
        .current(&app.store, hf_day())
        .await
        .unwrap();
    assert_eq!(*fresh, expected);
    // Stored vectors are the papers' counts, pruned under the day.
    let id = papers[0].id.clone();
    let stored = app
        .store
        .paper_vectors(std::slice::from_ref(&id))
        .await
        .unwrap();
    assert_eq!(
        PaperVector::decode(&stored[&id]).unwrap(),
        PaperVector::new(&counts[0], &expected)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_arxiv_announcement_feed_is_stored_under_its_announcement_day() {
    let extra = "\n[[sources]]\nname = \"arxiv\"\nkind = \"arxiv_rss\"\ncategories = [\"cs.LG\"]\nurl = \"RSS\"\nretries = 0\nmin_interval_ms = 0\n";
    let env = TestEnv::with_config(extra).await;
    env.http.route(
        "/rss/cs.LG",
        FixtureResponse::fixture("arxiv_rss_2026-04-27_cs.LG_trimmed_3items.xml")
            .with_content_type("application/rss+xml"),
    );
    env.edit_config("\"RSS\"", &format!("\"{}\"", env.http.url("/rss")));
    env.ok(&["fetch", "--source", "arxiv"]);
    let app = env.app().await;
    let day: NaiveDate = "2026-04-27".parse().unwrap();
    assert_eq!(app.store.papers_between(day, day).await.unwrap().len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_fetch_is_conditional_and_an_unchanged_source_is_not_downloaded_again() {
    let env = TestEnv::new().await;
    env.http.route(
        "/api/daily_papers",
        FixtureResponse::fixture("hf_daily_papers_2026-06-12_full_30items.json")
            .with_content_type("application/json")
            .with_etag("\"day-2026-06-12\""),
    );
    env.ok(&["fetch", "--date", HF_DAY, "--source", "hf"]);
    let again = env.ok(&["fetch", "--date", HF_DAY, "--source", "hf"]);
    assert!(again.contains("not modified"), "{again}");
    let reqs = env.http.requests_to("/api/daily_papers");
    assert_eq!(reqs.len(), 2);
    assert_eq!(reqs[0].header("if-none-match"), None);
    assert_eq!(reqs[1].header("if-none-match"), Some("\"day-2026-06-12\""));
    let app = env.app().await;
    assert_eq!(
        app.store
            .papers_between(hf_day(), hf_day())
            .await
            .unwrap()
            .len(),
        30
    );
}

/// `n` copies of the first paper of the recorded day, each with its own
/// arXiv id (2606.9xxxx) and title.
fn hf_page(n: usize, first: usize) -> Vec<u8> {
    let full: serde_json::Value = serde_json::from_slice(
        &std::fs::read(crate::support::fixture_path(
            "hf_daily_papers_2026-06-12_full_30items.json",
        ))
        .unwrap(),
    )
    .unwrap();
    let item = full[0].clone();
    let items: Vec<serde_json::Value> = (first..first + n)
        .map(|i| {
            let mut it = item.clone();
            it["paper"]["id"] = format!("2606.9{i:04}").into();
            it["paper"]["title"] = format!("Synthetic paper number {i}").into();
            it["title"] = format!("Synthetic paper number {i}").into();
            it
        })
        .collect();
    serde_json::to_vec(&items).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_hugging_face_day_is_fetched_page_by_page_until_a_short_page() {
    let env = TestEnv::new().await;
    let q = format!("/api/daily_papers?date={HF_DAY}&limit=100");
    env.http.route(
        &q,
        FixtureResponse::body(hf_page(100, 0)).with_content_type("application/json"),
    );
    env.http.route(
        &format!("{q}&p=1"),
        FixtureResponse::body(hf_page(7, 100)).with_content_type("application/json"),
    );
    let out = env.ok(&["fetch", "--date", HF_DAY, "--source", "hf"]);
    assert!(out.contains("107 papers"), "{out}");
    let reqs = env.http.requests_to("/api/daily_papers");
    assert_eq!(reqs.len(), 2, "a short page ends the day");
    assert_eq!(reqs[1].query_param("p").as_deref(), Some("1"));
    let app = env.app().await;
    let stored = app.store.papers_between(hf_day(), hf_day()).await.unwrap();
    assert_eq!(stored.len(), 107);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_ignores_the_page_number_is_not_paged_forever() {
    let env = TestEnv::new().await;
    env.http.route(
        "/api/daily_papers",
        FixtureResponse::body(hf_page(100, 0)).with_content_type("application/json"),
    );
    let out = env.ok(&["fetch", "--date", HF_DAY, "--source", "hf"]);
    assert!(out.contains("100 papers"), "{out}");
    assert_eq!(
        env.http.requests_to("/api/daily_papers").len(),
        2,
        "the second page repeats the first, so paging stops"
    );
}

/// Runs openssl with `args` in `dir`, failing the test with its stderr.
fn openssl(dir: &std::path::Path, args: &[&str]) {
    let out = std::process::Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("openssl (Debian package openssl) must be installed");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A private CA (`ca.pem`) and a certificate it issued for 127.0.0.1
/// (`server.pem`, `server.key`), written into `dir`.
fn private_ca(dir: &std::path::Path) {
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
    ];
    let mut ca = vec!["req", "-x509"];
    ca.extend(ec);
    ca.extend([
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=paperboy test CA",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign",
    ]);
    openssl(dir, &ca);
    let mut csr = vec!["req"];
    csr.extend(ec);
    csr.extend([
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=127.0.0.1",
    ]);
    openssl(dir, &csr);
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "server.ext",
            "-out",
            "server.pem",
        ],
    );
}

/// A TLS front on 127.0.0.1 with `dir`'s server certificate, passing each
/// connection through to the plain HTTP server at `backend`. Returns its port.
async fn tls_front(dir: &std::path::Path, backend: std::net::SocketAddr) -> u16 {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};

    let certs = CertificateDer::pem_file_iter(dir.join("server.pem"))
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_file(dir.join("server.key")).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                // A client that rejects the certificate ends the handshake.
                let Ok(mut tls) = acceptor.accept(socket).await else {
                    return;
                };
                if let Ok(mut plain) = tokio::net::TcpStream::connect(backend).await {
                    let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
                }
            });
        }
    });
    port
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_https_source_is_trusted_through_the_systems_certificate_store() {
    let env = TestEnv::new().await;
    let pki = env.dir.path().join("pki");
    std::fs::create_dir(&pki).unwrap();
    private_ca(&pki);
    let port = tls_front(&pki, env.http.addr()).await;
    env.edit_config(
        &env.http.url("/api/daily_papers"),
        &format!("https://127.0.0.1:{port}/api/daily_papers"),
    );
    // SSL_CERT_FILE stands in for the system store (/etc/ssl/certs): first
    // without the private CA, then with it, as an operator would add it.
    let fetch = |store: &std::path::Path| {
        let out = env
            .command(&["fetch", "--date", HF_DAY])
            .env("SSL_CERT_FILE", store)
            .env_remove("SSL_CERT_DIR")
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    std::fs::copy(pki.join("server.pem"), pki.join("unrelated.pem")).unwrap();
    let untrusted = fetch(&pki.join("unrelated.pem"));
    assert!(untrusted.contains("hf: FAILED"), "{untrusted}");
    assert!(untrusted.contains("certificate"), "{untrusted}");
    let trusted = fetch(&pki.join("ca.pem"));
    assert!(trusted.contains("hf: 30 papers"), "{trusted}");
}
