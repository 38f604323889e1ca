//! Copying a whole database into another, empty one, on either engine:
//! how an instance moves from SQLite to PostgreSQL and back
//! (`paperboy db copy`).
//!
//! The tables come from the source's schema itself (every table but
//! sqlx's bookkeeping), ordered so a table comes after the tables its
//! foreign keys name, and after the parents [`KEPT_BY_TRIGGER`] names for
//! tables whose link to a parent a trigger keeps instead of a foreign key:
//! a table a later migration adds is copied without anyone listing it.
//! The source is read in one snapshot (one read transaction: SQLite's WAL
//! snapshot, PostgreSQL's `REPEATABLE READ READ ONLY`), the target written
//! in one transaction, so a copy taken while a daemon runs is consistent
//! and a failed copy leaves the target empty.
//! Ids are copied as they are; on PostgreSQL each identity sequence is then
//! moved past the largest id, so new rows do not collide.
//!
//! Both schemas hold integers, text and byte blobs only (a test keeps them
//! equivalent); PostgreSQL spells out SQLite's implicit `rowid` as an
//! identity column (`paper_sightings.seq`), which is copied to and from the
//! `rowid`.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{bail, Context as _};
use futures::TryStreamExt as _;
use sqlx::{AssertSqlSafe, QueryBuilder, Row as _};

use super::{Engine, Store};

/// Rows per `INSERT`: well under both engines' limit on bound parameters
/// (32766 on SQLite, 65535 on PostgreSQL) for any table's width.
const PARAMETERS_PER_INSERT: usize = 30_000;

/// (table, parent) for the tables whose rows name a parent's row without a
/// foreign key, a trigger on the parent deleting them with it (see the
/// migration `ledger_without_row_checks`: the ledger's per-row key checks
/// cost more than anything else a digest run asks of PostgreSQL). They are
/// copied after that parent, as if the key were there.
const KEPT_BY_TRIGGER: &[(&str, &str)] = &[("sent_papers", "deliveries")];

/// What a copy moved: every table, in the order copied, with its rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyReport {
    pub tables: Vec<(String, u64)>,
}

impl std::fmt::Display for CopyReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let width = self.tables.iter().map(|(t, _)| t.len()).max().unwrap_or(0);
        for (table, rows) in &self.tables {
            writeln!(f, "  {table:<width$}  {rows:>10}")?;
        }
        Ok(())
    }
}

/// What a column holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Int,
    Text,
    Blob,
}

/// One column of a table, and what it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Column {
    name: String,
    kind: Kind,
    /// A PostgreSQL identity column (SQLite's `rowid`, where SQLite's table
    /// has no such column).
    identity: bool,
}

/// A table as the schema declares it.
#[derive(Debug, Clone)]
struct Table {
    name: String,
    columns: Vec<Column>,
    /// The tables its foreign keys refer to.
    parents: BTreeSet<String>,
}

/// A value read from one engine and written to the other.
enum Value {
    Int(Option<i64>),
    Text(Option<String>),
    Blob(Option<Vec<u8>>),
}

