//! OpenPGP keys: our account's [`Identity`] (secret key) and a contact's [`PeerKey`] (public
//! key).
//!
//! Keys are Autocrypt Level 1 keys as Delta Chat makes them (section 2 of the design: one key
//! per account, shared by its devices): a v4 Ed25519 primary key that certifies and signs,
//! one Cv25519 (ECDH, Curve25519) subkey that encrypts, and the user id `<addr>`. The
//! self-signature advertises SEIPD v1 and v2 (RFC 9580 "Features"), so Delta Chat 2.x peers
//! send us PKESK v6 + SEIPD v2 mail, which [`crate::parse`] reads.

use std::fmt;
use std::io::Cursor;

use pgp::composed::{
    ArmorOptions, Deserializable, KeyType, SignedKeyDetails, SignedPublicKey, SignedPublicSubKey,
    SignedSecretKey, SignedSecretSubKey,
};
use pgp::crypto::ecc_curve::ECCCurve;
use pgp::crypto::hash::HashAlgorithm;
use pgp::crypto::sym::SymmetricKeyAlgorithm;
use pgp::packet::{
    self, Features, KeyFlags, PubKeyInner, SignatureConfig, SignatureType, Subpacket,
    SubpacketData, UserId,
};
use pgp::ser::Serialize;
use pgp::types::{
    CompressionAlgorithm, KeyDetails, KeyId, KeyVersion, PacketHeaderVersion, Password, Tag,
    Timestamp, VerifyingKey,
};
use zeroize::Zeroizing;

use crate::error::OpenPgpError;
use crate::header::is_plain_address;
use crate::rng::Rng06;
use crate::{Fingerprint, KeyError, MAX_KEY_SIZE};

/// Our account's OpenPGP key: the secret key that signs our mail and decrypts mail to us.
///
/// Store it with [`Identity::to_bytes`] (binary) or [`Identity::to_armored`] and load it with
/// [`Identity::from_bytes`]; both give secret key material, wiped from memory when dropped.
/// `Debug` shows only the fingerprint.
///
/// ```
/// use envelope::Identity;
/// use rand_chacha::ChaCha20Rng;
/// use rand_core::SeedableRng;
///
/// let mut rng = ChaCha20Rng::seed_from_u64(1);
/// let alice = Identity::generate("alice@example.org", 1_700_000_000, &mut rng)?;
/// let stored = alice.to_bytes()?;
/// let again = Identity::from_bytes(&stored)?;
/// assert_eq!(again.fingerprint(), alice.fingerprint());
/// assert_eq!(alice.fingerprint().to_hex().len(), 40);
///
/// // What contacts learn from our Autocrypt header:
/// let public = alice.public_key();
/// assert_eq!(public.fingerprint(), alice.fingerprint());
/// # Ok::<(), envelope::KeyError>(())
/// ```
pub struct Identity {
    secret: SignedSecretKey,
    public: PeerKey,
}

impl Identity {
    /// Generates a new Autocrypt key for `addr`: v4 Ed25519 primary key (certify, sign),
    /// Cv25519 encryption subkey, user id `<addr>`, all created at `created` (seconds since
    /// the Unix epoch; also the time of the self-signatures, so no clock is read).
    pub fn generate<R: rand_core::CryptoRng + ?Sized>(
        addr: &str,
        created: u64,
        rng: &mut R,
    ) -> Result<Self, KeyError> {
        if !is_plain_address(addr) {
            return Err(KeyError::BadAddress);
        }
        let created = u32::try_from(created)
            .map(Timestamp::from_secs)
            .map_err(|_| KeyError::TimeOutOfRange { seconds: created })?;
        let secret = generate_key(addr, created, &mut Rng06(rng)).map_err(openpgp)?;
        Self::from_secret_key(secret)
    }

    /// Loads a secret key stored with [`Identity::to_bytes`] or [`Identity::to_armored`]
    /// (binary or ASCII-armored transferable secret key, as Delta Chat exports them too).
    ///
    /// The key must verify (self-signatures), not be password protected, have a
    /// signing-capable primary key and an encryption subkey.
    pub fn from_bytes(data: &[u8]) -> Result<Self, KeyError> {
        if data.len() > MAX_KEY_SIZE {
            return Err(KeyError::TooLarge {
                size: data.len(),
                limit: MAX_KEY_SIZE,
            });
        }
        let (secret, _headers) =
            SignedSecretKey::from_reader_single(Cursor::new(data)).map_err(malformed)?;
        Self::from_secret_key(secret)
    }

