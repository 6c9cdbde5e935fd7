//! How things look: fingerprints, the session id, chat states, events, both as text for
//! people and as JSON for scripts.

use chat::{ChatInfo, ChatKind, Context, Direction, Erasure, Event, Message, OtrState};
use serde_json::{Value, json};

use crate::words;

/// An OTR fingerprint as libotr shows it (`otrl_privkey_hash_to_human`): five groups of eight
/// uppercase hex digits separated by spaces.
pub fn otr_fingerprint(fp: &[u8; 20]) -> String {
    fp.chunks(4)
        .map(hex::encode_upper)
        .collect::<Vec<_>>()
        .join(" ")
}

/// An OpenPGP fingerprint (uppercase hex) in groups of four.
pub fn pgp_fingerprint(fp: &str) -> String {
    fp.as_bytes()
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// An instance tag as OTR writes it (`0x` and 8 hex digits).
pub fn instance_tag(tag: otr::InstanceTag) -> String {
    format!("0x{:08x}", tag.value())
}

/// The session id: hex halves with the bold one between `*`, as the OTR spec displays it.
pub fn ssid_hex(ssid: &otr::Ssid) -> String {
    ssid.display()
}

/// The session id as 8 words (the same on both sides).
pub fn ssid_words(ssid: &otr::Ssid) -> String {
    words::words(&ssid.bytes)
}

/// A chat state as a short label.
pub fn state_label(state: OtrState) -> &'static str {
    match state {
        OtrState::Pending => "pending",
        OtrState::Invited => "invited",
        OtrState::Connecting => "connecting",
        OtrState::Active => "active",
        OtrState::Closed => "closed",
        OtrState::Declined => "declined",
        OtrState::Expired => "expired",
        OtrState::Failed => "failed",
        OtrState::Elsewhere => "elsewhere",
    }
}

/// An erasure mode in words.
pub fn erasure_text(info: &ChatInfo) -> String {
    match info.erasure {
        Erasure::OnClose => "history kept until the chat is closed, then erased".to_owned(),
        Erasure::NeverStored => "history never written to disk".to_owned(),
        Erasure::Timer => format!(
            "each message disappears {} after it was seen",
            duration(info.timer_secs.unwrap_or(0))
        ),
    }
}

/// The erasure mode as its JSON name.
pub fn erasure_name(mode: Erasure) -> &'static str {
    match mode {
        Erasure::OnClose => "on-close",
        Erasure::NeverStored => "never-stored",
        Erasure::Timer => "timer",
    }
}

/// A number of seconds in words ("90 seconds", "2 hours", "7 days").
pub fn duration(secs: u64) -> String {
    let (n, unit) = if secs.is_multiple_of(86_400) && secs >= 86_400 {
        (secs / 86_400, "day")
    } else if secs.is_multiple_of(3600) && secs >= 3600 {
        (secs / 3600, "hour")
    } else if secs.is_multiple_of(60) && secs >= 60 {
        (secs / 60, "minute")
    } else {
        (secs, "second")
    };
    format!("{n} {unit}{}", if n == 1 { "" } else { "s" })
}

/// The kind of a chat in one word.
pub fn kind_name(kind: ChatKind) -> &'static str {
    match kind {
        ChatKind::OneToOne => "1:1",
        ChatKind::Otr => "otr",
    }
}

/// One line of history: `[in] bob@example.org: text`.
pub fn message_line(msg: &Message, peer: &str) -> String {
    match msg.direction {
        Direction::In => format!("{peer}: {}", msg.text),
        Direction::Out => format!("me: {}", msg.text),
        Direction::Info => format!("-- {}", msg.text),
    }
}

/// A message as JSON.
pub fn message_json(msg: &Message) -> Value {
    json!({
        "id": msg.id.0,
        "direction": match msg.direction {
            Direction::In => "in",
            Direction::Out => "out",
            Direction::Info => "info",
        },
        "text": msg.text,
        "encrypted": msg.encrypted,
        "timestamp": msg.timestamp,
        "erase_at": msg.erase_at,
    })
}

/// The contact address of a chat, or `chat N` if it cannot be read.
fn peer_of(ctx: &Context, chat: chat::ChatId) -> String {
    ctx.chat(chat)
        .map(|c| c.contact.addr)
        .unwrap_or_else(|_| format!("chat {chat}"))
}

/// An event as one line for people.
pub fn event_text(ctx: &Context, event: &Event) -> String {
    match event {
        Event::IncomingMessage { chat, text, .. } => {
            format!("chat {chat}: {}: {text}", peer_of(ctx, *chat))
        }
        Event::ChatStateChanged {
            chat,
            state,
            reason,
        } => format!("chat {chat}: now {} ({reason})", state_label(*state)),
        Event::InvitationReceived { chat, .. } => format!(
            "chat {chat}: {} invites you to an Off-the-Record chat; `offrecord otr accept {chat}` \
             or `offrecord otr decline {chat}`",
            peer_of(ctx, *chat)
        ),
        Event::Verification { chat, level, text } => {
            if text.is_empty() || text == level.describe() {
                format!("chat {chat}: {}", level.describe())
            } else {
                format!("chat {chat}: {} ({text})", level.describe())
            }
        }
        Event::SmpRequest { chat, question } => match question {
            Some(q) => format!(
                "chat {chat}: {} asks to verify with a shared secret: \"{q}\"; answer with \
                 `offrecord verify {chat} --answer <answer>`",
                peer_of(ctx, *chat)
            ),
            None => format!(
                "chat {chat}: {} asks to verify with a shared secret; answer with \
                 `offrecord verify {chat} --answer <secret>`",
                peer_of(ctx, *chat)
            ),
        },
        Event::Ignored { text } => format!("ignored a mail: {text}"),
        Event::Erased { chat, count } => format!(
            "chat {chat}: {count} message{} erased",
            if *count == 1 { "" } else { "s" }
        ),
    }
}

/// An event as JSON.
pub fn event_json(event: &Event) -> Value {
    match event {
        Event::IncomingMessage { chat, msg, text } => json!({
            "event": "incoming_message", "chat": chat.0, "msg": msg.map(|m| m.0), "text": text,
        }),
        Event::ChatStateChanged {
            chat,
            state,
            reason,
        } => json!({
            "event": "chat_state_changed", "chat": chat.0, "state": state.as_str(),
            "reason": reason,
        }),
        Event::InvitationReceived { chat, contact } => json!({
            "event": "invitation_received", "chat": chat.0, "contact": contact.0,
        }),
        Event::Verification { chat, level, text } => json!({
            "event": "verification", "chat": chat.0, "level": level.as_str(), "text": text,
        }),
        Event::SmpRequest { chat, question } => json!({
            "event": "smp_request", "chat": chat.0, "question": question,
        }),
        Event::Ignored { text } => json!({ "event": "ignored", "text": text }),
        Event::Erased { chat, count } => json!({
            "event": "erased", "chat": chat.0, "count": count,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_in_libotr_form() {
        let fp: [u8; 20] = core::array::from_fn(|i| i as u8 * 13);
        let human = otr_fingerprint(&fp);
        assert_eq!(human.len(), 44);
        assert_eq!(human.split(' ').count(), 5);
        assert!(human.starts_with("000D1A27 "));
    }

    #[test]
    fn durations_read_naturally() {
        assert_eq!(duration(1), "1 second");
        assert_eq!(duration(90), "90 seconds");
        assert_eq!(duration(120), "2 minutes");
        assert_eq!(duration(3600), "1 hour");
        assert_eq!(duration(7 * 86_400), "7 days");
    }
}
