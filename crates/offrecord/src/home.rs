//! The home directory of one account (one device): `account.db` (the chat layer's database)
//! and `config.json` (which carrier moves the mail: the embedded spool and its root, or a mail
//! server).
//!
//! ```text
//! <home>/                 0700
//!   account.db            the device database (keys, contacts, chats, outbox)
//!   config.json           0600 {"version": 1, "carrier": {"kind": "spool", "root": "/abs/spool"}}
//!                         or   {"version": 1, "carrier": {"kind": "server", "imap": {"host":
//!                               ..., "port": 993, "security": "tls"}, "smtp": {...},
//!                               "login": ..., "password": ..., "tls_ca": null}}
//! ```
//!
//! The default home is `$OFFRECORD_HOME`, else `~/.offrecord`. The default spool is the
//! directory `offrecord-spool` next to the home directory (`~/offrecord-spool` for the default
//! home), so accounts whose homes share a parent directory share a spool without options.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use chat::Context;
use mail::{Batch, Carrier, Cursor, FetchError, MailId, SendError, ServerCarrier, Spool};
use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, Zeroizing};

use crate::error::Error;

/// The database file in the home directory.
pub const DB_FILE: &str = "account.db";
/// The configuration file in the home directory.
pub const CONFIG_FILE: &str = "config.json";
/// The name of the default spool directory, next to the home directory.
pub const DEFAULT_SPOOL_NAME: &str = "offrecord-spool";

/// The account's configuration file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Config {
    /// The file format's version (1).
    pub version: u32,
    /// How mail travels.
    pub carrier: CarrierConfig,
}

/// Which carrier moves the account's mail.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum CarrierConfig {
    /// The embedded local spool under `root` (an absolute path).
    Spool {
        /// The spool root shared by the accounts that talk to each other.
        root: PathBuf,
    },
    /// A mail account on an IMAP server (reading) and an SMTP submission server (sending).
    Server(ServerConfig),
}

/// How a connection to a server is protected.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SecurityConfig {
    /// TLS from the first byte.
    Tls,
    /// STARTTLS, required.
    Starttls,
    /// No encryption: loopback hosts only.
    Plain,
}

impl From<SecurityConfig> for mail::Security {
    fn from(security: SecurityConfig) -> mail::Security {
        match security {
            SecurityConfig::Tls => mail::Security::Tls,
            SecurityConfig::Starttls => mail::Security::StartTls,
            SecurityConfig::Plain => mail::Security::Plain,
        }
    }
}

impl From<mail::Security> for SecurityConfig {
    fn from(security: mail::Security) -> SecurityConfig {
        match security {
            mail::Security::Tls => SecurityConfig::Tls,
            mail::Security::StartTls => SecurityConfig::Starttls,
            mail::Security::Plain => SecurityConfig::Plain,
        }
    }
}

/// One server: host, port and security.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndpointConfig {
    /// Host name or address.
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// How the connection is protected.
    pub security: SecurityConfig,
}

impl EndpointConfig {
    fn endpoint(&self) -> mail::Endpoint {
        mail::Endpoint {
            host: self.host.clone(),
            port: self.port,
            security: self.security.into(),
        }
    }
}

/// The mail server settings of an account. The password is kept in `config.json` (mode 0600,
/// in the 0700 home directory), wiped from memory on drop, and never shown.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerConfig {
    /// The IMAP server.
    pub imap: EndpointConfig,
    /// The SMTP submission server.
    pub smtp: EndpointConfig,
    /// The login name for both.
    pub login: String,
    /// The password for both.
    pub password: String,
    /// A PEM file of extra certificates to trust (a test or company CA).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_ca: Option<PathBuf>,
}

impl Drop for ServerConfig {
    fn drop(&mut self) {
        self.password.zeroize();
    }
}

impl std::fmt::Debug for ServerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerConfig")
            .field("imap", &self.imap)
            .field("smtp", &self.smtp)
            .field("login", &self.login)
            .field("password", &"<redacted>")
            .field("tls_ca", &self.tls_ca)
            .finish()
    }
}