    fn from_secret_key(secret: SignedSecretKey) -> Result<Self, KeyError> {
        if secret.primary_key.secret_params().is_encrypted()
            || secret
                .secret_subkeys
                .iter()
                .any(|sub| sub.key.secret_params().is_encrypted())
        {
            return Err(KeyError::PasswordProtected);
        }
        if !secret.primary_key.algorithm().can_sign() {
            return Err(KeyError::Unusable {
                reason: "the primary key cannot sign",
            });
        }
        if !secret
            .secret_subkeys
            .iter()
            .any(|sub| sub.key.algorithm().can_encrypt())
        {
            return Err(KeyError::Unusable {
                reason: "no encryption subkey",
            });
        }
        secret
            .verify_bindings()
            .map_err(|e| KeyError::BadSelfSignature(OpenPgpError::new(e)))?;
        let public = PeerKey::from_public_key(secret.to_public_key())?;
        Ok(Self { secret, public })
    }

    /// The binary transferable secret key, for storage. Secret: wiped when dropped.
    pub fn to_bytes(&self) -> Result<Zeroizing<Vec<u8>>, KeyError> {
        self.secret.to_bytes().map(Zeroizing::new).map_err(openpgp)
    }

    /// The ASCII-armored transferable secret key, for storage or export. Secret: wiped when
    /// dropped.
    pub fn to_armored(&self) -> Result<Zeroizing<String>, KeyError> {
        self.secret
            .to_armored_string(ArmorOptions {
                headers: None,
                include_checksum: true,
            })
            .map(Zeroizing::new)
            .map_err(openpgp)
    }

    /// The primary key fingerprint (what Delta Chat shows for the account).
    pub fn fingerprint(&self) -> &Fingerprint {
        self.public.fingerprint()
    }

    /// Our public key, as contacts see it.
    pub fn public_key(&self) -> PeerKey {
        self.public.clone()
    }

    pub(crate) fn peer_key(&self) -> &PeerKey {
        &self.public
    }

    pub(crate) fn secret_key(&self) -> &SignedSecretKey {
        &self.secret
    }
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Identity")
            .field("fingerprint", self.fingerprint())
            .finish_non_exhaustive()
    }
}

/// A contact's OpenPGP public key (certificate), learned from an Autocrypt header
/// ([`PeerKey::from_autocrypt`], [`crate::AutocryptHeader::parse`]) or imported (binary or
/// armored, [`PeerKey::from_bytes`]). Its self-signatures are verified on import.
///
/// Equality compares the whole certificate; compare [`PeerKey::fingerprint`]s to ask "same
/// key?".
#[derive(Clone, PartialEq)]
pub struct PeerKey {
    key: SignedPublicKey,
    fingerprint: Fingerprint,
}

impl PeerKey {
    /// Imports a transferable public key, binary or ASCII-armored.
    ///
    /// Keys that verified are remembered by their exact bytes (see [`verified`]), so importing
    /// the same bytes again (a contact's stored key for every mail to them, the Autocrypt
    /// header in every mail from them) skips parsing and the self-signature checks.
    pub fn from_bytes(data: &[u8]) -> Result<Self, KeyError> {
        if data.len() > MAX_KEY_SIZE {
            return Err(KeyError::TooLarge {
                size: data.len(),
                limit: MAX_KEY_SIZE,
            });
        }
        if let Some(key) = verified::get(data) {
            return Ok(key);
        }
        let (key, _headers) =
            SignedPublicKey::from_reader_single(Cursor::new(data)).map_err(malformed)?;
        let key = Self::from_public_key(key)?;
        verified::put(data, &key);
        Ok(key)
    }

