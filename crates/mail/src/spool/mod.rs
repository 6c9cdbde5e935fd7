//! The embedded local spool: mail between accounts through a directory on the local disk, for
//! when no mail server is configured.
//!
//! One mailbox directory per (normalized) address under a root shared by all accounts; a
//! delivery is written to the recipient's `tmp/` and renamed into its `new/` under a name that
//! sorts in delivery order (maildir-like, but with a total order across processes: see
//! `mailbox.rs`). Mail is stored exactly as submitted (no `Received:` or `Return-Path:` added).
//! Files are private to the user (0600, directories 0700).
//!
//! The spool relies on `flock(2)` and atomic `rename(2)`: use it on a local file system, not on
//! a network one.

mod mailbox;
mod parallel;
pub(crate) mod stamp;

use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

use self::mailbox::{Mailbox, ReadOutcome};
use self::stamp::Stamp;
use crate::address::Address;
use crate::carrier::{Batch, Carrier, FetchedMail, Skipped, check_submission, dedup_recipients};
use crate::cursor::{Cursor, MailId};
use crate::error::{DeliveryError, FetchError, OpenError, RecipientFailure, SendError};

/// The largest mail the spool delivers or returns, in bytes (32 MiB). Larger mail is refused
/// with a permanent [`SendError::TooLarge`], and skipped by fetch if planted.
pub const MAX_MAIL_SIZE: usize = 32 * 1024 * 1024;

/// How often [`Spool::wait`](Carrier::wait) looks at the mailbox.
const POLL_INTERVAL: Duration = Duration::from_millis(100);

/// Bounds on one [`Carrier::fetch`] batch, so a full mailbox cannot exhaust memory. A batch
/// always holds at least one mail if there is one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchLimits {
    /// Most mails plus skipped entries in one batch.
    pub max_mails: usize,
    /// Most mail bytes in one batch (exceeded only by a single mail alone in its batch).
    pub max_bytes: usize,
}

impl Default for BatchLimits {
    /// 1000 mails, 64 MiB.
    fn default() -> BatchLimits {
        BatchLimits {
            max_mails: 1000,
            max_bytes: 2 * MAX_MAIL_SIZE,
        }
    }
}

/// One account's view of a local spool: it sends into other mailboxes under the same root and
/// reads its own. Implements [`Carrier`].
///
/// Several `Spool`s may be open on one mailbox at once, in one process or several (several
/// devices of one account, or a sending and a waiting thread).
#[derive(Debug)]
pub struct Spool {
    root: PathBuf,
    address: Address,
    mailbox: Mailbox,
    limits: BatchLimits,
    /// The end of the last batch returned, for `wait`.
    seen: Option<Stamp>,
}

impl Spool {
    /// Opens (creating it and `root` if needed) the mailbox of `address` under `root`.
    ///
    /// Also removes leftovers of deliveries that crashed more than 36 hours ago.
    pub fn open(root: &Path, address: &str) -> Result<Spool, OpenError> {
        let address = Address::parse(address)?;
        let mailbox = Mailbox::new(root, &address);
        mailbox.ensure()?;
        mailbox.validity()?;
        mailbox.remove_stale_tmp();
        Ok(Spool {
            root: root.to_path_buf(),
            address,
            mailbox,
            limits: BatchLimits::default(),
            seen: None,
        })
    }

    /// Replaces the [`BatchLimits`] (default: [`BatchLimits::default`]).
    pub fn with_batch_limits(mut self, limits: BatchLimits) -> Spool {
        self.limits = limits;
        self
    }

    /// The account's normalized address.
    pub fn address(&self) -> &Address {
        &self.address
    }

    /// The spool root.
    pub fn root(&self) -> &Path {
        &self.root
    }
}

impl Carrier for Spool {
    fn send(&mut self, from: &str, recipients: &[String], raw: &[u8]) -> Result<(), SendError> {
        self.send_batch(from, &[(recipients, raw)])
            .pop()
            .unwrap_or(Ok(()))
    }

