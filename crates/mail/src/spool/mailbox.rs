//! One spool mailbox on disk.
//!
//! ```text
//! <root>/<address>/            0700, created on first open or delivery
//!     tmp/<now>.<pid>.<n>      a delivery being written (0600)
//!     new/<stamp>              delivered mails, 20-digit stamps (0600)
//!     lock                     flock(2): exclusive to deliver, shared to list
//!     last                     the last stamp given out (so stamps never go back)
//!     validity                 16 hex digits, made when the mailbox is created
//! ```
//!
//! Why the lock: a reader's cursor says "I have seen everything up to stamp S". That is only true
//! if no mail with a stamp at or below S can appear in `new/` after the reader listed it. So a
//! delivery picks its stamp (above `last` and above the clock) and renames its file into `new/`
//! while holding the exclusive lock, and a reader lists `new/` under the shared lock: every
//! listing sees a prefix of the stamp order, whatever processes deliver at the same instant.
//! The slow part of a delivery (writing and syncing the file in `tmp/`) happens before taking
//! the lock.
//!
//! A batch ([`Mailbox::deliver_all`]) writes every mail to `tmp/` first, then syncs each file,
//! then takes the lock once, gives the mails consecutive stamps, writes `last` once, renames
//! them all and syncs `new/` once (the files' syncs run side by side, see `parallel.rs`). Each mail is still on disk, contents and name, before the
//! batch returns `Ok` for it; what the batch saves is a lock, a `last` replacement and a
//! directory sync per mail (and the device gets the writes together, not one round trip each).

use std::fs::{self, DirBuilder, File, OpenOptions};
use std::hash::{BuildHasher, RandomState};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use super::stamp::Stamp;
use crate::address::Address;
use crate::error::{IoError, SkipReason};

const NEW: &str = "new";
const TMP: &str = "tmp";
const LOCK: &str = "lock";
const LAST: &str = "last";
const VALIDITY: &str = "validity";

/// Files left in `tmp/` by a crashed delivery are removed after this long (the maildir rule).
const STALE_TMP_AGE: Duration = Duration::from_secs(36 * 60 * 60);

/// Makes temporary file names unique between threads of one process (the pid separates
/// processes).
static TMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// One mailbox directory.
#[derive(Debug, Clone)]
pub(crate) struct Mailbox {
    dir: PathBuf,
}

/// The result of reading one mail.
pub(crate) enum ReadOutcome {
    /// Its bytes.
    Mail(Vec<u8>),
    /// It was deleted since the listing (by another device): not an error.
    Gone,
    /// It cannot be returned.
    Skipped(SkipReason),
}

#[derive(Clone, Copy)]
enum LockMode {
    Shared,
    Exclusive,
}

impl Mailbox {
    /// The mailbox of `address` under `root`. Touches nothing on disk.
    pub(crate) fn new(root: &Path, address: &Address) -> Mailbox {
        // `Address` is exactly one normal path component, so this stays directly under `root`.
        Mailbox {
            dir: root.join(address.as_str()),
        }
    }

    /// Creates the mailbox directories (and the root) if missing.
    pub(crate) fn ensure(&self) -> Result<(), IoError> {
        for sub in [NEW, TMP] {
            let path = self.dir.join(sub);
            private_dir_builder()
                .create(&path)
                .map_err(|e| IoError::new("create directory", &path, e))?;
        }
        Ok(())
    }

    /// Delivers `raw`: written and synced to `tmp/`, then renamed into `new/` under the next
    /// stamp. Returns the stamp.
    pub(crate) fn deliver(&self, raw: &[u8]) -> Result<Stamp, IoError> {
        self.deliver_all(&[raw])
            .pop()
            .unwrap_or_else(|| Err(exhausted(&self.dir)))
    }

