//! What OTR chats put in mail: the control messages inside the encrypted 1:1 chat and the OTR
//! wire messages (design section 4). Headers are protected (inside the encryption).
//!
//! | `Chat-Otr` | signed | carries |
//! | --- | --- | --- |
//! | `invite` | yes | invitation id, our instance tag and OTR fingerprint, the OTR query |
//! | `accept` | yes | invitation id, the accepting device's instance tag and fingerprint, the inviter's instance (`Chat-Otr-To-Instance`) |
//! | `decline` | yes | invitation id, the inviter's instance |
//! | `taken` | yes | invitation id, the late accepter's instance: another device accepted first |
//! | `close` | yes | invitation id: the sender closed the chat (also said inside OTR by TLV 1) |
//! | `data` | **no** | invitation id, recipient instance, OTR wire messages (AKE and data) |
//!
//! OTR data messages are encrypted but never signed: a long-term signature on each message
//! would destroy OTR's deniability (design 4.4).

use otr::InstanceTag;

/// Header naming the kind of OTR control message.
pub const HEADER_KIND: &str = "Chat-Otr";
/// Header with the invitation id (which identifies the OTR chat on both sides).
pub const HEADER_ID: &str = "Chat-Otr-Id";
/// Header with the sending device's instance tag (8 hex digits).
pub const HEADER_INSTANCE: &str = "Chat-Otr-Instance";
/// Header with the sending device's OTR fingerprint (40 hex digits).
pub const HEADER_FINGERPRINT: &str = "Chat-Otr-Fingerprint";
/// Header with the instance tag of the device the message is for.
pub const HEADER_TO_INSTANCE: &str = "Chat-Otr-To-Instance";
/// Header with the OTR query of an invitation.
pub const HEADER_QUERY: &str = "Chat-Otr-Query";
/// MIME type of the part that carries OTR wire messages, one per line.
pub const WIRE_CONTENT_TYPE: &str = "application/x-otr";
/// At most this many OTR wire messages in one data mail; a mail with more is refused whole.
/// We send one to three (a reply of the AKE, a data message, the messages of an SMP step); the
/// limit keeps a stuffed mail from costing an allocation (and an answer) per line.
pub const MAX_WIRE_MESSAGES: usize = 32;

/// The kinds of control messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// An invitation to an OTR chat.
    Invite,
    /// The invitation was accepted by the sending device.
    Accept,
    /// The invitation was declined.
    Decline,
    /// Another device accepted first; the addressed device's accept is void.
    Taken,
    /// The sender closed the chat.
    Close,
    /// OTR wire messages.
    Data,
}

impl Kind {
    /// The header value.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Invite => "invite",
            Kind::Accept => "accept",
            Kind::Decline => "decline",
            Kind::Taken => "taken",
            Kind::Close => "close",
            Kind::Data => "data",
        }
    }

    /// Parses a header value.
    pub fn parse(s: &str) -> Option<Kind> {
        Some(match s.trim() {
            "invite" => Kind::Invite,
            "accept" => Kind::Accept,
            "decline" => Kind::Decline,
            "taken" => Kind::Taken,
            "close" => Kind::Close,
            "data" => Kind::Data,
            _ => return None,
        })
    }

    /// Whether this kind is sent signed.
    pub fn signed(self) -> bool {
        !matches!(self, Kind::Data)
    }
}

/// One OTR control message, as carried in protected headers (and, for data, a body part).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Control {
    /// The kind.
    pub kind: Kind,
    /// The invitation id (32 hex digits).
    pub invite_id: String,
    /// The sending device's instance tag.
    pub instance: Option<InstanceTag>,
    /// The sending device's OTR fingerprint.
    pub fingerprint: Option<[u8; 20]>,
    /// The device the message is for.
    pub to_instance: Option<InstanceTag>,
    /// OTR wire messages (data only).
    pub wire: Vec<String>,
}

impl Control {
    /// A control message of `kind` for invitation `invite_id`.
    pub fn new(kind: Kind, invite_id: &str) -> Control {
        Control {
            kind,
            invite_id: invite_id.to_owned(),
            instance: None,
            fingerprint: None,
            to_instance: None,
            wire: Vec::new(),
        }
    }

    /// The protected headers for this message.
    pub fn headers(&self) -> Vec<(String, String)> {
        let mut h = vec![
            (HEADER_KIND.to_owned(), self.kind.as_str().to_owned()),
            (HEADER_ID.to_owned(), self.invite_id.clone()),
        ];
        if let Some(i) = self.instance {
            h.push((HEADER_INSTANCE.to_owned(), i.to_string()));
        }
        if let Some(fp) = self.fingerprint {
            h.push((HEADER_FINGERPRINT.to_owned(), hex::encode(fp)));
        }
        if let Some(i) = self.to_instance {
            h.push((HEADER_TO_INSTANCE.to_owned(), i.to_string()));
        }
        if self.kind == Kind::Invite {
            h.push((HEADER_QUERY.to_owned(), "?OTRv3?".to_owned()));
        }
        h
    }

