//! The OTR chat lifecycle driven by the user (design section 4): start, accept, decline,
//! write, close; and the helpers every step shares (loading and storing a chat's OTR session,
//! storing messages, queuing mail), each used inside one transaction.
//!
//! ```text
//!   we invite:     Pending --accept--> Connecting --AKE done--> Active --close--> Closed
//!   we're invited: Invited --accept--> Connecting --AKE done--> Active
//!                  Invited --decline--> Declined
//!   any open state --expiry--> Expired;  bad AKE --> Failed;  other device --> Elsewhere
//! ```

use otr::{InstanceTag, Output, ProtocolVersion};
use rand_chacha::ChaCha20Rng;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use zeroize::Zeroizing;

use crate::context::{Context, OTR_PEER};
use crate::db::Cached;
use crate::erase;
use crate::error::Error;
use crate::events::Event;
use crate::mailfmt::{self, Identity, Outgoing};
use crate::outbox;
use crate::protocol::{Control, Kind};
use crate::types::{CantSendReason, ChatId, ContactId, Erasure, MsgId, OtrState, Verification};

/// A chat's row, as the lifecycle needs it.
#[derive(Clone, Debug)]
pub(crate) struct ChatRow {
    pub(crate) id: ChatId,
    pub(crate) otr: bool,
    pub(crate) contact: ContactId,
    pub(crate) state: Option<OtrState>,
    pub(crate) invite_id: Option<String>,
    pub(crate) we_invited: bool,
    pub(crate) our_instance: Option<InstanceTag>,
    pub(crate) their_instance: Option<InstanceTag>,
    pub(crate) their_fingerprint: Option<[u8; 20]>,
    pub(crate) erasure: Erasure,
    pub(crate) timer_secs: Option<u64>,
}

pub(crate) fn chat_row(conn: &Connection, chat: ChatId) -> Result<ChatRow, Error> {
    conn.row(
        "SELECT kind, contact_id, otr_state, invite_id, we_invited, our_instance,
                their_instance, their_otr_fingerprint, erasure, timer_secs
         FROM chats WHERE id = ?1",
        [chat.0],
        |r| {
            Ok(ChatRow {
                id: chat,
                otr: r.get::<_, String>(0)? == "otr",
                contact: ContactId(r.get(1)?),
                state: r
                    .get::<_, Option<String>>(2)?
                    .as_deref()
                    .and_then(OtrState::parse),
                invite_id: r.get(3)?,
                we_invited: r.get::<_, Option<i64>>(4)? == Some(1),
                our_instance: r
                    .get::<_, Option<i64>>(5)?
                    .map(crate::context::tag_from_i64),
                their_instance: r
                    .get::<_, Option<i64>>(6)?
                    .map(crate::context::tag_from_i64),
                their_fingerprint: r
                    .get::<_, Option<String>>(7)?
                    .and_then(|f| hex::decode(f).ok())
                    .and_then(|b| <[u8; 20]>::try_from(b.as_slice()).ok()),
                erasure: Erasure::parse(&r.get::<_, String>(8)?).unwrap_or(Erasure::OnClose),
                timer_secs: r.get::<_, Option<i64>>(9)?.map(|t| t.max(0) as u64),
            })
        },
    )
    .optional()?
    .ok_or(Error::UnknownChat(chat))
}

pub(crate) fn chat_by_invite(conn: &Connection, invite_id: &str) -> Result<Option<ChatRow>, Error> {
    let id: Option<i64> = conn
        .row(
            "SELECT id FROM chats WHERE invite_id = ?1",
            [invite_id],
            |r| r.get(0),
        )
        .optional()?;
    id.map(|id| chat_row(conn, ChatId(id))).transpose()
}

/// Loads a chat's OTR session into the device endpoint (or starts it empty).
pub(crate) fn load_session(
    conn: &Connection,
    otr: &mut otr::Endpoint,
    chat: ChatId,
) -> Result<(), Error> {
    let blob: Option<Vec<u8>> = conn.row(
        "SELECT otr_session FROM chats WHERE id = ?1",
        [chat.0],
        |r| r.get(0),
    )?;
    otr.forget_peer(OTR_PEER);
    if let Some(blob) = blob.map(Zeroizing::new) {
        otr.restore_peer(OTR_PEER, &blob)
            .map_err(|e| Error::Corrupt(format!("OTR session of chat {chat}: {e}")))?;
    }
    Ok(())
}

