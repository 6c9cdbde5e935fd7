//! The [`Carrier`] trait: what the chat layer needs from a mail system.

use std::collections::BTreeSet;
use std::time::Duration;

use crate::address::Address;
use crate::cursor::{Cursor, MailId};
use crate::error::{DeliveryError, FetchError, RecipientFailure, SendError, SkipReason};
use crate::spool::MAX_MAIL_SIZE;

/// A mail system seen from one account: submit mail, read the account's mailbox, delete from it,
/// wait for news. Implemented by the embedded [`Spool`](crate::Spool) and by
/// [`ServerCarrier`](crate::ServerCarrier) (IMAP + SMTP).
///
/// The trait is blocking. Run the receive loop on its own thread; carriers are cheap to open
/// twice, so a second instance can send while the first one [`wait`](Carrier::wait)s (IMAP IDLE
/// and SMTP are separate connections anyway).
///
/// # Call order (receiving)
///
/// ```text
///        +--------------------------------------------------------------+
///        v                                                              |
///   fetch(stored cursor) --> for each mail, in order:                   |
///        |                     process it; in ONE transaction store its  |
///        |                     effects, mail.cursor, and (if it must be  |
///        |                     erased) mail.id as "to delete"            |
///        |                   store batch.cursor (passes skipped mails)   |
///        |                   delete(id) for each "to delete", then forget|
///        |                                                              |
///        +-- batch.more? fetch again at once : wait(timeout) -----------+
/// ```
///
/// A crash anywhere in this loop neither loses nor repeats a mail, and leaves no mail undeleted:
/// the cursor moves with the effects, and deletions are recorded before they happen and are
/// idempotent.
pub trait Carrier {
    /// Submits one message, `raw` RFC 5322 bytes sent unchanged, from `from` (the account's own
    /// address) to the envelope `recipients`.
    ///
    /// The account's own address among the recipients gets a copy like any other recipient
    /// (Delta Chat's BCC-self: the copy other devices of the account read). Recipients equal
    /// after normalization get one copy.
    ///
    /// `Ok` means every recipient got it. Otherwise [`SendError`] says, per recipient where it
    /// applies, who got it and whether retrying can help ([`SendError::retryable`]).
    fn send(&mut self, from: &str, recipients: &[String], raw: &[u8]) -> Result<(), SendError>;

    /// Submits several messages from `from`, each given as its envelope recipients and raw
    /// bytes, exactly as [`send`](Carrier::send) would one after the other: one result per
    /// message, in order, and `Ok` for a message means what it means for `send` (every
    /// recipient has it; on the spool, durably). A failure of one message does not stop the
    /// others.
    ///
    /// The default sends them one by one. The spool overrides it: it writes the whole batch,
    /// syncs it, and publishes it under one lock with one directory sync per mailbox.
    fn send_batch(
        &mut self,
        from: &str,
        mails: &[(&[String], &[u8])],
    ) -> Vec<Result<(), SendError>> {
        mails
            .iter()
            .map(|(recipients, raw)| self.send(from, recipients, raw))
            .collect()
    }

    /// Returns mails of the mailbox delivered after `after` (all of them for `None`), in
    /// delivery order, together with the cursor to pass next time.
    ///
    /// The carrier keeps no per-device "seen" state: two devices of one account read the same
    /// mailbox with their own cursors and each gets every mail once. A cursor of a mailbox that
    /// was since recreated (IMAP: UIDVALIDITY changed) starts again from the beginning. A batch
    /// is bounded; [`Batch::more`] says whether to fetch again right away.
    fn fetch(&mut self, after: Option<&Cursor>) -> Result<Batch, FetchError>;

    /// Deletes one mail from the mailbox (after processing: OTR mail is erased by the device it
    /// was for). Deleting a mail that is already gone succeeds.
    fn delete(&mut self, id: &MailId) -> Result<(), FetchError>;

    /// Deletes several mails, as [`delete`](Carrier::delete) would one after the other
    /// (stopping at the first failure). The default does exactly that; the spool deletes them
    /// side by side.
    fn delete_all(&mut self, ids: &[MailId]) -> Result<(), FetchError> {
        ids.iter().try_for_each(|id| self.delete(id))
    }

    /// Blocks until new mail may have arrived or `timeout` has passed, whichever is first.
    ///
    /// "New" is relative to the last [`fetch`](Carrier::fetch) through this instance: if the
    /// mailbox already holds mail after the end of that batch (or any mail, before the first
    /// fetch), it returns at once. It may return early with nothing new (IMAP IDLE can), so
    /// always fetch afterwards.
    fn wait(&mut self, timeout: Duration) -> Result<(), FetchError>;
}

/// The result of one [`Carrier::fetch`].
#[derive(Debug)]
#[must_use]
pub struct Batch {
    /// The mails, in delivery order.
    pub mails: Vec<FetchedMail>,
    /// Mails passed over because they cannot be read, in delivery order. Reported once: the
    /// batch's cursor is past them.
    pub skipped: Vec<Skipped>,
    /// The position after everything in this batch (mails and skipped ones); equal to the
    /// `after` cursor when the batch is empty (unless the mailbox was recreated).
    pub cursor: Cursor,
    /// True when the batch stopped at its size limit and more mail is waiting: fetch again with
    /// `cursor` right away instead of waiting.
    pub more: bool,
}

/// One mail returned by [`Carrier::fetch`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchedMail {
    /// Its id in the mailbox, for [`Carrier::delete`].
    pub id: MailId,
    /// Its raw bytes, exactly as submitted.
    pub raw: Vec<u8>,
    /// The position just after this mail: store it in the transaction that stores this mail's
    /// effects.
    pub cursor: Cursor,
}

/// A mail that [`Carrier::fetch`] passed over.
#[derive(Debug)]
pub struct Skipped {
    /// Its id in the mailbox, for [`Carrier::delete`].
    pub id: MailId,
    /// Why it was not returned.
    pub reason: SkipReason,
}

/// What every carrier checks before it submits anything: `from` is the account's own address,
/// the mail is within [`MAX_MAIL_SIZE`], and there is a recipient. Returns the sender.
pub(crate) fn check_submission(
    own: &Address,
    from: &str,
    recipients: &[String],
    raw: &[u8],
) -> Result<Address, SendError> {
    let sender = Address::parse(from).map_err(SendError::InvalidSender)?;
    if sender != *own {
        return Err(SendError::SenderMismatch {
            expected: own.to_string(),
            found: sender.to_string(),
        });
    }
    if raw.len() > MAX_MAIL_SIZE {
        return Err(SendError::TooLarge {
            size: raw.len(),
            limit: MAX_MAIL_SIZE,
        });
    }
    if recipients.is_empty() {
        return Err(SendError::NoRecipients);
    }
    Ok(sender)
}

/// Recipients deduplicated by normalized address, in the caller's order; the invalid ones as
/// failures.
pub(crate) fn dedup_recipients(
    recipients: &[String],
) -> (Vec<(String, Address)>, Vec<RecipientFailure>) {
    let mut seen = BTreeSet::new();
    let mut valid = Vec::new();
    let mut invalid = Vec::new();
    for recipient in recipients {
        match Address::parse(recipient) {
            Ok(address) => {
                if seen.insert(address.to_string()) {
                    valid.push((recipient.clone(), address));
                }
            }
            Err(error) => invalid.push(RecipientFailure {
                recipient: recipient.clone(),
                error: DeliveryError::InvalidAddress(error),
            }),
        }
    }
    (valid, invalid)
}
