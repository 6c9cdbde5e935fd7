//! The commands of the `offrecord` binary. Each takes the account's [`Home`] and its arguments
//! and returns a [`Report`]: text for people and one JSON object for `--json`.

use std::fs;
use std::io::Read;
use std::path::Path;
use std::time::Duration;

use chat::{ChatId, ChatInfo, ChatKind, Context, Erasure, Event, OtrState};
use serde_json::{Value, json};
use zeroize::Zeroizing;

use crate::error::{Error, reason_text};
use crate::home::{Account, EndpointConfig, Home, MailSetup, ServerConfig, write_private};
use crate::render;
use crate::sync::{self, SyncReport};

/// What a command prints: text for people, or one JSON object with `--json`.
#[derive(Clone, Debug)]
pub struct Report {
    /// Lines for people (ending with a newline, or empty).
    pub text: String,
    /// The same result for scripts.
    pub json: Value,
}

impl Report {
    fn new(text: impl Into<String>, json: Value) -> Report {
        let mut text = text.into();
        if !text.is_empty() && !text.ends_with('\n') {
            text.push('\n');
        }
        Report { text, json }
    }
}

/// The current time, seconds since the Unix epoch.
pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A chat argument: its number as `offrecord chats` shows it.
pub fn parse_chat(arg: &str) -> Result<ChatId, Error> {
    let digits = arg.trim().trim_start_matches('#');
    match digits.parse::<i64>() {
        Ok(n) if n > 0 => Ok(ChatId(n)),
        _ => Err(Error::NotAChat(arg.to_owned())),
    }
}

/// The OTR chat `arg` (an error for 1:1 chats).
fn otr_chat(ctx: &Context, arg: &str) -> Result<ChatInfo, Error> {
    let info = ctx.chat(parse_chat(arg)?)?;
    if info.kind != ChatKind::Otr {
        return Err(Error::NotAnOtrChat(info.id));
    }
    Ok(info)
}

fn events_json(events: &[Event]) -> Vec<Value> {
    events.iter().map(render::event_json).collect()
}

fn identity_json(ctx: &Context) -> Value {
    json!({
        "address": ctx.addr(),
        "fingerprint": ctx.fingerprint(),
        "otr_fingerprint": render::otr_fingerprint(&ctx.otr_fingerprint()),
        "instance_tag": render::instance_tag(ctx.instance_tag()),
    })
}

fn identity_text(ctx: &Context) -> String {
    format!(
        "address:          {}\n\
         OpenPGP key:      {}\n\
         OTR fingerprint:  {}   (this device)\n\
         instance tag:     {}   (this device)\n",
        ctx.addr(),
        render::pgp_fingerprint(&ctx.fingerprint()),
        render::otr_fingerprint(&ctx.otr_fingerprint()),
        render::instance_tag(ctx.instance_tag()),
    )
}

/// `init <address> [--spool <dir> | server settings]`: a new account.
pub fn init(home: &Home, addr: &str, setup: MailSetup) -> Result<Report, Error> {
    let account = home.init_with(addr, setup)?;
    account_created(home, &account, "Created the account")
}

/// `init-device <address> --account-key <file> [--spool <dir> | server settings]`: another
/// device of an account.
pub fn init_device(
    home: &Home,
    addr: &str,
    key_file: &Path,
    setup: MailSetup,
) -> Result<Report, Error> {
    let key = zeroizing_read(key_file)?;
    let account = home.init_device_with(addr, &key, setup)?;
    account_created(home, &account, "Created another device of")
}

/// Mail server settings given to `init` / `init-device` (the password is not among them: it
/// comes from `$OFFRECORD_PASSWORD` or a file, never from the command line).
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// The IMAP host.
    pub imap_host: String,
    /// The IMAP port [default: 993 for TLS, 143 otherwise].
    pub imap_port: Option<u16>,
    /// The IMAP connection's security.
    pub imap_security: mail::Security,
    /// The SMTP submission host.
    pub smtp_host: String,
    /// The SMTP port [default: 465 for TLS, 587 otherwise].
    pub smtp_port: Option<u16>,
    /// The SMTP connection's security.
    pub smtp_security: mail::Security,
    /// The login name [default: the address].
    pub login: Option<String>,
    /// A file whose first line is the password [default: `$OFFRECORD_PASSWORD`].
    pub password_file: Option<std::path::PathBuf>,
    /// A PEM file of extra certificates to trust.
    pub tls_ca: Option<std::path::PathBuf>,
}

