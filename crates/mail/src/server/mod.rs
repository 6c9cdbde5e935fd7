//! The IMAP + SMTP carrier: a real mail account.
//!
//! [`ServerCarrier`] implements the blocking [`Carrier`] trait with Delta Chat's protocol crates
//! (`async-imap`, `async-smtp`) on a private current-thread tokio runtime, and rustls for TLS.
//!
//! - **Reading** is by UID after the caller's cursor (`imap:<UIDVALIDITY>:<UID>`): no `\Seen`
//!   or other flag is used as state (bodies are fetched with `BODY.PEEK[]`), so several devices
//!   read one mailbox with their own cursors. A changed UIDVALIDITY starts again from the
//!   beginning (the chat layer drops the duplicates by Message-ID). Mails flagged `\Deleted`
//!   (being erased) are passed over.
//! - **Deleting** (erasure of processed OTR mail) is `UID STORE +FLAGS.SILENT (\Deleted)` then
//!   `UID EXPUNGE` of that UID: the mail is gone from the server, not moved to a Trash folder.
//! - **Waiting** is IMAP IDLE when the server offers it, polling every few seconds otherwise.
//! - **Reconnecting**: the session is dropped on any error and opened again by the next
//!   operation; fetch and delete retry transient failures with backoff (about 8 seconds in all)
//!   before reporting them. A batch is returned only complete, and the cursor is the caller's,
//!   so a connection killed in the middle neither loses nor repeats a mail.
//! - **Sending** opens one submission session per mail. Each recipient is offered on its own,
//!   so a refusal is reported for that recipient with the server's reply: 4xx temporary, 5xx
//!   permanent ([`DeliveryError::Refused`](crate::DeliveryError::Refused)).

mod error;
mod imap;
mod net;
mod settings;
mod smtp;

use std::thread;
use std::time::Duration;

use tokio::runtime::Runtime;

pub use self::error::{Protocol, ServerError, ServerErrorKind};
use self::imap::Imap;
pub use self::settings::{Endpoint, Security, ServerSettings, UnknownSecurity};
use self::smtp::Smtp;
use crate::address::Address;
use crate::carrier::{Batch, Carrier, check_submission, dedup_recipients};
use crate::cursor::{Cursor, MailId};
use crate::error::{FetchError, RecipientFailure, SendError};
use crate::spool::BatchLimits;

/// Pauses between attempts of an operation that failed for the network's fault.
const BACKOFF: [Duration; 5] = [
    Duration::from_millis(200),
    Duration::from_millis(500),
    Duration::from_secs(1),
    Duration::from_secs(2),
    Duration::from_secs(4),
];

/// One mail account on real servers: reads its mailbox over IMAP, submits over SMTP.
/// Implements [`Carrier`]. Connections are opened on first use and kept (IMAP) between calls.
pub struct ServerCarrier {
    runtime: Runtime,
    address: Address,
    imap: Imap,
    smtp: Smtp,
    limits: BatchLimits,
    /// The end of the last batch returned, for `wait`.
    seen: Option<Cursor>,
}

impl std::fmt::Debug for ServerCarrier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerCarrier")
            .field("address", &self.address)
            .field("imap", self.imap.endpoint())
            .field("smtp", self.smtp.endpoint())
            .finish_non_exhaustive()
    }
}

impl ServerCarrier {
    /// Prepares the carrier (runtime, TLS roots). Connects nothing yet: the first operation
    /// does, or [`check`](ServerCarrier::check).
    pub fn open(settings: ServerSettings) -> Result<ServerCarrier, ServerError> {
        let imap_error = |kind| {
            ServerError::new(
                Protocol::Imap,
                &settings.imap.host,
                settings.imap.port,
                kind,
            )
        };
        let address = Address::parse(&settings.address).map_err(|e| {
            imap_error(ServerErrorKind::Setup(format!(
                "invalid account address: {e}"
            )))
        })?;
        let tls = net::tls_config(settings.extra_ca.as_deref()).map_err(imap_error)?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .enable_time()
            .build()
            .map_err(|e| imap_error(ServerErrorKind::Setup(e.to_string())))?;
        let ServerSettings {
            login,
            password,
            imap,
            smtp,
            mailbox,
            use_idle,
            ..
        } = settings;
        Ok(ServerCarrier {
            runtime,
            address,
            imap: Imap::new(
                imap,
                login.clone(),
                password.clone(),
                mailbox,
                tls.clone(),
                use_idle,
            ),
            smtp: Smtp::new(smtp, login, password, tls),
            limits: BatchLimits::default(),
            seen: None,
        })
    }

