//! Processing of incoming mail: ordinary 1:1 messages and every OTR control message, with the
//! rules of design sections 4.2-4.8. One mail is processed in one transaction, recorded by
//! Message-ID so that a duplicate delivery changes nothing.
//!
//! Bad input never fails the call: it is recorded as processed and reported as
//! [`Event::Ignored`]; only local failures (the database) are errors.

use envelope::{KnownKeys, PeerKey};
use otr::{Event as OtrEvent, InstanceTag, Output, ReceivedKind, SmpEventKind};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use crate::context::{Context, OTR_PEER};
use crate::db::Cached;
use crate::erase;
use crate::error::Error;
use crate::events::Event;
use crate::lifecycle::{
    self, ChatRow, Sender, chat_by_invite, drop_session, info_message, insert_message,
    load_session, queue_control, queue_wire, set_state, store_session,
};
use crate::mailfmt::{self, Parsed};
use crate::protocol::{Control, Kind};
use crate::types::{ChatId, ContactId, Erasure, OtrState, Verification};

/// What processing one mail did.
#[derive(Debug, Default)]
pub struct Processed {
    /// What the user may want to see.
    pub events: Vec<Event>,
    /// The mail is used up and should be deleted from the server (OTR mail for this device:
    /// design 5, "the mail copies are deleted from the server after processing"). Mail other
    /// devices of the account still need is kept.
    pub delete_from_server: bool,
}

/// Borrowed pieces of the context, so that a transaction can be open at the same time.
struct Device<'a> {
    tx: &'a Connection,
    otr: &'a mut otr::Endpoint,
    sender: Sender<'a>,
    lifetime: u64,
    now: u64,
    events: Vec<Event>,
    delete: bool,
}

/// The `processed_mail.outcome` of a mail processed and used up (to be deleted from the
/// server); other processed mail is recorded as `ok`, rejected mail with the reason.
const OUTCOME_USED_UP: &str = "ok, used up";

/// A mail that cannot be used (recorded and reported, never retried).
fn reject<T>(why: impl Into<String>) -> Result<T, Error> {
    Err(Error::Mail(why.into()))
}

/// At most this many mails are processed in one transaction by [`Context::receive_batch`]; a
/// longer batch is committed in pieces. It bounds how long the write lock is held (another
/// process of the account, `offrecord send`, waits for it) and what a crash makes redo.
pub const RECEIVE_TRANSACTION_MAILS: usize = 100;

impl Context {
    /// Processes one incoming mail (raw RFC 5322 bytes) received at `now`, in its own durable
    /// transaction. [`Context::receive_batch`] does the same for many mails at once.
    pub fn receive_mail(&mut self, raw: &[u8], now: u64) -> Result<Processed, Error> {
        let mut processed = self.receive_batch(&[raw], now)?;
        Ok(processed.pop().unwrap_or_default())
    }