/// The environment variable that may hold the mail server password.
pub const PASSWORD_ENV: &str = "OFFRECORD_PASSWORD";

/// Turns server options into a [`MailSetup`], reading the password from `--password-file` or
/// `$OFFRECORD_PASSWORD`.
pub fn server_setup(addr: &str, options: ServerOptions) -> Result<MailSetup, Error> {
    let password = match &options.password_file {
        Some(file) => {
            let bytes = zeroizing_read(file)?;
            let text = std::str::from_utf8(&bytes).map_err(|_| {
                Error::InvalidArgument(format!(
                    "The password file {} is not UTF-8 text.",
                    file.display()
                ))
            })?;
            text.lines().next().unwrap_or_default().to_owned()
        }
        None => std::env::var(PASSWORD_ENV).unwrap_or_default(),
    };
    if password.is_empty() {
        return Err(Error::InvalidArgument(format!(
            "The mail server needs a password: set ${PASSWORD_ENV} or pass --password-file <file>."
        )));
    }
    let endpoint =
        |host: String, port: Option<u16>, security: mail::Security, imap: bool| EndpointConfig {
            host,
            port: port.unwrap_or(if imap {
                security.default_imap_port()
            } else {
                security.default_smtp_port()
            }),
            security: security.into(),
        };
    Ok(MailSetup::Server(ServerConfig {
        imap: endpoint(
            options.imap_host,
            options.imap_port,
            options.imap_security,
            true,
        ),
        smtp: endpoint(
            options.smtp_host,
            options.smtp_port,
            options.smtp_security,
            false,
        ),
        login: options.login.unwrap_or_else(|| addr.to_owned()),
        password,
        tls_ca: options.tls_ca,
    }))
}

/// Where the account's mail goes, as a line of text (`spool:` or `server:`) and JSON fields.
fn mail_place(account: &Account) -> (String, serde_json::Value) {
    match (account.spool_root(), account.server()) {
        (Some(root), _) => (
            format!("spool:            {}", root.display()),
            json!({ "spool": root }),
        ),
        (None, Some(server)) => (
            format!("server:           {}", server.describe()),
            json!({ "server": {
                "imap": { "host": server.imap.host, "port": server.imap.port,
                          "security": server.imap.security },
                "smtp": { "host": server.smtp.host, "port": server.smtp.port,
                          "security": server.smtp.security },
                "login": server.login,
            } }),
        ),
        (None, None) => (String::new(), json!({})),
    }
}

/// Reads a secret file into memory that is wiped when dropped.
fn zeroizing_read(path: &Path) -> Result<Zeroizing<Vec<u8>>, Error> {
    fs::read(path)
        .map(Zeroizing::new)
        .map_err(|e| Error::io("read", path, e))
}

fn account_created(home: &Home, account: &Account, what: &str) -> Result<Report, Error> {
    let ctx = &account.ctx;
    let (place_text, place_json) = mail_place(account);
    let text = format!(
        "{what} {} in {}.\n{}{place_text}\n\nNext: give your contact card (`offrecord card`) to a contact, and add theirs with \
         `offrecord contact add <file>`.",
        ctx.addr(),
        home.dir().display(),
        identity_text(ctx),
    );
    let mut json = identity_json(ctx);
    if let Some(obj) = json.as_object_mut() {
        obj.insert("home".into(), json!(home.dir()));
        if let Some(place) = place_json.as_object() {
            obj.extend(place.clone());
        }
    }
    Ok(Report::new(text, json))
}