    /// The key in an `Autocrypt` header value (`addr=...; prefer-encrypt=mutual;
    /// keydata=...`). Use [`crate::AutocryptHeader::parse`] to get `addr` and
    /// `prefer-encrypt` too.
    pub fn from_autocrypt(header_value: &str) -> Result<Self, KeyError> {
        crate::AutocryptHeader::parse(header_value).map(|header| header.key)
    }

    pub(crate) fn from_public_key(key: SignedPublicKey) -> Result<Self, KeyError> {
        key.verify_bindings()
            .map_err(|e| KeyError::BadSelfSignature(OpenPgpError::new(e)))?;
        let fingerprint = Fingerprint::from_pgp(&key.fingerprint());
        Ok(Self { key, fingerprint })
    }

    /// The binary transferable public key (what an Autocrypt header's `keydata` carries).
    pub fn to_bytes(&self) -> Result<Vec<u8>, KeyError> {
        self.key.to_bytes().map_err(openpgp)
    }

    /// The ASCII-armored transferable public key.
    pub fn to_armored(&self) -> Result<String, KeyError> {
        self.key
            .to_armored_string(ArmorOptions {
                headers: None,
                include_checksum: true,
            })
            .map_err(openpgp)
    }

    /// The primary key fingerprint.
    pub fn fingerprint(&self) -> &Fingerprint {
        &self.fingerprint
    }

    /// Whether the key advertises SEIPD v2 (RFC 9580 Features subpacket) in a direct-key or
    /// user id self-signature. Mail to recipients who all do is sent as PKESK v6 + SEIPD v2,
    /// as Delta Chat does.
    pub fn supports_seipd_v2(&self) -> bool {
        self.key
            .details
            .direct_signatures
            .iter()
            .chain(
                self.key
                    .details
                    .users
                    .iter()
                    .flat_map(|user| user.signatures.iter()),
            )
            .any(|sig| sig.features().is_some_and(|f| f.seipd_v2()))
    }

    /// Whether the key has a subkey we can encrypt to at `time` (seconds since the Unix
    /// epoch): encryption-capable algorithm, "encrypt communications" key flag, not expired.
    pub fn can_encrypt_at(&self, time: u64) -> bool {
        self.encryption_subkey(time).is_some()
    }

    /// The subkey to encrypt to, chosen as Delta Chat does (draft-autocrypt-openpgp-v2-cert
    /// section 4.3): usable for communications at `time`, and of several the one that
    /// expires first.
    pub(crate) fn encryption_subkey(&self, time: u64) -> Option<&SignedPublicSubKey> {
        self.key
            .public_subkeys
            .iter()
            .filter(|sub| sub.key.algorithm().can_encrypt())
            .filter_map(|sub| {
                let sig = sub.signatures.first()?;
                if !sig.key_flags().encrypt_comms() {
                    return None;
                }
                let expires = sig
                    .key_expiration_time()
                    .filter(|d| d.as_secs() != 0)
                    .map(|d| u64::from(sub.key.created_at().as_secs()) + u64::from(d.as_secs()));
                match expires {
                    Some(at) if time > at => None,
                    _ => Some((sub, expires.unwrap_or(u64::MAX))),
                }
            })
            .min_by_key(|(_, expires)| *expires)
            .map(|(sub, _)| sub)
    }

    pub(crate) fn public_key(&self) -> &SignedPublicKey {
        &self.key
    }

    /// Whether the primary key or a subkey has this fingerprint.
    pub(crate) fn has_component(&self, fingerprint: &Fingerprint) -> bool {
        &self.fingerprint == fingerprint
            || self
                .key
                .public_subkeys
                .iter()
                .any(|sub| Fingerprint::from_pgp(&sub.key.fingerprint()) == *fingerprint)
    }

    /// The components that may sign data: the primary key and subkeys bound with the "sign"
    /// flag, with their fingerprints and key ids.
    pub(crate) fn signing_components(&self) -> Vec<(Fingerprint, KeyId, &dyn VerifyingKey)> {
        let primary = &self.key.primary_key;
        let mut components: Vec<(Fingerprint, KeyId, &dyn VerifyingKey)> =
            vec![(self.fingerprint.clone(), primary.legacy_key_id(), primary)];
        for sub in &self.key.public_subkeys {
            if sub
                .signatures
                .first()
                .is_some_and(|sig| sig.key_flags().sign())
            {
                components.push((
                    Fingerprint::from_pgp(&sub.key.fingerprint()),
                    sub.key.legacy_key_id(),
                    &sub.key,
                ));
            }
        }
        components
    }
}