impl ServerConfig {
    /// The carrier's settings for the account `addr`.
    pub fn settings(&self, addr: &str) -> mail::ServerSettings {
        let mut settings = mail::ServerSettings::new(
            addr,
            &self.login,
            Zeroizing::new(self.password.clone()),
            self.imap.endpoint(),
            self.smtp.endpoint(),
        );
        settings.extra_ca = self.tls_ca.clone();
        settings
    }

    /// One line for people: where the mail goes.
    pub fn describe(&self) -> String {
        format!(
            "IMAP {}:{} ({}), SMTP {}:{} ({}), login {}",
            self.imap.host,
            self.imap.port,
            mail::Security::from(self.imap.security),
            self.smtp.host,
            self.smtp.port,
            mail::Security::from(self.smtp.security),
            self.login
        )
    }
}

/// Where a new account's mail goes.
#[derive(Clone, Debug)]
pub enum MailSetup {
    /// The embedded spool at this root (default: [`Home::default_spool`]).
    Spool(Option<PathBuf>),
    /// A mail server; the login is checked before the account is created.
    Server(ServerConfig),
}

/// The carrier of an account: the spool or a mail server.
#[derive(Debug)]
pub enum AnyCarrier {
    /// The embedded spool.
    Spool(Spool),
    /// IMAP + SMTP.
    Server(Box<ServerCarrier>),
}

impl Carrier for AnyCarrier {
    fn send(&mut self, from: &str, recipients: &[String], raw: &[u8]) -> Result<(), SendError> {
        match self {
            AnyCarrier::Spool(c) => c.send(from, recipients, raw),
            AnyCarrier::Server(c) => c.send(from, recipients, raw),
        }
    }

    fn send_batch(
        &mut self,
        from: &str,
        mails: &[(&[String], &[u8])],
    ) -> Vec<Result<(), SendError>> {
        match self {
            AnyCarrier::Spool(c) => c.send_batch(from, mails),
            AnyCarrier::Server(c) => c.send_batch(from, mails),
        }
    }

    fn fetch(&mut self, after: Option<&Cursor>) -> Result<Batch, FetchError> {
        match self {
            AnyCarrier::Spool(c) => c.fetch(after),
            AnyCarrier::Server(c) => c.fetch(after),
        }
    }

    fn delete(&mut self, id: &MailId) -> Result<(), FetchError> {
        match self {
            AnyCarrier::Spool(c) => c.delete(id),
            AnyCarrier::Server(c) => c.delete(id),
        }
    }

    fn delete_all(&mut self, ids: &[MailId]) -> Result<(), FetchError> {
        match self {
            AnyCarrier::Spool(c) => c.delete_all(ids),
            AnyCarrier::Server(c) => c.delete_all(ids),
        }
    }

    fn wait(&mut self, timeout: std::time::Duration) -> Result<(), FetchError> {
        match self {
            AnyCarrier::Spool(c) => c.wait(timeout),
            AnyCarrier::Server(c) => c.wait(timeout),
        }
    }
}

/// A home directory, which may or may not hold an account yet.
#[derive(Clone, Debug)]
pub struct Home {
    dir: PathBuf,
}

/// An opened account: its chat-layer context and configuration.
pub struct Account {
    /// The device's chat layer.
    pub ctx: Context,
    /// The configuration file's contents.
    pub config: Config,
}

