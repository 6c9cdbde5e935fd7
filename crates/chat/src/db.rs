//! The SQLite database of one device: opening, pragmas and numbered migrations.
//!
//! Migrations live in `migrations/NNN_name.sql` and are applied in order, all pending ones in
//! one transaction, recording the schema version in `PRAGMA user_version`. A database made by
//! a newer version is refused rather than modified.
//!
//! Pragmas: WAL (readers never block the writer), `synchronous = FULL` (a commit survives power
//! loss: a queued OTR message and the counter it used are durable before the mail can leave),
//! `secure_delete = ON` (deleted rows are overwritten, see [`crate::erase`]), foreign keys on.
//!
//! Statements are prepared once per connection and kept ([`Cached`]): the chat layer runs the
//! same few dozen statements for every message, and parsing SQL was a tenth of the time of
//! sending one.
//!
//! Several processes may open one database (`offrecord sync --watch` in one terminal, `send` in
//! another). Writing transactions therefore begin `IMMEDIATE`: they take the write lock first
//! and wait for it (busy timeout), instead of reading under a snapshot and failing with
//! "database is locked" when another process committed meanwhile.

use std::path::Path;

use rusqlite::{Connection, OpenFlags, Params, Row};

use crate::error::Error;

/// The migrations, in order. Index `i` brings the schema from version `i` to `i + 1`.
const MIGRATIONS: &[&str] = &[include_str!("../migrations/001_initial.sql")];

/// How many prepared statements a connection keeps (every statement of the chat layer fits).
const STATEMENT_CACHE: usize = 128;

/// The schema version this build writes.
pub const SCHEMA_VERSION: u32 = 1;

/// Opens (creating if needed) the database at `path` and brings its schema up to date.
pub(crate) fn open(path: &Path) -> Result<Connection, Error> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    configure(&conn)?;
    migrate(&conn)?;
    Ok(conn)
}

fn configure(conn: &Connection) -> Result<(), Error> {
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "secure_delete", "ON")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    Ok(())
}

fn migrate(conn: &Connection) -> Result<(), Error> {
    let current: u32 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    let target = u32::try_from(MIGRATIONS.len()).unwrap_or(u32::MAX);
    if current > target {
        return Err(Error::NewerDatabase {
            found: current,
            supported: target,
        });
    }
    if current == target {
        return Ok(());
    }
    let tx = conn.unchecked_transaction()?;
    for sql in MIGRATIONS.iter().skip(current as usize) {
        tx.execute_batch(sql)?;
    }
    tx.pragma_update(None, "user_version", target)?;
    tx.commit()?;
    Ok(())
}

/// `execute` and `query_row` through the connection's statement cache: the SQL is parsed the
/// first time only. Works on transactions and savepoints too (they dereference to the
/// connection).
pub(crate) trait Cached {
    /// Runs a statement; the number of rows changed.
    fn exec<P: Params>(&self, sql: &str, params: P) -> rusqlite::Result<usize>;

    /// The first row of a query, mapped by `f` (`QueryReturnedNoRows` if there is none).
    fn row<T, P, F>(&self, sql: &str, params: P, f: F) -> rusqlite::Result<T>
    where
        P: Params,
        F: FnOnce(&Row<'_>) -> rusqlite::Result<T>;
}

impl Cached for Connection {
    fn exec<P: Params>(&self, sql: &str, params: P) -> rusqlite::Result<usize> {
        self.prepare_cached(sql)?.execute(params)
    }

    fn row<T, P, F>(&self, sql: &str, params: P, f: F) -> rusqlite::Result<T>
    where
        P: Params,
        F: FnOnce(&Row<'_>) -> rusqlite::Result<T>,
    {
        self.prepare_cached(sql)?.query_row(params, f)
    }
}

/// Reads a config value.
pub(crate) fn get_config(conn: &Connection, key: &str) -> Result<Option<Vec<u8>>, Error> {
    use rusqlite::OptionalExtension;
    Ok(conn
        .row("SELECT value FROM config WHERE key = ?1", [key], |r| {
            r.get(0)
        })
        .optional()?)
}

/// Writes a config value.
pub(crate) fn set_config(conn: &Connection, key: &str, value: &[u8]) -> Result<(), Error> {
    conn.exec(
        "INSERT INTO config (key, value) VALUES (?1, ?2)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        rusqlite::params![key, value],
    )?;
    Ok(())
}
