//! Where log lines go and how they look: `tracing` to stderr, which under
//! systemd is connected to the journal. When it is (`$JOURNAL_STREAM` names
//! our stderr), each line starts with its syslog priority (`<3>` error,
//! `<4>` warning, `<6>` info, `<7>` debug, see `sd-daemon(3)`) so
//! `journalctl -p warning` works, and carries no timestamp or colours of
//! its own (the journal adds both). What is logged is the caller's
//! business; this module never sees addresses or secrets unless a caller
//! logs them, which callers must not.

use std::io::IsTerminal as _;

use tracing::Level;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::EnvFilter;

/// Sets up the global subscriber: level from `PAPERBOY_LOG` (default info,
/// with the scheduler crate's per-job chatter kept to warnings).
pub fn init() {
    let mut filter = EnvFilter::try_from_env("PAPERBOY_LOG")
        .unwrap_or_else(|_| EnvFilter::new("info,tokio_cron_scheduler=warn"));
    // lettre's debug lines echo the SMTP conversation (`RCPT TO:<address>`):
    // kept at info whatever PAPERBOY_LOG asks, so logs never hold addresses.
    if let Ok(directive) = "lettre=info".parse() {
        filter = filter.add_directive(directive);
    }
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if stderr_is_journal() {
        builder
            .with_ansi(false)
            .event_format(JournalPrefix(
                tracing_subscriber::fmt::format()
                    .without_time()
                    .with_ansi(false),
            ))
            .init();
    } else {
        builder.with_ansi(std::io::stderr().is_terminal()).init();
    }
}

/// The prefix for a line written straight to stderr at error level
/// (`<3>` under the journal, else nothing).
pub fn error_prefix() -> &'static str {
    if stderr_is_journal() {
        "<3>"
    } else {
        ""
    }
}

/// Whether stderr is the journal stream systemd announced: the variable
/// alone is not enough, since a child of a service inherits it with a
/// stderr redirected elsewhere.
pub fn stderr_is_journal() -> bool {
    use std::os::unix::fs::MetadataExt as _;
    let Ok(stream) = std::env::var("JOURNAL_STREAM") else {
        return false;
    };
    let Ok(meta) = std::fs::metadata("/proc/self/fd/2") else {
        return false;
    };
    stream_matches(&stream, meta.dev(), meta.ino())
}

fn stream_matches(var: &str, dev: u64, ino: u64) -> bool {
    var.split_once(':').is_some_and(|(d, i)| {
        d.trim().parse::<u64>().ok() == Some(dev) && i.trim().parse::<u64>().ok() == Some(ino)
    })
}

/// The syslog priority of a tracing level.
fn priority(level: &Level) -> u8 {
    match *level {
        Level::ERROR => 3,
        Level::WARN => 4,
        Level::INFO => 6,
        Level::DEBUG | Level::TRACE => 7,
    }
}

/// Wraps an event format, prefixing each event with its priority.
struct JournalPrefix<F>(F);

impl<S, N, F> FormatEvent<S, N> for JournalPrefix<F>
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
    F: FormatEvent<S, N>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &tracing::Event<'_>,
    ) -> std::fmt::Result {
        write!(writer, "<{}>", priority(event.metadata().level()))?;
        self.0.format_event(ctx, writer, event)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn journal_stream_must_name_this_device_and_inode() {
        assert!(stream_matches("8:12345", 8, 12345));
        assert!(!stream_matches("8:12345", 8, 12346));
        assert!(!stream_matches("8", 8, 12345));
        assert!(!stream_matches("", 0, 0));
    }

    #[test]
    fn levels_map_to_syslog_priorities() {
        assert_eq!(priority(&Level::ERROR), 3);
        assert_eq!(priority(&Level::WARN), 4);
        assert_eq!(priority(&Level::INFO), 6);
        assert_eq!(priority(&Level::DEBUG), 7);
    }
}
