//! The library behind the `offrecord` command-line client: one account (device) per home
//! directory, its mail on the embedded local spool, and a command for every step of an
//! Off-the-Record chat's life (design `shared/design/otr-chats.md`).
//!
//! The binary only parses arguments and prints; everything it does is here, where tests reach
//! it:
//!
//! - [`home`]: the account's directory (`account.db`, `config.json`) and its carrier.
//! - [`commands`]: one function per command, each returning a [`Report`] (text and JSON).
//! - [`sync`]: the loop that moves mail between the chat layer and the carrier.
//! - [`render`] and [`words`]: fingerprints, session ids as hex and as words, events.
//! - [`demo`]: the whole lifecycle with three devices, printed as a transcript.
//!
//! # Example: two accounts on one spool
//!
//! ```
//! use offrecord::commands;
//! use offrecord::home::{Home, MailSetup};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = tempfile::tempdir()?;
//! // Homes with a common parent share the spool `offrecord-spool` next to them.
//! let alice = Home::new(dir.path().join("alice"));
//! let bob = Home::new(dir.path().join("bob"));
//! commands::init(&alice, "alice@example.org", MailSetup::Spool(None))?;
//! commands::init(&bob, "bob@example.org", MailSetup::Spool(None))?;
//!
//! // Exchange contact cards.
//! for (me, other) in [(&alice, &bob), (&bob, &alice)] {
//!     let card = dir.path().join("card");
//!     std::fs::write(&card, commands::card(other, false)?.text)?;
//!     commands::contact_add(me, &card.to_string_lossy())?;
//! }
//!
//! // Alice invites, the invitation travels, Bob sees it.
//! let started = commands::otr_start(&alice, "bob@example.org")?;
//! assert_eq!(started.json["state"], "pending");
//! commands::sync(&alice)?;
//! let synced = commands::sync(&bob)?;
//! assert_eq!(synced.json["events"][0]["event"], "invitation_received");
//! # Ok(())
//! # }
//! ```

pub mod commands;
pub mod demo;
mod error;
pub mod home;
pub mod render;
pub mod sync;
pub mod words;

pub use commands::Report;
pub use error::{Error, reason_text, sentence};
