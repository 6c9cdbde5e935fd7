//! Mail built by hand with a device's account key: the tests' stand-in for a peer (or an
//! attacker holding that key) running modified software.

use chat::ChatId;
use chat::protocol::{Control, Kind, WIRE_CONTENT_TYPE};
use envelope::{Attachment, AutocryptHeader, Body, Identity, InnerPart, MailHeaders, Signing};
use rand_chacha::ChaCha20Rng;
use rand_core::{Rng, SeedableRng};

use super::World;

static FORGERS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Builds mail from one account to another.
pub struct Forger {
    pub identity: Identity,
    pub from: String,
    pub to: String,
    pub to_key: envelope::PeerKey,
    rng: ChaCha20Rng,
    count: u64,
}

impl Forger {
    /// Mail as device `from` would send it to device `to`.
    pub fn new(w: &mut World, from: usize, to: usize) -> Forger {
        let key = w.devices[from].ctx().export_account_key().unwrap();
        let card = w.devices[to].ctx().export_public_key().unwrap();
        Forger {
            identity: Identity::from_bytes(&key).unwrap(),
            from: w.devices[from].addr.clone(),
            to: w.devices[to].addr.clone(),
            to_key: AutocryptHeader::parse(&card).unwrap().key,
            // A different seed per forger: Message-IDs must differ between forgers.
            rng: ChaCha20Rng::seed_from_u64(
                99 + FORGERS.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            ),
            count: 0,
        }
    }

    /// An encrypted mail with these protected headers, text and (optional) OTR wire part.
    pub fn mail(
        &mut self,
        control: &Control,
        text: &str,
        wire_part: Option<Vec<u8>>,
        signing: Signing,
    ) -> Vec<u8> {
        self.count += 1;
        let headers = MailHeaders {
            from: self.from.clone(),
            to: vec![self.to.clone()],
            message_id: format!(
                "forged.{}.{:016x}@example.org",
                self.count,
                self.rng.next_u64()
            ),
            date: super::T0,
        };
        let body = match wire_part {
            Some(bytes) => Body::Mixed {
                text: text.to_owned(),
                attachment: Attachment {
                    content_type: WIRE_CONTENT_TYPE.into(),
                    filename: None,
                    bytes,
                },
            },
            None => Body::Text(text.to_owned()),
        };
        let inner = InnerPart {
            subject: "Off-the-Record chat".into(),
            headers: control.headers(),
            body,
        };
        envelope::build_encrypted(
            &self.identity,
            std::slice::from_ref(&self.to_key),
            &headers,
            &inner,
            signing,
            &mut self.rng,
        )
        .unwrap()
    }

    /// An encrypted, unsigned OTR data mail (as chats send them) with this wire part.
    pub fn data(&mut self, control: &Control, wire_part: Vec<u8>) -> Vec<u8> {
        self.mail(control, "", Some(wire_part), Signing::Unsigned)
    }
}

/// The data-message header of chat `chat` on device `from`, addressed to device `to`.
pub fn data_control(w: &mut World, from: usize, chat: ChatId, to: usize) -> Control {
    let info = w.devices[from].ctx().chat(chat).unwrap();
    let mut c = Control::new(Kind::Data, info.invite_id.as_deref().unwrap());
    c.instance = Some(w.devices[from].ctx().instance_tag());
    c.to_instance = Some(w.devices[to].ctx().instance_tag());
    c
}