    /// Replaces the [`BatchLimits`] (default: [`BatchLimits::default`]).
    pub fn with_batch_limits(mut self, limits: BatchLimits) -> ServerCarrier {
        self.limits = limits;
        self
    }

    /// The account's normalized address.
    pub fn address(&self) -> &Address {
        &self.address
    }

    /// Logs in to both servers (and selects the mailbox): checks the settings.
    pub fn check(&mut self) -> Result<(), ServerError> {
        let imap = self.runtime.block_on(self.imap.check());
        imap.map_err(|kind| self.imap_error(kind))?;
        let smtp = self.runtime.block_on(self.smtp.check());
        smtp.map_err(|kind| self.smtp_error(kind))
    }

    /// Drops the IMAP connection; the next operation opens a new one.
    pub fn disconnect(&mut self) {
        self.imap.drop_session();
    }

    fn imap_error(&self, kind: ServerErrorKind) -> ServerError {
        let endpoint = self.imap.endpoint();
        ServerError::new(Protocol::Imap, &endpoint.host, endpoint.port, kind)
    }

    fn smtp_error(&self, kind: ServerErrorKind) -> ServerError {
        let endpoint = self.smtp.endpoint();
        ServerError::new(Protocol::Smtp, &endpoint.host, endpoint.port, kind)
    }
}

/// At most this many UIDs in one `UID STORE` / `UID EXPUNGE` of [`Carrier::delete_all`] (the
/// command line stays well under the limits servers put on it).
const DELETE_SET: usize = 200;

/// Whether an error of this kind is worth another attempt on a new connection.
fn transient(kind: &ServerErrorKind) -> bool {
    matches!(
        kind,
        ServerErrorKind::Connect(_) | ServerErrorKind::Timeout(_) | ServerErrorKind::Connection(_)
    )
}

impl Carrier for ServerCarrier {
    fn send(&mut self, from: &str, recipients: &[String], raw: &[u8]) -> Result<(), SendError> {
        self.send_batch(from, &[(recipients, raw)])
            .pop()
            .unwrap_or(Ok(()))
    }

    /// Sends the batch over one SMTP session (see `Smtp::send_batch`), with the submission
    /// checks and per-recipient results of [`Carrier::send`] for each mail (a single `send` is
    /// the batch of one).
    fn send_batch(
        &mut self,
        from: &str,
        mails: &[(&[String], &[u8])],
    ) -> Vec<Result<(), SendError>> {
        // Per mail: the submission checks, or what to submit.
        let mut prepared: Vec<Result<(Vec<RecipientFailure>, bool), SendError>> = Vec::new();
        let mut submissions: Vec<smtp::Submission<'_>> = Vec::new();
        let mut sender = None;
        for (recipients, raw) in mails {
            match check_submission(&self.address, from, recipients, raw) {
                Err(e) => prepared.push(Err(e)),
                Ok(checked) => {
                    sender = Some(checked);
                    let (valid, failed) = dedup_recipients(recipients);
                    // Nothing goes to the server without a valid recipient.
                    prepared.push(Ok((failed, !valid.is_empty())));
                    if !valid.is_empty() {
                        submissions.push((valid, raw));
                    }
                }
            }
        }
        let mut outcomes = match sender {
            Some(sender) if !submissions.is_empty() => self
                .runtime
                .block_on(self.smtp.send_batch(&sender, &submissions)),
            _ => Vec::new(),
        }
        .into_iter();
        prepared
            .into_iter()
            .map(|mail| {
                let (mut failed, submitted) = mail?;
                let mut delivered = Vec::new();
                if submitted {
                    match outcomes.next() {
                        Some(Ok(outcome)) => {
                            delivered = outcome.delivered;
                            failed.extend(outcome.failed);
                        }
                        Some(Err(kind)) => return Err(SendError::Server(self.smtp_error(kind))),
                        // `Smtp::send_batch` answers every submission; never taken for sent.
                        None => {
                            let kind = ServerErrorKind::Connection("no result for the mail".into());
                            return Err(SendError::Server(self.smtp_error(kind)));
                        }
                    }
                }
                if failed.is_empty() {
                    Ok(())
                } else {
                    Err(SendError::Recipients { delivered, failed })
                }
            })
            .collect()
    }