    /// Reads a control message from protected headers and the wire part (if any). `None` if
    /// the mail is not an OTR control message; `Err` if it claims to be one but is malformed.
    pub fn from_headers(
        headers: &[(String, String)],
        wire_part: Option<&[u8]>,
    ) -> Result<Option<Control>, String> {
        let get = |name: &str| {
            headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.trim())
        };
        let Some(kind) = get(HEADER_KIND) else {
            return Ok(None);
        };
        let kind = Kind::parse(kind).ok_or_else(|| format!("unknown {HEADER_KIND}: {kind}"))?;
        let invite_id = get(HEADER_ID).ok_or_else(|| format!("missing {HEADER_ID}"))?;
        if invite_id.len() != 32 || !invite_id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(format!("malformed {HEADER_ID}"));
        }
        let tag = |name: &str| -> Result<Option<InstanceTag>, String> {
            match get(name) {
                None => Ok(None),
                Some(v) => {
                    let n = u32::from_str_radix(v, 16).map_err(|_| format!("malformed {name}"))?;
                    let tag = InstanceTag::new(n);
                    if tag.is_valid() {
                        Ok(Some(tag))
                    } else {
                        Err(format!("invalid {name}"))
                    }
                }
            }
        };
        let fingerprint = match get(HEADER_FINGERPRINT) {
            None => None,
            Some(v) => {
                let bytes =
                    hex::decode(v).map_err(|_| format!("malformed {HEADER_FINGERPRINT}"))?;
                Some(
                    <[u8; 20]>::try_from(bytes.as_slice())
                        .map_err(|_| format!("malformed {HEADER_FINGERPRINT}"))?,
                )
            }
        };
        let mut wire = Vec::new();
        if let Some(bytes) = wire_part {
            for line in String::from_utf8_lossy(bytes)
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
            {
                if wire.len() == MAX_WIRE_MESSAGES {
                    return Err(format!(
                        "more than {MAX_WIRE_MESSAGES} OTR messages in one mail"
                    ));
                }
                wire.push(line.to_owned());
            }
        }
        Ok(Some(Control {
            kind,
            invite_id: invite_id.to_ascii_lowercase(),
            instance: tag(HEADER_INSTANCE)?,
            fingerprint,
            to_instance: tag(HEADER_TO_INSTANCE)?,
            wire,
        }))
    }
}

/// The readable fallback text of control messages, for clients without OTR chats (Delta Chat
/// shows the text part of unknown message kinds).
pub fn fallback_text(kind: Kind, from: &str) -> String {
    match kind {
        Kind::Invite => format!(
            "{from} invites you to an Off-the-Record chat (forward-secret and deniable). \
             Your app does not support Off-the-Record chats; you can keep writing here."
        ),
        Kind::Accept => format!("{from} accepted the invitation to an Off-the-Record chat."),
        Kind::Decline => format!("{from} declined the invitation to an Off-the-Record chat."),
        Kind::Taken => "The Off-the-Record chat was accepted on another device.".to_owned(),
        Kind::Close => format!("{from} closed the Off-the-Record chat."),
        Kind::Data => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_round_trip() {
        let mut c = Control::new(Kind::Accept, "00112233445566778899aabbccddeeff");
        c.instance = Some(InstanceTag::new(0x1234_5678));
        c.fingerprint = Some([7; 20]);
        c.to_instance = Some(InstanceTag::new(0x0abc_def0));
        let parsed = Control::from_headers(&c.headers(), None).unwrap().unwrap();
        assert_eq!(parsed, c);
    }

    #[test]
    fn malformed_controls_are_errors_and_others_none() {
        assert_eq!(Control::from_headers(&[], None), Ok(None));
        let h = |k: &str, v: &str| {
            vec![
                (HEADER_KIND.to_owned(), k.to_owned()),
                (HEADER_ID.to_owned(), v.to_owned()),
            ]
        };
        assert!(
            Control::from_headers(&h("bogus", "00112233445566778899aabbccddeeff"), None).is_err()
        );
        assert!(Control::from_headers(&h("invite", "short"), None).is_err());
        let mut bad_tag = h("accept", "00112233445566778899aabbccddeeff");
        bad_tag.push((HEADER_INSTANCE.to_owned(), "000000ff".to_owned()));
        assert!(Control::from_headers(&bad_tag, None).is_err());
    }
}