    /// Processes fetched mails (raw RFC 5322 bytes, in delivery order) received at `now`,
    /// exactly as [`Context::receive_mail`] would one after the other. Returns one
    /// [`Processed`] per mail, in order.
    ///
    /// Then the caller deletes from the carrier the mails whose
    /// [`Processed::delete_from_server`] is set, and only after that stores the carrier's
    /// cursor past them ([`Context::set_mail_cursor`]): a crash before the cursor is stored
    /// fetches them again, and a mail processed before is reported for deletion again (so no
    /// used-up mail stays on the server).
    ///
    /// Up to [`RECEIVE_TRANSACTION_MAILS`] mails share one transaction, so a batch costs one
    /// durable commit (one `fsync` of the WAL) instead of one per mail. Why that keeps every
    /// guarantee of processing one mail per transaction:
    ///
    /// - **One bad mail undoes only itself.** Each mail runs in its own savepoint: a mail that
    ///   is rejected (malformed, replayed, for an unknown chat...) is rolled back to the
    ///   savepoint and only its "processed" record is kept, as when it is alone.
    /// - **Nothing is deleted before it is durable.** The commit uses `synchronous = FULL`
    ///   and returns only when the WAL is on disk; the caller deletes the mails whose
    ///   [`Processed::delete_from_server`] is set after this returns, never before.
    /// - **A crash before the commit reprocesses.** The effects and the "processed" records
    ///   are lost together and the cursor has not moved, so the mails are fetched again and
    ///   processed as the first time. A crash after the commit of an earlier piece of a long
    ///   batch fetches those mails again too: their Message-IDs are recorded, so they are
    ///   recognised as duplicates and change nothing (used-up ones are reported for deletion
    ///   again). OTR's replay window rejects a repeated data message independently of that.
    /// - **A local failure** (the database) rolls back the piece it happened in and is
    ///   returned; pieces committed before it stay, their mails come again as duplicates.
    pub fn receive_batch(&mut self, mails: &[&[u8]], now: u64) -> Result<Vec<Processed>, Error> {
        let mut processed = Vec::with_capacity(mails.len());
        for piece in mails.chunks(RECEIVE_TRANSACTION_MAILS) {
            let mut tx = self
                .conn
                .transaction_with_behavior(TransactionBehavior::Immediate)?;
            let mut erased = false;
            for raw in piece {
                let mut device = Receiver {
                    otr: &mut self.otr,
                    identity: &self.identity,
                    addr: &self.addr,
                    rng: &mut self.rng,
                    lifetime: self.invite_lifetime,
                };
                match device.process(&mut tx, raw, now) {
                    Ok(one) => {
                        erased |= one.events.iter().any(|e| matches!(e, Event::Erased { .. }));
                        processed.push(one);
                    }
                    Err(e) => {
                        self.otr.forget_peer(OTR_PEER);
                        return Err(e);
                    }
                }
            }
            tx.commit()?;
            if erased {
                erase::checkpoint(&self.conn)?;
            }
        }
        Ok(processed)
    }
}

/// The pieces of a context that processing a mail uses besides the transaction.
struct Receiver<'a> {
    otr: &'a mut otr::Endpoint,
    identity: &'a crate::mailfmt::Identity,
    addr: &'a str,
    rng: &'a mut rand_chacha::ChaCha20Rng,
    lifetime: u64,
}

impl Receiver<'_> {
    /// Processes one mail inside the open transaction `tx`, in a savepoint of its own.
    fn process(
        &mut self,
        tx: &mut rusqlite::Transaction<'_>,
        raw: &[u8],
        now: u64,
    ) -> Result<Processed, Error> {
        let lookup = ContactKeys::new(tx);
        let parsed = mailfmt::parse(raw, self.identity, &lookup);
        lookup.into_result()?;
        let parsed = match parsed {
            Ok(p) => p,
            Err(e) => {
                return Ok(Processed {
                    events: vec![Event::Ignored {
                        text: e.to_string(),
                    }],
                    delete_from_server: false,
                });
            }
        };
        let seen: Option<String> = tx
            .row(
                "SELECT outcome FROM processed_mail WHERE rfc724_mid = ?1",
                [&parsed.message_id],
                |r| r.get(0),
            )
            .optional()?;
        if let Some(outcome) = seen {
            // A duplicate, or the same mail again after a crash between processing and
            // deleting it: it is still to be deleted if it was used up the first time.
            return Ok(Processed {
                events: Vec::new(),
                delete_from_server: outcome == OUTCOME_USED_UP,
            });
        }
        let outcome;
        let events;
        let mut delete = false;
        {
            let sp = tx.savepoint()?;
            let mut device = Device {
                tx: &sp,
                otr: self.otr,
                sender: Sender {
                    identity: self.identity,
                    addr: self.addr,
                    rng: self.rng,
                },
                lifetime: self.lifetime,
                now,
                events: Vec::new(),
                delete: false,
            };
            match dispatch(&mut device, &parsed) {
                Ok(()) => {
                    events = device.events;
                    delete = device.delete;
                    sp.commit()?;
                    outcome = if delete { OUTCOME_USED_UP } else { "ok" }.to_owned();
                }
                Err(Error::Mail(why)) => {
                    // Undo whatever the mail did, keep only the record that it was seen.
                    self.otr.forget_peer(OTR_PEER);
                    drop(sp);
                    events = vec![Event::Ignored { text: why.clone() }];
                    outcome = why;
                }
                Err(e) => return Err(e),
            }
        }
        tx.exec(
            "INSERT INTO processed_mail (rfc724_mid, processed_at, outcome) VALUES (?1, ?2, ?3)",
            params![parsed.message_id, now as i64, outcome],
        )?;
        Ok(Processed {
            events,
            delete_from_server: delete,
        })
    }
}

