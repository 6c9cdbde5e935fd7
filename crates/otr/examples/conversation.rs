//! An OTR conversation between two in-process parties, printed as it happens: the AKE,
//! messages both ways, a message that overtakes another (as email does), and the close that
//! reveals the MAC keys.
//!
//! Run with `cargo run --release -p otr --example conversation`.

use offrecord_crypto::dsa::DsaPrivateKey;
use otr::{Config, Endpoint, Event, InstanceTag, Output};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

/// Shortens a wire message for display.
fn short(message: &str) -> String {
    let line = message.replace('\n', " ");
    if line.chars().count() > 72 {
        format!(
            "{}... ({} bytes)",
            line.chars().take(60).collect::<String>(),
            message.len()
        )
    } else {
        line
    }
}

fn fingerprint(fp: [u8; 20]) -> String {
    let hex: String = fp.iter().map(|b| format!("{b:02X}")).collect();
    hex.as_bytes()
        .chunks(8)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Prints what `who` produced and returns the wire messages for the other side.
fn show(who: &str, out: Output) -> Vec<String> {
    for r in &out.received {
        println!("  {who} reads: \"{}\" ({:?})", r.text, r.kind);
    }
    for e in &out.events {
        match e {
            Event::GoneSecure { instance, .. } => {
                println!("  {who}: private conversation started with instance {instance}")
            }
            Event::GoneInsecure { .. } => {
                println!("  {who}: the other side closed the private conversation")
            }
            Event::NewFingerprint {
                fingerprint: fp, ..
            } => {
                println!("  {who}: new peer fingerprint {}", fingerprint(*fp))
            }
            Event::Message { kind, .. } => println!("  {who}: event {}", kind.name()),
            _ => {}
        }
    }
    out.transmit
        .into_iter()
        .map(|t| {
            println!("  {who} -> wire: {}", short(&t.message));
            t.message
        })
        .collect()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut rng = ChaCha20Rng::seed_from_u64(2026);
    let now = 1_790_000_000;
    println!("Generating two DSA-1024 long-term keys...");
    let config = Config {
        heartbeat_interval: None,
        ..Config::default()
    };
    let mut alice = Endpoint::new(
        DsaPrivateKey::generate(&mut rng),
        InstanceTag::generate(&mut rng),
        config.clone(),
    );
    let mut bob = Endpoint::new(
        DsaPrivateKey::generate(&mut rng),
        InstanceTag::generate(&mut rng),
        config,
    );
    println!("alice: fingerprint {}", fingerprint(alice.fingerprint()));
    println!("bob:   fingerprint {}", fingerprint(bob.fingerprint()));

    println!("\n1. Alice asks for an Off-the-Record conversation; the AKE runs.");
    let mut to_bob = show("alice", alice.query("bob"));
    let mut to_alice = Vec::new();
    while !to_bob.is_empty() || !to_alice.is_empty() {
        for m in std::mem::take(&mut to_bob) {
            to_alice.extend(show("bob", bob.receive("alice", &m, now, &mut rng)));
        }
        for m in std::mem::take(&mut to_alice) {
            to_bob.extend(show("alice", alice.receive("bob", &m, now, &mut rng)));
        }
    }
    let a = alice.status("bob", None).ok_or("no session")?;
    let b = bob.status("alice", None).ok_or("no session")?;
    println!(
        "  both encrypted: {:?} / {:?}; session id seen by alice {} and by bob {}",
        a.message_state,
        b.message_state,
        a.ssid.ok_or("no ssid")?.display(),
        b.ssid.ok_or("no ssid")?.display()
    );

    println!("\n2. Messages both ways.");
    for (from, text) in [
        ("alice", "Hi Bob, this is off the record."),
        ("bob", "Hi Alice. Nobody can prove I wrote this."),
        (
            "alice",
            "Not even after the fact: keys rotate with every reply.",
        ),
    ] {
        if from == "alice" {
            for m in show("alice", alice.send("bob", text, now, &mut rng)?) {
                let _ = show("bob", bob.receive("alice", &m, now, &mut rng));
            }
        } else {
            for m in show("bob", bob.send("alice", text, now, &mut rng)?) {
                let _ = show("alice", alice.receive("bob", &m, now, &mut rng));
            }
        }
    }

    println!("\n3. Email reorders: Bob's second message arrives first, then a duplicate.");
    let first = show("bob", bob.send("alice", "(sent first)", now, &mut rng)?);
    let second = show("bob", bob.send("alice", "(sent second)", now, &mut rng)?);
    for m in second.iter().chain(&first).chain(&first) {
        let _ = show("alice", alice.receive("bob", m, now + 60, &mut rng));
    }

    println!("\n4. Alice closes the chat: TLV 1, and every used MAC key is revealed.");
    let close = show("alice", alice.disconnect("bob", None, now + 120));
    for m in &close {
        if let Ok(otr::wire::Message::Encoded { encoded, .. }) = otr::wire::Message::parse(m)
            && let otr::wire::Body::Data(d) = encoded.body
        {
            println!("  revealed MAC keys: {}", d.old_mac_keys.len() / 20);
        }
        let _ = show("bob", bob.receive("alice", m, now + 120, &mut rng));
    }
    println!(
        "  alice is now {:?}; bob is {:?} (read-only until he ends it too)",
        alice.status("bob", None).ok_or("no session")?.message_state,
        bob.status("alice", None).ok_or("no session")?.message_state
    );
    Ok(())
}
