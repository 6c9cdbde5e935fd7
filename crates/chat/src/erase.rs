//! Safe erasure (design section 5): history is deleted with SQLite's `secure_delete` on (the
//! freed pages are overwritten with zeros), and the WAL is checkpointed and truncated, so the
//! plaintext is gone from the database file and its WAL. OTR keys are dropped with the chat's
//! session (wiped in memory by the `otr` crate, deleted from disk with the row's blob).
//!
//! What this cannot reach: copies the peer keeps, backups, swap, and blocks the filesystem
//! itself keeps after a file shrinks (see `docs/SECURITY.md`).

use rusqlite::{Connection, params};

use crate::db::Cached;
use crate::error::Error;
use crate::events::Event;
use crate::lifecycle::ChatRow;
use crate::types::ChatId;

/// Erases a closed chat's history (every mode erases at close; the chat itself stays, read
/// only, with its notes).
pub(crate) fn on_close(conn: &Connection, row: &ChatRow) -> Result<Vec<Event>, Error> {
    let count = conn.exec(
        "DELETE FROM messages WHERE chat_id = ?1 AND direction IN ('in', 'out')",
        [row.id.0],
    )?;
    if let Some(invite) = &row.invite_id {
        conn.exec("DELETE FROM deferred_mail WHERE invite_id = ?1", [invite])?;
    }
    Ok(if count > 0 {
        vec![Event::Erased {
            chat: row.id,
            count,
        }]
    } else {
        Vec::new()
    })
}

/// Erases messages whose timer ran out.
pub(crate) fn expired_messages(conn: &Connection, now: u64) -> Result<Vec<Event>, Error> {
    let chats: Vec<(i64, i64)> = {
        let mut stmt = conn.prepare_cached(
            "SELECT chat_id, COUNT(*) FROM messages
             WHERE erase_at IS NOT NULL AND erase_at <= ?1 GROUP BY chat_id",
        )?;
        let rows = stmt.query_map([now as i64], |r| Ok((r.get(0)?, r.get(1)?)))?;
        rows.collect::<Result<_, _>>()?
    };
    conn.exec(
        "DELETE FROM messages WHERE erase_at IS NOT NULL AND erase_at <= ?1",
        params![now as i64],
    )?;
    Ok(chats
        .into_iter()
        .map(|(chat, count)| Event::Erased {
            chat: ChatId(chat),
            count: usize::try_from(count).unwrap_or(0),
        })
        .collect())
}

/// Moves everything from the WAL into the database file and truncates the WAL to zero bytes,
/// so deleted plaintext does not linger in the WAL.
pub(crate) fn checkpoint(conn: &Connection) -> Result<(), Error> {
    conn.row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
    Ok(())
}
