//! The sync loop: moves mail between the chat layer and a [`Carrier`].
//!
//! One round ([`sync_once`]):
//!
//! ```text
//!   send the outbox ----------> carrier.send, then outbox_sent / outbox_failed
//!   fetch after stored cursor -> for each mail, in order:
//!                                  receive_mail
//!                                  delete it from the mailbox if the chat layer says so
//!                                  store the mail's cursor
//!                                store the batch cursor (past skipped mail); again if `more`
//!   send the outbox again -----> (answers to what just arrived: AKE steps, acceptances)
//!   maintenance ---------------> timers, expiry, erasure
//! ```
//!
//! The cursor is stored after the mail's effects are committed, and the chat layer records
//! every processed Message-ID, so a crash at any instant repeats at most the processing of one
//! mail, which the chat layer recognises as a duplicate. [`watch`] repeats rounds, sleeping in
//! [`Carrier::wait`] in between.

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
}

impl SyncReport {
    /// Whether the round moved or showed anything.
    pub fn is_empty(&self) -> bool {
        self.sent == 0
            && self.send_failures.is_empty()
            && self.received == 0
            && self.skipped.is_empty()
            && self.events.is_empty()
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
    for mail in ctx.outbox()? {
        match carrier.send(&from, &mail.recipients, &mail.raw) {
            Ok(()) => {
                ctx.outbox_sent(mail.id)?;
                report.sent += 1;
            }
            Err(error) => {
                let permanent = error.severity() == Severity::Permanent;
                let text = send_error_text(&error);
                ctx.outbox_failed(mail.id, &text, permanent, now())?;
                report.send_failures.push(if permanent {
                    format!("A mail could not be sent and was dropped: {text}.")
                } else {
                    format!("A mail could not be sent yet and stays queued: {text}.")
                });
            }
        }
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
        for mail in batch.mails {
            let processed = ctx.receive_mail(&mail.raw, now())?;
            report.received += 1;
            if processed.delete_from_server {
                carrier.delete(&mail.id)?;
                report.deleted += 1;
            }
            ctx.set_mail_cursor(&mail.cursor.to_string())?;
            report.events.extend(processed.events);
        }
        for skipped in batch.skipped {
            report.skipped.push(format!(
                "Mail {} was skipped: {}.",
                skipped.id, skipped.reason
            ));
        }
        ctx.set_mail_cursor(&batch.cursor.to_string())?;
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
    loop {
        let report = sync_once(ctx, carrier, now)?;
        if !on_round(ctx, &report) {
            return Ok(());
        }
        carrier.wait(interval)?;
    }
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