/// `export-account-key <file>`: the account's secret OpenPGP key, for `init-device`.
pub fn export_account_key(home: &Home, file: &Path) -> Result<Report, Error> {
    let account = home.open()?;
    let key = account.ctx.export_account_key()?;
    write_private(file, &key, false)?;
    Ok(Report::new(
        format!(
            "Wrote the secret key of {} to {} (readable only by you). Set up the other device \
             with `offrecord --home <dir> init-device {} --account-key {}`, then delete the file.",
            account.ctx.addr(),
            file.display(),
            account.ctx.addr(),
            file.display()
        ),
        json!({ "address": account.ctx.addr(), "file": file }),
    ))
}

/// `whoami`: address and fingerprints.
pub fn whoami(home: &Home) -> Result<Report, Error> {
    let account = home.open()?;
    let ctx = &account.ctx;
    let (place_text, place_json) = mail_place(&account);
    let mut json = identity_json(ctx);
    if let Some(obj) = json.as_object_mut() {
        obj.insert("home".into(), json!(home.dir()));
        if let Some(place) = place_json.as_object() {
            obj.extend(place.clone());
        }
    }
    Ok(Report::new(
        format!(
            "{}home:             {}\n{place_text}",
            identity_text(ctx),
            home.dir().display(),
        ),
        json,
    ))
}

/// `card [--vcard]`: the contact card to give to contacts (an Autocrypt header value, or a vCard
/// with the key for Delta Chat).
pub fn card(home: &Home, vcard: bool) -> Result<Report, Error> {
    let account = home.open()?;
    let card = if vcard {
        account.ctx.export_vcard()?
    } else {
        account.ctx.export_public_key()?
    };
    Ok(Report::new(
        card.clone(),
        json!({
            "address": account.ctx.addr(),
            "fingerprint": account.ctx.fingerprint(),
            "card": card,
        }),
    ))
}

/// `contact add <file|->`: imports a contact card, a vCard with a key, or an OpenPGP public key.
pub fn contact_add(home: &Home, source: &str) -> Result<Report, Error> {
    let mut account = home.open()?;
    let bytes = if source == "-" {
        let mut buf = Vec::new();
        std::io::stdin()
            .read_to_end(&mut buf)
            .map_err(|e| Error::io("read", "standard input", e))?;
        buf
    } else {
        fs::read(source).map_err(|e| Error::io("read", source, e))?
    };
    let id = account.ctx.import_contact(&bytes, None, now())?;
    let contact = account.ctx.contact(id)?;
    Ok(Report::new(
        format!(
            "Added contact {} (OpenPGP key {}). Start an Off-the-Record chat with \
             `offrecord otr start {}`.",
            contact.addr,
            render::pgp_fingerprint(&contact.fingerprint),
            contact.addr
        ),
        json!({ "id": contact.id.0, "address": contact.addr, "fingerprint": contact.fingerprint }),
    ))
}

/// `contacts`: every contact.
pub fn contacts(home: &Home) -> Result<Report, Error> {
    let account = home.open()?;
    let contacts = account.ctx.contacts()?;
    let mut text = String::new();
    if contacts.is_empty() {
        text.push_str("No contacts yet; add one with `offrecord contact add <file>`.");
    }
    for c in &contacts {
        text.push_str(&format!(
            "{}  {}\n",
            c.addr,
            render::pgp_fingerprint(&c.fingerprint)
        ));
    }
    let list: Vec<Value> = contacts
        .iter()
        .map(|c| json!({ "id": c.id.0, "address": c.addr, "fingerprint": c.fingerprint }))
        .collect();
    Ok(Report::new(text, json!({ "contacts": list })))
}

