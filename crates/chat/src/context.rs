//! One device's view of its account: the database handle, the account's keys, and every
//! operation a UI performs. See the crate documentation for the call order.

use std::path::Path;

use offrecord_crypto::dsa::DsaPrivateKey;
use otr::{Endpoint, InstanceTag};
use rand_chacha::ChaCha20Rng;
use rand_core::{Rng, SeedableRng};
use rusqlite::{Connection, OptionalExtension, params};
use zeroize::Zeroizing;

use crate::db;
use crate::db::Cached;
use crate::error::Error;
use crate::mailfmt::{self, Identity};
use crate::types::{ChatId, ChatKind, ContactId, Erasure, MsgId, OtrState, Verification};

/// Config keys.
pub(crate) const CFG_ADDR: &str = "addr";
pub(crate) const CFG_IDENTITY: &str = "pgp_identity";
pub(crate) const CFG_OTR_KEY: &str = "otr_key";
pub(crate) const CFG_INSTANCE: &str = "otr_instance";
pub(crate) const CFG_MAIL_CURSOR: &str = "mail_cursor";
pub(crate) const CFG_INVITE_LIFETIME: &str = "invite_lifetime_secs";

/// How long an invitation (and a key exchange) may take by default: 7 days (design 4.6).
pub const DEFAULT_INVITE_LIFETIME: u64 = 7 * 24 * 3600;

/// The OTR peer name under which a chat's session is loaded into the device's endpoint.
pub(crate) const OTR_PEER: &str = "chat";

/// One device of an account, backed by its database.
pub struct Context {
    pub(crate) conn: Connection,
    pub(crate) rng: ChaCha20Rng,
    pub(crate) addr: String,
    pub(crate) identity: Identity,
    pub(crate) otr: Endpoint,
    pub(crate) invite_lifetime: u64,
}

/// A contact.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Contact {
    /// Its id.
    pub id: ContactId,
    /// Its email address.
    pub addr: String,
    /// Its OpenPGP key fingerprint (uppercase hex).
    pub fingerprint: String,
}

/// A chat as the UI shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChatInfo {
    /// Its id.
    pub id: ChatId,
    /// 1:1 or OTR.
    pub kind: ChatKind,
    /// The contact.
    pub contact: Contact,
    /// The OTR state (OTR chats only).
    pub otr_state: Option<OtrState>,
    /// Why the chat is in its state, in a sentence.
    pub state_reason: Option<String>,
    /// The invitation id (OTR chats only).
    pub invite_id: Option<String>,
    /// Our instance tag in this chat.
    pub our_instance: Option<InstanceTag>,
    /// The peer device's instance tag.
    pub their_instance: Option<InstanceTag>,
    /// The peer device's OTR fingerprint, as announced in the signed 1:1 chat.
    pub their_fingerprint: Option<[u8; 20]>,
    /// How the peer's key is verified.
    pub verification: Verification,
    /// The secure session id of the running OTR session, with the half to show in bold.
    pub ssid: Option<otr::Ssid>,
    /// History mode.
    pub erasure: Erasure,
    /// Disappearing-message timer, seconds.
    pub timer_secs: Option<u64>,
    /// When the invitation (or key exchange) expires.
    pub expires_at: Option<u64>,
    /// Whether we sent the invitation.
    pub we_invited: bool,
}

/// Direction of a stored message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// Received.
    In,
    /// Sent.
    Out,
    /// A note from the app (state changes).
    Info,
}

/// A stored message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// Its id.
    pub id: MsgId,
    /// The chat.
    pub chat: ChatId,
    /// In, out or info.
    pub direction: Direction,
    /// The text.
    pub text: String,
    /// Whether it travelled encrypted.
    pub encrypted: bool,
    /// When it was sent or received (seconds).
    pub timestamp: u64,
    /// When it disappears (timer mode).
    pub erase_at: Option<u64>,
}

impl Context {
    /// Creates a new account (first device) in a new database at `path`: a fresh OpenPGP key
    /// for `addr`, and this device's OTR key and instance tag.
    pub fn create(path: &Path, addr: &str) -> Result<Context, Error> {
        let mut rng = os_rng()?;
        let identity = mailfmt::new_identity(addr, &mut rng)?;
        Self::create_with(path, addr, identity, rng)
    }

