//! `paperboy db copy`: an instance moved from SQLite to PostgreSQL and
//! back with the real binary, every table's rows compared; a target that
//! holds rows, a bad target URL and a missing source file refused.

use std::collections::BTreeMap;
use std::time::Duration;

use sqlx::{Column as _, Connection as _, Row as _};

use crate::env::{TestEnv, HF_DAY};
use crate::support::database::{execute, migrated_postgres_database, texts};
use crate::support::TestDir;

/// The per-table counts `db copy` printed (`  table   rows` lines).
fn printed_counts(out: &str) -> BTreeMap<String, u64> {
    out.lines()
        .filter(|l| l.starts_with("  "))
        .map(|l| {
            let mut parts = l.split_whitespace();
            let table = parts.next().unwrap().to_string();
            let rows = parts.next().unwrap().parse().unwrap();
            (table, rows)
        })
        .collect()
}

/// Every row of every table of a SQLite database, as text, sorted: what a
/// copy must keep. With `paper_sightings`' `rowid`, the order the store
/// lists sightings in (other tables' rowids mean nothing to it).
async fn sqlite_contents(url: &str) -> BTreeMap<String, Vec<Vec<String>>> {
    let mut conn = sqlx::SqliteConnection::connect(url).await.unwrap();
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'table'
         AND name NOT LIKE 'sqlite_%' AND name <> '_sqlx_migrations'",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    let mut all = BTreeMap::new();
    for table in tables {
        let rowid = if table == "paper_sightings" {
            "rowid AS rowid_, "
        } else {
            ""
        };
        let sql = format!("SELECT {rowid}* FROM \"{table}\"");
        let found = sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_all(&mut conn)
            .await
            .unwrap();
        let mut rows: Vec<Vec<String>> = Vec::new();
        for row in found {
            let mut values = Vec::new();
            for (i, column) in row.columns().iter().enumerate() {
                let value = match row.try_get::<Option<i64>, _>(i) {
                    Ok(v) => format!("{v:?}"),
                    Err(_) => match row.try_get::<Option<String>, _>(i) {
                        Ok(v) => format!("{v:?}"),
                        Err(_) => format!("{:?}", row.get::<Option<Vec<u8>>, _>(i)),
                    },
                };
                values.push(format!("{}={value}", column.name()));
            }
            rows.push(values);
        }
        rows.sort();
        all.insert(table, rows);
    }
    all
}

