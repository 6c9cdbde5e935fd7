//! Base-64 armor (spec "Encoded messages"): the five bytes "?OTR:", the base-64 encoding of the
//! binary message, then ".".
//!
//! We write standard base-64 with padding on one line. On input we are lenient in ways that
//! cost nothing: "?OTR:" may appear anywhere in the text, anything after the terminating "."
//! is ignored, ASCII whitespace inside the base-64 is skipped (mail and some chat networks wrap
//! long lines), padding may be missing, and non-zero trailing bits in the last symbol are
//! accepted. What is *not* tolerated: a missing ".", characters outside the base-64 alphabet,
//! and anything decoding to more than [`MAX_ENCODED_LEN`] bytes.

use base64::Engine as _;
use base64::alphabet;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};

use super::DecodeError;

/// The largest binary message [`dearmor`] and [`super::Message::parse`] accept, in decoded
/// bytes (1 MiB). Real OTR v2/v3 messages are a few hundred bytes plus the user's text.
pub const MAX_ENCODED_LEN: usize = 1 << 20;

/// The marker that opens an armored message.
const PREFIX: &str = "?OTR:";
/// The byte that closes it (never part of the base-64 alphabet).
const TERMINATOR: char = '.';

/// Standard alphabet, padding optional, trailing bits tolerated.
const LENIENT: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

/// Armors a binary message: `"?OTR:" + base64(binary) + "."`.
pub fn armor(binary: &[u8]) -> String {
    let mut out = String::with_capacity(armored_len(binary.len()));
    out.push_str(PREFIX);
    base64_simd::STANDARD.encode_append(binary, &mut out);
    out.push(TERMINATOR);
    out
}

/// The length of the armored form of `binary_len` bytes.
pub(crate) const fn armored_len(binary_len: usize) -> usize {
    PREFIX.len() + binary_len.div_ceil(3) * 4 + 1
}

/// Removes the armor from `text` (a whole "?OTR:...." message) and returns the binary.
///
/// "?OTR:" is searched anywhere in `text`, decoding stops at the first "." after it and text
/// after that is ignored (as libotr does). Whitespace inside the base-64 is skipped and padding
/// is optional. Fails with [`DecodeError::NotArmored`] without "?OTR:",
/// [`DecodeError::MissingTerminator`] without the ".", [`DecodeError::TooLarge`] over
/// [`MAX_ENCODED_LEN`] and [`DecodeError::InvalidBase64`] otherwise.
pub fn dearmor(text: &str) -> Result<Vec<u8>, DecodeError> {
    dearmor_if_armored(text)?.ok_or(DecodeError::NotArmored)
}

/// Like [`dearmor`], but `Ok(None)` for text without "?OTR:".
pub(super) fn dearmor_if_armored(text: &str) -> Result<Option<Vec<u8>>, DecodeError> {
    let Some((_, after)) = text.split_once(PREFIX) else {
        return Ok(None);
    };
    dearmor_after_prefix(after).map(Some)
}

/// Decodes the base-64 that follows "?OTR:" (`after` starts right after the prefix), up to the
/// first ".".
pub(super) fn dearmor_after_prefix(after: &str) -> Result<Vec<u8>, DecodeError> {
    let mut out = Vec::new();
    dearmor_after_prefix_into(after, &mut out)?;
    Ok(out)
}

/// Like [`dearmor_after_prefix`], into `out` (cleared first; its allocation is reused).
pub(super) fn dearmor_after_prefix_into(after: &str, out: &mut Vec<u8>) -> Result<(), DecodeError> {
    let Some(end) = memchr::memchr(TERMINATOR as u8, after.as_bytes()) else {
        return Err(DecodeError::MissingTerminator);
    };
    decode_base64(after.get(..end).unwrap_or_default(), out)
}