/// The contacts' public keys, looked up by fingerprint only when a signature names one (an
/// unsigned OTR data mail needs none), instead of reading and parsing every contact's key
/// for every mail. A database failure during the lookup is kept and returned after parsing
/// ([`ContactKeys::into_result`]), so that it fails the call instead of passing for "unknown
/// signer" (which would reject the mail for good).
struct ContactKeys<'a> {
    conn: &'a Connection,
    failure: std::cell::RefCell<Option<Error>>,
}

impl<'a> ContactKeys<'a> {
    fn new(conn: &'a Connection) -> Self {
        ContactKeys {
            conn,
            failure: std::cell::RefCell::new(None),
        }
    }

    /// A database failure met during the lookups, if any.
    fn into_result(self) -> Result<(), Error> {
        match self.failure.into_inner() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    fn lookup(&self, fingerprint: &envelope::Fingerprint) -> Result<Option<PeerKey>, Error> {
        let primary: Option<Vec<u8>> = self
            .conn
            .row(
                "SELECT pgp_public_key FROM contacts WHERE pgp_fingerprint = ?1",
                [fingerprint.to_hex()],
                |r| r.get(0),
            )
            .optional()?;
        if let Some(bytes) = primary {
            return Ok(PeerKey::from_bytes(&bytes).ok());
        }
        // Not a primary key: perhaps a signing subkey of one of the stored keys.
        let mut stmt = self
            .conn
            .prepare_cached("SELECT pgp_public_key FROM contacts")?;
        let rows = stmt.query_map([], |r| r.get::<_, Vec<u8>>(0))?;
        let mut keys = Vec::new();
        for bytes in rows {
            if let Ok(key) = PeerKey::from_bytes(&bytes?) {
                keys.push(key);
            }
        }
        Ok(keys.find(fingerprint))
    }
}

impl KnownKeys for ContactKeys<'_> {
    fn find(&self, fingerprint: &envelope::Fingerprint) -> Option<PeerKey> {
        match self.lookup(fingerprint) {
            Ok(key) => key,
            Err(e) => {
                self.failure.borrow_mut().get_or_insert(e);
                None
            }
        }
    }
}

fn dispatch(d: &mut Device<'_>, mail: &Parsed) -> Result<(), Error> {
    let from_self = mail.from == d.sender.addr;
    let Some(control) = &mail.control else {
        return ordinary_message(d, mail, from_self);
    };
    if !mail.encrypted {
        return reject("an OTR control message arrived unencrypted");
    }
    if control.kind.signed() && mail.signer.is_none() {
        return reject("an OTR control message was not signed");
    }
    if from_self {
        return self_copy(d, mail, control);
    }
    let contact = sender_contact(d, mail)?;
    match control.kind {
        Kind::Invite => invitation(d, contact, control),
        Kind::Accept => acceptance(d, contact, control),
        Kind::Decline => declined(d, contact, control),
        Kind::Taken => taken(d, contact, control),
        Kind::Close => closed_by_peer(d, contact, control),
        Kind::Data => data(d, contact, control, mail),
    }
}