/// `chats`: every chat, newest first.
pub fn chats(home: &Home) -> Result<Report, Error> {
    let account = home.open()?;
    let ctx = &account.ctx;
    let chats = ctx.chats()?;
    let mut text = String::new();
    let mut list = Vec::new();
    if chats.is_empty() {
        text.push_str("No chats yet.\n");
    } else {
        text.push_str("chat  kind  state              contact\n");
    }
    for info in &chats {
        let unread = ctx.unread_count(info.id)?;
        let state = info.otr_state.map_or("", render::state_label);
        let mut line = format!(
            "{:>4}  {:<4}  {:<17}  {}",
            info.id.0,
            render::kind_name(info.kind),
            state,
            info.contact.addr
        );
        if unread > 0 {
            line.push_str(&format!("  ({unread} unread)"));
        }
        text.push_str(line.trim_end());
        text.push('\n');
        list.push(json!({
            "chat": info.id.0,
            "kind": match info.kind { ChatKind::OneToOne => "one_to_one", ChatKind::Otr => "otr" },
            "state": info.otr_state.map(OtrState::as_str),
            "state_reason": info.state_reason,
            "contact": info.contact.addr,
            "unread": unread,
        }));
    }
    Ok(Report::new(text, json!({ "chats": list })))
}

/// `send <chat-or-address> <text>`: sends a text (an address means the 1:1 chat).
pub fn send(home: &Home, target: &str, text: &str) -> Result<Report, Error> {
    let mut account = home.open()?;
    let ctx = &mut account.ctx;
    let chat = if target.contains('@') {
        let contact = ctx.contact_by_addr(target)?;
        ctx.one_to_one_chat(contact.id, now())?
    } else {
        parse_chat(target)?
    };
    let info = ctx.chat(chat)?;
    let (msg, events) = ctx.send_text(chat, text, now())?;
    Ok(Report::new(
        format!(
            "Queued in chat {chat} ({} chat with {}); `offrecord sync` sends it.",
            if info.kind == ChatKind::Otr {
                "Off-the-Record"
            } else {
                "1:1"
            },
            info.contact.addr
        ),
        json!({ "chat": chat.0, "msg": msg.map(|m| m.0), "events": events_json(&events) }),
    ))
}

/// `otr start <address>`: invites a contact to an Off-the-Record chat.
pub fn otr_start(home: &Home, addr: &str) -> Result<Report, Error> {
    let mut account = home.open()?;
    let ctx = &mut account.ctx;
    let contact = ctx.contact_by_addr(addr)?;
    let (chat, events) = ctx.start_otr_chat(contact.id, now())?;
    Ok(Report::new(
        format!(
            "Started Off-the-Record chat {chat} with {}; it is pending until they accept. \
             `offrecord sync` sends the invitation.",
            contact.addr
        ),
        json!({ "chat": chat.0, "state": "pending", "events": events_json(&events) }),
    ))
}

/// `otr accept <chat>`.
pub fn otr_accept(home: &Home, chat: &str) -> Result<Report, Error> {
    let mut account = home.open()?;
    let info = otr_chat(&account.ctx, chat)?;
    let events = account.ctx.accept_invitation(info.id, now())?;
    Ok(Report::new(
        format!(
            "Accepted the invitation of {} in chat {}; the key exchange runs by mail \
             (`offrecord sync` on both sides).",
            info.contact.addr, info.id
        ),
        json!({ "chat": info.id.0, "events": events_json(&events) }),
    ))
}

/// `otr decline <chat>`.
pub fn otr_decline(home: &Home, chat: &str) -> Result<Report, Error> {
    let mut account = home.open()?;
    let info = otr_chat(&account.ctx, chat)?;
    let events = account.ctx.decline_invitation(info.id, now())?;
    Ok(Report::new(
        format!(
            "Declined the invitation of {} in chat {}.",
            info.contact.addr, info.id
        ),
        json!({ "chat": info.id.0, "events": events_json(&events) }),
    ))
}

/// `otr close <chat>`.
pub fn otr_close(home: &Home, chat: &str) -> Result<Report, Error> {
    let mut account = home.open()?;
    let info = otr_chat(&account.ctx, chat)?;
    let events = account.ctx.close_otr_chat(info.id, now())?;
    let erased: usize = events
        .iter()
        .map(|e| match e {
            Event::Erased { count, .. } => *count,
            _ => 0,
        })
        .sum();
    Ok(Report::new(
        format!(
            "Closed chat {} with {}: it is read-only now{}. The closing message (sent with the \
             next `offrecord sync`) ends the OTR session and reveals its MAC keys.",
            info.id,
            info.contact.addr,
            if erased > 0 {
                format!(", and its {erased} messages were erased")
            } else {
                String::new()
            }
        ),
        json!({ "chat": info.id.0, "state": "closed", "events": events_json(&events) }),
    ))
}

