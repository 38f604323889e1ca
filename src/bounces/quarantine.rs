//! Keeping a message that could not be read or matched, whole, in
//! `[bounces] quarantine_dir`: the MTA that handed it over is told it was
//! taken (it must not retry it forever), and the operator can look at it.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use sha2::{Digest as _, Sha256};

/// A directory of kept messages, one `.eml` file each.
#[derive(Debug, Clone)]
pub struct Quarantine {
    dir: PathBuf,
}

impl Quarantine {
    pub fn new(dir: impl Into<PathBuf>) -> Quarantine {
        Quarantine { dir: dir.into() }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Writes `raw` as `{dir}/{time}-{hash}.eml` (created with its
    /// directory if needed; written to a temporary name first, then
    /// renamed and synced, so a kept file is always whole). The same
    /// message kept twice is one file. Returns the file's path.
    pub fn keep(&self, raw: &[u8], now: DateTime<Utc>) -> std::io::Result<PathBuf> {
        std::fs::create_dir_all(&self.dir)?;
        let hash = Sha256::digest(raw);
        let hex: String = hash[..8].iter().map(|b| format!("{b:02x}")).collect();
        let name = format!("{}-{hex}.eml", now.format("%Y%m%dT%H%M%SZ"));
        if let Some(existing) = self.find(&hex)? {
            return Ok(existing);
        }
        let path = self.dir.join(&name);
        let tmp = self.dir.join(format!(".{name}.tmp"));
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(raw)?;
        file.sync_all()?;
        std::fs::rename(&tmp, &path)?;
        if let Ok(dir) = std::fs::File::open(&self.dir) {
            let _ = dir.sync_all();
        }
        Ok(path)
    }

    /// A file already keeping the message with this hash.
    fn find(&self, hex: &str) -> std::io::Result<Option<PathBuf>> {
        let suffix = format!("-{hex}.eml");
        for entry in std::fs::read_dir(&self.dir)? {
            let entry = entry?;
            if entry.file_name().to_string_lossy().ends_with(&suffix) {
                return Ok(Some(entry.path()));
            }
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kept_message_is_whole_and_kept_once() {
        let dir = tempfile::tempdir().unwrap();
        let q = Quarantine::new(dir.path().join("q"));
        let now = Utc::now();
        let a = q.keep(b"not a message\r\n", now).unwrap();
        assert_eq!(std::fs::read(&a).unwrap(), b"not a message\r\n");
        assert_eq!(q.keep(b"not a message\r\n", now).unwrap(), a);
        let b = q.keep(b"another", now).unwrap();
        assert_ne!(a, b);
        assert_eq!(std::fs::read_dir(q.dir()).unwrap().count(), 2);
    }
}