    /// Delivers the batch mailbox by mailbox: each mailbox gets its mails (in batch order) with
    /// [`Mailbox::deliver_all`], so a batch costs one lock, one `last` update and one
    /// directory sync per mailbox instead of per mail, and every mail is synced before any is
    /// reported delivered.
    fn send_batch(
        &mut self,
        from: &str,
        mails: &[(&[String], &[u8])],
    ) -> Vec<Result<(), SendError>> {
        /// What happened to one mail so far: its recipients (position in its list, spelling)
        /// that have it, and those that failed.
        #[derive(Default)]
        struct Progress {
            delivered: Vec<(usize, String)>,
            failed: Vec<RecipientFailure>,
        }
        let mut progress: Vec<Result<Progress, SendError>> = Vec::with_capacity(mails.len());
        /// One recipient of one mail of the batch: the mail, the recipient's position in
        /// its list, and its spelling.
        struct Delivery {
            mail: usize,
            position: usize,
            recipient: String,
        }
        // Mailboxes in the order they first appear, each with its deliveries in batch order.
        let mut boxes: Vec<(Address, Vec<Delivery>)> = Vec::new();
        for (index, (recipients, raw)) in mails.iter().enumerate() {
            if let Err(e) = check_submission(&self.address, from, recipients, raw) {
                progress.push(Err(e));
                continue;
            }
            let (valid, failed) = dedup_recipients(recipients);
            for (position, (recipient, address)) in valid.into_iter().enumerate() {
                let delivery = Delivery {
                    mail: index,
                    position,
                    recipient,
                };
                match boxes.iter_mut().find(|(a, _)| *a == address) {
                    Some((_, deliveries)) => deliveries.push(delivery),
                    None => boxes.push((address, vec![delivery])),
                }
            }
            progress.push(Ok(Progress {
                delivered: Vec::new(),
                failed,
            }));
        }
        for (address, deliveries) in boxes {
            let raws: Vec<&[u8]> = deliveries
                .iter()
                .filter_map(|d| mails.get(d.mail).map(|(_, raw)| *raw))
                .collect();
            let results = Mailbox::new(&self.root, &address).deliver_all(&raws);
            for (delivery, result) in deliveries.into_iter().zip(results) {
                let Some(Ok(mail)) = progress.get_mut(delivery.mail) else {
                    continue;
                };
                match result {
                    Ok(_) => mail.delivered.push((delivery.position, delivery.recipient)),
                    Err(error) => mail.failed.push(RecipientFailure {
                        recipient: delivery.recipient,
                        error: error.into(),
                    }),
                }
            }
        }
        progress
            .into_iter()
            .map(|mail| {
                let mut mail = mail?;
                if mail.failed.is_empty() {
                    return Ok(());
                }
                mail.delivered
                    .sort_unstable_by_key(|(position, _)| *position);
                Err(SendError::Recipients {
                    delivered: mail.delivered.into_iter().map(|(_, r)| r).collect(),
                    failed: mail.failed,
                })
            })
            .collect()
    }

    fn fetch(&mut self, after: Option<&Cursor>) -> Result<Batch, FetchError> {
        self.mailbox.ensure()?;
        let validity = self.mailbox.validity()?;
        let start = after.and_then(|cursor| cursor.spool_position(validity));
        let mut batch = Batch {
            mails: Vec::new(),
            skipped: Vec::new(),
            cursor: Cursor::spool(validity, start),
            more: false,
        };
        let mut bytes: usize = 0;
        let limit = u64::try_from(MAX_MAIL_SIZE).unwrap_or(u64::MAX);
        let stamps = self.mailbox.list()?;
        for stamp in stamps.into_iter().filter(|s| start.is_none_or(|a| *s > a)) {
            if batch.mails.len() + batch.skipped.len() >= self.limits.max_mails.max(1) {
                batch.more = true;
                break;
            }
            let id = MailId::spool(stamp);
            match self.mailbox.read(stamp, limit) {
                // Deleted by another device since the listing: nothing to report.
                ReadOutcome::Gone => {}
                ReadOutcome::Skipped(reason) => batch.skipped.push(Skipped { id, reason }),
                ReadOutcome::Mail(raw) => {
                    let total = bytes.saturating_add(raw.len());
                    if !batch.mails.is_empty() && total > self.limits.max_bytes {
                        batch.more = true;
                        break;
                    }
                    bytes = total;
                    batch.mails.push(FetchedMail {
                        id,
                        raw,
                        cursor: Cursor::spool(validity, Some(stamp)),
                    });
                }
            }
            batch.cursor = Cursor::spool(validity, Some(stamp));
        }
        self.seen = batch.cursor.spool_position(validity);
        Ok(batch)
    }

    fn delete(&mut self, id: &MailId) -> Result<(), FetchError> {
        match id.spool_stamp() {
            Some(stamp) => Ok(self.mailbox.delete(stamp)?),
            // Not a spool mail: nothing of this mailbox to delete.
            None => Ok(()),
        }
    }

    /// Deletes the mails side by side (see `parallel.rs`): no `fsync`, as for one mail. A
    /// deletion lost in a crash only brings a processed mail back, which the chat layer
    /// recognises as a duplicate and deletes again.
    fn delete_all(&mut self, ids: &[MailId]) -> Result<(), FetchError> {
        let stamps: Vec<_> = ids.iter().filter_map(MailId::spool_stamp).collect();
        let mailbox = &self.mailbox;
        parallel::map(&stamps, |stamp| mailbox.delete(*stamp))
            .into_iter()
            .collect::<Result<(), _>>()?;
        Ok(())
    }

    fn wait(&mut self, timeout: Duration) -> Result<(), FetchError> {
        self.mailbox.ensure()?;
        let deadline = Instant::now().checked_add(timeout);
        loop {
            if self.mailbox.newest()? > self.seen {
                return Ok(());
            }
            let pause = match deadline {
                None => POLL_INTERVAL,
                Some(deadline) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return Ok(());
                    }
                    left.min(POLL_INTERVAL)
                }
            };
            thread::sleep(pause);
        }
    }
}

/// Delivers `raw` into the mailbox of `address` under `root` as any sender would, but without
/// the size limit or any check of the content: for tests that plant garbage or oversized mail.
/// Returns the new mail's id.
pub fn deliver_raw(root: &Path, address: &str, raw: &[u8]) -> Result<MailId, DeliveryError> {
    let address = Address::parse(address)?;
    let stamp = Mailbox::new(root, &address).deliver(raw)?;
    Ok(MailId::spool(stamp))
}