/// The contact a mail comes from: the signer of a signed mail (learning its key from the
/// Autocrypt header inside the same encrypted, signed mail), or the known contact with the
/// From address of an unsigned one.
fn sender_contact(d: &mut Device<'_>, mail: &Parsed) -> Result<ContactId, Error> {
    if let Some(signer) = &mail.signer {
        let id: Option<i64> =
            d.tx.row(
                "SELECT id FROM contacts WHERE pgp_fingerprint = ?1",
                [signer],
                |r| r.get(0),
            )
            .optional()?;
        if let Some(id) = id {
            let addr: String =
                d.tx.row("SELECT addr FROM contacts WHERE id = ?1", [id], |r| {
                    r.get(0)
                })?;
            if addr != mail.from {
                return reject(format!(
                    "signed by the key of {addr} but sent from {}",
                    mail.from
                ));
            }
            return Ok(ContactId(id));
        }
        if let Some(key) = &mail.autocrypt
            && &key.fingerprint == signer
            && key.addr.as_deref() == Some(mail.from.as_str())
        {
            d.tx.exec(
                "INSERT INTO contacts (addr, pgp_fingerprint, pgp_public_key, created_at)
                     VALUES (?1, ?2, ?3, ?4)",
                params![mail.from, key.fingerprint, key.key, d.now as i64],
            )?;
            return Ok(ContactId(d.tx.last_insert_rowid()));
        }
        return reject("signed by an unknown key");
    }
    let id: Option<i64> =
        d.tx.row(
            "SELECT id FROM contacts WHERE addr = ?1 ORDER BY id DESC LIMIT 1",
            [&mail.from],
            |r| r.get(0),
        )
        .optional()?;
    match id {
        Some(id) => Ok(ContactId(id)),
        None => reject(format!("mail from unknown sender {}", mail.from)),
    }
}

fn one_to_one(d: &Device<'_>, contact: ContactId) -> Result<ChatId, Error> {
    d.tx.exec(
        "INSERT INTO chats (kind, contact_id, created_at) VALUES ('one_to_one', ?1, ?2)
         ON CONFLICT DO NOTHING",
        params![contact.0, d.now as i64],
    )?;
    Ok(ChatId(d.tx.row(
        "SELECT id FROM chats WHERE kind = 'one_to_one' AND contact_id = ?1",
        [contact.0],
        |r| r.get(0),
    )?))
}

fn ordinary_message(d: &mut Device<'_>, mail: &Parsed, from_self: bool) -> Result<(), Error> {
    if from_self {
        // Our own message sent from another device: not shown twice here.
        return Ok(());
    }
    let contact = sender_contact(d, mail)?;
    let chat = one_to_one(d, contact)?;
    let mut text = mail.text.clone();
    if !mail.encrypted {
        text = format!("[unencrypted] {text}");
    }
    let msg = insert_message(
        d.tx,
        chat,
        "in",
        &text,
        mail.encrypted,
        d.now,
        None,
        Some(&mail.message_id),
    )?;
    d.events.push(Event::IncomingMessage {
        chat,
        msg: Some(msg),
        text,
    });
    Ok(())
}

/// An invitation from a contact (design 4.2: every device of ours shows it).
fn invitation(d: &mut Device<'_>, contact: ContactId, c: &Control) -> Result<(), Error> {
    let (Some(instance), Some(fp)) = (c.instance, c.fingerprint) else {
        return reject("an invitation without instance tag or fingerprint");
    };
    if chat_by_invite(d.tx, &c.invite_id)?.is_some() {
        return reject("a replayed invitation");
    }
    d.tx.exec(
        "INSERT INTO chats (kind, contact_id, created_at, otr_state, state_reason, invite_id,
                            we_invited, their_instance, their_otr_fingerprint, expires_at)
         VALUES ('otr', ?1, ?2, 'invited', 'waiting for you to accept or decline', ?3, 0, ?4,
                 ?5, ?6)",
        params![
            contact.0,
            d.now as i64,
            c.invite_id,
            i64::from(instance.value()),
            hex::encode(fp),
            d.now.saturating_add(d.lifetime) as i64
        ],
    )?;
    let chat = ChatId(d.tx.last_insert_rowid());
    let one = one_to_one(d, contact)?;
    info_message(
        d.tx,
        one,
        "You were invited to an Off-the-Record chat.",
        d.now,
    )?;
    d.events.push(Event::InvitationReceived { chat, contact });
    Ok(())
}