/// `show <chat>`: state, why one cannot write, verification, session id, fingerprints, erasure
/// mode, history. Marks the messages seen (which starts disappearing timers).
pub fn show(home: &Home, chat: &str) -> Result<Report, Error> {
    let mut account = home.open()?;
    let ctx = &mut account.ctx;
    let info = ctx.chat(parse_chat(chat)?)?;
    let cant = ctx.cant_send_reason(info.id)?;
    let history = ctx.history(info.id)?;
    let now = now();
    ctx.mark_seen(info.id, now)?;

    let mut text = String::new();
    let peer = info.contact.addr.clone();
    let can_write = match &cant {
        None => "yes".to_owned(),
        Some(reason) => format!("no, {}", reason_text(reason)),
    };
    let mut json = json!({
        "chat": info.id.0,
        "contact": peer,
        "contact_fingerprint": info.contact.fingerprint,
        "can_send": cant.is_none(),
        "cant_send_reason": cant.as_ref().map(reason_text),
        "messages": history.iter().map(render::message_json).collect::<Vec<_>>(),
    });
    match info.kind {
        ChatKind::OneToOne => {
            text.push_str(&format!(
                "Chat {}: 1:1 chat with {peer} (OpenPGP-encrypted and signed)\n\
                 contact key:   {}\n\
                 can write:     {can_write}\n",
                info.id,
                render::pgp_fingerprint(&info.contact.fingerprint),
            ));
            if let Some(obj) = json.as_object_mut() {
                obj.insert("kind".into(), json!("one_to_one"));
            }
        }
        ChatKind::Otr => {
            let state = info.otr_state.unwrap_or(OtrState::Elsewhere);
            text.push_str(&format!(
                "Chat {}: Off-the-Record chat with {peer}\n",
                info.id
            ));
            text.push_str(&format!("state:         {}", render::state_label(state)));
            if let Some(reason) = &info.state_reason {
                text.push_str(&format!(" ({reason})"));
            }
            text.push('\n');
            text.push_str(&format!("can write:     {can_write}\n"));
            text.push_str(&format!(
                "verification:  {}\n",
                info.verification.describe()
            ));
            if let Some(ssid) = &info.ssid {
                text.push_str(&format!(
                    "session id:    {}   (read out the *bold* half; your contact reads the other)\n\
                     as words:      {}\n",
                    render::ssid_hex(ssid),
                    render::ssid_words(ssid),
                ));
            }
            if let Some(fp) = &info.their_fingerprint {
                text.push_str(&format!("their OTR key: {}\n", render::otr_fingerprint(fp)));
            }
            if let Some(tag) = info.their_instance {
                text.push_str(&format!(
                    "their device:  instance {}\n",
                    render::instance_tag(tag)
                ));
            }
            text.push_str(&format!("erasure:       {}\n", render::erasure_text(&info)));
            if let (Some(at), false) = (
                info.expires_at,
                state.is_final() || state == OtrState::Active,
            ) {
                text.push_str(&format!(
                    "expires:       {}\n",
                    if at > now {
                        format!("in {}", approx(at - now))
                    } else {
                        "now (at the next sync)".to_owned()
                    }
                ));
            }
            if let Some(obj) = json.as_object_mut() {
                obj.insert("kind".into(), json!("otr"));
                obj.insert("state".into(), json!(state.as_str()));
                obj.insert("state_reason".into(), json!(info.state_reason));
                obj.insert("verification".into(), json!(info.verification.as_str()));
                obj.insert(
                    "verification_text".into(),
                    json!(info.verification.describe()),
                );
                obj.insert(
                    "ssid".into(),
                    match &info.ssid {
                        Some(ssid) => json!({
                            "hex": ssid.to_hex(),
                            "display": render::ssid_hex(ssid),
                            "bold_half": if ssid.first_half_bold { "first" } else { "second" },
                            "words": render::ssid_words(ssid),
                        }),
                        None => Value::Null,
                    },
                );
                obj.insert(
                    "their_fingerprint".into(),
                    json!(info.their_fingerprint.as_ref().map(render::otr_fingerprint)),
                );
                obj.insert(
                    "their_instance".into(),
                    json!(info.their_instance.map(render::instance_tag)),
                );
                obj.insert("erasure".into(), json!(render::erasure_name(info.erasure)));
                obj.insert("timer_secs".into(), json!(info.timer_secs));
                obj.insert("expires_at".into(), json!(info.expires_at));
            }
        }
    }
    text.push('\n');
    if history.is_empty() {
        text.push_str("(no messages)\n");
    }
    for msg in &history {
        text.push_str(&render::message_line(msg, &peer));
        text.push('\n');
    }
    Ok(Report::new(text, json))
}