/// A populated instance: fetched papers, subscribers with topics, a sent
/// digest and its ledger, runs, the papers' vectors and the day's document
/// frequencies; and a row in each table the CLI alone does not reach (a
/// bounce, a mark and its profile, a held request, an inbound report).
async fn populated() -> TestEnv {
    let env = TestEnv::new().await;
    env.ok(&["fetch", "--date", HF_DAY]);
    for (who, topic) in [("ada", "ti:agent*"), ("bob", "upvotes>=0"), ("Cy", "llm")] {
        env.ok(&[
            "subscribers",
            "add",
            &format!("{who}@example.org"),
            "--topic",
            topic,
        ]);
    }
    env.ok(&["digest", "--date", HF_DAY]);
    assert!(!env
        .smtp
        .wait_for(2, Duration::from_secs(20))
        .await
        .is_empty());
    let db = env.db_url.clone();
    execute(
        &db,
        "INSERT INTO bounces (subscriber_id, delivery_id, kind, smtp_code, occurred_at)
         SELECT subscriber_id, id, 'soft', 451, $1 FROM deliveries LIMIT 1",
        &["2026-06-12T09:00:00.000Z"],
    )
    .await;
    execute(
        &db,
        "INSERT INTO paper_marks (subscriber_id, paper_id, mark, marked_at)
         SELECT s.subscriber_id, s.paper_id, 'more', $1 FROM sent_papers s LIMIT 2",
        &["2026-06-12T10:00:00.000Z"],
    )
    .await;
    execute(
        &db,
        "INSERT INTO ranking_profiles (subscriber_id, profile, updated_at)
         SELECT DISTINCT subscriber_id, X'0102ff', $1 FROM paper_marks",
        &["2026-06-12T10:00:00.000Z"],
    )
    .await;
    execute(
        &db,
        "INSERT INTO subscription_requests (subscriber_id, topics, frequency, created_at)
         SELECT id, $1, 'weekly', $2 FROM subscribers WHERE email = 'cy@example.org'",
        &[r#"[["Agents","ti:agent*"]]"#, "2026-06-12T11:00:00.000Z"],
    )
    .await;
    execute(
        &db,
        "INSERT INTO inbound_reports (received_at, source, kind, subscriber_id, delivery_id,
                                      matched_by, counted, action, summary)
         SELECT $1, 'maildir', 'auto-reply', subscriber_id, id, 'message-id', 0, 'ignored', $2
         FROM deliveries LIMIT 1",
        &["2026-06-12T12:00:00.000Z", "out of office"],
    )
    .await;
    env
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_moves_to_postgres_and_back_with_every_row_and_id() {
    let source = populated().await;
    let before = sqlite_contents(&source.db_url).await;

    // Migrated already (from the cluster's template): the copy migrates
    // its target first, which then has nothing to do.
    let pg = migrated_postgres_database().await;
    let out = source.ok(&["db", "copy", "--to", &pg]);
    let to_pg = printed_counts(&out);
    // Every table of the schema, each with the rows the source holds.
    assert_eq!(
        to_pg.keys().collect::<Vec<_>>(),
        before.keys().collect::<Vec<_>>(),
        "{out}"
    );
    for (table, rows) in &before {
        assert_eq!(to_pg[table], rows.len() as u64, "{table}: {out}");
    }
    for table in [
        "papers",
        "paper_sightings",
        "subscribers",
        "topics",
        "deliveries",
        "sent_papers",
        "runs",
        "bounces",
        "paper_marks",
        "paper_vectors",
        "ranking_df_days",
        "ranking_profiles",
        "subscription_requests",
        "inbound_reports",
    ] {
        assert!(to_pg[table] > 0, "the scene leaves {table} empty: {out}");
    }
    // The planner has statistics for what was copied (ANALYZE), not those
    // of empty tables.
    let unanalyzed = texts(
        &pg,
        "SELECT relname::text FROM pg_stat_user_tables
         WHERE relname IN ('subscribers', 'deliveries', 'sent_papers') AND last_analyze IS NULL",
    )
    .await;
    assert!(
        unanalyzed.is_empty(),
        "not analyzed after the copy: {unanalyzed:?}"
    );

    // Back from PostgreSQL (as its `--from`) into a new SQLite file: the
    // same counts, the same rows, ids and rowids.
    let back = TestDir::new();
    let out = source.ok(&["db", "copy", "--from", &pg, "--to", &back.db_url()]);
    assert_eq!(printed_counts(&out), to_pg, "{out}");
    let after = sqlite_contents(&back.db_url()).await;
    for (table, rows) in &before {
        assert_eq!(after[table].len(), rows.len(), "rows of {table}");
        for (was, is) in rows.iter().zip(&after[table]) {
            assert_eq!(is, was, "a row of {table} after the round trip");
        }
    }

    // The copy on PostgreSQL is a working instance whose sequences were
    // moved past the copied ids: a new subscriber does not collide.
    let moved = TestEnv::with_config_on("", Some(pg.clone())).await;
    moved.ok(&["subscribers", "add", "dan@example.org", "--topic", "llm"]);
    let list = moved.ok(&["subscribers", "list"]);
    for who in ["ada@", "bob@", "cy@", "dan@"] {
        assert!(list.to_lowercase().contains(who), "{list}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_holding_rows_is_refused_by_table_and_left_as_it_was() {
    let source = TestEnv::new().await;
    source.ok(&["subscribers", "add", "ada@example.org", "--topic", "llm"]);
    let target = TestEnv::new().await;
    target.ok(&["subscribers", "add", "eve@example.org", "--topic", "llm"]);

    let out = source.paperboy(&["db", "copy", "--to", &target.db_url]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("not empty"), "{stderr}");
    assert!(stderr.contains("table subscribers"), "{stderr}");
    let list = target.ok(&["subscribers", "list"]);
    assert!(list.contains("eve@example.org"), "{list}");
    assert!(!list.contains("ada@example.org"), "{list}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_target_url_names_the_option_and_hides_the_password() {
    let source = TestEnv::new().await;
    source.ok(&["migrate"]);
    let port = crate::support::free_port();
    for to in [
        format!("postgres://pb:hunter2@127.0.0.1:{port}/paperboy"),
        "mysql://pb:hunter2@db.example/paperboy".to_string(),
    ] {
        let out = source.paperboy(&["db", "copy", "--to", &to]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{stderr}");
        assert!(stderr.contains("--to"), "{stderr}");
        assert!(stderr.contains("***"), "{stderr}");
        assert!(!stderr.contains("hunter2"), "{stderr}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_source_file_is_refused_by_path_and_not_created() {
    let source = TestEnv::new().await;
    source.ok(&["migrate"]);
    let target = TestEnv::new().await;
    let dir = TestDir::new();
    let missing = dir.path().join("nowhere").join("old.db");
    let from = format!("sqlite://{}", missing.display());

    let out = source.paperboy(&["db", "copy", "--from", &from, "--to", &target.db_url]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("--from"), "{stderr}");
    assert!(stderr.contains("there is no database at"), "{stderr}");
    assert!(stderr.contains(&missing.display().to_string()), "{stderr}");
    assert!(!missing.exists(), "the missing source was created");
    assert!(
        !missing.parent().unwrap().exists(),
        "its directory was created"
    );
}