impl fmt::Debug for PeerKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PeerKey({})", self.fingerprint)
    }
}

/// The keys [`PeerKey::from_bytes`] verified recently, by their exact input bytes.
///
/// Parsing a key and checking its self-signatures (two or three Ed25519 verifications) is a
/// pure function of its bytes: no clock, no other input. So the result for bytes seen before
/// is the result of checking them again, and this memo changes no outcome, only the time (the
/// chat layer reads a contact's stored key for every mail it sends them, and every mail from
/// them carries the same key in its Autocrypt header). Only keys that verified are kept (a
/// rejected key is checked again, and rejected again); a changed key is different bytes, so
/// it is checked afresh. Public keys only: nothing secret is kept. At most [`CAPACITY`]
/// entries, the oldest replaced first; a poisoned lock just bypasses the memo.
mod verified {
    use std::collections::VecDeque;
    use std::sync::Mutex;

    use super::PeerKey;

    /// How many keys are remembered (a device talks to few contacts at a time).
    pub(super) const CAPACITY: usize = 64;

    type Entries = VecDeque<(Box<[u8]>, PeerKey)>;

    static KEYS: Mutex<Entries> = Mutex::new(VecDeque::new());

    /// The key that these exact bytes verified as, if they did recently.
    pub(super) fn get(bytes: &[u8]) -> Option<PeerKey> {
        let keys = KEYS.lock().ok()?;
        keys.iter()
            .find(|(seen, _)| **seen == *bytes)
            .map(|(_, key)| key.clone())
    }

    /// How many keys are remembered (tests).
    #[cfg(test)]
    pub(super) fn len() -> usize {
        KEYS.lock().map_or(0, |keys| keys.len())
    }

    /// Remembers that `bytes` verified as `key`.
    pub(super) fn put(bytes: &[u8], key: &PeerKey) {
        let Ok(mut keys) = KEYS.lock() else {
            return;
        };
        if keys.iter().any(|(seen, _)| **seen == *bytes) {
            return;
        }
        if keys.len() >= CAPACITY {
            keys.pop_front();
        }
        keys.push_back((bytes.into(), key.clone()));
    }
}

fn malformed(error: pgp::errors::Error) -> KeyError {
    KeyError::Malformed(OpenPgpError::new(error))
}

fn openpgp(error: pgp::errors::Error) -> KeyError {
    KeyError::OpenPgp(OpenPgpError::new(error))
}

