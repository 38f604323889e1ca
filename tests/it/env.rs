//! A test environment that runs what production runs: a real SMTP server and
//! a real HTTP server serving recorded payloads on loopback, a real SQLite
//! file, and paperboy itself — in-process through `App::build`, or as the
//! real binary.

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::NaiveDate;
use paperboy::app::App;
use paperboy::settings::Settings;

use crate::support::{FixtureResponse, FixtureServer, SmtpServer, TestDir};

pub const HF_DAY: &str = "2026-06-12";

pub fn hf_day() -> NaiveDate {
    HF_DAY.parse().unwrap()
}

pub struct TestEnv {
    pub dir: TestDir,
    /// The database paperboy uses: the SQLite file in `dir`, or a database
    /// of its own on the PostgreSQL test cluster.
    pub db_url: String,
    pub smtp: SmtpServer,
    pub http: FixtureServer,
    pub config_path: PathBuf,
}

impl TestEnv {
    /// Servers up, fixtures routed, a config file written with one
    /// Hugging Face source and the SMTP transport.
    pub async fn new() -> TestEnv {
        Self::with_config("").await
    }

    /// As [`TestEnv::new`], with extra TOML appended to the config.
    pub async fn with_config(extra: &str) -> TestEnv {
        Self::with_config_on(extra, None).await
    }

    /// As [`TestEnv::new`], on a fresh database of the PostgreSQL test
    /// cluster (already migrated, from the cluster's template) instead of
    /// a SQLite file.
    pub async fn on_postgres() -> TestEnv {
        let url = crate::support::database::migrated_postgres_database().await;
        Self::with_config_on("", Some(url)).await
    }

    /// As [`TestEnv::with_config`], on the database at `db_url` when given.
    pub async fn with_config_on(extra: &str, db_url: Option<String>) -> TestEnv {
        let dir = TestDir::new();
        let db_url = db_url.unwrap_or_else(|| dir.db_url());
        let smtp = SmtpServer::start().await;
        let http = FixtureServer::start().await;
        http.route(
            "/api/daily_papers",
            FixtureResponse::fixture("hf_daily_papers_2026-06-12_full_30items.json")
                .with_content_type("application/json"),
        );
        http.route(
            "/hostile/daily_papers",
            FixtureResponse::fixture("synthetic/hf_markup_in_every_field.json")
                .with_content_type("application/json"),
        );
        let config_path = dir.path().join("paperboy.toml");
        let env = TestEnv {
            dir,
            db_url,
            smtp,
            http,
            config_path,
        };
        let toml = format!("{}{extra}", env.base_config());
        std::fs::write(&env.config_path, toml).unwrap();
        env
    }

    fn base_config(&self) -> String {
        format!(
            r#"
[database]
url = "{db}"
[web]
listen = "127.0.0.1:0"
base_url = "https://papers.example.org/"
[mail]
from = "Paperboy <digest@papers.example.org>"
transport = "smtp"
smtp_url = "{smtp}"
timeout_secs = 5
retries = 1
[security]
signing_key_file = "{key}"
[digest]
concurrency = 2
lease_seconds = 2
[[sources]]
name = "hf"
kind = "hf_daily_papers"
url = "{hf}"
retries = 0
timeout_secs = 5
[[sources]]
name = "hostile"
kind = "hf_daily_papers"
url = "{hostile}"
retries = 0
timeout_secs = 5
"#,
            db = self.db_url,
            smtp = self.smtp.url(),
            key = self.dir.path().join("signing.key").display(),
            hf = self.http.url("/api/daily_papers"),
            hostile = self.http.url("/hostile/daily_papers"),
        )
    }

    /// Replaces text in the config file, e.g. to point the SMTP URL at a
    /// port where nothing listens.
    pub fn edit_config(&self, from: &str, to: &str) {
        let toml = std::fs::read_to_string(&self.config_path).unwrap();
        assert!(toml.contains(from), "the config has no {from:?}");
        std::fs::write(&self.config_path, toml.replace(from, to)).unwrap();
    }

    pub fn settings(&self) -> Settings {
        Settings::load_from(
            Some(&self.config_path),
            std::path::Path::new("/nonexistent"),
            vec![],
        )
        .unwrap()
    }

    pub async fn app(&self) -> Arc<App> {
        Arc::new(App::build(self.settings()).await.unwrap())
    }

    /// Runs the real binary with this environment's config. A run that
    /// hangs is killed after two minutes so the suite fails instead of
    /// stalling.
    pub fn paperboy(&self, args: &[&str]) -> Output {
        let mut child = self
            .command(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run paperboy");
        let deadline = Instant::now() + Duration::from_secs(120);
        while child.try_wait().expect("wait for paperboy").is_none() {
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("paperboy {args:?} did not finish within two minutes");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        child.wait_with_output().expect("collect paperboy's output")
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_paperboy"));
        cmd.arg("--config").arg(&self.config_path).args(args);
        cmd.env_remove("PAPERBOY_LOG");
        cmd
    }

    /// Runs the binary and asserts it succeeded; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.paperboy(args);
        assert!(
            out.status.success(),
            "paperboy {args:?} failed: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }
}
