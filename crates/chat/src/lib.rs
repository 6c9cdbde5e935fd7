//! The chat layer of Offrecord: accounts, contacts, ordinary 1:1 chats and Off-the-Record
//! chats with their whole lifecycle, an outbox, message history, timers and safe erasure, on
//! SQLite. It has no network: mail goes out through [`Context::outbox`] and comes in through
//! [`Context::receive_mail`]; a carrier (the `offrecord-mail` crate) moves it.
//!
//! The behaviour is specified in `shared/design/otr-chats.md`; the module docs cite its
//! sections.
//!
//! # Call order
//!
//! 1. [`Context::create`] a new account (or [`Context::create_device`] for a second device of
//!    one), later [`Context::open`] it.
//! 2. Exchange keys with a contact ([`Context::export_public_key`],
//!    [`Context::import_contact`]).
//! 3. Act: [`Context::send_text`], [`Context::start_otr_chat`],
//!    [`Context::accept_invitation`], [`Context::close_otr_chat`]...
//! 4. Hand [`Context::outbox`] to the carrier and confirm with [`Context::outbox_sent`] (or
//!    [`Context::outbox_sent_all`] for a drained outbox); feed every fetched mail to
//!    [`Context::receive_mail`] (or a fetched batch to [`Context::receive_batch`], which
//!    commits it in one transaction), and delete what it says only after it returned.
//! 5. Call [`Context::maintenance`] now and then (timers, expiry, erasure).
//!
//! Every call that changes state commits it in one transaction together with the mail it
//! queues, so a crash at any instant loses nothing and never reuses an OTR counter.

mod context;
mod db;
mod erase;
mod error;
mod events;
mod lifecycle;
mod mailfmt;
mod outbox;
pub mod protocol;
mod receive;
mod types;

pub use context::{
    ChatInfo, Contact, Context, DEFAULT_INVITE_LIFETIME, Direction, Message, normalize_addr,
};
pub use db::SCHEMA_VERSION;
pub use error::Error;
pub use events::Event;
pub use outbox::OutgoingMail;
pub use receive::{Processed, RECEIVE_TRANSACTION_MAILS};
pub use types::{
    CantSendReason, ChatId, ChatKind, ContactId, Erasure, MsgId, OtrState, Verification,
};
