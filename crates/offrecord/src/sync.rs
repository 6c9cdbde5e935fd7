//! The sync loop: moves mail between the chat layer and a [`Carrier`].
//!
//! One round ([`sync_once`]):
//!
//! ```text
//!   send the outbox ----------> carrier.send_batch, then outbox_sent_all (one commit) and
//!                               outbox_failed for each refused mail
//!   fetch after stored cursor -> receive_batch (the fetched mails, few durable commits)
//!                                delete_all from the mailbox what the chat layer says
//!                                store the batch cursor (past skipped mail); again if `more`
//!   send the outbox again -----> (answers to what just arrived: AKE steps, acceptances)
//!   maintenance ---------------> timers, expiry, erasure
//! ```
//!
//! The cursor is stored after the batch's effects are committed and its used-up mails deleted,
//! and the chat layer records every processed Message-ID, so a crash at any instant repeats at
//! most the processing of one fetched batch, whose mails the chat layer recognises as
//! duplicates (and deletes those still to delete). [`watch`] repeats rounds, sleeping in
//! [`Carrier::wait`] in between (IMAP IDLE on a mail server), and rides out an unreachable
//! server by trying again.

use std::time::Duration;

use chat::{Context, Event};
use mail::{Carrier, Cursor, Severity};

use crate::error::Error;

/// What one round did.
#[derive(Debug, Default)]
pub struct SyncReport {
    /// Mails handed to the carrier.
    pub sent: usize,
    /// Mails the carrier refused, one sentence each (temporary failures stay queued).
    pub send_failures: Vec<String>,
    /// Mails fetched and processed.
    pub received: usize,
    /// Mails deleted from the mailbox after processing (used-up OTR mail).
    pub deleted: usize,
    /// Mailbox entries the carrier could not read, one sentence each.
    pub skipped: Vec<String>,
    /// What the user may want to see, in order.
    pub events: Vec<Event>,
    /// Set when the round could not reach the mail server ([`watch`] tries again): why.
    pub connection: Option<String>,
}

impl SyncReport {
    /// Whether the round moved or showed anything.
    pub fn is_empty(&self) -> bool {
        self.sent == 0
            && self.send_failures.is_empty()
            && self.received == 0
            && self.skipped.is_empty()
            && self.events.is_empty()
            && self.connection.is_none()
    }
}

/// One round: send, fetch and process, send again, maintenance. `now` gives the time (seconds
/// since the epoch) each time it is needed.
pub fn sync_once<C: Carrier>(
    ctx: &mut Context,
    carrier: &mut C,
    now: &dyn Fn() -> u64,
) -> Result<SyncReport, Error> {
    let mut report = SyncReport::default();
    send_outbox(ctx, carrier, now, &mut report)?;
    fetch(ctx, carrier, now, &mut report)?;
    send_outbox(ctx, carrier, now, &mut report)?;
    report.events.extend(ctx.maintenance(now())?);
    // Maintenance queues nothing today, but whatever it may queue should not wait a round.
    send_outbox(ctx, carrier, now, &mut report)?;
    Ok(report)
}

/// Hands every queued mail to the carrier.
pub fn send_outbox<C: Carrier>(
    ctx: &mut Context,
    carrier: &mut C,
    now: &dyn Fn() -> u64,
    report: &mut SyncReport,
) -> Result<(), Error> {
    let from = ctx.addr().to_owned();
    let outbox = ctx.outbox()?;
    if outbox.is_empty() {
        return Ok(());
    }
    let batch: Vec<(&[String], &[u8])> = outbox
        .iter()
        .map(|mail| (mail.recipients.as_slice(), mail.raw.as_slice()))
        .collect();
    let results = carrier.send_batch(&from, &batch);
    let mut sent = Vec::new();
    let mut failed = Vec::new();
    for (mail, result) in outbox.iter().zip(results) {
        match result {
            Ok(()) => sent.push(mail.id),
            Err(error) => failed.push((mail.id, error)),
        }
    }
    // One commit for the whole accepted batch: a crash before it resends those mails, and
    // receivers drop the copies as duplicates (see `Context::outbox_sent_all`).
    ctx.outbox_sent_all(&sent)?;
    report.sent += sent.len();
    for (id, error) in failed {
        let permanent = error.severity() == Severity::Permanent;
        let text = send_error_text(&error);
        ctx.outbox_failed(id, &text, permanent, now())?;
        report.send_failures.push(if permanent {
            format!("A mail could not be sent and was dropped: {text}.")
        } else {
            format!("A mail could not be sent yet and stays queued: {text}.")
        });
    }
    Ok(())
}