    fn fetch(&mut self, after: Option<&Cursor>) -> Result<Batch, FetchError> {
        let limits = self.limits;
        let batch =
            self.imap_retrying(|imap, runtime| runtime.block_on(imap.fetch_once(after, limits)))?;
        self.seen = Some(batch.cursor.clone());
        Ok(batch)
    }

    fn delete(&mut self, id: &MailId) -> Result<(), FetchError> {
        // Not an IMAP mail id: nothing of this mailbox.
        let Some((validity, uid)) = id.imap_uid() else {
            return Ok(());
        };
        self.delete_uids(validity, &uid.to_string())
    }

    /// Deletes the mails with one `UID STORE` and one `UID EXPUNGE` per UIDVALIDITY and
    /// [`DELETE_SET`] mails, instead of two commands per mail.
    fn delete_all(&mut self, ids: &[MailId]) -> Result<(), FetchError> {
        let mut by_validity: Vec<(u32, Vec<u32>)> = Vec::new();
        for (validity, uid) in ids.iter().filter_map(MailId::imap_uid) {
            match by_validity.iter_mut().find(|(v, _)| *v == validity) {
                Some((_, uids)) => uids.push(uid),
                None => by_validity.push((validity, vec![uid])),
            }
        }
        for (validity, uids) in by_validity {
            for set in uids.chunks(DELETE_SET) {
                let set: Vec<String> = set.iter().map(u32::to_string).collect();
                self.delete_uids(validity, &set.join(","))?;
            }
        }
        Ok(())
    }

    fn wait(&mut self, timeout: Duration) -> Result<(), FetchError> {
        let started = tokio::time::Instant::now();
        let deadline = started
            .checked_add(timeout)
            .unwrap_or_else(|| started + Duration::from_secs(365 * 24 * 3600));
        let mut attempt = 0usize;
        loop {
            let seen = self.seen.clone();
            let result = self
                .runtime
                .block_on(self.imap.wait_once(seen.as_ref(), deadline));
            match result {
                Ok(()) => return Ok(()),
                Err(kind) => {
                    let had_session = attempt == 0;
                    self.imap.drop_session();
                    if !transient(&kind) {
                        return Err(FetchError::Server(self.imap_error(kind)));
                    }
                    // A broken IDLE: let the caller fetch (it reconnects) at once.
                    if had_session && matches!(kind, ServerErrorKind::Connection(_)) {
                        return Ok(());
                    }
                    // Cannot connect: try again until the deadline.
                    let now = tokio::time::Instant::now();
                    if now >= deadline {
                        return Err(FetchError::Server(self.imap_error(kind)));
                    }
                    let pause = BACKOFF
                        .get(attempt)
                        .or(BACKOFF.last())
                        .copied()
                        .unwrap_or(Duration::from_secs(1));
                    thread::sleep(pause.min(deadline - now));
                    attempt += 1;
                }
            }
        }
    }
}

impl ServerCarrier {
    /// Deletes the UID set `uids` (`7` or `3,5,9`) of UIDVALIDITY `validity`, reconnecting and
    /// retrying after a transient failure as every operation does.
    fn delete_uids(&mut self, validity: u32, uids: &str) -> Result<(), FetchError> {
        self.imap_retrying(|imap, runtime| runtime.block_on(imap.delete_once(validity, uids)))
    }

    /// Runs `op` on the IMAP connection; after a failure, drops the session and, if the
    /// failure is transient, pauses ([`BACKOFF`]) and runs it again on a new session, until
    /// the pauses are used up.
    fn imap_retrying<T>(
        &mut self,
        mut op: impl FnMut(&mut Imap, &Runtime) -> Result<T, ServerErrorKind>,
    ) -> Result<T, FetchError> {
        let mut attempt = 0;
        loop {
            match op(&mut self.imap, &self.runtime) {
                Ok(value) => return Ok(value),
                Err(kind) => {
                    self.imap.drop_session();
                    match BACKOFF.get(attempt) {
                        Some(pause) if transient(&kind) => {
                            thread::sleep(*pause);
                            attempt += 1;
                        }
                        _ => return Err(FetchError::Server(self.imap_error(kind))),
                    }
                }
            }
        }
    }
}
