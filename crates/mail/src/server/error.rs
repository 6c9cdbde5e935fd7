//! [`ServerError`]: a mail server could not be reached or used.

use std::fmt;
use std::io;

/// Which of the two servers an error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// The IMAP server (reading the mailbox).
    Imap,
    /// The SMTP submission server (sending).
    Smtp,
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Protocol::Imap => "IMAP",
            Protocol::Smtp => "SMTP",
        })
    }
}

/// What went wrong with a server (see [`ServerError::kind`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerErrorKind {
    /// The host name did not resolve, or no address accepted the TCP connection in time.
    #[error("cannot connect: {0}")]
    Connect(#[source] io::Error),
    /// Security `plain` was asked for a host that is not (or does not resolve only to) a loopback
    /// address. Plain connections carry the password in the clear; they are for tests on
    /// 127.0.0.1 only.
    #[error("plain (unencrypted) connections are allowed to loopback addresses only")]
    PlainNotLoopback,
    /// The TLS handshake failed (an untrusted or mismatched certificate, say).
    #[error("TLS handshake failed: {0}")]
    Tls(#[source] io::Error),
    /// STARTTLS was required and the server does not offer it, or refused it.
    #[error("the server does not offer STARTTLS: {0}")]
    NoStartTls(String),
    /// The server refused the login and password. Retrying will not help until the settings
    /// change.
    #[error("login refused: {0}")]
    Login(String),
    /// The server did not answer in time.
    #[error("timed out after {0} seconds")]
    Timeout(u64),
    /// The connection broke (closed by the server, reset, killed by an administrator).
    #[error("connection lost: {0}")]
    Connection(String),
    /// The server answered something this client cannot use (an error to a command, no
    /// UIDVALIDITY, an unparsable response).
    #[error("unexpected answer: {0}")]
    Protocol(String),
    /// The extra CA file to trust could not be read or holds no usable certificate.
    #[error("cannot use the CA file {path}: {reason}")]
    CaFile {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
    /// The internal runtime or TLS configuration could not be set up.
    #[error("cannot set up the client: {0}")]
    Setup(String),
}

/// A mail server could not be reached or used: which server, where, and what happened.
///
/// [`is_transient`](ServerError::is_transient) tells the network's fault (retry later, the
/// carrier reconnects) from the settings' (tell the user).
#[derive(Debug, thiserror::Error)]
#[error("{protocol} server {host}:{port}: {kind}")]
pub struct ServerError {
    protocol: Protocol,
    host: String,
    port: u16,
    #[source]
    kind: ServerErrorKind,
}

impl ServerError {
    pub(crate) fn new(protocol: Protocol, host: &str, port: u16, kind: ServerErrorKind) -> Self {
        ServerError {
            protocol,
            host: host.to_owned(),
            port,
            kind,
        }
    }

    /// The server concerned.
    pub fn protocol(&self) -> Protocol {
        self.protocol
    }

    /// The server's host name as configured.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The server's port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// What happened.
    pub fn kind(&self) -> &ServerErrorKind {
        &self.kind
    }

    /// True when the network is to blame (cannot connect, timeout, connection lost): the same
    /// request may succeed later without any change of settings.
    pub fn is_transient(&self) -> bool {
        matches!(
            self.kind,
            ServerErrorKind::Connect(_)
                | ServerErrorKind::Timeout(_)
                | ServerErrorKind::Connection(_)
        )
    }
}
