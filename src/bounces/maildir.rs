//! `[bounces] maildir`: bounces an MTA delivered to a mailbox. Each message
//! in `new/` is handled like one piped to `paperboy bounces ingest`, then
//! moved to `cur/` (flagged `S`, seen; or `F`, flagged for the operator,
//! when it could not be read or matched). A message whose handling failed
//! for now (the database busy) stays in `new/` for the next pass.

use std::path::{Path, PathBuf};

use chrono::Utc;

use super::Intake;

/// What one pass over `new/` did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MaildirPass {
    /// Recorded (whatever the action) and moved to `cur/`.
    pub handled: usize,
    /// Of those, not read or matched: flagged for the operator.
    pub flagged: usize,
    /// Left in `new/` after a transient failure.
    pub left: usize,
}

/// Handles every message now in `{maildir}/new`.
pub async fn poll_once(intake: &Intake, maildir: &Path) -> anyhow::Result<MaildirPass> {
    use anyhow::Context as _;
    let new = maildir.join("new");
    let cur = maildir.join("cur");
    std::fs::create_dir_all(&cur).with_context(|| format!("creating {}", cur.display()))?;
    let mut names: Vec<PathBuf> = std::fs::read_dir(&new)
        .with_context(|| format!("reading {}", new.display()))?
        .filter_map(|e| e.ok())
        .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .map(|e| e.path())
        .collect();
    names.sort();
    let mut pass = MaildirPass::default();
    for path in names {
        let raw = match std::fs::read(&path) {
            Ok(raw) => raw,
            Err(e) => {
                tracing::warn!(file = %path.display(), error = %e, "cannot read a bounce message");
                pass.left += 1;
                continue;
            }
        };
        match intake.message(&raw, None, Utc::now()).await {
            Ok(handled) => {
                let flag = if handled.worth_keeping() {
                    pass.flagged += 1;
                    tracing::warn!(file = %path.display(), "bounce message not read or matched, flagged in cur/: {}", handled.line());
                    "F"
                } else {
                    "S"
                };
                let name = path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                let base = name.split(":2,").next().unwrap_or(&name);
                let target = cur.join(format!("{base}:2,{flag}"));
                std::fs::rename(&path, &target)
                    .with_context(|| format!("moving {} to cur/", path.display()))?;
                pass.handled += 1;
            }
            Err(e) => {
                tracing::warn!(file = %path.display(), error = %e, "bounce message left for the next pass");
                pass.left += 1;
            }
        }
    }
    Ok(pass)
}