/// A duration, rounded down to its largest unit ("6 days", "3 hours").
fn approx(secs: u64) -> String {
    let (n, unit) = if secs >= 2 * 86_400 {
        (secs / 86_400, "days")
    } else if secs >= 2 * 3600 {
        (secs / 3600, "hours")
    } else if secs >= 120 {
        (secs / 60, "minutes")
    } else {
        (secs, "seconds")
    };
    format!("{n} {unit}")
}

/// How `verify` verifies.
#[derive(Clone, Copy, Debug)]
pub enum VerifyHow<'a> {
    /// Mark the peer's fingerprint verified by hand.
    Fingerprint,
    /// Start SMP with a shared secret and an optional question.
    Secret {
        /// The secret.
        secret: &'a str,
        /// The question shown to the contact.
        question: Option<&'a str>,
    },
    /// Answer the contact's SMP request.
    Answer(&'a str),
    /// Abort a running SMP exchange.
    Abort,
}

/// `verify <chat> --fingerprint | --secret <s> [--question <q>] | --answer <s> | --abort`.
pub fn verify(home: &Home, chat: &str, how: VerifyHow<'_>) -> Result<Report, Error> {
    let mut account = home.open()?;
    let info = otr_chat(&account.ctx, chat)?;
    let ctx = &mut account.ctx;
    let (text, events) = match how {
        VerifyHow::Fingerprint => {
            let events = ctx.verify_fingerprint(info.id)?;
            let fp = info
                .their_fingerprint
                .as_ref()
                .map(render::otr_fingerprint)
                .unwrap_or_default();
            (
                format!(
                    "Marked the OTR key of {} ({fp}) in chat {} as verified by you.",
                    info.contact.addr, info.id
                ),
                events,
            )
        }
        VerifyHow::Secret { secret, question } => {
            let events = ctx.smp_start(info.id, secret, question, now())?;
            (
                format!(
                    "Asked {} to prove they know the secret{}; `offrecord sync` sends the \
                     request, and the result arrives with a later sync.",
                    info.contact.addr,
                    if question.is_some() {
                        " (with your question)"
                    } else {
                        ""
                    }
                ),
                events,
            )
        }
        VerifyHow::Answer(secret) => {
            let events = ctx.smp_respond(info.id, secret, now())?;
            (
                format!(
                    "Answered the verification request of {}; `offrecord sync` sends the answer.",
                    info.contact.addr
                ),
                events,
            )
        }
        VerifyHow::Abort => {
            let events = ctx.smp_abort(info.id, now())?;
            (
                format!("Aborted the verification in chat {}.", info.id),
                events,
            )
        }
    };
    let mut text = text;
    for event in &events {
        text.push('\n');
        text.push_str(&render::event_text(ctx, event));
    }
    let level = ctx.chat(info.id)?.verification;
    Ok(Report::new(
        text,
        json!({
            "chat": info.id.0,
            "verification": level.as_str(),
            "verification_text": level.describe(),
            "events": events_json(&events),
        }),
    ))
}