    /// Creates another device of an existing account from the account key exported by
    /// [`Context::export_account_key`] on a device of it. The new device gets its own OTR key
    /// and instance tag.
    pub fn create_device(path: &Path, addr: &str, account_key: &[u8]) -> Result<Context, Error> {
        let rng = os_rng()?;
        let identity = mailfmt::identity_from_bytes(account_key)?;
        Self::create_with(path, addr, identity, rng)
    }

    fn create_with(
        path: &Path,
        addr: &str,
        identity: Identity,
        mut rng: ChaCha20Rng,
    ) -> Result<Context, Error> {
        let addr = normalize_addr(addr)?;
        let conn = db::open(path)?;
        if let Some(existing) = db::get_config(&conn, CFG_ADDR)? {
            return Err(Error::AccountExists(
                String::from_utf8_lossy(&existing).into_owned(),
            ));
        }
        let otr_key = DsaPrivateKey::generate(&mut rng);
        let instance = InstanceTag::generate(&mut rng);
        let tx = conn.unchecked_transaction()?;
        db::set_config(&tx, CFG_ADDR, addr.as_bytes())?;
        db::set_config(&tx, CFG_IDENTITY, &mailfmt::identity_to_bytes(&identity)?)?;
        db::set_config(&tx, CFG_OTR_KEY, &encode_dsa(&otr_key))?;
        db::set_config(&tx, CFG_INSTANCE, &instance.value().to_be_bytes())?;
        tx.commit()?;
        Ok(Context {
            otr: Endpoint::new(otr_key, instance, otr_config(DEFAULT_INVITE_LIFETIME)),
            conn,
            rng,
            addr,
            identity,
            invite_lifetime: DEFAULT_INVITE_LIFETIME,
        })
    }

    /// Opens the device database at `path`.
    pub fn open(path: &Path) -> Result<Context, Error> {
        if !path.exists() {
            return Err(Error::NoAccount);
        }
        let conn = db::open(path)?;
        let addr = db::get_config(&conn, CFG_ADDR)?.ok_or(Error::NoAccount)?;
        let addr = String::from_utf8(addr).map_err(|_| Error::Corrupt("account address".into()))?;
        let identity = mailfmt::identity_from_bytes(
            &db::get_config(&conn, CFG_IDENTITY)?
                .map(Zeroizing::new)
                .ok_or_else(|| Error::Corrupt("missing OpenPGP key".into()))?,
        )?;
        let otr_key = decode_dsa(
            &db::get_config(&conn, CFG_OTR_KEY)?
                .map(Zeroizing::new)
                .ok_or_else(|| Error::Corrupt("missing OTR key".into()))?,
        )?;
        let instance = db::get_config(&conn, CFG_INSTANCE)?
            .and_then(|v| <[u8; 4]>::try_from(v.as_slice()).ok())
            .map(|b| InstanceTag::new(u32::from_be_bytes(b)))
            .ok_or_else(|| Error::Corrupt("missing instance tag".into()))?;
        let invite_lifetime = db::get_config(&conn, CFG_INVITE_LIFETIME)?
            .and_then(|v| <[u8; 8]>::try_from(v.as_slice()).ok())
            .map_or(DEFAULT_INVITE_LIFETIME, u64::from_be_bytes);
        Ok(Context {
            otr: Endpoint::new(otr_key, instance, otr_config(invite_lifetime)),
            conn,
            rng: os_rng()?,
            addr,
            identity,
            invite_lifetime,
        })
    }

    /// Makes this context's randomness deterministic (tests and reproducible demos).
    pub fn seed_rng(&mut self, seed: u64) {
        self.rng = ChaCha20Rng::seed_from_u64(seed);
    }

    /// The account's address.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// The account's OpenPGP fingerprint (uppercase hex).
    pub fn fingerprint(&self) -> String {
        mailfmt::identity_fingerprint(&self.identity)
    }

    /// This device's OTR fingerprint.
    pub fn otr_fingerprint(&self) -> [u8; 20] {
        self.otr.fingerprint()
    }

    /// This device's OTR instance tag.
    pub fn instance_tag(&self) -> InstanceTag {
        self.otr.instance_tag()
    }

    /// The account's contact card (an Autocrypt header value: address and public key), to give
    /// to contacts, who read it with [`Context::import_contact`].
    pub fn export_public_key(&self) -> Result<String, Error> {
        mailfmt::export_public(&self.identity, &self.addr)
    }

