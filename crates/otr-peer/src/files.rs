//! Files that hold secrets (the saved endpoint state, libotr key files): written readable by
//! the owner only, and replaced atomically so that a crash never leaves half a file.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

/// Writes `contents` to `path` (mode 0600 on Unix) through a temporary file in the same
/// directory that is then renamed over `path`.
pub fn write_private(path: &Path, contents: &[u8]) -> io::Result<()> {
    let temp = temp_path(path);
    let result = write_new(&temp, contents).and_then(|()| fs::rename(&temp, path));
    if result.is_err() {
        let _ = fs::remove_file(&temp);
    }
    result
}

/// Reads a file that holds secrets; the buffer is wiped when dropped.
pub fn read_private(path: &Path) -> io::Result<Zeroizing<Vec<u8>>> {
    fs::read(path).map(Zeroizing::new)
}

fn write_new(path: &Path, contents: &[u8]) -> io::Result<()> {
    let mut options = OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(contents)?;
    file.sync_all()
}

/// `<path>.tmp-<pid>`, beside `path`.
fn temp_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".tmp-{}", std::process::id()));
    path.with_file_name(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_mode() {
        let dir = std::env::temp_dir().join(format!("otr-peer-files-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("state");
        write_private(&path, b"one").unwrap();
        write_private(&path, b"two").unwrap();
        assert_eq!(read_private(&path).unwrap().as_slice(), b"two");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert!(write_private(&dir.join("missing/state"), b"x").is_err());
        fs::remove_dir_all(&dir).unwrap();
    }
}