/// Writes the endpoint's session back to the chat and unloads it.
pub(crate) fn store_session(
    conn: &Connection,
    otr: &mut otr::Endpoint,
    chat: ChatId,
) -> Result<(), Error> {
    let blob = otr.save_peer(OTR_PEER);
    conn.exec(
        "UPDATE chats SET otr_session = ?2 WHERE id = ?1",
        params![chat.0, blob.as_deref().map(|b| b.as_slice())],
    )?;
    otr.forget_peer(OTR_PEER);
    Ok(())
}

/// Forgets a chat's OTR session for good (its keys are wiped).
pub(crate) fn drop_session(
    conn: &Connection,
    otr: &mut otr::Endpoint,
    chat: ChatId,
) -> Result<(), Error> {
    conn.exec(
        "UPDATE chats SET otr_session = NULL, ssid = NULL, ssid_first_bold = NULL WHERE id = ?1",
        [chat.0],
    )?;
    otr.forget_peer(OTR_PEER);
    Ok(())
}

#[allow(clippy::too_many_arguments)] // one column each; a struct would only rename them
pub(crate) fn insert_message(
    conn: &Connection,
    chat: ChatId,
    direction: &str,
    text: &str,
    encrypted: bool,
    now: u64,
    erase_at: Option<u64>,
    message_id: Option<&str>,
) -> Result<MsgId, Error> {
    conn.exec(
        "INSERT INTO messages (chat_id, direction, text, encrypted, timestamp, erase_at, rfc724_mid)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            chat.0,
            direction,
            text,
            i64::from(encrypted),
            now as i64,
            erase_at.map(|t| t as i64),
            message_id
        ],
    )?;
    Ok(MsgId(conn.last_insert_rowid()))
}

/// Adds a note from the app to a chat.
pub(crate) fn info_message(
    conn: &Connection,
    chat: ChatId,
    text: &str,
    now: u64,
) -> Result<MsgId, Error> {
    insert_message(conn, chat, "info", text, false, now, None, None)
}

/// Changes an OTR chat's state and returns the event.
pub(crate) fn set_state(
    conn: &Connection,
    chat: ChatId,
    state: OtrState,
    reason: &str,
) -> Result<Event, Error> {
    conn.exec(
        "UPDATE chats SET otr_state = ?2, state_reason = ?3 WHERE id = ?1",
        params![chat.0, state.as_str(), reason],
    )?;
    Ok(Event::ChatStateChanged {
        chat,
        state,
        reason: reason.to_owned(),
    })
}

/// What a device needs to build mail.
pub(crate) struct Sender<'a> {
    pub(crate) identity: &'a Identity,
    pub(crate) addr: &'a str,
    pub(crate) rng: &'a mut ChaCha20Rng,
}

