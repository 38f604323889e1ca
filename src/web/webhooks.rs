//! `POST /webhooks/{provider}`: bounce, complaint and unsubscribe events
//! of the sending services operators use instead of their own MTA (Amazon
//! SES through SNS, Postmark, SendGrid, Mailgun), each off unless
//! `[bounces.webhooks.PROVIDER]` is set.
//!
//! A request whose signature or secret does not verify is answered 401 and
//! records nothing; an authentic one that cannot be read, 400; an authentic
//! one is recorded and acted on ([`crate::bounces::Intake`]) and answered
//! 200. A database failure is a 503, so the provider sends it again. An SNS
//! message or Mailgun token seen before is answered 200 and not recorded
//! twice (replays; SNS also redelivers).

use std::collections::{HashMap, HashSet, VecDeque};
use std::path::Path;
use std::sync::{Arc, Mutex};

use anyhow::Context as _;
use axum::body::Bytes;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::Utc;

use crate::bounces::Intake;
use crate::inbound::settings::BouncesSettings;
use crate::inbound::webhook::{
    mailgun, postmark, sendgrid, ses, WebhookError, DEFAULT_REPLAY_WINDOW,
};
use crate::inbound::Report;

/// Remembered SNS message ids and Mailgun tokens, newest last.
const REMEMBERED: usize = 10_000;

/// The configured providers, their secrets read once at startup.
pub struct WebhookState {
    intake: Intake,
    ses: Option<Ses>,
    postmark: Option<postmark::PostmarkAuth>,
    sendgrid: Option<sendgrid::SendgridKey>,
    mailgun: Option<Vec<u8>>,
    seen: Mutex<Seen>,
}

struct Ses {
    topics: Vec<String>,
    http: reqwest::Client,
    /// Signing certificates by URL (SNS rotates them rarely).
    certificates: Mutex<HashMap<String, Vec<u8>>>,
}

#[derive(Default)]
struct Seen {
    order: VecDeque<String>,
    set: HashSet<String>,
}

impl Seen {
    /// Remembers `id`; false when it was already there.
    fn first_time(&mut self, id: String) -> bool {
        if self.set.contains(&id) {
            return false;
        }
        if self.order.len() >= REMEMBERED {
            if let Some(old) = self.order.pop_front() {
                self.set.remove(&old);
            }
        }
        self.set.insert(id.clone());
        self.order.push_back(id);
        true
    }
}

fn read_secret(key: &str, path: &Path) -> anyhow::Result<String> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("{key}: reading {}", path.display()))?;
    let text = text.trim().to_string();
    if text.is_empty() {
        anyhow::bail!("{key}: {} is empty", path.display());
    }
    Ok(text)
}

impl WebhookState {
    /// Reads the configured providers' secrets; fails naming the key.
    pub fn load(settings: &BouncesSettings, intake: Intake) -> anyhow::Result<WebhookState> {
        let hooks = &settings.webhooks;
        let postmark = match &hooks.postmark {
            None => None,
            Some(pm) => {
                let secret = read_secret("bounces.webhooks.postmark.secret_file", &pm.secret_file)?;
                Some(match (&pm.username, &pm.header) {
                    (Some(username), _) => postmark::PostmarkAuth::Basic {
                        username: username.clone(),
                        password: secret,
                    },
                    (None, Some(header)) => postmark::PostmarkAuth::Header {
                        name: http::HeaderName::from_bytes(header.trim().as_bytes())
                            .context("bounces.webhooks.postmark.header")?,
                        value: secret,
                    },
                    (None, None) => {
                        anyhow::bail!("bounces.webhooks.postmark: set either username or header")
                    }
                })
            }
        };
        let sendgrid = hooks
            .sendgrid
            .as_ref()
            .map(|sg| sendgrid::SendgridKey::parse(&sg.public_key))
            .transpose()
            .context("bounces.webhooks.sendgrid.public_key")?;
        let mailgun = hooks
            .mailgun
            .as_ref()
            .map(|mg| {
                read_secret(
                    "bounces.webhooks.mailgun.signing_key_file",
                    &mg.signing_key_file,
                )
                .map(String::into_bytes)
            })
            .transpose()?;
        let ses = match &hooks.ses {
            None => None,
            Some(s) => Some(Ses {
                topics: s.topic_arns.clone(),
                http: crate::sources::client_builder()
                    .timeout(std::time::Duration::from_secs(10))
                    .redirect(reqwest::redirect::Policy::none())
                    .build()
                    .context("building the HTTP client for SNS certificates")?,
                certificates: Mutex::new(HashMap::new()),
            }),
        };
        Ok(WebhookState {
            intake,
            ses,
            postmark,
            sendgrid,
            mailgun,
            seen: Mutex::new(Seen::default()),
        })
    }

    fn first_time(&self, id: String) -> bool {
        self.seen
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .first_time(id)
    }
}