/// `erasure <chat> on-close|never-stored|timer <secs>`.
pub fn erasure(home: &Home, chat: &str, mode: Erasure, secs: Option<u64>) -> Result<Report, Error> {
    let mut account = home.open()?;
    let info = otr_chat(&account.ctx, chat)?;
    match (mode, secs) {
        (Erasure::Timer, None | Some(0)) => {
            return Err(Error::InvalidArgument(
                "The timer mode needs a time in seconds, for example `offrecord erasure 3 timer 3600`."
                    .into(),
            ));
        }
        (Erasure::OnClose | Erasure::NeverStored, Some(_)) => {
            return Err(Error::InvalidArgument(
                "Only the timer mode takes a time in seconds.".into(),
            ));
        }
        _ => {}
    }
    account.ctx.set_erasure(info.id, mode, secs)?;
    let info = account.ctx.chat(info.id)?;
    Ok(Report::new(
        format!("Chat {}: {}.", info.id, render::erasure_text(&info)),
        json!({
            "chat": info.id.0,
            "erasure": render::erasure_name(info.erasure),
            "timer_secs": info.timer_secs,
        }),
    ))
}

/// `invite-lifetime <secs>`: how long invitations (and key exchanges) on this device may take
/// before they expire (default 7 days).
pub fn invite_lifetime(home: &Home, secs: u64) -> Result<Report, Error> {
    if secs == 0 {
        return Err(Error::InvalidArgument(
            "The invitation lifetime must be at least one second.".into(),
        ));
    }
    let mut account = home.open()?;
    account.ctx.set_invite_lifetime(secs)?;
    Ok(Report::new(
        format!(
            "Invitations and key exchanges started from now on expire after {} if unanswered.",
            render::duration(secs)
        ),
        json!({ "invite_lifetime_secs": secs }),
    ))
}

/// A sync round as a report.
pub fn sync_report(ctx: &Context, report: &SyncReport) -> Report {
    let mut text = String::new();
    if report.is_empty() {
        text.push_str("Nothing new.\n");
    } else {
        text.push_str(&format!(
            "Sent {}, received {}{}.\n",
            plural(report.sent, "mail"),
            plural(report.received, "mail"),
            if report.deleted > 0 {
                format!(" ({} used up and deleted from the mailbox)", report.deleted)
            } else {
                String::new()
            }
        ));
    }
    for event in &report.events {
        text.push_str(&render::event_text(ctx, event));
        text.push('\n');
    }
    for line in report
        .send_failures
        .iter()
        .chain(&report.skipped)
        .chain(&report.connection)
    {
        text.push_str(line);
        text.push('\n');
    }
    Report::new(
        text,
        json!({
            "sent": report.sent,
            "received": report.received,
            "deleted": report.deleted,
            "send_failures": report.send_failures,
            "skipped": report.skipped,
            "connection": report.connection,
            "events": events_json(&report.events),
        }),
    )
}

/// `n thing` or `n things`.
pub fn plural(n: usize, thing: &str) -> String {
    format!("{n} {thing}{}", if n == 1 { "" } else { "s" })
}

/// `sync`: one round.
pub fn sync(home: &Home) -> Result<Report, Error> {
    let mut account = home.open()?;
    let mut carrier = account.open_carrier()?;
    let report = sync::sync_once(&mut account.ctx, &mut carrier, &now)?;
    Ok(sync_report(&account.ctx, &report))
}

/// `sync --watch`: rounds until interrupted (or `on_round` returns false), waiting up to
/// `interval` for new mail in between. `on_round` gets each round that did something.
pub fn watch(
    home: &Home,
    interval: Duration,
    on_round: &mut dyn FnMut(Report) -> bool,
) -> Result<(), Error> {
    let mut account = home.open()?;
    let mut carrier = account.open_carrier()?;
    sync::watch(
        &mut account.ctx,
        &mut carrier,
        &now,
        interval,
        &mut |ctx, report| report.is_empty() || on_round(sync_report(ctx, report)),
    )
}