    /// The account's contact card as a vCard 4.0 with the OpenPGP key (RFC 6350), the form
    /// Delta Chat shares and imports contacts in; [`Context::import_contact`] reads it too.
    pub fn export_vcard(&self) -> Result<String, Error> {
        mailfmt::export_vcard(&self.identity, &self.addr, mailfmt::unix_now())
    }

    /// The account's secret OpenPGP key, to set up another device of this account with
    /// [`Context::create_device`]. Never contains this device's OTR key.
    pub fn export_account_key(&self) -> Result<Zeroizing<Vec<u8>>, Error> {
        mailfmt::identity_to_bytes(&self.identity)
    }

    /// Sets how long invitations and key exchanges may take (default 7 days).
    pub fn set_invite_lifetime(&mut self, secs: u64) -> Result<(), Error> {
        db::set_config(&self.conn, CFG_INVITE_LIFETIME, &secs.to_be_bytes())?;
        self.invite_lifetime = secs;
        self.otr.config_mut().ake_timeout_secs = secs;
        Ok(())
    }

    /// The carrier's position in our mailbox, as stored with the last processed mail.
    pub fn mail_cursor(&self) -> Result<Option<String>, Error> {
        Ok(db::get_config(&self.conn, CFG_MAIL_CURSOR)?
            .map(|v| String::from_utf8_lossy(&v).into_owned()))
    }

    /// Stores the carrier's position in our mailbox.
    pub fn set_mail_cursor(&self, cursor: &str) -> Result<(), Error> {
        db::set_config(&self.conn, CFG_MAIL_CURSOR, cursor.as_bytes())
    }

    // ----- contacts -----

    /// Adds (or updates) a contact from their contact card ([`Context::export_public_key`]), a
    /// vCard with a key ([`Context::export_vcard`], Delta Chat's "share contact") or an OpenPGP
    /// public key. The address comes from the card unless given (a bare key needs
    /// it).
    pub fn import_contact(
        &mut self,
        key: &[u8],
        addr: Option<&str>,
        now: u64,
    ) -> Result<ContactId, Error> {
        let info = mailfmt::import_public(key)?;
        let addr = match addr {
            Some(a) => normalize_addr(a)?,
            None => normalize_addr(
                info.addr
                    .as_deref()
                    .ok_or_else(|| Error::Key("the key names no address; give one".into()))?,
            )?,
        };
        if addr == self.addr {
            return Err(Error::InvalidArgument(
                "that is this account's own key".into(),
            ));
        }
        self.upsert_contact(&addr, &info.fingerprint, &info.key, now)
    }

    pub(crate) fn upsert_contact(
        &self,
        addr: &str,
        fingerprint: &str,
        key: &[u8],
        now: u64,
    ) -> Result<ContactId, Error> {
        self.conn.exec(
            "INSERT INTO contacts (addr, pgp_fingerprint, pgp_public_key, created_at)
             VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (pgp_fingerprint) DO UPDATE SET addr = excluded.addr,
                 pgp_public_key = excluded.pgp_public_key",
            params![addr, fingerprint, key, now as i64],
        )?;
        let id: i64 = self.conn.row(
            "SELECT id FROM contacts WHERE pgp_fingerprint = ?1",
            [fingerprint],
            |r| r.get(0),
        )?;
        Ok(ContactId(id))
    }

