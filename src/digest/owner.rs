//! Who is sending: an identity for this process ("pid:start-time", unique
//! on one machine even when pids are reused) and whether the process behind
//! such an identity is still alive. The database is a local SQLite file, so
//! every run that shares it runs on this machine.

use std::sync::OnceLock;

/// This process's identity.
pub fn this_process() -> &'static str {
    static ID: OnceLock<String> = OnceLock::new();
    ID.get_or_init(|| {
        let pid = std::process::id();
        format!("{pid}:{}", start_time(pid).unwrap_or(0))
    })
}

/// Whether the process named by `owner` (from [`this_process`]) still runs.
/// An unreadable identity counts as gone, so its delivery can be resumed.
pub fn is_alive(owner: &str) -> bool {
    let Some((pid, start)) = owner.split_once(':') else {
        return false;
    };
    let (Ok(pid), Ok(start)) = (pid.parse::<u32>(), start.parse::<u64>()) else {
        return false;
    };
    start_time(pid) == Some(start)
}

/// Field 22 of /proc/PID/stat: start time in clock ticks since boot.
fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces.
    let after = &stat[stat.rfind(')')? + 1..];
    after.split_whitespace().nth(19)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_alive_and_a_finished_one_is_not() {
        assert!(is_alive(this_process()));
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        let start = start_time(pid);
        child.wait().unwrap();
        let gone = format!("{pid}:{}", start.unwrap_or(1));
        assert!(!is_alive(&gone));
        assert!(!is_alive("garbage"));
        assert!(!is_alive(""));
    }
}