    /// Delivers every mail of `raws`, in this order (consecutive stamps): each is written to
    /// `tmp/`, then all are synced, then renamed into `new/` under one lock, and `new/` is
    /// synced once. One result per mail: `Ok` only once the mail and its name are durable.
    pub(crate) fn deliver_all(&self, raws: &[&[u8]]) -> Vec<Result<Stamp, IoError>> {
        if let Err(e) = self.ensure() {
            return raws.iter().map(|_| Err(copy_error(&e))).collect();
        }
        // Write all before syncing any, then sync them side by side (see `parallel.rs`).
        let written: Vec<_> = raws.iter().map(|raw| self.create_tmp(raw)).collect();
        let syncs = super::parallel::map(&written, |made| match made {
            Ok((_, file)) => Some(file.sync_all()),
            Err(_) => None,
        });
        let synced = written
            .into_iter()
            .zip(syncs)
            .map(|(made, sync)| {
                let (path, file) = made?;
                match sync {
                    Some(Ok(())) => Ok(path),
                    Some(Err(e)) => {
                        drop(file);
                        let _ = fs::remove_file(&path);
                        Err(IoError::new("write", &path, e))
                    }
                    None => Err(IoError::new("sync", &path, io::Error::other("not synced"))),
                }
            })
            .collect();
        self.publish(synced)
    }

    /// Lists the stamps in `new/`, sorted, under the shared lock (see the module docs). Names
    /// that are not stamps are ignored: they have no place in the delivery order.
    pub(crate) fn list(&self) -> Result<Vec<Stamp>, IoError> {
        let _lock = self.lock(LockMode::Shared)?;
        let mut stamps = self.scan()?;
        stamps.sort_unstable();
        Ok(stamps)
    }

    /// The largest stamp in `new/`, without the lock (a hint for waiting).
    pub(crate) fn newest(&self) -> Result<Option<Stamp>, IoError> {
        Ok(self.scan()?.into_iter().max())
    }

