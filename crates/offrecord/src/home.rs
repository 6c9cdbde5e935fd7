//! The home directory of one account (one device): `account.db` (the chat layer's database)
//! and `config.json` (which carrier moves the mail: for now the embedded spool and its root).
//!
//! ```text
//! <home>/                 0700
//!   account.db            the device database (keys, contacts, chats, outbox)
//!   config.json           {"version": 1, "carrier": {"kind": "spool", "root": "/abs/spool"}}
//! ```
//!
//! The default home is `$OFFRECORD_HOME`, else `~/.offrecord`. The default spool is the
//! directory `offrecord-spool` next to the home directory (`~/offrecord-spool` for the default
//! home), so accounts whose homes share a parent directory share a spool without options.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use chat::Context;
use mail::Spool;
use serde::{Deserialize, Serialize};

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
        check_address(addr)?;
        self.create(spool, |db| Context::create(db, addr))
    }

    /// Creates another device of the account `addr` from its secret key (written by
    /// `export-account-key` on a device of it).
    pub fn init_device(
        &self,
        addr: &str,
        account_key: &[u8],
        spool: Option<&Path>,
    ) -> Result<Account, Error> {
        check_address(addr)?;
        self.create(spool, |db| Context::create_device(db, addr, account_key))
    }

    fn create(
        &self,
        spool: Option<&Path>,
        make: impl FnOnce(&Path) -> Result<Context, chat::Error>,
    ) -> Result<Account, Error> {
        if self.has_account() {
            return Err(Error::AccountExists {
                home: self.dir.clone(),
            });
        }
        let root = match spool {
            Some(root) => root.to_path_buf(),
            None => self.default_spool(),
        };
        create_private_dir(&self.dir)?;
        create_private_dir(&root)?;
        let root = fs::canonicalize(&root).map_err(|e| Error::io("open", &root, e))?;
        let config = Config {
            version: 1,
            carrier: CarrierConfig::Spool { root },
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
        let text = fs::read_to_string(&path).map_err(|e| Error::io("read", &path, e))?;
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
        let mut text = serde_json::to_string_pretty(config).map_err(|e| Error::Config {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        text.push('\n');
        write_private(&path, text.as_bytes(), true)
    }
}

impl Account {
    /// Opens the account's carrier.
    pub fn carrier(&self) -> Result<Spool, Error> {
        match &self.config.carrier {
            CarrierConfig::Spool { root } => {
                Spool::open(root, self.ctx.addr()).map_err(|source| Error::Spool {
                    addr: self.ctx.addr().to_owned(),
                    root: root.clone(),
                    source,
                })
            }
        }
    }

    /// The spool root.
    pub fn spool_root(&self) -> &Path {
        match &self.config.carrier {
            CarrierConfig::Spool { root } => root,
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