    /// Every contact.
    pub fn contacts(&self) -> Result<Vec<Contact>, Error> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT id, addr, pgp_fingerprint FROM contacts ORDER BY addr, id")?;
        let rows = stmt.query_map([], |r| {
            Ok(Contact {
                id: ContactId(r.get(0)?),
                addr: r.get(1)?,
                fingerprint: r.get(2)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The contact with this id.
    pub fn contact(&self, id: ContactId) -> Result<Contact, Error> {
        self.conn
            .row(
                "SELECT id, addr, pgp_fingerprint FROM contacts WHERE id = ?1",
                [id.0],
                |r| {
                    Ok(Contact {
                        id: ContactId(r.get(0)?),
                        addr: r.get(1)?,
                        fingerprint: r.get(2)?,
                    })
                },
            )
            .optional()?
            .ok_or_else(|| Error::UnknownContact(id.0.to_string()))
    }

    /// The contact with this address (the most recently added key wins).
    pub fn contact_by_addr(&self, addr: &str) -> Result<Contact, Error> {
        let addr = normalize_addr(addr)?;
        let id: Option<i64> = self
            .conn
            .row(
                "SELECT id FROM contacts WHERE addr = ?1 ORDER BY id DESC LIMIT 1",
                [&addr],
                |r| r.get(0),
            )
            .optional()?;
        match id {
            Some(id) => self.contact(ContactId(id)),
            None => Err(Error::UnknownContact(addr)),
        }
    }

    // ----- chats -----

    /// The 1:1 chat with a contact, created if needed.
    pub fn one_to_one_chat(&self, contact: ContactId, now: u64) -> Result<ChatId, Error> {
        self.contact(contact)?;
        self.conn.exec(
            "INSERT INTO chats (kind, contact_id, created_at) VALUES ('one_to_one', ?1, ?2)
             ON CONFLICT DO NOTHING",
            params![contact.0, now as i64],
        )?;
        let id: i64 = self.conn.row(
            "SELECT id FROM chats WHERE kind = 'one_to_one' AND contact_id = ?1",
            [contact.0],
            |r| r.get(0),
        )?;
        Ok(ChatId(id))
    }

    /// Every chat, newest first.
    pub fn chats(&self) -> Result<Vec<ChatInfo>, Error> {
        let ids: Vec<i64> = {
            let mut stmt = self
                .conn
                .prepare_cached("SELECT id FROM chats ORDER BY id DESC")?;
            let rows = stmt.query_map([], |r| r.get(0))?;
            rows.collect::<Result<_, _>>()?
        };
        ids.into_iter().map(|id| self.chat(ChatId(id))).collect()
    }

    /// One chat.
    pub fn chat(&self, id: ChatId) -> Result<ChatInfo, Error> {
        let row = self
            .conn
            .row(
                "SELECT kind, contact_id, otr_state, state_reason, invite_id, our_instance,
                        their_instance, their_otr_fingerprint, verification, erasure,
                        timer_secs, expires_at, we_invited, ssid, ssid_first_bold
                 FROM chats WHERE id = ?1",
                [id.0],
                |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, i64>(1)?,
                        r.get::<_, Option<String>>(2)?,
                        r.get::<_, Option<String>>(3)?,
                        r.get::<_, Option<String>>(4)?,
                        r.get::<_, Option<i64>>(5)?,
                        r.get::<_, Option<i64>>(6)?,
                        r.get::<_, Option<String>>(7)?,
                        r.get::<_, String>(8)?,
                        r.get::<_, String>(9)?,
                        r.get::<_, Option<i64>>(10)?,
                        r.get::<_, Option<i64>>(11)?,
                        r.get::<_, Option<i64>>(12)?,
                        r.get::<_, Option<Vec<u8>>>(13)?,
                        r.get::<_, Option<i64>>(14)?,
                    ))
                },
            )
            .optional()?
            .ok_or(Error::UnknownChat(id))?;
        let (
            kind,
            contact,
            state,
            reason,
            invite_id,
            ours,
            theirs,
            fp,
            verif,
            erasure,
            timer,
            expires,
            we_invited,
            ssid,
            ssid_first_bold,
        ) = row;
        let kind = if kind == "otr" {
            ChatKind::Otr
        } else {
            ChatKind::OneToOne
        };
        let otr_state = state.as_deref().and_then(OtrState::parse);
        let ssid = match (
            otr_state,
            ssid.and_then(|b| <[u8; 8]>::try_from(b.as_slice()).ok()),
        ) {
            (Some(OtrState::Active), Some(bytes)) => Some(otr::Ssid {
                bytes,
                first_half_bold: ssid_first_bold == Some(1),
            }),
            _ => None,
        };
        Ok(ChatInfo {
            id,
            kind,
            contact: self.contact(ContactId(contact))?,
            otr_state,
            state_reason: reason,
            invite_id,
            our_instance: ours.map(tag_from_i64),
            their_instance: theirs.map(tag_from_i64),
            their_fingerprint: fp
                .and_then(|f| hex::decode(f).ok())
                .and_then(|b| <[u8; 20]>::try_from(b.as_slice()).ok()),
            verification: Verification::parse(&verif).unwrap_or(Verification::None),
            ssid,
            erasure: Erasure::parse(&erasure).unwrap_or(Erasure::OnClose),
            timer_secs: timer.map(|t| t.max(0) as u64),
            expires_at: expires.map(|t| t.max(0) as u64),
            we_invited: we_invited == Some(1),
        })
    }

    /// The stored messages of a chat, oldest first.
    pub fn history(&self, chat: ChatId) -> Result<Vec<Message>, Error> {
        self.chat(chat)?;
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, direction, text, encrypted, timestamp, erase_at
             FROM messages WHERE chat_id = ?1 ORDER BY id",
        )?;
        let rows = stmt.query_map([chat.0], |r| {
            let direction: String = r.get(1)?;
            Ok(Message {
                id: MsgId(r.get(0)?),
                chat,
                direction: match direction.as_str() {
                    "in" => Direction::In,
                    "out" => Direction::Out,
                    _ => Direction::Info,
                },
                text: r.get(2)?,
                encrypted: r.get::<_, i64>(3)? != 0,
                timestamp: r.get::<_, i64>(4)?.max(0) as u64,
                erase_at: r.get::<_, Option<i64>>(5)?.map(|t| t.max(0) as u64),
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// How many received messages of a chat are not seen yet ([`Context::mark_seen`]).
    pub fn unread_count(&self, chat: ChatId) -> Result<usize, Error> {
        let count: i64 = self.conn.row(
            "SELECT COUNT(*) FROM messages
             WHERE chat_id = ?1 AND direction = 'in' AND seen_at IS NULL",
            [chat.0],
            |r| r.get(0),
        )?;
        Ok(usize::try_from(count).unwrap_or(0))
    }

    /// Generates a random invitation id (32 hex digits).
    pub(crate) fn new_invite_id(&mut self) -> String {
        let mut bytes = [0u8; 16];
        self.rng.fill_bytes(&mut bytes);
        hex::encode(bytes)
    }
}

/// The OTR configuration of chats: v3 only (instance tags are what keep devices apart), no
/// query text, no heartbeats (each would be a mail), no error replies (other devices must stay
/// silent, design 4.7), key exchanges that may take as long as an invitation.
pub(crate) fn otr_config(lifetime: u64) -> otr::Config {
    otr::Config {
        policy: otr::Policy::ALLOW_V3,
        heartbeat_interval: None,
        reply_to_unreadable: false,
        ake_timeout_secs: lifetime,
        query_text: String::new(),
        ..otr::Config::default()
    }
}

pub(crate) fn tag_from_i64(v: i64) -> InstanceTag {
    InstanceTag::new(u32::try_from(v).unwrap_or(0))
}

/// Lowercases and checks an email address.
pub fn normalize_addr(addr: &str) -> Result<String, Error> {
    let a = addr.trim().to_lowercase();
    let valid = a.len() <= 254
        && a.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty() && !domain.is_empty() && !domain.contains('@')
        })
        && !a.chars().any(|c| {
            c.is_whitespace() || c.is_control() || matches!(c, '<' | '>' | '/' | '\\' | '"' | ',')
        });
    if valid {
        Ok(a)
    } else {
        Err(Error::InvalidArgument(format!(
            "not an email address: {addr}"
        )))
    }
}

fn os_rng() -> Result<ChaCha20Rng, Error> {
    ChaCha20Rng::try_from_rng(&mut getrandom::SysRng)
        .map_err(|e| Error::InvalidState(format!("no operating-system randomness: {e}")))
}

fn encode_dsa(key: &DsaPrivateKey) -> Zeroizing<Vec<u8>> {
    let mut out = Zeroizing::new(Vec::new());
    let [p, q, g, y] = key.public_key().components();
    for part in [&p, &q, &g, &y] {
        otr::wire::codec::put_data(&mut out, part);
    }
    otr::wire::codec::put_data(&mut out, &key.x_bytes());
    out
}

fn decode_dsa(bytes: &[u8]) -> Result<DsaPrivateKey, Error> {
    let mut r = otr::wire::codec::Reader::new(bytes);
    let bad = |_| Error::Corrupt("OTR key".into());
    let p = r.read_data().map_err(bad)?;
    let q = r.read_data().map_err(bad)?;
    let g = r.read_data().map_err(bad)?;
    let y = r.read_data().map_err(bad)?;
    let x = Zeroizing::new(r.read_data().map_err(bad)?.to_vec());
    DsaPrivateKey::from_components(p, q, g, y, &x).map_err(|_| Error::Corrupt("OTR key".into()))
}