/// Decodes base-64 into `out`, skipping ASCII whitespace, after checking the size it announces.
fn decode_base64(text: &str, out: &mut Vec<u8>) -> Result<(), DecodeError> {
    out.clear();
    let bytes = text.as_bytes();
    // The common case, what we and libotr write: one line of canonical, padded base-64 that
    // fits the limit. The strict SIMD decoder refuses anything else (whitespace, missing or
    // misplaced padding, non-zero trailing bits), which goes to the lenient paths below; what
    // it accepts, the lenient decoder would decode to the same bytes.
    if bytes.len() / 4 * 3 <= MAX_ENCODED_LEN {
        if base64_simd::STANDARD.decode_append(bytes, out).is_ok() {
            return Ok(());
        }
        out.clear();
        let trailing_padding = bytes.iter().rev().take_while(|&&b| b == b'=').count();
        if trailing_padding <= 2
            && let Ok(decoded) = LENIENT.decode(bytes)
        {
            *out = decoded;
            return Ok(());
        }
    }
    let is_symbol = |b: &u8| !b.is_ascii_whitespace() && *b != b'=';
    let symbols = bytes.iter().filter(|b| is_symbol(b)).count();
    // Each symbol carries 6 bits; this is exact for well-formed input.
    let len = symbols / 4 * 3 + symbols % 4 * 3 / 4;
    if len > MAX_ENCODED_LEN {
        return Err(DecodeError::TooLarge {
            len,
            limit: MAX_ENCODED_LEN,
        });
    }
    let padding = bytes.iter().filter(|&&b| b == b'=').count();
    if padding > 2 {
        return Err(DecodeError::InvalidBase64);
    }
    let compact: Vec<u8> = bytes
        .iter()
        .copied()
        .filter(|b| !b.is_ascii_whitespace())
        .collect();
    *out = LENIENT
        .decode(compact)
        .map_err(|_| DecodeError::InvalidBase64)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn padding_only_at_the_end() {
        assert_eq!(dearmor("?OTR:AA==AA==."), Err(DecodeError::InvalidBase64));
        assert_eq!(dearmor("?OTR:AA=A."), Err(DecodeError::InvalidBase64));
        assert_eq!(dearmor("?OTR:AA===."), Err(DecodeError::InvalidBase64));
        assert_eq!(dearmor("?OTR:AAM=\n."), Ok(vec![0, 3]));
    }

    #[test]
    fn armor_format() {
        assert_eq!(armor(&[]), "?OTR:.");
        assert_eq!(armor(&[0, 3, 0x0a]), "?OTR:AAMK.");
        assert_eq!(armor(&[0, 3]), "?OTR:AAM=.");
    }

    #[test]
    fn dearmor_is_lenient_where_harmless() {
        assert_eq!(dearmor("?OTR:AAM=.").unwrap(), [0, 3]);
        assert_eq!(dearmor("?OTR:AAM.").unwrap(), [0, 3], "missing padding");
        assert_eq!(
            dearmor("?OTR:AA\r\n M=\t.").unwrap(),
            [0, 3],
            "wrapped lines"
        );
        assert_eq!(
            dearmor("hi ?OTR:AAMK. trailing text").unwrap(),
            [0, 3, 0x0a]
        );
        assert_eq!(dearmor("?OTR:AAN=.").unwrap(), [0, 3], "trailing bits");
    }

    #[test]
    fn dearmor_errors() {
        assert_eq!(dearmor("hello"), Err(DecodeError::NotArmored));
        assert_eq!(dearmor("?OTR:AAMK"), Err(DecodeError::MissingTerminator));
        assert_eq!(dearmor("?OTR:AA_K."), Err(DecodeError::InvalidBase64));
        assert_eq!(dearmor("?OTR:AAMK===."), Err(DecodeError::InvalidBase64));
        assert_eq!(dearmor("?OTR:A."), Err(DecodeError::InvalidBase64));
    }

    #[test]
    fn size_limit_is_exact() {
        let at_limit = armor(&vec![7; MAX_ENCODED_LEN]);
        assert_eq!(dearmor(&at_limit).unwrap().len(), MAX_ENCODED_LEN);
        let over = armor(&vec![7; MAX_ENCODED_LEN + 1]);
        assert_eq!(
            dearmor(&over),
            Err(DecodeError::TooLarge {
                len: MAX_ENCODED_LEN + 1,
                limit: MAX_ENCODED_LEN
            })
        );
    }

    proptest! {
        #[test]
        fn armor_matches_the_reference_encoder(
            binary in proptest::collection::vec(any::<u8>(), 0..2000),
        ) {
            let text = armor(&binary);
            let want = format!("?OTR:{}.", base64::engine::general_purpose::STANDARD.encode(&binary));
            prop_assert_eq!(&text, &want);
            prop_assert_eq!(text.len(), armored_len(binary.len()));
        }

        #[test]
        fn strict_and_lenient_decoders_agree(text in "[A-Za-z0-9+/]{0,200}={0,3}") {
            let strict = base64_simd::STANDARD.decode_to_vec(text.as_bytes());
            if let Ok(strict) = strict {
                prop_assert_eq!(LENIENT.decode(text.as_bytes()).ok(), Some(strict));
            }
        }

        #[test]
        fn round_trip(binary in proptest::collection::vec(any::<u8>(), 0..600)) {
            let text = armor(&binary);
            prop_assert_eq!(dearmor(&text)?, binary.clone());
            // Wrapped at 60 columns, as the spec's examples are.
            let wrapped: Vec<String> = text
                .as_bytes()
                .chunks(60)
                .map(|c| String::from_utf8(c.to_vec()).unwrap())
                .collect();
            prop_assert_eq!(dearmor(&wrapped.join("\n"))?, binary);
        }

        #[test]
        fn dearmor_never_panics(text in "\\PC*") {
            let _ = dearmor(&text);
            let _ = dearmor(&format!("?OTR:{text}"));
        }
    }
}
