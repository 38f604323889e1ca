//! `Type=notify`: the real `paperboy serve` tells systemd it is ready,
//! feeds the watchdog and says it is stopping, over a datagram socket the
//! test binds where systemd's would be.

use std::os::unix::net::UnixDatagram;
use std::time::Duration;

use crate::env::TestEnv;

/// Receives datagrams until one contains `wanted`; returns all seen.
/// The read timeout only guards against a hang.
fn recv_until(sock: &UnixDatagram, wanted: &str) -> Vec<String> {
    let mut seen = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        let n = match sock.recv(&mut buf) {
            Ok(n) => n,
            Err(e) => panic!("no {wanted:?} notification (got {seen:?}): {e}"),
        };
        let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
        let done = msg.lines().any(|l| l == wanted);
        seen.push(msg);
        if done {
            return seen;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_notifies_ready_feeds_the_watchdog_and_notifies_stopping_on_sigterm() {
    let env = TestEnv::new().await;
    let port = crate::support::free_port();
    let toml = std::fs::read_to_string(&env.config_path)
        .unwrap()
        .replace("127.0.0.1:0", &format!("127.0.0.1:{port}"));
    std::fs::write(&env.config_path, toml).unwrap();
    let sock_path = env.dir.path().join("notify.sock");
    let sock = UnixDatagram::bind(&sock_path).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();

    let mut child = env
        .command(&["serve"])
        .env("NOTIFY_SOCKET", &sock_path)
        .env("WATCHDOG_USEC", "200000")
        .env_remove("WATCHDOG_PID")
        .spawn()
        .unwrap();

    let sock = std::sync::Arc::new(sock);
    let s = sock.clone();
    let ready = tokio::task::spawn_blocking(move || recv_until(&s, "READY=1"))
        .await
        .unwrap();
    assert!(
        ready
            .last()
            .unwrap()
            .contains(&format!("STATUS=serving on 127.0.0.1:{port}")),
        "{ready:?}"
    );
    // Ready means the listener is bound and the database migrated: the
    // first request is answered, without retrying.
    let health = reqwest::get(format!("http://127.0.0.1:{port}/healthz"))
        .await
        .unwrap();
    assert!(health.status().is_success(), "{:?}", health.status());

    // Fed again and again, not once.
    for _ in 0..2 {
        let s = sock.clone();
        tokio::task::spawn_blocking(move || recv_until(&s, "WATCHDOG=1"))
            .await
            .unwrap();
    }

    let pid = child.id().to_string();
    assert!(std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let s = sock.clone();
    let stopping = tokio::task::spawn_blocking(move || recv_until(&s, "STOPPING=1"))
        .await
        .unwrap();
    assert!(
        stopping.iter().all(|m| !m.contains("READY=1")),
        "READY=1 was sent only once: {stopping:?}"
    );
    let status = tokio::task::spawn_blocking(move || child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "exit status {status:?}");
}
