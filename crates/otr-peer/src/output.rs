//! What the endpoint hands back ([`otr::Output`]) as peer-protocol records.
//!
//! ```text
//!   Event::GoneSecure            event gone_secure <peer> <their_instag>
//!   Event::GoneInsecure          event gone_insecure <peer> <their_instag>
//!   Event::StillSecure           event still_secure <peer> <their_instag> <is_reply 0|1>
//!   Event::NewFingerprint        event new_fingerprint <peer> <40 hex>
//!   Event::Message               event msg <peer> <NAME> <text or empty> 0
//!   Event::ExtraKeyUsed          event symkey <peer> <use> <usedata hex> <key hex>
//!   Event::Smp                   event smp <peer> <NAME> <progress> [question]
//!   Event::AkeIgnored            (nothing: diagnostics only, the protocol has no record)
//!   Transmit                     wire <peer> <message>
//!   Received                     deliver <peer> <text> <otr|plain>
//!   ReceivedTlv                  tlv <peer> <type> <hex>
//! ```
//!
//! The endpoint returns these in four lists, so the order between kinds is lost; they are
//! printed as events, then wire messages, then deliveries, then TLVs, which is the order the
//! libotr peer prints a received message in (callbacks first, the delivered text last).

use otr::{Event, Output, ReceivedKind};

use crate::framing::Record;

/// The records for one [`Output`], in the order described in the module documentation.
pub fn records(output: Output) -> Vec<Record> {
    let Output {
        transmit,
        received,
        tlvs,
        events,
    } = output;
    let mut records: Vec<Record> = events.into_iter().filter_map(event_record).collect();
    records.extend(
        transmit
            .into_iter()
            // An empty message is nothing to transmit (the libotr peer skips them too).
            .filter(|t| !t.message.is_empty())
            .map(|t| Record::new("wire").field(t.peer).field(t.message)),
    );
    records.extend(received.into_iter().map(|r| {
        let origin = match r.kind {
            ReceivedKind::Encrypted | ReceivedKind::TaggedPlaintext => "otr",
            ReceivedKind::Plaintext => "plain",
        };
        Record::new("deliver")
            .field(r.peer)
            .field(r.text)
            .field(origin)
    }));
    records.extend(tlvs.into_iter().map(|t| {
        Record::new("tlv")
            .field(t.peer)
            .field(t.tlv.kind.to_string())
            .field(hex::encode(&t.tlv.value))
    }));
    records
}

/// The record for one event, if the protocol has one.
pub fn event_record(event: Event) -> Option<Record> {
    let record = Record::new("event");
    Some(match event {
        Event::GoneSecure { peer, instance } => record
            .field("gone_secure")
            .field(peer)
            .field(instance.to_string()),
        Event::GoneInsecure { peer, instance } => record
            .field("gone_insecure")
            .field(peer)
            .field(instance.to_string()),
        Event::StillSecure {
            peer,
            instance,
            is_reply,
        } => record
            .field("still_secure")
            .field(peer)
            .field(instance.to_string())
            .field(if is_reply { "1" } else { "0" }),
        Event::NewFingerprint { peer, fingerprint } => record
            .field("new_fingerprint")
            .field(peer)
            .field(hex::encode(fingerprint)),
        Event::Message { peer, kind, text } => message_event(&peer, kind.name(), text.as_deref()),
        Event::ExtraKeyUsed {
            peer,
            usage,
            usedata,
            key,
            ..
        } => record
            .field("symkey")
            .field(peer)
            .field(usage.to_string())
            .field(hex::encode(usedata))
            .field(hex::encode(*key)),
        Event::Smp {
            peer,
            event,
            progress,
            question,
            ..
        } => {
            let record = record
                .field("smp")
                .field(peer)
                .field(event.name())
                .field(progress.to_string());
            // As the libotr peer: the question field only when there is a question.
            match question {
                Some(question) => record.field(question),
                None => record,
            }
        }
        Event::AkeIgnored { .. } => return None,
    })
}

/// `event msg <peer> <NAME> <text> 0`: a libotr message event. The last field is libotr's
/// gcrypt error code, which this implementation never has.
pub fn message_event(peer: &str, name: &str, text: Option<&str>) -> Record {
    Record::new("event")
        .field("msg")
        .field(peer)
        .field(name)
        .field(text.unwrap_or_default())
        .field("0")
}

#[cfg(test)]
mod tests {
    use otr::tlv::Tlv;
    use otr::{InstanceTag, MessageEvent, Received, ReceivedTlv, SmpEventKind, Transmit};
    use zeroize::Zeroizing;

    use super::*;

    #[test]
    fn every_kind_maps() {
        let tag = InstanceTag::new(0x1234);
        let mut out = Output::default();
        out.transmit.push(Transmit {
            peer: "bob".into(),
            message: "?OTR:AAM.".into(),
        });
        out.transmit.push(Transmit {
            peer: "bob".into(),
            message: String::new(),
        });
        out.received.push(Received {
            peer: "bob".into(),
            instance: tag,
            text: "hi".into(),
            kind: ReceivedKind::TaggedPlaintext,
        });
        out.tlvs.push(ReceivedTlv {
            peer: "bob".into(),
            instance: tag,
            tlv: Tlv::new(8, vec![0, 0, 0, 1]),
        });
        out.events.push(Event::StillSecure {
            peer: "bob".into(),
            instance: tag,
            is_reply: true,
        });
        out.events.push(Event::Message {
            peer: "bob".into(),
            kind: MessageEvent::ConnectionEnded,
            text: None,
        });
        out.events.push(Event::ExtraKeyUsed {
            peer: "bob".into(),
            instance: tag,
            usage: 7,
            usedata: b"ab".to_vec(),
            key: Zeroizing::new([0x11; 32]),
        });
        out.events.push(Event::Smp {
            peer: "bob".into(),
            instance: tag,
            event: SmpEventKind::AskForAnswer,
            progress: 25,
            question: Some("Wie heißt der Hund?\t🐕".into()),
        });
        out.events.push(Event::Smp {
            peer: "bob".into(),
            instance: tag,
            event: SmpEventKind::Error {
                expected: 2,
                received: 5,
            },
            progress: 0,
            question: None,
        });
        let lines: Vec<String> = records(out).iter().map(Record::to_line).collect();
        assert_eq!(
            lines,
            [
                "event\tstill_secure\tbob\t00001234\t1".to_owned(),
                "event\tmsg\tbob\tCONNECTION_ENDED\t\t0".to_owned(),
                format!("event\tsymkey\tbob\t7\t6162\t{}", "11".repeat(32)),
                "event\tsmp\tbob\tASK_FOR_ANSWER\t25\tWie heißt der Hund?\\t🐕".to_owned(),
                "event\tsmp\tbob\tERROR\t0".to_owned(),
                "wire\tbob\t?OTR:AAM.".to_owned(),
                "deliver\tbob\thi\totr".to_owned(),
                "tlv\tbob\t8\t00000001".to_owned(),
            ]
        );
    }
}