/// The engine-specific end of a copy: a transaction on one engine.
enum Tx {
    Sqlite(sqlx::Transaction<'static, sqlx::Sqlite>),
    Postgres(sqlx::Transaction<'static, sqlx::Postgres>),
}

impl Store {
    /// Copies every table of this database into `target`, which must be
    /// migrated to the same schema version and empty (the first table
    /// holding rows is named in the error). See the module doc.
    pub async fn copy_into(&self, target: &Store) -> anyhow::Result<CopyReport> {
        let (source_version, target_version) =
            (self.schema_version().await?, target.schema_version().await?);
        if source_version != target_version {
            bail!(
                "the source database is at schema version {}, the target at {}: run \
                 `paperboy migrate` on the source with this paperboy first",
                source_version.unwrap_or(0),
                target_version.unwrap_or(0)
            );
        }
        let mut source = match self {
            Store::Sqlite(s) => Tx::Sqlite(s.pool().begin().await?),
            Store::Postgres(s) => Tx::Postgres(
                s.pool()
                    .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                    .await?,
            ),
        };
        let mut dest = match target {
            Store::Sqlite(s) => Tx::Sqlite(s.pool().begin_with("BEGIN IMMEDIATE").await?),
            Store::Postgres(s) => Tx::Postgres(s.pool().begin().await?),
        };
        let tables =
            in_dependency_order(source.tables().await.context("reading the source schema")?)?;
        let dest_tables: BTreeMap<String, Table> = dest
            .tables()
            .await
            .context("reading the target schema")?
            .into_iter()
            .map(|t| (t.name.clone(), t))
            .collect();
        let names: BTreeSet<&String> = tables.iter().map(|t| &t.name).collect();
        let dest_names: BTreeSet<&String> = dest_tables.keys().collect();
        if names != dest_names {
            bail!(
                "the source and target schemas differ (tables {:?} vs {:?})",
                names,
                dest_tables.keys().collect::<Vec<_>>()
            );
        }
        for table in &tables {
            if dest.has_rows(&table.name).await? {
                bail!(
                    "the target database is not empty: table {} has rows (db copy fills only \
                     an empty database)",
                    table.name
                );
            }
        }
        let mut report = CopyReport { tables: Vec::new() };
        for table in &tables {
            let pairs = column_pairs(
                table,
                &dest_tables[&table.name],
                self.engine(),
                target.engine(),
            )?;
            let rows = copy_table(&mut source, &mut dest, &table.name, &pairs)
                .await
                .with_context(|| format!("copying table {}", table.name))?;
            report.tables.push((table.name.clone(), rows));
        }
        if let Tx::Postgres(tx) = &mut dest {
            for table in dest_tables.values() {
                for column in table.columns.iter().filter(|c| c.identity) {
                    let sql = format!(
                        "SELECT setval(pg_get_serial_sequence($1, $2), \
                         COALESCE(MAX(\"{c}\"), 1), MAX(\"{c}\") IS NOT NULL) FROM \"{t}\"",
                        c = column.name,
                        t = table.name
                    );
                    sqlx::query(AssertSqlSafe(sql))
                        .bind(&table.name)
                        .bind(&column.name)
                        .execute(&mut **tx)
                        .await
                        .with_context(|| {
                            format!("moving the sequence of {}.{}", table.name, column.name)
                        })?;
                }
            }
        }
        match dest {
            Tx::Sqlite(tx) => tx.commit().await?,
            Tx::Postgres(tx) => {
                tx.commit().await?;
                // The planner's statistics for the rows just copied, as after
                // a restore: until autovacuum gets to the tables, the first
                // runs would be planned for empty ones.
                if let Store::Postgres(s) = target {
                    sqlx::query("ANALYZE")
                        .execute(s.pool())
                        .await
                        .context("gathering the planner's statistics (ANALYZE)")?;
                }
            }
        }
        match source {
            Tx::Sqlite(tx) => tx.rollback().await?,
            Tx::Postgres(tx) => tx.rollback().await?,
        }
        Ok(report)
    }

    /// The highest migration this database records, if any.
    pub async fn schema_version(&self) -> anyhow::Result<Option<i64>> {
        let sql = "SELECT MAX(version) FROM _sqlx_migrations WHERE success";
        match self {
            Store::Sqlite(s) => sqlx::query_scalar(sql).fetch_one(s.pool()).await,
            Store::Postgres(s) => sqlx::query_scalar(sql).fetch_one(s.pool()).await,
        }
        .context("reading the schema version")
    }

    /// The tables of this database, in the order `copy_into` copies them.
    pub async fn table_names(&self) -> anyhow::Result<Vec<String>> {
        let mut tx = match self {
            Store::Sqlite(s) => Tx::Sqlite(s.pool().begin().await?),
            Store::Postgres(s) => Tx::Postgres(s.pool().begin().await?),
        };
        let tables = in_dependency_order(tx.tables().await?)?;
        Ok(tables.into_iter().map(|t| t.name).collect())
    }
}

/// Source column -> target column, for each column of `source`, with
/// SQLite's implicit `rowid` standing for a PostgreSQL identity column
/// SQLite's table does not declare.
fn column_pairs(
    source: &Table,
    dest: &Table,
    from: Engine,
    to: Engine,
) -> anyhow::Result<Vec<(String, String, Kind)>> {
    let mut pairs = Vec::new();
    for c in &dest.columns {
        match source.columns.iter().find(|s| s.name == c.name) {
            Some(s) if s.kind == c.kind => pairs.push((s.name.clone(), c.name.clone(), c.kind)),
            None if c.identity && c.kind == Kind::Int && from == Engine::Sqlite => {
                pairs.push(("rowid".into(), c.name.clone(), Kind::Int))
            }
            _ => bail!(
                "table {}: column {} differs between the source and the target schema",
                dest.name,
                c.name
            ),
        }
    }
    for s in &source.columns {
        if dest.columns.iter().any(|c| c.name == s.name) {
            continue;
        }
        if s.identity && s.kind == Kind::Int && to == Engine::Sqlite {
            pairs.push((s.name.clone(), "rowid".into(), Kind::Int));
        } else {
            bail!(
                "table {}: column {} is missing from the target schema",
                source.name,
                s.name
            );
        }
    }
    Ok(pairs)
}

/// `tables` ordered so each comes after the tables it refers to (a table
/// referring to itself is fine); by name among equals.
fn in_dependency_order(tables: Vec<Table>) -> anyhow::Result<Vec<Table>> {
    let mut left: BTreeMap<String, Table> =
        tables.into_iter().map(|t| (t.name.clone(), t)).collect();
    let mut ordered: Vec<Table> = Vec::new();
    while !left.is_empty() {
        let ready: Vec<String> = left
            .values()
            .filter(|t| {
                t.parents
                    .iter()
                    .all(|p| *p == t.name || !left.contains_key(p))
            })
            .map(|t| t.name.clone())
            .collect();
        if ready.is_empty() {
            bail!(
                "the tables {:?} refer to each other in a cycle; db copy cannot order them",
                left.keys().collect::<Vec<_>>()
            );
        }
        for name in ready {
            ordered.extend(left.remove(&name));
        }
    }
    Ok(ordered)
}

/// Streams every row of `table` from `source` into `dest` in multi-row
/// inserts; returns the rows copied.
async fn copy_table(
    source: &mut Tx,
    dest: &mut Tx,
    table: &str,
    pairs: &[(String, String, Kind)],
) -> anyhow::Result<u64> {
    let batch_rows = (PARAMETERS_PER_INSERT / pairs.len().max(1)).clamp(1, 1000);
    let mut copied = 0u64;
    let mut batch: Vec<Vec<Value>> = Vec::with_capacity(batch_rows);
    macro_rules! pump {
        ($tx:expr, $select:expr) => {{
            let sql = $select;
            let mut rows = sqlx::query(AssertSqlSafe(sql)).fetch(&mut **$tx);
            while let Some(row) = rows.try_next().await? {
                let mut values = Vec::with_capacity(pairs.len());
                for (i, (_, _, kind)) in pairs.iter().enumerate() {
                    values.push(match kind {
                        Kind::Int => Value::Int(row.try_get(i)?),
                        Kind::Text => Value::Text(row.try_get(i)?),
                        Kind::Blob => Value::Blob(row.try_get(i)?),
                    });
                }
                batch.push(values);
                if batch.len() == batch_rows {
                    copied += dest
                        .insert(table, pairs, std::mem::take(&mut batch))
                        .await?;
                }
            }
        }};
    }
    match source {
        Tx::Sqlite(tx) => pump!(tx, select(table, pairs, |c, _| format!("\"{c}\""))),
        Tx::Postgres(tx) => pump!(
            tx,
            select(table, pairs, |c, kind| match kind {
                Kind::Int => format!("\"{c}\"::bigint"),
                Kind::Text => format!("\"{c}\"::text"),
                Kind::Blob => format!("\"{c}\""),
            })
        ),
    }
    if !batch.is_empty() {
        copied += dest.insert(table, pairs, batch).await?;
    }
    Ok(copied)
}

/// `SELECT cols FROM table`, in a stable order (the first column).
fn select(
    table: &str,
    pairs: &[(String, String, Kind)],
    expr: impl Fn(&str, Kind) -> String,
) -> String {
    let cols: Vec<String> = pairs.iter().map(|(c, _, i)| expr(c, *i)).collect();
    format!("SELECT {} FROM \"{table}\"", cols.join(", "))
}

/// `INSERT INTO table (cols) [OVERRIDING SYSTEM VALUE] VALUES …` for `rows`.
fn insert_query<DB: sqlx::Database>(
    table: &str,
    pairs: &[(String, String, Kind)],
    overriding: bool,
    rows: Vec<Vec<Value>>,
) -> QueryBuilder<DB>
where
    for<'a> Option<i64>: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    for<'a> Option<String>: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    for<'a> Option<Vec<u8>>: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
{
    let cols: Vec<String> = pairs.iter().map(|(_, c, _)| format!("\"{c}\"")).collect();
    let mut q = QueryBuilder::<DB>::new(format!(
        "INSERT INTO \"{table}\" ({}){} ",
        cols.join(", "),
        if overriding {
            " OVERRIDING SYSTEM VALUE"
        } else {
            ""
        }
    ));
    q.push_values(rows, |mut b, row| {
        for value in row {
            match value {
                Value::Int(v) => b.push_bind(v),
                Value::Text(v) => b.push_bind(v),
                Value::Blob(v) => b.push_bind(v),
            };
        }
    });
    q
}

impl Tx {
    async fn insert(
        &mut self,
        table: &str,
        pairs: &[(String, String, Kind)],
        rows: Vec<Vec<Value>>,
    ) -> anyhow::Result<u64> {
        Ok(match self {
            Tx::Sqlite(tx) => insert_query::<sqlx::Sqlite>(table, pairs, false, rows)
                .build()
                .execute(&mut **tx)
                .await?
                .rows_affected(),
            Tx::Postgres(tx) => insert_query::<sqlx::Postgres>(table, pairs, true, rows)
                .build()
                .execute(&mut **tx)
                .await?
                .rows_affected(),
        })
    }

    async fn has_rows(&mut self, table: &str) -> anyhow::Result<bool> {
        let sql = format!("SELECT EXISTS (SELECT 1 FROM \"{table}\")");
        Ok(match self {
            Tx::Sqlite(tx) => {
                sqlx::query_scalar(AssertSqlSafe(sql))
                    .fetch_one(&mut **tx)
                    .await?
            }
            Tx::Postgres(tx) => {
                sqlx::query_scalar(AssertSqlSafe(sql))
                    .fetch_one(&mut **tx)
                    .await?
            }
        })
    }

    /// Every table but sqlx's bookkeeping, with its columns and its
    /// parents: the tables its foreign keys name and those
    /// [`KEPT_BY_TRIGGER`] adds.
    async fn tables(&mut self) -> anyhow::Result<Vec<Table>> {
        let mut tables = self.declared_tables().await?;
        for table in &mut tables {
            table.parents.extend(
                KEPT_BY_TRIGGER
                    .iter()
                    .filter(|(child, _)| *child == table.name)
                    .map(|(_, parent)| parent.to_string()),
            );
        }
        Ok(tables)
    }

    /// [`Tx::tables`] as the schema declares them: parents from foreign
    /// keys only.
    async fn declared_tables(&mut self) -> anyhow::Result<Vec<Table>> {
        let mut tables = Vec::new();
        match self {
            Tx::Sqlite(tx) => {
                let names: Vec<String> = sqlx::query_scalar(
                    "SELECT name FROM sqlite_master WHERE type = 'table'
                     AND name NOT LIKE 'sqlite_%' AND name <> '_sqlx_migrations' ORDER BY name",
                )
                .fetch_all(&mut **tx)
                .await?;
                for name in names {
                    let mut columns = Vec::new();
                    for c in
                        sqlx::query("SELECT name, type FROM pragma_table_info($1) ORDER BY cid")
                            .bind(&name)
                            .fetch_all(&mut **tx)
                            .await?
                    {
                        let declared: String = c.get("type");
                        columns.push(column(&name, c.get("name"), &declared, false)?);
                    }
                    let parents: Vec<String> =
                        sqlx::query_scalar("SELECT \"table\" FROM pragma_foreign_key_list($1)")
                            .bind(&name)
                            .fetch_all(&mut **tx)
                            .await?;
                    tables.push(Table {
                        name,
                        columns,
                        parents: parents.into_iter().collect(),
                    });
                }
            }
            Tx::Postgres(tx) => {
                let mut by_name: BTreeMap<String, Table> = BTreeMap::new();
                for c in sqlx::query(
                    "SELECT table_name::text AS t, column_name::text AS c,
                            data_type::text AS ty, udt_name::text AS udt,
                            is_identity = 'YES' AS identity
                     FROM information_schema.columns
                     WHERE table_schema = current_schema() AND table_name <> '_sqlx_migrations'
                     ORDER BY table_name, ordinal_position",
                )
                .fetch_all(&mut **tx)
                .await?
                {
                    let table: String = c.get("t");
                    let ty: String = c.get("ty");
                    let declared = if ty == "USER-DEFINED" {
                        c.get("udt")
                    } else {
                        ty
                    };
                    let col = column(&table, c.get("c"), &declared, c.get("identity"))?;
                    by_name
                        .entry(table.clone())
                        .or_insert_with(|| Table {
                            name: table,
                            columns: Vec::new(),
                            parents: BTreeSet::new(),
                        })
                        .columns
                        .push(col);
                }
                for fk in sqlx::query(
                    "SELECT c.conrelid::regclass::text AS child, c.confrelid::regclass::text AS parent
                     FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace
                     WHERE c.contype = 'f' AND n.nspname = current_schema()",
                )
                .fetch_all(&mut **tx)
                .await?
                {
                    let child: String = fk.get("child");
                    if let Some(t) = by_name.get_mut(child.trim_matches('"')) {
                        t.parents
                            .insert(fk.get::<String, _>("parent").trim_matches('"').to_string());
                    }
                }
                tables.extend(by_name.into_values());
            }
        }
        Ok(tables)
    }
}

/// A column whose declared type is an integer, text or blob type; any
/// other type is refused by name rather than copied wrongly.
fn column(table: &str, name: String, declared: &str, identity: bool) -> anyhow::Result<Column> {
    let kind = match declared.to_ascii_lowercase().as_str() {
        "integer" | "bigint" | "int" | "int8" | "smallint" => Kind::Int,
        "text" | "citext" => Kind::Text,
        "blob" | "bytea" => Kind::Blob,
        other => {
            bail!("table {table}: column {name} has type {other}, which db copy does not copy")
        }
    };
    Ok(Column {
        name,
        kind,
        identity,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(name: &str, parents: &[&str]) -> Table {
        Table {
            name: name.into(),
            columns: Vec::new(),
            parents: parents.iter().map(|p| p.to_string()).collect(),
        }
    }

    #[test]
    fn tables_come_after_the_tables_they_refer_to() {
        let order = in_dependency_order(vec![
            table("a_child", &["parent", "a_child"]),
            table("grandchild", &["a_child", "parent"]),
            table("parent", &[]),
        ])
        .unwrap();
        let names: Vec<&str> = order.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["parent", "a_child", "grandchild"]);
        let e = in_dependency_order(vec![table("x", &["y"]), table("y", &["x"])]).unwrap_err();
        assert!(e.to_string().contains("cycle"), "{e}");
    }

    /// Every table of the schema is copied (none listed by hand), each after
    /// the tables its foreign keys name, on both engines alike.
    #[tokio::test]
    async fn every_table_of_the_schema_is_copied_parents_first_on_both_engines() {
        let (sqlite, _dir) = crate::store::sqlite::test_store().await;
        let (pg, _db) = crate::store::postgres::test_store().await;
        let lite = sqlite.table_names().await.unwrap();
        assert_eq!(lite, pg.table_names().await.unwrap());
        let mut in_schema: Vec<String> = sqlx::query_scalar(
            "SELECT name FROM sqlite_master WHERE type = 'table'
             AND name NOT LIKE 'sqlite_%' AND name <> '_sqlx_migrations'",
        )
        .fetch_all(sqlite.pool())
        .await
        .unwrap();
        in_schema.sort();
        let mut copied = lite.clone();
        copied.sort();
        assert_eq!(copied, in_schema);
        let at = |t: &str| lite.iter().position(|n| n == t).unwrap();
        assert!(at("papers") < at("paper_sightings"));
        assert!(at("subscribers") < at("deliveries"));
        // The ledger has no foreign key to its delivery (a trigger keeps
        // the cascade); it is still copied after it.
        assert!(at("deliveries") < at("sent_papers"));
        for (child, parent) in KEPT_BY_TRIGGER {
            assert!(at(parent) < at(child), "{child} after {parent}");
        }
        assert!(at("deliveries") < at("inbound_reports"));
    }
}