/// The contact's device accepted our invitation (first accept wins, design 4.7).
fn acceptance(d: &mut Device<'_>, contact: ContactId, c: &Control) -> Result<(), Error> {
    let row = our_chat(d, contact, c)?;
    if c.to_instance != row.our_instance {
        // Accepting an invitation another device of ours sent: nothing for this device.
        return Ok(());
    }
    let (Some(instance), Some(fp)) = (c.instance, c.fingerprint) else {
        return reject("an acceptance without instance tag or fingerprint");
    };
    match row.state {
        Some(OtrState::Pending) => {
            d.tx.exec(
                "UPDATE chats SET their_instance = ?2, their_otr_fingerprint = ?3, expires_at = ?4
                 WHERE id = ?1",
                params![
                    row.id.0,
                    i64::from(instance.value()),
                    hex::encode(fp),
                    d.now.saturating_add(d.lifetime) as i64
                ],
            )?;
            let ev = set_state(d.tx, row.id, OtrState::Connecting, "key exchange running")?;
            d.events.push(ev);
            info_message(
                d.tx,
                row.id,
                "The contact accepted; the key exchange is running.",
                d.now,
            )?;
            replay_deferred(d, contact, &c.invite_id)
        }
        _ if row.their_instance == Some(instance) => Ok(()),
        _ => {
            // A second device of the contact accepted too late: tell it so.
            let mut taken = Control::new(Kind::Taken, &c.invite_id);
            taken.instance = row.our_instance;
            taken.to_instance = Some(instance);
            queue_control(d.tx, &mut d.sender, contact, row.id, &taken, d.now)?;
            Ok(())
        }
    }
}

/// The chat of invitation `c.invite_id` with `contact`, which must exist.
fn our_chat(d: &Device<'_>, contact: ContactId, c: &Control) -> Result<ChatRow, Error> {
    match chat_by_invite(d.tx, &c.invite_id)? {
        Some(row) if row.contact == contact => Ok(row),
        Some(_) => reject("a control message for another contact's chat"),
        None => reject("a control message for an unknown OTR chat"),
    }
}

fn declined(d: &mut Device<'_>, contact: ContactId, c: &Control) -> Result<(), Error> {
    let row = our_chat(d, contact, c)?;
    if row.we_invited && c.to_instance == row.our_instance && row.state == Some(OtrState::Pending) {
        let ev = set_state(d.tx, row.id, OtrState::Declined, "the contact declined")?;
        d.events.push(ev);
    }
    Ok(())
}

fn taken(d: &mut Device<'_>, contact: ContactId, c: &Control) -> Result<(), Error> {
    let row = our_chat(d, contact, c)?;
    if c.to_instance == row.our_instance && !row.state.is_some_and(OtrState::is_final) {
        drop_session(d.tx, d.otr, row.id)?;
        let ev = set_state(
            d.tx,
            row.id,
            OtrState::Elsewhere,
            "accepted on another device",
        )?;
        d.events.push(ev);
    }
    Ok(())
}

fn closed_by_peer(d: &mut Device<'_>, contact: ContactId, c: &Control) -> Result<(), Error> {
    let row = our_chat(d, contact, c)?;
    let for_us = c.to_instance.is_none() || c.to_instance == row.our_instance;
    let from_peer = row.their_instance.is_none() || c.instance == row.their_instance;
    if for_us && from_peer && !row.state.is_some_and(OtrState::is_final) {
        close_here(d, &row, "by the contact")?;
    }
    Ok(())
}

fn close_here(d: &mut Device<'_>, row: &ChatRow, by: &str) -> Result<(), Error> {
    drop_session(d.tx, d.otr, row.id)?;
    let ev = set_state(d.tx, row.id, OtrState::Closed, by)?;
    d.events.push(ev);
    d.tx.exec(
        "UPDATE chats SET closed_at = ?2 WHERE id = ?1",
        params![row.id.0, d.now as i64],
    )?;
    let erased = erase::on_close(d.tx, row)?;
    d.events.extend(erased);
    Ok(())
}