    /// Reads the mail `stamp`, refusing anything larger than `limit` bytes and anything that is
    /// not a regular file (a symbolic link is not followed).
    pub(crate) fn read(&self, stamp: Stamp, limit: u64) -> ReadOutcome {
        let path = self.mail_path(stamp);
        let metadata = match fs::symlink_metadata(&path) {
            Ok(m) => m,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return ReadOutcome::Gone,
            Err(e) => return ReadOutcome::Skipped(SkipReason::Unreadable(e)),
        };
        if !metadata.is_file() {
            return ReadOutcome::Skipped(SkipReason::NotAFile);
        }
        if metadata.len() > limit {
            return ReadOutcome::Skipped(SkipReason::TooLarge {
                size: metadata.len(),
                limit,
            });
        }
        let file = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return ReadOutcome::Gone,
            Err(e) => return ReadOutcome::Skipped(SkipReason::Unreadable(e)),
        };
        // The size check above is advisory (the file could be replaced); this one is binding.
        let mut raw = Vec::with_capacity(usize::try_from(metadata.len()).unwrap_or(0));
        match file.take(limit.saturating_add(1)).read_to_end(&mut raw) {
            Ok(_) => {}
            Err(e) => return ReadOutcome::Skipped(SkipReason::Unreadable(e)),
        }
        let size = u64::try_from(raw.len()).unwrap_or(u64::MAX);
        if size > limit {
            return ReadOutcome::Skipped(SkipReason::TooLarge { size, limit });
        }
        ReadOutcome::Mail(raw)
    }

    /// Deletes the mail `stamp`; already gone is fine.
    pub(crate) fn delete(&self, stamp: Stamp) -> Result<(), IoError> {
        let path = self.mail_path(stamp);
        match fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(IoError::new("delete", &path, e)),
        }
    }

    /// The mailbox's validity, made (under the exclusive lock) if missing or unreadable.
    ///
    /// A new validity tells every cursor holder that its position means nothing any more, so
    /// it starts from the beginning: the safe direction (a repeat, never a loss).
    pub(crate) fn validity(&self) -> Result<u64, IoError> {
        if let Some(validity) = self.read_validity()? {
            return Ok(validity);
        }
        let _lock = self.lock(LockMode::Exclusive)?;
        if let Some(validity) = self.read_validity()? {
            return Ok(validity);
        }
        let validity = fresh_validity();
        self.replace_small_file(VALIDITY, &format!("{validity:016x}"))?;
        Ok(validity)
    }

    /// Removes files in `tmp/` older than [`STALE_TMP_AGE`]; best effort, errors are ignored.
    pub(crate) fn remove_stale_tmp(&self) {
        let Ok(entries) = fs::read_dir(self.dir.join(TMP)) else {
            return;
        };
        let now = SystemTime::now();
        for entry in entries.flatten() {
            let stale = entry
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|modified| now.duration_since(modified).ok())
                .is_some_and(|age| age > STALE_TMP_AGE);
            if stale {
                let _ = fs::remove_file(entry.path());
            }
        }
    }

    fn mail_path(&self, stamp: Stamp) -> PathBuf {
        self.dir.join(NEW).join(stamp.to_string())
    }

    /// The stamps in `new/`, unsorted, without locking.
    fn scan(&self) -> Result<Vec<Stamp>, IoError> {
        let dir = self.dir.join(NEW);
        let entries = fs::read_dir(&dir).map_err(|e| IoError::new("list", &dir, e))?;
        let mut stamps = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| IoError::new("list", &dir, e))?;
            if let Some(stamp) = entry.file_name().to_str().and_then(Stamp::parse) {
                stamps.push(stamp);
            }
        }
        Ok(stamps)
    }

    /// Opens and locks the lock file; the lock is released when the returned file is dropped.
    fn lock(&self, mode: LockMode) -> Result<File, IoError> {
        let path = self.dir.join(LOCK);
        let file = private_file_options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| IoError::new("open lock file", &path, e))?;
        match mode {
            LockMode::Shared => file.lock_shared(),
            LockMode::Exclusive => file.lock(),
        }
        .map_err(|e| IoError::new("lock", &path, e))?;
        Ok(file)
    }

    /// Writes `raw` to a new file in `tmp/`, not synced yet; returns it still open.
    fn create_tmp(&self, raw: &[u8]) -> Result<(PathBuf, File), IoError> {
        let tmp_dir = self.dir.join(TMP);
        let mut attempts = 0;
        loop {
            let n = TMP_COUNTER.fetch_add(1, Ordering::Relaxed);
            let path = tmp_dir.join(format!("{}.{}.{n}", Stamp::now(), std::process::id()));
            let mut file = match private_file_options()
                .write(true)
                .create_new(true)
                .open(&path)
            {
                Ok(file) => file,
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists && attempts < 16 => {
                    attempts += 1;
                    continue;
                }
                Err(e) => return Err(IoError::new("create", &path, e)),
            };
            if let Err(e) = file.write_all(raw) {
                drop(file);
                let _ = fs::remove_file(&path);
                return Err(IoError::new("write", &path, e));
            }
            return Ok((path, file));
        }
    }

    /// Gives each synced file in `tmp/` the next stamp, in order, and renames it into `new/`,
    /// all under the exclusive lock, then syncs `new/` once. Entries that are already errors
    /// stay errors (and take no stamp). A file that does not make it into `new/` is removed.
    fn publish(&self, tmps: Vec<Result<PathBuf, IoError>>) -> Vec<Result<Stamp, IoError>> {
        let ready: Vec<&PathBuf> = tmps.iter().filter_map(|t| t.as_ref().ok()).collect();
        let published = if ready.is_empty() {
            Vec::new()
        } else {
            match self.lock(LockMode::Exclusive) {
                Ok(lock) => {
                    let published = self.rename_all(&ready);
                    drop(lock);
                    published
                }
                Err(e) => ready.iter().map(|_| Err(copy_error(&e))).collect(),
            }
        };
        let mut published = published.into_iter();
        tmps.into_iter()
            .map(|tmp| {
                let tmp = tmp?;
                let result = published
                    .next()
                    .unwrap_or_else(|| Err(exhausted(&self.dir.join(LAST))));
                if result.is_err() {
                    // Best effort: a leftover is removed by `remove_stale_tmp` later.
                    let _ = fs::remove_file(&tmp);
                }
                result
            })
            .collect()
    }

    /// The part of [`Mailbox::publish`] under the exclusive lock: one result per file.
    fn rename_all(&self, tmps: &[&PathBuf]) -> Vec<Result<Stamp, IoError>> {
        let fail_all = |e: &IoError| tmps.iter().map(|_| Err(copy_error(e))).collect();
        // Stamps first, all of them, so that `last` is written once, before any rename.
        let mut next = match self.next_stamp() {
            Ok(stamp) => Some(stamp),
            Err(e) => return fail_all(&e),
        };
        let mut planned = Vec::with_capacity(tmps.len());
        for _ in tmps {
            // `last` keeps stamps above every published one; this loop only guards against a
            // `last` file someone lowered by hand.
            let mut stamp = next;
            while let Some(s) = stamp
                && fs::symlink_metadata(self.mail_path(s)).is_ok()
            {
                stamp = s.next();
            }
            planned.push(stamp);
            next = stamp.and_then(Stamp::next);
        }
        let last = self.dir.join(LAST);
        let Some(highest) = planned.iter().flatten().max().copied() else {
            return fail_all(&exhausted(&last));
        };
        // `last` first: should we die before the renames, stamps are wasted, never reused.
        if let Err(e) = self.replace_small_file(LAST, &highest.to_string()) {
            return fail_all(&e);
        }
        let mut renamed: Vec<Result<Stamp, IoError>> = tmps
            .iter()
            .zip(planned)
            .map(|(tmp, stamp)| {
                let stamp = stamp.ok_or_else(|| exhausted(&last))?;
                let target = self.mail_path(stamp);
                fs::rename(tmp, &target).map_err(|e| IoError::new("rename into", &target, e))?;
                Ok(stamp)
            })
            .collect();
        // One directory sync makes every rename above durable.
        let new_dir = self.dir.join(NEW);
        if renamed.iter().any(Result::is_ok)
            && let Err(e) = File::open(&new_dir).and_then(|dir| dir.sync_all())
        {
            let e = IoError::new("sync", &new_dir, e);
            for result in &mut renamed {
                if result.is_ok() {
                    *result = Err(copy_error(&e));
                }
            }
        }
        renamed
    }

    /// The stamp for the next delivery: above the clock's "now" and above every stamp given
    /// out before. Called under the exclusive lock.
    fn next_stamp(&self) -> Result<Stamp, IoError> {
        let last = match self
            .read_small_file(LAST)?
            .as_deref()
            .and_then(Stamp::parse)
        {
            Some(last) => Some(last),
            // No (readable) `last`: a mailbox made by hand, or a crash while replacing it.
            None => self.scan()?.into_iter().max(),
        };
        match last {
            None => Ok(Stamp::now()),
            Some(last) => {
                let after = last.next().ok_or_else(|| exhausted(&self.dir.join(LAST)))?;
                Ok(after.max(Stamp::now()))
            }
        }
    }

    fn read_validity(&self) -> Result<Option<u64>, IoError> {
        Ok(self.read_small_file(VALIDITY)?.and_then(|text| {
            let hex = text.len() == 16
                && text
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
            if hex {
                u64::from_str_radix(&text, 16).ok()
            } else {
                None
            }
        }))
    }

    /// Reads a small bookkeeping file: `None` if it is missing or not short UTF-8 text (the
    /// caller rebuilds it).
    fn read_small_file(&self, name: &str) -> Result<Option<String>, IoError> {
        const MAX: u64 = 64;
        let path = self.dir.join(name);
        let file = match File::open(&path) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(IoError::new("open", &path, e)),
        };
        let mut bytes = Vec::new();
        file.take(MAX + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| IoError::new("read", &path, e))?;
        if bytes.len() > MAX as usize {
            return Ok(None);
        }
        Ok(String::from_utf8(bytes).ok())
    }

    /// Replaces a small bookkeeping file atomically (write `<name>.tmp`, rename). Called under
    /// the exclusive lock, so the fixed temporary name cannot clash.
    fn replace_small_file(&self, name: &str, content: &str) -> Result<(), IoError> {
        let path = self.dir.join(name);
        let tmp = self.dir.join(format!("{name}.tmp"));
        private_file_options()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)
            .and_then(|mut file| file.write_all(content.as_bytes()))
            .map_err(|e| IoError::new("write", &tmp, e))?;
        fs::rename(&tmp, &path).map_err(|e| IoError::new("rename into", &path, e))
    }
}

/// The same failure again, for every mail of a batch it stopped.
fn copy_error(e: &IoError) -> IoError {
    let source = e.io_error();
    IoError::new(
        e.action(),
        e.path(),
        io::Error::new(source.kind(), source.to_string()),
    )
}

fn exhausted(path: &Path) -> IoError {
    IoError::new(
        "give out a stamp after",
        path,
        io::Error::other("stamp space exhausted"),
    )
}

/// A validity unlike any earlier one of this mailbox: the clock, mixed with the process's
/// random hashing keys so two mailboxes created at the same instant differ too.
fn fresh_validity() -> u64 {
    let clock = Stamp::now().to_string();
    RandomState::new().hash_one((clock, std::process::id()))
}

fn private_dir_builder() -> DirBuilder {
    let mut builder = DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder
}

fn private_file_options() -> OpenOptions {
    #[cfg_attr(not(unix), allow(unused_mut))]
    let mut options = OpenOptions::new();
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options
}