/// Builds and queues one mail to a contact (and to ourselves when `self_copy`).
#[allow(clippy::too_many_arguments)]
pub(crate) fn queue_mail(
    conn: &Connection,
    sender: &mut Sender<'_>,
    contact: ContactId,
    text: &str,
    control: Option<&Control>,
    self_copy: bool,
    chat: Option<ChatId>,
    now: u64,
) -> Result<String, Error> {
    let (to, key): (String, Vec<u8>) = conn.row(
        "SELECT addr, pgp_public_key FROM contacts WHERE id = ?1",
        [contact.0],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    let signed = control.is_none_or(|c| c.kind.signed());
    let (message_id, raw) = mailfmt::build(
        sender.identity,
        &Outgoing {
            from: sender.addr,
            to: &to,
            to_key: &key,
            text,
            control,
            signed,
        },
        now,
        sender.rng,
    )?;
    let mut recipients = vec![to.as_str()];
    if self_copy {
        recipients.push(sender.addr);
    }
    outbox::queue(conn, &message_id, &recipients, &raw, chat, now)?;
    Ok(message_id)
}

/// Queues the wire messages of an OTR output as one data mail to the chat's peer device.
pub(crate) fn queue_wire(
    conn: &Connection,
    sender: &mut Sender<'_>,
    row: &ChatRow,
    our_instance: InstanceTag,
    out: &Output,
    now: u64,
) -> Result<(), Error> {
    if out.transmit.is_empty() {
        return Ok(());
    }
    let invite_id = row.invite_id.as_deref().unwrap_or_default();
    let mut control = Control::new(Kind::Data, invite_id);
    control.instance = Some(our_instance);
    control.to_instance = row.their_instance;
    control.wire = out.transmit.iter().map(|t| t.message.clone()).collect();
    queue_mail(
        conn,
        sender,
        row.contact,
        "",
        Some(&control),
        false,
        Some(row.id),
        now,
    )?;
    Ok(())
}

/// Queues a signed control message of the 1:1 chat (with its readable fallback text and a
/// copy for our other devices).
pub(crate) fn queue_control(
    conn: &Connection,
    sender: &mut Sender<'_>,
    contact: ContactId,
    chat: ChatId,
    control: &Control,
    now: u64,
) -> Result<String, Error> {
    let text = crate::protocol::fallback_text(control.kind, sender.addr);
    queue_mail(
        conn,
        sender,
        contact,
        &text,
        Some(control),
        true,
        Some(chat),
        now,
    )
}

impl Context {
    /// Why `chat` cannot be written to, or `None` if it can.
    pub fn cant_send_reason(&self, chat: ChatId) -> Result<Option<CantSendReason>, Error> {
        let row = chat_row(&self.conn, chat)?;
        if !row.otr {
            return Ok(None);
        }
        let reason: Option<String> = self.conn.row(
            "SELECT state_reason FROM chats WHERE id = ?1",
            [chat.0],
            |r| r.get(0),
        )?;
        let reason = reason.unwrap_or_default();
        Ok(match row.state {
            Some(OtrState::Active) => None,
            Some(OtrState::Pending) => Some(CantSendReason::WaitingForAcceptance),
            Some(OtrState::Invited) => Some(CantSendReason::NotAccepted),
            Some(OtrState::Connecting) => Some(CantSendReason::KeyExchangeRunning),
            Some(OtrState::Closed) => Some(CantSendReason::Closed(reason)),
            Some(OtrState::Declined) => Some(CantSendReason::Declined),
            Some(OtrState::Expired) => Some(CantSendReason::Expired),
            Some(OtrState::Failed) => Some(CantSendReason::Failed(reason)),
            Some(OtrState::Elsewhere) | None => Some(CantSendReason::OnAnotherDevice),
        })
    }

    /// Sends a text in a chat. Returns the stored message (none if the chat never stores
    /// history) and the events.
    pub fn send_text(
        &mut self,
        chat: ChatId,
        text: &str,
        now: u64,
    ) -> Result<(Option<MsgId>, Vec<Event>), Error> {
        if let Some(reason) = self.cant_send_reason(chat)? {
            return Err(Error::CannotSend(reason));
        }
        let row = chat_row(&self.conn, chat)?;
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut sender = Sender {
            identity: &self.identity,
            addr: &self.addr,
            rng: &mut self.rng,
        };
        let msg = if row.otr {
            let their = row
                .their_instance
                .ok_or_else(|| Error::Corrupt("active chat without peer instance".into()))?;
            load_session(&tx, &mut self.otr, chat)?;
            let out = self
                .otr
                .send_to(OTR_PEER, their, text, &[], now, sender.rng)
                .map_err(|e| Error::InvalidState(format!("cannot encrypt: {e}")))?;
            queue_wire(&tx, &mut sender, &row, self.otr.instance_tag(), &out, now)?;
            store_session(&tx, &mut self.otr, chat)?;
            match row.erasure {
                Erasure::NeverStored => None,
                Erasure::OnClose => Some(insert_message(
                    &tx, chat, "out", text, true, now, None, None,
                )?),
                Erasure::Timer => {
                    let at = now.saturating_add(row.timer_secs.unwrap_or(0));
                    Some(insert_message(
                        &tx,
                        chat,
                        "out",
                        text,
                        true,
                        now,
                        Some(at),
                        None,
                    )?)
                }
            }
        } else {
            let mid = queue_mail(
                &tx,
                &mut sender,
                row.contact,
                text,
                None,
                true,
                Some(chat),
                now,
            )?;
            Some(insert_message(
                &tx,
                chat,
                "out",
                text,
                true,
                now,
                None,
                Some(&mid),
            )?)
        };
        tx.commit()?;
        Ok((msg, Vec::new()))
    }

    /// Starts an OTR chat with a contact: creates a `Pending` chat and sends the invitation
    /// in the encrypted, signed 1:1 chat (design 4.1).
    pub fn start_otr_chat(
        &mut self,
        contact: ContactId,
        now: u64,
    ) -> Result<(ChatId, Vec<Event>), Error> {
        let one = self.one_to_one_chat(contact, now)?;
        let invite_id = self.new_invite_id();
        let ours = self.otr.instance_tag();
        let fp = self.otr.fingerprint();
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.exec(
            "INSERT INTO chats (kind, contact_id, created_at, otr_state, state_reason, invite_id,
                                we_invited, our_instance, expires_at)
             VALUES ('otr', ?1, ?2, 'pending', 'waiting for the contact to accept', ?3, 1, ?4, ?5)",
            params![
                contact.0,
                now as i64,
                invite_id,
                i64::from(ours.value()),
                now.saturating_add(self.invite_lifetime) as i64
            ],
        )?;
        let chat = ChatId(tx.last_insert_rowid());
        let mut control = Control::new(Kind::Invite, &invite_id);
        control.instance = Some(ours);
        control.fingerprint = Some(fp);
        let mut sender = Sender {
            identity: &self.identity,
            addr: &self.addr,
            rng: &mut self.rng,
        };
        queue_control(&tx, &mut sender, contact, one, &control, now)?;
        info_message(
            &tx,
            one,
            "You invited this contact to an Off-the-Record chat.",
            now,
        )?;
        info_message(
            &tx,
            chat,
            "Invitation sent; waiting for the contact to accept.",
            now,
        )?;
        tx.commit()?;
        Ok((
            chat,
            vec![Event::ChatStateChanged {
                chat,
                state: OtrState::Pending,
                reason: "waiting for the contact to accept".into(),
            }],
        ))
    }

    /// Accepts an invitation: answers in the signed 1:1 chat with this device's instance tag
    /// and fingerprint, and starts the AKE addressed to the inviting device (design 4.2).
    pub fn accept_invitation(&mut self, chat: ChatId, now: u64) -> Result<Vec<Event>, Error> {
        let row = chat_row(&self.conn, chat)?;
        if row.state != Some(OtrState::Invited) {
            return Err(Error::InvalidState(format!(
                "only an invitation can be accepted; this chat is {}",
                row.state.map_or("not an OTR chat", OtrState::as_str)
            )));
        }
        let their = row
            .their_instance
            .ok_or_else(|| Error::Corrupt("invitation without instance".into()))?;
        let ours = self.otr.instance_tag();
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.exec(
            "UPDATE chats SET our_instance = ?2, expires_at = ?3 WHERE id = ?1",
            params![
                chat.0,
                i64::from(ours.value()),
                now.saturating_add(self.invite_lifetime) as i64
            ],
        )?;
        let row = chat_row(&tx, chat)?;
        let mut sender = Sender {
            identity: &self.identity,
            addr: &self.addr,
            rng: &mut self.rng,
        };
        let invite_id = row.invite_id.clone().unwrap_or_default();
        let mut control = Control::new(Kind::Accept, &invite_id);
        control.instance = Some(ours);
        control.fingerprint = Some(self.otr.fingerprint());
        control.to_instance = Some(their);
        queue_control(&tx, &mut sender, row.contact, chat, &control, now)?;
        load_session(&tx, &mut self.otr, chat)?;
        let out = self
            .otr
            .start_ake(OTR_PEER, Some(their), ProtocolVersion::V3, now, sender.rng);
        queue_wire(&tx, &mut sender, &row, ours, &out, now)?;
        store_session(&tx, &mut self.otr, chat)?;
        let event = set_state(&tx, chat, OtrState::Connecting, "key exchange running")?;
        info_message(
            &tx,
            chat,
            "You accepted the invitation; the key exchange is running.",
            now,
        )?;
        tx.commit()?;
        Ok(vec![event])
    }

    /// Declines an invitation (design 4.6).
    pub fn decline_invitation(&mut self, chat: ChatId, now: u64) -> Result<Vec<Event>, Error> {
        let row = chat_row(&self.conn, chat)?;
        if row.state != Some(OtrState::Invited) {
            return Err(Error::InvalidState(
                "only an invitation can be declined".into(),
            ));
        }
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut sender = Sender {
            identity: &self.identity,
            addr: &self.addr,
            rng: &mut self.rng,
        };
        let mut control = Control::new(Kind::Decline, row.invite_id.as_deref().unwrap_or_default());
        control.instance = Some(self.otr.instance_tag());
        control.to_instance = row.their_instance;
        queue_control(&tx, &mut sender, row.contact, chat, &control, now)?;
        let event = set_state(&tx, chat, OtrState::Declined, "you declined the invitation")?;
        tx.commit()?;
        Ok(vec![event])
    }

    /// Closes an OTR chat: ends the OTR session (TLV 1, revealing every MAC key not yet
    /// revealed), tells the contact in the signed 1:1 chat, makes the chat read-only and erases
    /// its history if the erasure mode says so (design 4.5). Closing a pending chat withdraws
    /// the invitation.
    pub fn close_otr_chat(&mut self, chat: ChatId, now: u64) -> Result<Vec<Event>, Error> {
        let row = chat_row(&self.conn, chat)?;
        let state = row
            .state
            .ok_or_else(|| Error::InvalidState("not an OTR chat".into()))?;
        if state.is_final() || state == OtrState::Invited {
            return Err(Error::InvalidState(format!(
                "a chat that is {} cannot be closed{}",
                state.as_str(),
                if state == OtrState::Invited {
                    "; decline it instead"
                } else {
                    ""
                }
            )));
        }
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut sender = Sender {
            identity: &self.identity,
            addr: &self.addr,
            rng: &mut self.rng,
        };
        let ours = self.otr.instance_tag();
        if state == OtrState::Active {
            load_session(&tx, &mut self.otr, chat)?;
            let out = self.otr.disconnect(OTR_PEER, row.their_instance, now);
            queue_wire(&tx, &mut sender, &row, ours, &out, now)?;
        }
        drop_session(&tx, &mut self.otr, chat)?;
        let mut control = Control::new(Kind::Close, row.invite_id.as_deref().unwrap_or_default());
        control.instance = Some(ours);
        control.to_instance = row.their_instance;
        queue_control(&tx, &mut sender, row.contact, chat, &control, now)?;
        let mut events = vec![set_state(&tx, chat, OtrState::Closed, "by you")?];
        events.extend(erase::on_close(&tx, &row)?);
        tx.exec(
            "UPDATE chats SET closed_at = ?2 WHERE id = ?1",
            params![chat.0, now as i64],
        )?;
        tx.commit()?;
        erase::checkpoint(&self.conn)?;
        Ok(events)
    }

    /// Sets how an OTR chat keeps its history. `timer_secs` is required for the timer mode.
    pub fn set_erasure(
        &mut self,
        chat: ChatId,
        mode: Erasure,
        timer_secs: Option<u64>,
    ) -> Result<(), Error> {
        let row = chat_row(&self.conn, chat)?;
        if !row.otr {
            return Err(Error::InvalidArgument(
                "erasure modes apply to OTR chats".into(),
            ));
        }
        if mode == Erasure::Timer && timer_secs.is_none_or(|t| t == 0) {
            return Err(Error::InvalidArgument(
                "the timer mode needs a timer in seconds".into(),
            ));
        }
        self.conn.exec(
            "UPDATE chats SET erasure = ?2, timer_secs = ?3 WHERE id = ?1",
            params![chat.0, mode.as_str(), timer_secs.map(|t| t as i64)],
        )?;
        Ok(())
    }

    /// Marks the peer's OTR fingerprint as verified by hand (after comparing fingerprints or the
    /// session id out of band).
    pub fn verify_fingerprint(&mut self, chat: ChatId) -> Result<Vec<Event>, Error> {
        let row = chat_row(&self.conn, chat)?;
        if row.state != Some(OtrState::Active) {
            return Err(Error::InvalidState(
                "only an active OTR chat can be verified".into(),
            ));
        }
        self.conn.exec(
            "UPDATE chats SET verification = 'fingerprint' WHERE id = ?1",
            [chat.0],
        )?;
        Ok(vec![Event::Verification {
            chat,
            level: Verification::Fingerprint,
            text: "you marked the fingerprint as verified".into(),
        }])
    }

    /// Starts verifying the peer with a shared secret (the Socialist Millionaires' Protocol),
    /// optionally with a question the peer answers. The result arrives as
    /// [`Event::Verification`] when the peer answered.
    pub fn smp_start(
        &mut self,
        chat: ChatId,
        secret: &str,
        question: Option<&str>,
        now: u64,
    ) -> Result<Vec<Event>, Error> {
        self.smp_step(chat, now, |otr, their, rng| {
            otr.smp_start(OTR_PEER, Some(their), secret.as_bytes(), question, now, rng)
        })
    }

    /// Answers the peer's verification request ([`Event::SmpRequest`]) with the shared
    /// secret.
    pub fn smp_respond(
        &mut self,
        chat: ChatId,
        secret: &str,
        now: u64,
    ) -> Result<Vec<Event>, Error> {
        self.smp_step(chat, now, |otr, their, rng| {
            otr.smp_respond(OTR_PEER, Some(their), secret.as_bytes(), now, rng)
        })
    }

    /// Abandons a verification in progress (the peer is told).
    pub fn smp_abort(&mut self, chat: ChatId, now: u64) -> Result<Vec<Event>, Error> {
        self.smp_step(chat, now, |otr, their, _| {
            otr.smp_abort(OTR_PEER, Some(their), now)
        })
    }

    fn smp_step(
        &mut self,
        chat: ChatId,
        now: u64,
        step: impl FnOnce(
            &mut otr::Endpoint,
            InstanceTag,
            &mut ChaCha20Rng,
        ) -> Result<Output, otr::SmpRequestError>,
    ) -> Result<Vec<Event>, Error> {
        let row = chat_row(&self.conn, chat)?;
        if row.state != Some(OtrState::Active) {
            return Err(Error::InvalidState(
                "only an active OTR chat can be verified".into(),
            ));
        }
        let their = row
            .their_instance
            .ok_or_else(|| Error::Corrupt("active chat without peer instance".into()))?;
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        load_session(&tx, &mut self.otr, chat)?;
        let out = match step(&mut self.otr, their, &mut self.rng) {
            Ok(out) => out,
            Err(e) => {
                self.otr.forget_peer(OTR_PEER);
                return Err(Error::InvalidState(e.to_string()));
            }
        };
        let mut sender = Sender {
            identity: &self.identity,
            addr: &self.addr,
            rng: &mut self.rng,
        };
        queue_wire(&tx, &mut sender, &row, self.otr.instance_tag(), &out, now)?;
        store_session(&tx, &mut self.otr, chat)?;
        tx.commit()?;
        Ok(Vec::new())
    }

    /// Marks the messages of a chat as seen now; in the timer mode this starts their timers.
    pub fn mark_seen(&mut self, chat: ChatId, now: u64) -> Result<(), Error> {
        let row = chat_row(&self.conn, chat)?;
        let timer = if row.erasure == Erasure::Timer {
            row.timer_secs
        } else {
            None
        };
        self.conn.exec(
            "UPDATE messages SET seen_at = ?2,
                 erase_at = CASE WHEN ?3 IS NULL THEN erase_at ELSE ?2 + ?3 END
             WHERE chat_id = ?1 AND seen_at IS NULL AND direction = 'in'",
            params![chat.0, now as i64, timer.map(|t| t as i64)],
        )?;
        Ok(())
    }
}