/// Builds the key packet by packet so that every timestamp is `created` (rPGP's
/// `SecretKeyParams` stamps self-signatures with the wall clock).
fn generate_key(
    addr: &str,
    created: Timestamp,
    rng: &mut Rng06<'_, impl rand_core::CryptoRng + ?Sized>,
) -> pgp::errors::Result<SignedSecretKey> {
    let no_password = Password::empty();

    // Primary key: Ed25519 (legacy EdDSA encoding, as every v4 Autocrypt key).
    let primary_type = KeyType::Ed25519Legacy;
    let (public_params, secret_params) = primary_type.generate(&mut *rng)?;
    let primary_public = packet::PublicKey::from_inner(PubKeyInner::new(
        KeyVersion::V4,
        primary_type.to_alg(),
        created,
        None,
        public_params,
    )?)?;
    let primary = packet::SecretKey::new(primary_public.clone(), secret_params)?;

    // Encryption subkey: ECDH on Curve25519 (legacy encoding, "Cv25519").
    let sub_type = KeyType::ECDH(ECCCurve::Curve25519Legacy);
    let (public_params, secret_params) = sub_type.generate(&mut *rng)?;
    let sub_public = packet::PublicSubkey::from_inner(PubKeyInner::new(
        KeyVersion::V4,
        sub_type.to_alg(),
        created,
        None,
        public_params,
    )?)?;
    let sub_secret = packet::SecretSubkey::new(sub_public.clone(), secret_params)?;

    let issuer = || -> pgp::errors::Result<(Subpacket, Subpacket)> {
        Ok((
            Subpacket::regular(SubpacketData::IssuerFingerprint(primary.fingerprint()))?,
            Subpacket::regular(SubpacketData::IssuerKeyId(primary.legacy_key_id()))?,
        ))
    };

    // User id `<addr>` with a positive self-certification carrying the key's preferences.
    let user_id = UserId::from_str(PacketHeaderVersion::New, format!("<{addr}>"))?;
    let mut primary_flags = KeyFlags::default();
    primary_flags.set_certify(true);
    primary_flags.set_sign(true);
    let mut features = Features::default();
    features.set_seipd_v1(true);
    features.set_seipd_v2(true);
    let (issuer_fp, issuer_id) = issuer()?;
    let mut config = SignatureConfig::v4(
        SignatureType::CertPositive,
        primary.algorithm(),
        HashAlgorithm::Sha256,
    );
    config.hashed_subpackets = vec![
        Subpacket::regular(SubpacketData::SignatureCreationTime(created))?,
        issuer_fp,
        Subpacket::regular(SubpacketData::KeyFlags(primary_flags))?,
        Subpacket::regular(SubpacketData::Features(features))?,
        Subpacket::regular(SubpacketData::PreferredSymmetricAlgorithms(
            [
                SymmetricKeyAlgorithm::AES256,
                SymmetricKeyAlgorithm::AES192,
                SymmetricKeyAlgorithm::AES128,
            ]
            .into_iter()
            .collect(),
        ))?,
        Subpacket::regular(SubpacketData::PreferredHashAlgorithms(
            [
                HashAlgorithm::Sha256,
                HashAlgorithm::Sha384,
                HashAlgorithm::Sha512,
                HashAlgorithm::Sha224,
            ]
            .into_iter()
            .collect(),
        ))?,
        Subpacket::regular(SubpacketData::PreferredCompressionAlgorithms(
            [CompressionAlgorithm::ZLIB, CompressionAlgorithm::ZIP]
                .into_iter()
                .collect(),
        ))?,
        Subpacket::regular(SubpacketData::IsPrimary(true))?,
    ];
    config.unhashed_subpackets = vec![issuer_id];
    let certification = config.sign_certification(
        &primary,
        &primary_public,
        &no_password,
        Tag::UserId,
        &user_id,
    )?;

    // Subkey binding signature: "encrypt communications and storage".
    let mut sub_flags = KeyFlags::default();
    sub_flags.set_encrypt_comms(true);
    sub_flags.set_encrypt_storage(true);
    let (issuer_fp, issuer_id) = issuer()?;
    let mut config = SignatureConfig::v4(
        SignatureType::SubkeyBinding,
        primary.algorithm(),
        HashAlgorithm::Sha256,
    );
    config.hashed_subpackets = vec![
        Subpacket::regular(SubpacketData::SignatureCreationTime(created))?,
        Subpacket::regular(SubpacketData::KeyFlags(sub_flags))?,
        issuer_fp,
    ];
    config.unhashed_subpackets = vec![issuer_id];
    let binding =
        config.sign_subkey_binding(&primary, &primary_public, &no_password, &sub_public)?;

    Ok(SignedSecretKey {
        primary_key: primary,
        details: SignedKeyDetails {
            revocation_signatures: Vec::new(),
            direct_signatures: Vec::new(),
            users: vec![user_id.into_signed(certification)],
            user_attributes: Vec::new(),
        },
        public_subkeys: Vec::new(),
        secret_subkeys: vec![SignedSecretSubKey {
            key: sub_secret,
            signatures: vec![binding],
        }],
    })
}

#[cfg(test)]
mod tests {
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;

    use super::*;

    fn alice() -> Identity {
        let mut rng = ChaCha20Rng::seed_from_u64(1);
        Identity::generate("alice@example.org", 1_700_000_000, &mut rng).unwrap()
    }