/// What a request came to.
enum Received {
    Reports(Vec<Report>),
    /// A replay or redelivery of something already handled.
    AlreadyHandled,
    /// Nothing to record (an SNS subscription notice).
    Nothing(&'static str),
}

pub(super) async fn receive(
    State(state): State<Arc<WebhookState>>,
    UrlPath(provider): UrlPath<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let now = Utc::now();
    let ctx = state.intake.context(now);
    let received: Result<Received, WebhookError> = match provider.as_str() {
        "postmark" => match &state.postmark {
            Some(auth) => postmark::verify_and_read(&headers, &body, auth, &ctx)
                .map(|r| Received::Reports(vec![r])),
            None => return not_configured(&provider),
        },
        "sendgrid" => match &state.sendgrid {
            Some(key) => {
                sendgrid::verify_and_read(&headers, &body, key, DEFAULT_REPLAY_WINDOW, &ctx)
                    .map(Received::Reports)
            }
            None => return not_configured(&provider),
        },
        "mailgun" => match &state.mailgun {
            Some(key) => {
                mailgun::verify_and_read(&body, key, DEFAULT_REPLAY_WINDOW, &ctx).map(|event| {
                    if state.first_time(format!("mailgun:{}", event.token)) {
                        Received::Reports(vec![event.report])
                    } else {
                        Received::AlreadyHandled
                    }
                })
            }
            None => return not_configured(&provider),
        },
        "ses" => match &state.ses {
            Some(ses) => receive_ses(&state, ses, &headers, &body, &ctx).await,
            None => return not_configured(&provider),
        },
        _ => return not_configured(&provider),
    };
    let reports = match received {
        Ok(Received::Reports(reports)) => reports,
        Ok(Received::AlreadyHandled) => {
            return (StatusCode::OK, "already handled\n").into_response();
        }
        Ok(Received::Nothing(what)) => {
            return (StatusCode::OK, format!("{what}\n")).into_response()
        }
        Err(e) if e.is_unauthenticated() => {
            tracing::warn!(webhook.provider = %provider, error = %e, "webhook refused: not authenticated");
            return (StatusCode::UNAUTHORIZED, format!("{e}\n")).into_response();
        }
        Err(e) => {
            tracing::warn!(webhook.provider = %provider, error = %e, "webhook refused: unreadable");
            return (StatusCode::BAD_REQUEST, format!("{e}\n")).into_response();
        }
    };
    let mut lines = Vec::with_capacity(reports.len());
    for report in &reports {
        match state.intake.report(report, &provider, now).await {
            Ok(handled) => lines.push(handled.line()),
            Err(e) => {
                tracing::error!(webhook.provider = %provider, error = %e, "recording a webhook event failed");
                return (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "the event could not be recorded now; send it again later\n",
                )
                    .into_response();
            }
        }
    }
    (StatusCode::OK, lines.join("\n") + "\n").into_response()
}

async fn receive_ses(
    state: &WebhookState,
    ses: &Ses,
    headers: &HeaderMap,
    body: &[u8],
    ctx: &crate::inbound::Context<'_>,
) -> Result<Received, WebhookError> {
    let message = ses::parse(headers, body)?;
    message.check_topic(&ses.topics)?;
    let url = message.certificate_url()?;
    let pem = certificate(ses, &url).await?;
    let verified = message.verify(&pem, &ses.topics)?;
    if !state.first_time(format!("sns:{}", verified.message_id())) {
        return Ok(Received::AlreadyHandled);
    }
    match verified.outcome(ctx)? {
        ses::SnsOutcome::Notification(report) => Ok(Received::Reports(vec![report])),
        ses::SnsOutcome::Unsubscribed => Ok(Received::Nothing("unsubscribed from the topic")),
        ses::SnsOutcome::ConfirmSubscription { subscribe_url } => {
            match ses.http.get(subscribe_url).send().await {
                Ok(r) if r.status().is_success() => {
                    tracing::info!("confirmed the SNS subscription");
                    Ok(Received::Nothing("subscription confirmed"))
                }
                Ok(r) => Err(WebhookError::BadCertificate(format!(
                    "confirming the subscription answered HTTP {}",
                    r.status().as_u16()
                ))),
                Err(e) => Err(WebhookError::BadCertificate(format!(
                    "confirming the subscription failed: {e}"
                ))),
            }
        }
    }
}

/// The SNS signing certificate at `url` (already checked to be an SNS
/// https URL), fetched once.
async fn certificate(ses: &Ses, url: &url::Url) -> Result<Vec<u8>, WebhookError> {
    let cached = ses
        .certificates
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(url.as_str())
        .cloned();
    if let Some(pem) = cached {
        return Ok(pem);
    }
    let fail = |why: String| WebhookError::BadCertificate(format!("fetching it: {why}"));
    let response = ses
        .http
        .get(url.clone())
        .send()
        .await
        .map_err(|e| fail(e.to_string()))?;
    if !response.status().is_success() {
        return Err(fail(format!("HTTP {}", response.status().as_u16())));
    }
    let pem = response
        .bytes()
        .await
        .map_err(|e| fail(e.to_string()))?
        .to_vec();
    let mut certs = ses.certificates.lock().unwrap_or_else(|e| e.into_inner());
    if certs.len() > 64 {
        certs.clear();
    }
    certs.insert(url.as_str().to_string(), pem.clone());
    Ok(pem)
}

fn not_configured(provider: &str) -> Response {
    (
        StatusCode::NOT_FOUND,
        format!(
            "no webhook for {:?} is configured here\n",
            provider.chars().take(40).collect::<String>()
        ),
    )
        .into_response()
}