/// Our own control messages, sent by another device of our account (design 4.7).
fn self_copy(d: &mut Device<'_>, mail: &Parsed, c: &Control) -> Result<(), Error> {
    if mail.signer.as_deref()
        != Some(crate::mailfmt::identity_fingerprint(d.sender.identity).as_str())
    {
        return reject("a message from our own address not signed by our key");
    }
    let ours = d.otr.instance_tag();
    if c.instance == Some(ours) {
        return Ok(()); // this device's own copy
    }
    match c.kind {
        Kind::Invite => {
            if chat_by_invite(d.tx, &c.invite_id)?.is_some() {
                return Ok(());
            }
            let contact = contact_for_recipient(d, mail)?;
            d.tx.exec(
                "INSERT INTO chats (kind, contact_id, created_at, otr_state, state_reason,
                                    invite_id, we_invited)
                 VALUES ('otr', ?1, ?2, 'elsewhere', 'started on another of your devices', ?3, 1)",
                params![contact.0, d.now as i64, c.invite_id],
            )?;
            Ok(())
        }
        Kind::Accept | Kind::Decline => {
            if let Some(row) = chat_by_invite(d.tx, &c.invite_id)?
                && row.state == Some(OtrState::Invited)
            {
                let reason = if c.kind == Kind::Accept {
                    "accepted on another device"
                } else {
                    "declined on another of your devices"
                };
                let ev = set_state(d.tx, row.id, OtrState::Elsewhere, reason)?;
                d.events.push(ev);
            }
            Ok(())
        }
        Kind::Taken | Kind::Close | Kind::Data => Ok(()),
    }
}

/// The contact a self-copy was addressed to (its To header, inside the encryption).
fn contact_for_recipient(d: &Device<'_>, mail: &Parsed) -> Result<ContactId, Error> {
    let to = mail.to.as_deref().unwrap_or_default();
    let id: Option<i64> =
        d.tx.row(
            "SELECT id FROM contacts WHERE addr = ?1 ORDER BY id DESC LIMIT 1",
            [to],
            |r| r.get(0),
        )
        .optional()?;
    match id {
        Some(id) => Ok(ContactId(id)),
        None => reject("our own invitation to an unknown contact"),
    }
}

/// OTR wire messages for one of our chats.
fn data(d: &mut Device<'_>, contact: ContactId, c: &Control, mail: &Parsed) -> Result<(), Error> {
    let row = our_chat(d, contact, c)?;
    let ours = d.otr.instance_tag();
    if c.to_instance != Some(ours) || row.our_instance != Some(ours) {
        // For another device of ours: silently ignored (design 4.7).
        return Ok(());
    }
    match row.state {
        Some(OtrState::Pending) => {
            // The AKE started before the signed acceptance arrived: keep it until it does.
            d.tx.exec(
                "INSERT INTO deferred_mail (invite_id, raw, received_at) VALUES (?1, ?2, ?3)",
                params![c.invite_id, mail.raw, d.now as i64],
            )?;
            return Ok(());
        }
        Some(OtrState::Connecting | OtrState::Active) => {}
        _ => return Ok(()), // late traffic for a finished chat
    }
    if c.instance != row.their_instance {
        return Ok(()); // a device that is not this chat's peer
    }
    d.delete = true;
    let their = row.their_instance.unwrap_or(InstanceTag::ZERO);
    if let Err(Error::Corrupt(why)) = load_session(d.tx, d.otr, row.id) {
        // A session that cannot be read can never decrypt again: end this chat with the
        // reason instead of failing every later mail of the account (the mail is recorded).
        drop_session(d.tx, d.otr, row.id)?;
        let ev = set_state(
            d.tx,
            row.id,
            OtrState::Failed,
            &format!("the saved session is corrupt ({why}); start a new chat"),
        )?;
        d.events.push(ev);
        return Ok(());
    }
    let mut outputs = Vec::new();
    for wire in &c.wire {
        if !from_instance(wire, their) {
            continue;
        }
        let out = d.otr.receive(OTR_PEER, wire, d.now, d.sender.rng);
        outputs.push(out);
    }
    for out in &outputs {
        queue_wire(d.tx, &mut d.sender, &row, ours, out, d.now)?;
    }
    for out in outputs {
        if apply_otr_output(d, &row, out)? {
            return Ok(()); // the chat ended; its session is gone
        }
    }
    store_session(d.tx, d.otr, row.id)
}