/// Fetches everything after the stored cursor and processes it.
pub fn fetch<C: Carrier>(
    ctx: &mut Context,
    carrier: &mut C,
    now: &dyn Fn() -> u64,
    report: &mut SyncReport,
) -> Result<(), Error> {
    let mut cursor: Option<Cursor> = match ctx.mail_cursor()? {
        Some(text) => Some(text.parse()?),
        None => None,
    };
    loop {
        let batch = carrier.fetch(cursor.as_ref())?;
        let raws: Vec<&[u8]> = batch.mails.iter().map(|m| m.raw.as_slice()).collect();
        // Durable before anything is deleted; the cursor moves only after the deletions.
        let processed = ctx.receive_batch(&raws, now())?;
        let mut used_up = Vec::new();
        for (mail, processed) in batch.mails.iter().zip(processed) {
            report.received += 1;
            if processed.delete_from_server {
                used_up.push(mail.id.clone());
            }
            report.events.extend(processed.events);
        }
        carrier.delete_all(&used_up)?;
        report.deleted += used_up.len();
        for skipped in batch.skipped {
            report.skipped.push(format!(
                "Mail {} was skipped: {}.",
                skipped.id, skipped.reason
            ));
        }
        // An idle round (nothing new) leaves the stored cursor as it is: no commit, no fsync.
        if cursor.as_ref() != Some(&batch.cursor) {
            ctx.set_mail_cursor(&batch.cursor.to_string())?;
        }
        cursor = Some(batch.cursor);
        if !batch.more {
            return Ok(());
        }
    }
}

/// Repeats [`sync_once`] until `on_round` returns false, waiting up to `interval` for new mail
/// between rounds (the carrier returns early when mail arrives; mail queued by another process
/// of this account leaves within `interval`). `on_round` is called after every round.
pub fn watch<C: Carrier>(
    ctx: &mut Context,
    carrier: &mut C,
    now: &dyn Fn() -> u64,
    interval: Duration,
    on_round: &mut dyn FnMut(&Context, &SyncReport) -> bool,
) -> Result<(), Error> {
    let mut failures: u32 = 0;
    loop {
        let outcome = sync_once(ctx, carrier, now).and_then(|report| {
            if on_round(ctx, &report) {
                carrier.wait(interval)?;
                Ok(true)
            } else {
                Ok(false)
            }
        });
        match outcome {
            Ok(true) => failures = 0,
            Ok(false) => return Ok(()),
            // The server is unreachable (the carrier already retried): say so, pause, and try
            // again; nothing is lost, the stored cursor moves only with processed mail.
            Err(error) if is_transient(&error) => {
                failures = failures.saturating_add(1);
                let report = SyncReport {
                    connection: Some(format!(
                        "The mail server is unreachable; trying again ({}).",
                        error.to_string().trim_end_matches('.')
                    )),
                    ..SyncReport::default()
                };
                if !on_round(ctx, &report) {
                    return Ok(());
                }
                let pause = Duration::from_secs(1u64 << failures.min(5)).min(interval);
                std::thread::sleep(pause);
            }
            Err(error) => return Err(error),
        }
    }
}

/// Whether a round failed only because the mail server could not be reached.
fn is_transient(error: &Error) -> bool {
    matches!(error, Error::Fetch(mail::FetchError::Server(server)) if server.is_transient())
}

/// A send error in one line, with each failed recipient and why.
fn send_error_text(error: &mail::SendError) -> String {
    match error {
        mail::SendError::Recipients { failed, .. } => failed
            .iter()
            .map(|f| {
                let mut text = format!("{}: {}", f.recipient, f.error);
                let mut source = std::error::Error::source(&f.error);
                while let Some(inner) = source {
                    text.push_str(": ");
                    text.push_str(&inner.to_string());
                    source = inner.source();
                }
                text
            })
            .collect::<Vec<_>>()
            .join("; "),
        other => other.to_string(),
    }
}