    #[test]
    fn generated_key_has_the_autocrypt_shape() {
        let alice = alice();
        let key = alice.secret_key();
        assert_eq!(key.primary_key.version(), KeyVersion::V4);
        assert_eq!(
            key.primary_key.algorithm(),
            pgp::crypto::public_key::PublicKeyAlgorithm::EdDSALegacy
        );
        assert_eq!(key.secret_subkeys.len(), 1);
        assert_eq!(
            key.secret_subkeys[0].key.algorithm(),
            pgp::crypto::public_key::PublicKeyAlgorithm::ECDH
        );
        assert_eq!(key.details.users.len(), 1);
        assert_eq!(key.details.users[0].id.id(), b"<alice@example.org>");
        assert_eq!(key.primary_key.created_at().as_secs(), 1_700_000_000);
        let public = alice.public_key();
        assert!(public.supports_seipd_v2());
        assert!(public.can_encrypt_at(1_700_000_000));
    }

    #[test]
    fn generation_is_deterministic_with_a_seeded_rng() {
        assert_eq!(alice().fingerprint(), alice().fingerprint());
        assert_eq!(
            alice().to_bytes().unwrap().as_slice(),
            alice().to_bytes().unwrap().as_slice()
        );
    }

    #[test]
    fn armored_and_binary_round_trip() {
        let alice = alice();
        let armored = alice.to_armored().unwrap();
        assert!(armored.starts_with("-----BEGIN PGP PRIVATE KEY BLOCK-----"));
        assert!(!armored.contains("Version:"));
        let again = Identity::from_bytes(armored.as_bytes()).unwrap();
        assert_eq!(again.fingerprint(), alice.fingerprint());

        let public = alice.public_key();
        let from_armor = PeerKey::from_bytes(public.to_armored().unwrap().as_bytes()).unwrap();
        let from_binary = PeerKey::from_bytes(&public.to_bytes().unwrap()).unwrap();
        assert_eq!(from_armor, public);
        assert_eq!(from_binary, public);
    }

    #[test]
    fn a_public_key_is_not_an_identity() {
        let public = alice().public_key().to_bytes().unwrap();
        assert!(matches!(
            Identity::from_bytes(&public),
            Err(KeyError::Malformed(_))
        ));
    }

    #[test]
    fn rejects_bad_input() {
        let mut rng = ChaCha20Rng::seed_from_u64(1);
        assert!(matches!(
            Identity::generate("not an address", 0, &mut rng),
            Err(KeyError::BadAddress)
        ));
        assert!(matches!(
            Identity::generate("a@b.c", u64::from(u32::MAX) + 1, &mut rng),
            Err(KeyError::TimeOutOfRange { .. })
        ));
        assert!(PeerKey::from_bytes(b"garbage").is_err());
        assert!(matches!(
            PeerKey::from_bytes(&vec![0u8; MAX_KEY_SIZE + 1]),
            Err(KeyError::TooLarge { .. })
        ));
    }

    #[test]
    fn remembered_keys_change_no_outcome() {
        let genuine = alice().public_key().to_bytes().unwrap();
        let first = PeerKey::from_bytes(&genuine).unwrap();
        assert!(verified::get(&genuine).is_some());
        assert_eq!(PeerKey::from_bytes(&genuine).unwrap(), first);
        // A copy with a broken binding signature (its last byte) is checked, not recalled.
        let mut forged = genuine.clone();
        let last = forged.last_mut().unwrap();
        *last ^= 1;
        assert!(matches!(
            PeerKey::from_bytes(&forged),
            Err(KeyError::BadSelfSignature(_))
        ));
        assert!(verified::get(&forged).is_none());
        assert!(PeerKey::from_bytes(&forged).is_err());
        // The memo is bounded.
        let mut rng = ChaCha20Rng::seed_from_u64(9);
        for i in 0..verified::CAPACITY + 2 {
            let key = Identity::generate(&format!("k{i}@example.org"), 1_700_000_000, &mut rng)
                .unwrap()
                .public_key()
                .to_bytes()
                .unwrap();
            PeerKey::from_bytes(&key).unwrap();
        }
        assert!(verified::len() <= verified::CAPACITY);
    }

    #[test]
    fn debug_does_not_show_secrets() {
        let text = format!("{:?}", alice());
        assert!(text.starts_with("Identity { fingerprint: Fingerprint("));
    }
}
