//! The outbox: mail waiting for the carrier. A row is written in the same transaction as the
//! state it depends on, so a mail that depends on an OTR counter is never lost and the counter
//! is never reused, whatever instant the process dies at (design section 6).

use rusqlite::{Connection, TransactionBehavior, params};

use crate::context::Context;
use crate::db::Cached;
use crate::error::Error;
use crate::types::ChatId;

/// One mail to send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutgoingMail {
    /// The outbox row.
    pub id: i64,
    /// The Message-ID.
    pub message_id: String,
    /// Envelope recipients (including our own address for self-copies).
    pub recipients: Vec<String>,
    /// The RFC 5322 bytes.
    pub raw: Vec<u8>,
}

/// Queues a mail (inside the caller's transaction).
pub(crate) fn queue(
    conn: &Connection,
    message_id: &str,
    recipients: &[&str],
    raw: &[u8],
    chat: Option<ChatId>,
    now: u64,
) -> Result<(), Error> {
    conn.exec(
        "INSERT INTO outbox (rfc724_mid, recipients, mime, created_at, chat_id)
         VALUES (?1, ?2, ?3, ?4, ?5)",
        params![
            message_id,
            recipients.join(" "),
            raw,
            now as i64,
            chat.map(|c| c.0)
        ],
    )?;
    Ok(())
}

impl Context {
    /// Mail waiting to be sent, oldest first.
    pub fn outbox(&self) -> Result<Vec<OutgoingMail>, Error> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT id, rfc724_mid, recipients, mime FROM outbox ORDER BY id")?;
        let rows = stmt.query_map([], |r| {
            let recipients: String = r.get(2)?;
            Ok(OutgoingMail {
                id: r.get(0)?,
                message_id: r.get(1)?,
                recipients: recipients.split_whitespace().map(str::to_owned).collect(),
                raw: r.get(3)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The carrier accepted this mail: remove it from the outbox.
    pub fn outbox_sent(&self, id: i64) -> Result<(), Error> {
        self.conn.exec("DELETE FROM outbox WHERE id = ?1", [id])?;
        Ok(())
    }

    /// The carrier accepted all these mails (a drained outbox): remove them from the outbox
    /// in one transaction, with one durable commit instead of one per mail.
    ///
    /// Honest because the order is "carrier accepted, then marked sent": a crash between the
    /// two (or before this commit is durable) leaves the mails queued, so they are sent again,
    /// and the receiver drops the copies as duplicates (their Message-IDs are recorded as
    /// processed, and OTR's replay window rejects a repeated data message). No OTR state is
    /// touched here: the counters a mail used were made durable with the mail when it was
    /// queued.
    pub fn outbox_sent_all(&mut self, ids: &[i64]) -> Result<(), Error> {
        if ids.is_empty() {
            return Ok(());
        }
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        for id in ids {
            tx.exec("DELETE FROM outbox WHERE id = ?1", [id])?;
        }
        tx.commit()?;
        Ok(())
    }

    /// The carrier failed to send this mail. A temporary failure keeps it queued for a retry;
    /// a permanent one removes it and notes the failure in its chat.
    pub fn outbox_failed(
        &mut self,
        id: i64,
        error: &str,
        permanent: bool,
        now: u64,
    ) -> Result<(), Error> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        if permanent {
            let chat: Option<i64> =
                tx.row("SELECT chat_id FROM outbox WHERE id = ?1", [id], |r| {
                    r.get(0)
                })?;
            tx.exec("DELETE FROM outbox WHERE id = ?1", [id])?;
            if let Some(chat) = chat {
                crate::lifecycle::info_message(
                    &tx,
                    ChatId(chat),
                    &format!("A message could not be sent: {error}"),
                    now,
                )?;
            }
        } else {
            tx.exec(
                "UPDATE outbox SET attempts = attempts + 1, last_error = ?2 WHERE id = ?1",
                params![id, error],
            )?;
        }
        tx.commit()?;
        Ok(())
    }
}
