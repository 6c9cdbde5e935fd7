//! The long-term key: from a libotr private-key file (generated and written there when the file
//! has none for the account), and the fingerprint as libotr shows it.

use std::io;
use std::path::{Path, PathBuf};

use offrecord_crypto::CryptoError;
use offrecord_crypto::dsa::DsaPrivateKey;
use otr::keyfile::{self, KeyFileError, PrivateKeyEntry};
use rand_core::CryptoRng;
use zeroize::Zeroizing;

use crate::files;
use crate::peer::Account;

/// Why the key could not be taken from, or stored in, a key file.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The file exists but could not be read.
    #[error("cannot read key file {}: {source}", path.display())]
    Read {
        /// The key file.
        path: PathBuf,
        /// What the OS said.
        source: io::Error,
    },
    /// The file is not a libotr private-key file.
    #[error("cannot read key file {}: {source}", path.display())]
    Parse {
        /// The key file.
        path: PathBuf,
        /// What is wrong with it.
        source: KeyFileError,
    },
    /// The file's entry for the account is not a valid DSA key.
    #[error("the key for {account}/{protocol} in {} is invalid: {source}", path.display())]
    InvalidKey {
        /// The key file.
        path: PathBuf,
        /// The account of the entry.
        account: String,
        /// The protocol of the entry.
        protocol: String,
        /// Why the key was refused.
        source: CryptoError,
    },
    /// The file could not be written with the new key.
    #[error("cannot write key file {}: {source}", path.display())]
    Write {
        /// The key file.
        path: PathBuf,
        /// What the OS said.
        source: io::Error,
    },
}

/// The key of `account` in the libotr private-key file at `path`. If the file does not exist
/// or holds no key for the account, a key is generated and the file (re)written with every key
/// it held plus the new one, as libotr does.
pub fn load_or_create<R: CryptoRng + ?Sized>(
    path: &Path,
    account: &Account,
    rng: &mut R,
) -> Result<DsaPrivateKey, KeyError> {
    let mut entries = read_entries(path)?;
    let found = entries
        .iter()
        .find(|e| e.account == account.name && e.protocol == account.protocol);
    if let Some(entry) = found {
        return entry
            .to_dsa_private_key()
            .map_err(|source| KeyError::InvalidKey {
                path: path.to_owned(),
                account: entry.account.clone(),
                protocol: entry.protocol.clone(),
                source,
            });
    }
    let key = DsaPrivateKey::generate(rng);
    entries.push(PrivateKeyEntry::from_dsa_private_key(
        &account.name,
        &account.protocol,
        &key,
    ));
    let text = Zeroizing::new(keyfile::write_private_keys(&entries));
    files::write_private(path, text.as_bytes()).map_err(|source| KeyError::Write {
        path: path.to_owned(),
        source,
    })?;
    Ok(key)
}

/// Every entry of the key file; none if it does not exist or is empty.
fn read_entries(path: &Path) -> Result<Vec<PrivateKeyEntry>, KeyError> {
    let bytes = match files::read_private(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(KeyError::Read {
                path: path.to_owned(),
                source,
            });
        }
    };
    // libotr refuses an empty file; there is nothing in it to lose, so take it as no keys.
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Vec::new());
    }
    // Bytes, not text: libotr's file is not always UTF-8 (see `keyfile::parse_private_keys`).
    keyfile::parse_private_keys(&bytes).map_err(|source| KeyError::Parse {
        path: path.to_owned(),
        source,
    })
}

/// A fingerprint as libotr shows it (`otrl_privkey_hash_to_human`): 40 uppercase hex digits in
/// five groups of eight separated by spaces.
pub fn human_fingerprint(fingerprint: &[u8; 20]) -> String {
    fingerprint
        .chunks(4)
        .map(hex::encode_upper)
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;

    use super::*;

    #[test]
    fn human_form_is_libotrs() {
        let fp: [u8; 20] = core::array::from_fn(|i| u8::try_from(i * 13).unwrap());
        let human = human_fingerprint(&fp);
        assert_eq!(human, "000D1A27 34414E5B 6875828F 9CA9B6C3 D0DDEAF7");
        assert_eq!(human.len(), 44);
    }

    #[test]
    fn key_file_is_created_extended_and_reused() {
        let dir = std::env::temp_dir().join(format!("otr-peer-keys-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("otr.private_key");
        let _ = std::fs::remove_file(&path);
        let mut rng = ChaCha20Rng::seed_from_u64(3);
        let alice = Account {
            name: "alice".into(),
            protocol: "prpl-test".into(),
        };
        let bob = Account {
            name: "bob".into(),
            protocol: "prpl-test".into(),
        };
        let made = load_or_create(&path, &alice, &mut rng).unwrap();
        let other = load_or_create(&path, &bob, &mut rng).unwrap();
        let again = load_or_create(&path, &alice, &mut rng).unwrap();
        assert_eq!(made.public_key(), again.public_key());
        assert_ne!(made.public_key(), other.public_key());
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(keyfile::parse_private_keys(&text).unwrap().len(), 2);

        std::fs::write(&path, "(privkeys (account").unwrap();
        let err = load_or_create(&path, &alice, &mut rng).unwrap_err();
        assert!(matches!(err, KeyError::Parse { .. }), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
