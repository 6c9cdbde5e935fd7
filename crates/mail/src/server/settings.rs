//! [`ServerSettings`]: where the account's IMAP and SMTP servers are and how to log in.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use zeroize::Zeroizing;

/// How a connection is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Security {
    /// TLS from the first byte (IMAPS, usually port 993; SMTPS, usually 465).
    Tls,
    /// A plain connection upgraded with STARTTLS before logging in (IMAP 143, submission 587).
    /// The upgrade is required: a server that does not offer it is an error.
    StartTls,
    /// No encryption at all. Refused unless the host is a loopback address (tests, a local
    /// relay).
    Plain,
}

impl Security {
    /// The usual IMAP port for this security.
    pub fn default_imap_port(self) -> u16 {
        match self {
            Security::Tls => 993,
            Security::StartTls | Security::Plain => 143,
        }
    }

    /// The usual SMTP submission port for this security.
    pub fn default_smtp_port(self) -> u16 {
        match self {
            Security::Tls => 465,
            Security::StartTls | Security::Plain => 587,
        }
    }
}

impl fmt::Display for Security {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Security::Tls => "tls",
            Security::StartTls => "starttls",
            Security::Plain => "plain",
        })
    }
}

/// A security name other than `tls`, `starttls` or `plain`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown security {0:?} (expected tls, starttls or plain)")]
pub struct UnknownSecurity(pub String);

impl FromStr for Security {
    type Err = UnknownSecurity;

    fn from_str(text: &str) -> Result<Security, UnknownSecurity> {
        match text.to_ascii_lowercase().as_str() {
            "tls" | "ssl" => Ok(Security::Tls),
            "starttls" => Ok(Security::StartTls),
            "plain" => Ok(Security::Plain),
            _ => Err(UnknownSecurity(text.to_owned())),
        }
    }
}

/// One server: host, port and security.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// Host name or address literal.
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// How the connection is protected.
    pub security: Security,
}

/// Everything [`ServerCarrier::open`](crate::ServerCarrier::open) needs. `Debug` leaves the
/// password out.
#[derive(Clone)]
pub struct ServerSettings {
    /// The account's address (the envelope sender; mail is read from its INBOX).
    pub address: String,
    /// The login name for both servers (usually the address).
    pub login: String,
    /// The password for both servers; wiped from memory when dropped.
    pub password: Zeroizing<String>,
    /// The IMAP server.
    pub imap: Endpoint,
    /// The SMTP submission server.
    pub smtp: Endpoint,
    /// A PEM file of certificates to trust besides the webpki roots (a test CA, a company CA).
    pub extra_ca: Option<PathBuf>,
    /// The mailbox to read (default `INBOX`).
    pub mailbox: String,
    /// Whether to use IMAP IDLE when the server offers it (default true). Without it,
    /// [`wait`](crate::Carrier::wait) polls.
    pub use_idle: bool,
}

impl ServerSettings {
    /// Settings with the defaults: mailbox `INBOX`, IDLE when offered, no extra CA.
    pub fn new(
        address: &str,
        login: &str,
        password: Zeroizing<String>,
        imap: Endpoint,
        smtp: Endpoint,
    ) -> ServerSettings {
        ServerSettings {
            address: address.to_owned(),
            login: login.to_owned(),
            password,
            imap,
            smtp,
            extra_ca: None,
            mailbox: "INBOX".to_owned(),
            use_idle: true,
        }
    }
}

impl fmt::Debug for ServerSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerSettings")
            .field("address", &self.address)
            .field("login", &self.login)
            .field("password", &"<redacted>")
            .field("imap", &self.imap)
            .field("smtp", &self.smtp)
            .field("extra_ca", &self.extra_ca)
            .field("mailbox", &self.mailbox)
            .field("use_idle", &self.use_idle)
            .finish()
    }
}