/// Whether a wire message is an OTR v3 message from instance `their` (anything else is not
/// this chat's traffic).
fn from_instance(wire: &str, their: InstanceTag) -> bool {
    match otr::wire::Message::parse(wire) {
        Ok(otr::wire::Message::Encoded { encoded, .. }) => {
            encoded.version == otr::ProtocolVersion::V3 && encoded.sender_instance == their
        }
        _ => false,
    }
}

/// Applies what the OTR layer said. Returns whether the chat ended.
fn apply_otr_output(d: &mut Device<'_>, row: &ChatRow, out: Output) -> Result<bool, Error> {
    let their = row.their_instance;
    for event in &out.events {
        match event {
            OtrEvent::GoneSecure { instance, .. } | OtrEvent::StillSecure { instance, .. }
                if Some(*instance) == their =>
            {
                let status = d.otr.status(OTR_PEER, Some(*instance));
                let fp = status.as_ref().and_then(|s| s.their_fingerprint);
                if fp.is_none() || fp != row.their_fingerprint {
                    lifecycle::drop_session(d.tx, d.otr, row.id)?;
                    let ev = set_state(
                        d.tx,
                        row.id,
                        OtrState::Failed,
                        "the key exchange used a key other than the one announced in the \
                         signed chat",
                    )?;
                    d.events.push(ev);
                    return Ok(true);
                }
                if let Some(ssid) = status.and_then(|s| s.ssid) {
                    d.tx.exec(
                        "UPDATE chats SET ssid = ?2, ssid_first_bold = ?3, expires_at = NULL,
                             verification = CASE verification WHEN 'none' THEN 'chat_key'
                                                              ELSE verification END
                         WHERE id = ?1",
                        params![
                            row.id.0,
                            ssid.bytes.to_vec(),
                            i64::from(ssid.first_half_bold)
                        ],
                    )?;
                }
                if row.state != Some(OtrState::Active) {
                    let ev =
                        set_state(d.tx, row.id, OtrState::Active, "private and authenticated")?;
                    d.events.push(ev);
                    d.events.push(Event::Verification {
                        chat: row.id,
                        level: Verification::ChatKey,
                        text: Verification::ChatKey.describe().to_owned(),
                    });
                    info_message(d.tx, row.id, "The Off-the-Record chat is ready.", d.now)?;
                }
            }
            OtrEvent::GoneInsecure { .. } => {
                close_here(d, row, "by the contact")?;
                return Ok(true);
            }
            OtrEvent::Smp {
                instance,
                event,
                question,
                ..
            } if Some(*instance) == their => smp_event(d, row, event, question.clone())?,
            _ => {}
        }
    }
    for received in out.received {
        if received.kind != ReceivedKind::Encrypted {
            continue;
        }
        let msg = match row.erasure {
            Erasure::NeverStored => None,
            Erasure::OnClose | Erasure::Timer => Some(insert_message(
                d.tx,
                row.id,
                "in",
                &received.text,
                true,
                d.now,
                None,
                None,
            )?),
        };
        d.events.push(Event::IncomingMessage {
            chat: row.id,
            msg,
            text: received.text,
        });
    }
    Ok(false)
}

