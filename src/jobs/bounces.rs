//! The bounce Maildir job: every `[bounces] maildir_poll_secs`, one pass
//! over `[bounces] maildir` (see [`crate::bounces::maildir`]), until the
//! daemon stops.

use std::path::PathBuf;

use crate::bounces::maildir::poll_once;
use crate::bounces::Intake;

/// Polls `maildir` every `every` until `stop` is cancelled.
pub async fn run(
    intake: Intake,
    maildir: PathBuf,
    every: std::time::Duration,
    stop: tokio_util::sync::CancellationToken,
) {
    tracing::info!(maildir = %maildir.display(), every_s = every.as_secs(), "reading bounces from a Maildir");
    loop {
        match poll_once(&intake, &maildir).await {
            Ok(pass) if pass.handled + pass.left > 0 => tracing::info!(
                bounces.handled = pass.handled,
                bounces.flagged = pass.flagged,
                bounces.left = pass.left,
                "bounce Maildir pass"
            ),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %format!("{e:#}"), "bounce Maildir pass failed"),
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(every) => {}
        }
    }
}
