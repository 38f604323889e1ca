//! systemd credentials: secret files handed to the service by
//! `LoadCredential=` and found under `$CREDENTIALS_DIRECTORY`.
//!
//! A path setting that starts with `${CREDENTIALS_DIRECTORY}/` (for example
//! `signing_key_file = "${CREDENTIALS_DIRECTORY}/signing.key"`) is resolved
//! against that directory once, when settings load. Only this one variable
//! is expanded, only as a path prefix: the config stays literal otherwise.
//! This module never reads the secrets themselves.

use std::path::{Path, PathBuf};

use anyhow::bail;

/// The prefix a path setting uses to name a credential.
pub const PREFIX: &str = "${CREDENTIALS_DIRECTORY}";

/// Resolves `path` (the value of setting `key`) against `credentials_dir`
/// when it starts with [`PREFIX`]; other paths are returned unchanged, and
/// so is a credential path when systemd set no credentials directory (a
/// command that never reads the secret, like `status`, still runs; one that
/// does fails in [`require_resolved`]). Fails, naming the key, when the
/// name after the prefix is not a plain file name.
pub fn resolve(key: &str, path: &Path, credentials_dir: Option<&str>) -> anyhow::Result<PathBuf> {
    let Some(text) = path.to_str() else {
        return Ok(path.to_path_buf());
    };
    let Some(rest) = text.strip_prefix(PREFIX) else {
        if text.contains(PREFIX) {
            bail!("{key} = {text:?}: {PREFIX} may only start the path");
        }
        return Ok(path.to_path_buf());
    };
    let name = rest.strip_prefix('/').unwrap_or("");
    if name.is_empty() || name.contains('/') || name == "." || name == ".." {
        bail!("{key} = {text:?} must name one credential: {PREFIX}/NAME");
    }
    match credentials_dir.filter(|d| !d.is_empty()) {
        Some(dir) => Ok(Path::new(dir).join(name)),
        None => Ok(path.to_path_buf()),
    }
}

/// Fails, naming the key, when `path` still names a credential because the
/// process was not started with a credentials directory. Call before
/// reading (or creating) the file.
pub fn require_resolved(key: &str, path: &Path) -> anyhow::Result<()> {
    if let Some(name) = path.to_str().and_then(|t| t.strip_prefix(PREFIX)) {
        let name = name.trim_start_matches('/');
        bail!(
            "{key} = \"{PREFIX}/{name}\" names a systemd credential, but CREDENTIALS_DIRECTORY \
             is not set (run under systemd with LoadCredential={name}:FILE, e.g. \
             systemd-run --pipe --wait -p User=paperboy -p LoadCredential={name}:/etc/paperboy/{name} ...)"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_credential_path_resolves_inside_the_credentials_directory() {
        let p = resolve(
            "security.signing_key_file",
            Path::new("${CREDENTIALS_DIRECTORY}/signing.key"),
            Some("/run/credentials/paperboy.service"),
        )
        .unwrap();
        assert_eq!(
            p,
            Path::new("/run/credentials/paperboy.service/signing.key")
        );
    }

    #[test]
    fn a_plain_path_is_left_alone() {
        let p = resolve("k", Path::new("/etc/paperboy/signing.key"), Some("/run/c")).unwrap();
        assert_eq!(p, Path::new("/etc/paperboy/signing.key"));
        require_resolved("k", &p).unwrap();
    }

    #[test]
    fn a_credential_path_without_a_credentials_directory_fails_when_used_naming_the_key() {
        let p = resolve(
            "mail.smtp_password_file",
            Path::new("${CREDENTIALS_DIRECTORY}/smtp-password"),
            None,
        )
        .unwrap();
        let e = require_resolved("mail.smtp_password_file", &p).unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("mail.smtp_password_file"), "{msg}");
        assert!(msg.contains("CREDENTIALS_DIRECTORY is not set"), "{msg}");
    }

    #[test]
    fn a_credential_name_cannot_leave_the_directory() {
        for bad in [
            "${CREDENTIALS_DIRECTORY}/../etc/shadow",
            "${CREDENTIALS_DIRECTORY}/",
            "${CREDENTIALS_DIRECTORY}/..",
            "/x/${CREDENTIALS_DIRECTORY}/key",
        ] {
            let e = resolve("k", Path::new(bad), Some("/run/c")).unwrap_err();
            assert!(e.to_string().contains("k = "), "{bad}: {e}");
        }
    }
}