/// What a step of a verification by shared secret means for the chat.
fn smp_event(
    d: &mut Device<'_>,
    row: &ChatRow,
    event: &SmpEventKind,
    question: Option<String>,
) -> Result<(), Error> {
    let text = match event {
        SmpEventKind::AskForSecret | SmpEventKind::AskForAnswer => {
            d.events.push(Event::SmpRequest {
                chat: row.id,
                question,
            });
            return Ok(());
        }
        SmpEventKind::InProgress => return Ok(()),
        SmpEventKind::Success => {
            d.tx.exec(
                "UPDATE chats SET verification = 'smp' WHERE id = ?1",
                [row.id.0],
            )?;
            info_message(d.tx, row.id, "Verified with a shared secret.", d.now)?;
            d.events.push(Event::Verification {
                chat: row.id,
                level: Verification::Smp,
                text: Verification::Smp.describe().to_owned(),
            });
            return Ok(());
        }
        SmpEventKind::Failure => "verification failed: the secrets differ",
        SmpEventKind::Abort => "verification was aborted",
        SmpEventKind::Cheated(_) | SmpEventKind::Error { .. } => {
            "verification failed: the peer's answer was invalid"
        }
    };
    info_message(d.tx, row.id, &format!("The {text}."), d.now)?;
    let level: String = d.tx.row(
        "SELECT verification FROM chats WHERE id = ?1",
        [row.id.0],
        |r| r.get(0),
    )?;
    d.events.push(Event::Verification {
        chat: row.id,
        level: Verification::parse(&level).unwrap_or(Verification::None),
        text: text.to_owned(),
    });
    Ok(())
}

/// Processes OTR mail that waited for an acceptance.
fn replay_deferred(d: &mut Device<'_>, contact: ContactId, invite_id: &str) -> Result<(), Error> {
    let raws: Vec<(i64, Vec<u8>)> = {
        let mut stmt = d
            .tx
            .prepare_cached("SELECT id, raw FROM deferred_mail WHERE invite_id = ?1 ORDER BY id")?;
        let rows = stmt.query_map([invite_id], |r| Ok((r.get(0)?, r.get(1)?)))?;
        rows.collect::<Result<_, _>>()?
    };
    for (id, raw) in raws {
        d.tx.exec("DELETE FROM deferred_mail WHERE id = ?1", [id])?;
        let keys: Vec<PeerKey> = Vec::new();
        let Ok(parsed) = mailfmt::parse(&raw, d.sender.identity, &keys) else {
            continue;
        };
        if let Some(c) = &parsed.control {
            data(d, contact, c, &parsed)?;
        }
    }
    Ok(())
}

impl Context {
    /// Runs the timers: expires invitations and key exchanges that ran out (design 4.6), and
    /// erases messages whose disappearing timer ran out.
    pub fn maintenance(&mut self, now: u64) -> Result<Vec<Event>, Error> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut events = Vec::new();
        let stale: Vec<(i64, String)> = {
            let mut stmt = tx.prepare_cached(
                "SELECT id, otr_state FROM chats
                 WHERE otr_state IN ('pending', 'invited', 'connecting')
                   AND expires_at IS NOT NULL AND expires_at <= ?1",
            )?;
            let rows = stmt.query_map([now as i64], |r| Ok((r.get(0)?, r.get(1)?)))?;
            rows.collect::<Result<_, _>>()?
        };
        for (id, state) in stale {
            let chat = ChatId(id);
            lifecycle::drop_session(&tx, &mut self.otr, chat)?;
            let reason = if state == "connecting" {
                "the key exchange did not complete in time"
            } else {
                "nobody accepted the invitation in time"
            };
            events.push(set_state(&tx, chat, OtrState::Expired, reason)?);
            let row = lifecycle::chat_row(&tx, chat)?;
            if let Some(invite) = &row.invite_id {
                tx.exec("DELETE FROM deferred_mail WHERE invite_id = ?1", [invite])?;
            }
        }
        let erased = erase::expired_messages(&tx, now)?;
        let any_erased = !erased.is_empty();
        events.extend(erased);
        tx.commit()?;
        if any_erased {
            erase::checkpoint(&self.conn)?;
        }
        Ok(events)
    }
}
