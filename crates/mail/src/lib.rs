//! # The mail carrier
//!
//! The only layer that touches mail spools or opens sockets (design section 1). It moves
//! raw RFC 5322 messages; building and parsing them is the envelope crate's job, deciding what
//! to send the chat layer's.
//!
//! - [`Carrier`]: the blocking interface the chat layer drives: [`send`](Carrier::send),
//!   [`fetch`](Carrier::fetch) after a [`Cursor`] the caller keeps, [`delete`](Carrier::delete),
//!   [`wait`](Carrier::wait). Its documentation gives the call order that makes a crash lose,
//!   repeat and leave behind nothing.
//! - [`Spool`]: the embedded local spool, one mailbox directory per address under a shared root,
//!   used when no mail server is configured.
//! - [`ServerCarrier`]: a real mail account, IMAP (with IDLE) to read and SMTP submission to
//!   send, configured by [`ServerSettings`]; TLS, STARTTLS, or plain to loopback only.
//!
//! ```
//! use mail::{Carrier, Spool};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = tempfile::tempdir()?;
//! let mut alice = Spool::open(dir.path(), "alice@example.org")?;
//! let mut bob = Spool::open(dir.path(), "bob@example.org")?;
//!
//! let recipients = ["bob@example.org".to_string(), "alice@example.org".to_string()];
//! alice.send("alice@example.org", &recipients, b"Subject: hi\r\n\r\nhello\r\n")?;
//!
//! // Bob's device fetches from where it stopped (nothing stored yet: from the start) ...
//! let batch = bob.fetch(None)?;
//! assert_eq!(batch.mails.len(), 1);
//! assert_eq!(batch.mails[0].raw, b"Subject: hi\r\n\r\nhello\r\n");
//! // ... stores the cursor as text with what it made of the mail ...
//! let stored = batch.cursor.to_string();
//! // ... and later fetches only what is new.
//! let cursor: mail::Cursor = stored.parse()?;
//! assert!(bob.fetch(Some(&cursor))?.mails.is_empty());
//!
//! // Alice's own copy (BCC-self), for her other devices.
//! assert_eq!(alice.fetch(None)?.mails.len(), 1);
//! # Ok(())
//! # }
//! ```

mod address;
mod carrier;
mod cursor;
mod error;
mod server;
mod spool;

pub use address::{Address, AddressError, MAX_ADDRESS_LEN};
pub use carrier::{Batch, Carrier, FetchedMail, Skipped};
pub use cursor::{Cursor, MailId, ParseError};
pub use error::{
    DeliveryError, FetchError, IoError, OpenError, RecipientFailure, SendError, Severity,
    SkipReason,
};
pub use server::{
    Endpoint, Protocol, Security, ServerCarrier, ServerError, ServerErrorKind, ServerSettings,
    UnknownSecurity,
};
pub use spool::{BatchLimits, MAX_MAIL_SIZE, Spool, deliver_raw};