impl Home {
    /// The home directory `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Home {
        Home { dir: dir.into() }
    }

    /// The default home: `$OFFRECORD_HOME`, else `$HOME/.offrecord`.
    pub fn default_dir() -> Result<PathBuf, Error> {
        if let Some(dir) = std::env::var_os("OFFRECORD_HOME").filter(|d| !d.is_empty()) {
            return Ok(PathBuf::from(dir));
        }
        std::env::var_os("HOME")
            .filter(|d| !d.is_empty())
            .map(|home| PathBuf::from(home).join(".offrecord"))
            .ok_or(Error::NoHome)
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The database file.
    pub fn db_path(&self) -> PathBuf {
        self.dir.join(DB_FILE)
    }

    /// The configuration file.
    pub fn config_path(&self) -> PathBuf {
        self.dir.join(CONFIG_FILE)
    }

    /// The spool used when `init` is given none: `offrecord-spool` next to the home directory.
    pub fn default_spool(&self) -> PathBuf {
        let absolute = absolute(&self.dir);
        match absolute.parent() {
            Some(parent) => parent.join(DEFAULT_SPOOL_NAME),
            None => absolute.join(DEFAULT_SPOOL_NAME),
        }
    }

    /// Whether an account exists here.
    pub fn has_account(&self) -> bool {
        self.db_path().exists()
    }

    /// Creates a new account (its first device) for `addr`, with its mail on the spool `spool`
    /// (default: [`Home::default_spool`]).
    pub fn init(&self, addr: &str, spool: Option<&Path>) -> Result<Account, Error> {
        self.init_with(addr, MailSetup::Spool(spool.map(Path::to_path_buf)))
    }

    /// Creates a new account (its first device) for `addr`, with its mail on the spool or a
    /// server (whose login is checked first).
    pub fn init_with(&self, addr: &str, setup: MailSetup) -> Result<Account, Error> {
        check_address(addr)?;
        self.create(setup, addr, |db| Context::create(db, addr))
    }

    /// Creates another device of the account `addr` from its secret key (written by
    /// `export-account-key` on a device of it).
    pub fn init_device(
        &self,
        addr: &str,
        account_key: &[u8],
        spool: Option<&Path>,
    ) -> Result<Account, Error> {
        let setup = MailSetup::Spool(spool.map(Path::to_path_buf));
        self.init_device_with(addr, account_key, setup)
    }

    /// Creates another device of the account `addr`, with its mail on the spool or a server.
    pub fn init_device_with(
        &self,
        addr: &str,
        account_key: &[u8],
        setup: MailSetup,
    ) -> Result<Account, Error> {
        check_address(addr)?;
        self.create(setup, addr, |db| {
            Context::create_device(db, addr, account_key)
        })
    }

    fn create(
        &self,
        setup: MailSetup,
        addr: &str,
        make: impl FnOnce(&Path) -> Result<Context, chat::Error>,
    ) -> Result<Account, Error> {
        if self.has_account() {
            return Err(Error::AccountExists {
                home: self.dir.clone(),
            });
        }
        let carrier = match setup {
            MailSetup::Spool(spool) => {
                let root = match spool {
                    Some(root) => root,
                    None => self.default_spool(),
                };
                create_private_dir(&self.dir)?;
                create_private_dir(&root)?;
                let root = fs::canonicalize(&root).map_err(|e| Error::io("open", &root, e))?;
                CarrierConfig::Spool { root }
            }
            MailSetup::Server(mut server) => {
                if let Some(ca) = &server.tls_ca {
                    server.tls_ca =
                        Some(fs::canonicalize(ca).map_err(|e| Error::io("open", ca, e))?);
                }
                let mut carrier = ServerCarrier::open(server.settings(addr))?;
                carrier.check()?;
                create_private_dir(&self.dir)?;
                CarrierConfig::Server(server)
            }
        };
        let config = Config {
            version: 1,
            carrier,
        };
        let db = self.db_path();
        let ctx = match make(&db) {
            Ok(ctx) => ctx,
            Err(e) => {
                // Leave no half-made account behind (an invalid address, say).
                for suffix in ["", "-wal", "-shm", "-journal"] {
                    let mut name = db.clone().into_os_string();
                    name.push(suffix);
                    let _ = fs::remove_file(PathBuf::from(name));
                }
                return Err(e.into());
            }
        };
        restrict(&db)?;
        self.write_config(&config)?;
        Ok(Account { ctx, config })
    }

    /// Opens the account.
    pub fn open(&self) -> Result<Account, Error> {
        if !self.has_account() {
            return Err(Error::NoAccount {
                home: self.dir.clone(),
            });
        }
        let config = self.read_config()?;
        let ctx = Context::open(&self.db_path())?;
        Ok(Account { ctx, config })
    }

    fn read_config(&self) -> Result<Config, Error> {
        let path = self.config_path();
        let text =
            Zeroizing::new(fs::read_to_string(&path).map_err(|e| Error::io("read", &path, e))?);
        let config: Config = serde_json::from_str(&text).map_err(|e| Error::Config {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        if config.version != 1 {
            return Err(Error::Config {
                path,
                reason: format!("version {} is not supported (only 1)", config.version),
            });
        }
        Ok(config)
    }

    fn write_config(&self, config: &Config) -> Result<(), Error> {
        let path = self.config_path();
        let mut text =
            Zeroizing::new(
                serde_json::to_string_pretty(config).map_err(|e| Error::Config {
                    path: path.clone(),
                    reason: e.to_string(),
                })?,
            );
        text.push('\n');
        write_private(&path, text.as_bytes(), true)
    }
}

impl Account {
    /// Opens the account's spool (an error for an account on a mail server).
    pub fn carrier(&self) -> Result<Spool, Error> {
        match &self.config.carrier {
            CarrierConfig::Spool { root } => {
                Spool::open(root, self.ctx.addr()).map_err(|source| Error::Spool {
                    addr: self.ctx.addr().to_owned(),
                    root: root.clone(),
                    source,
                })
            }
            CarrierConfig::Server(_) => Err(Error::InvalidArgument(format!(
                "The account {} uses a mail server, not the spool.",
                self.ctx.addr()
            ))),
        }
    }

    /// Opens the account's carrier, whichever it is. A server carrier connects on first use.
    pub fn open_carrier(&self) -> Result<AnyCarrier, Error> {
        match &self.config.carrier {
            CarrierConfig::Spool { .. } => self.carrier().map(AnyCarrier::Spool),
            CarrierConfig::Server(server) => {
                let carrier = ServerCarrier::open(server.settings(self.ctx.addr()))?;
                Ok(AnyCarrier::Server(Box::new(carrier)))
            }
        }
    }

    /// The spool root, for an account on the spool.
    pub fn spool_root(&self) -> Option<&Path> {
        match &self.config.carrier {
            CarrierConfig::Spool { root } => Some(root),
            CarrierConfig::Server(_) => None,
        }
    }

    /// The server settings, for an account on a mail server.
    pub fn server(&self) -> Option<&ServerConfig> {
        match &self.config.carrier {
            CarrierConfig::Server(server) => Some(server),
            CarrierConfig::Spool { .. } => None,
        }
    }
}

/// Refuses, before anything is created, an address the chat layer or the spool cannot use.
fn check_address(addr: &str) -> Result<(), Error> {
    chat::normalize_addr(addr)?;
    mail::Address::parse(addr).map_err(|e| {
        Error::InvalidArgument(format!(
            "The address {addr} cannot name a mailbox on the spool: {e}."
        ))
    })?;
    Ok(())
}

/// Creates `dir` (and its parents) readable only by the user.
fn create_private_dir(dir: &Path) -> Result<(), Error> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir).map_err(|e| Error::io("create", dir, e))
}

/// Makes an existing file readable only by the user (SQLite creates its WAL and shared-memory
/// files with the database file's permissions).
fn restrict(path: &Path) -> Result<(), Error> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(path, fs::Permissions::from_mode(0o600))
            .map_err(|e| Error::io("protect", path, e))?;
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

/// Writes `bytes` to a new file readable only by the user (mode 0600). With `replace`, an
/// existing file is replaced; otherwise it is an error.
pub fn write_private(path: &Path, bytes: &[u8], replace: bool) -> Result<(), Error> {
    let mut options = fs::OpenOptions::new();
    options.write(true);
    if replace {
        options.create(true).truncate(true);
    } else {
        options.create_new(true);
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .map_err(|e| Error::io("create", path, e))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(|e| Error::io("write", path, e))
}

/// `path` made absolute against the current directory (without resolving links).
fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}
