//! Tagged plaintext messages (spec "Unencoded messages" / "Tagged plaintext messages").
//!
//! A 16-byte base tag of spaces and tabs, anywhere in a plaintext message, followed by 8-byte
//! version tags, announces that the sender is willing to use OTR. The receiver removes the tag
//! before showing the text.
//!
//! We write the base tag followed by the version-1 tag first (the spec requires it to come
//! before the others, if present), then v2, then v3. On input we accept zero or more version
//! tags after the base tag (libotr does too, the spec says "one or more") and also consume the
//! OTRv4 version tag (from the OTRv4 draft) so that it does not remain in the displayed text;
//! it is not reported because [`Versions`] has no v4. Any other 8 bytes end the tag.

use super::Versions;

/// The base tag: "\x20\x09\x20\x20\x09\x09\x09\x09" "\x20\x09\x20\x09\x20\x09\x20\x20".
const BASE: &str = " \t  \t\t\t\t \t \t \t  ";
/// Version 1 tag.
const V1: &str = " \t \t  \t ";
/// Version 2 tag.
const V2: &str = "  \t\t  \t ";
/// Version 3 tag.
const V3: &str = "  \t\t  \t\t";
/// Version 4 tag (OTRv4 draft, "Whitespace Tags").
const V4: &str = "  \t\t \t  ";

/// The whitespace tag offering `versions`: the 16-byte base tag, then one 8-byte tag per
/// offered version (v1 first if present, then v2, then v3).
pub fn whitespace_tag(versions: Versions) -> String {
    let mut out = String::from(BASE);
    for (offered, tag) in [(versions.v1, V1), (versions.v2, V2), (versions.v3, V3)] {
        if offered {
            out.push_str(tag);
        }
    }
    out
}

/// If `text` carries a whitespace tag: the text with the (first) tag removed, and the versions
/// it offers.
pub(super) fn strip(text: &str) -> Option<(String, Versions)> {
    let (before, mut after) = text.split_once(BASE)?;
    let mut versions = Versions::default();
    loop {
        if let Some(rest) = after.strip_prefix(V1) {
            versions.v1 = true;
            after = rest;
        } else if let Some(rest) = after.strip_prefix(V2) {
            versions.v2 = true;
            after = rest;
        } else if let Some(rest) = after.strip_prefix(V3) {
            versions.v3 = true;
            after = rest;
        } else if let Some(rest) = after.strip_prefix(V4) {
            after = rest;
        } else {
            break;
        }
    }
    Some((format!("{before}{after}"), versions))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn versions(v1: bool, v2: bool, v3: bool) -> Versions {
        Versions { v1, v2, v3 }
    }

    #[test]
    fn tag_bytes_follow_the_spec() {
        let tag = whitespace_tag(versions(true, true, true));
        let mut expected =
            b"\x20\x09\x20\x20\x09\x09\x09\x09\x20\x09\x20\x09\x20\x09\x20\x20".to_vec();
        expected.extend_from_slice(b"\x20\x09\x20\x09\x20\x20\x09\x20");
        expected.extend_from_slice(b"\x20\x20\x09\x09\x20\x20\x09\x20");
        expected.extend_from_slice(b"\x20\x20\x09\x09\x20\x20\x09\x09");
        assert_eq!(tag.as_bytes(), expected);
        assert_eq!(whitespace_tag(versions(false, true, true)).len(), 32);
        assert_eq!(V4.as_bytes(), b"\x20\x20\x09\x09\x20\x09\x20\x20");
    }

    #[test]
    fn tag_in_the_middle_is_removed() {
        let text = format!(
            "Hello{}, how are you?",
            whitespace_tag(versions(false, true, true))
        );
        assert_eq!(
            strip(&text),
            Some((
                "Hello, how are you?".to_owned(),
                versions(false, true, true)
            ))
        );
    }

    #[test]
    fn tag_at_the_end_and_text_indentation_survives() {
        let text = format!("Hi{}", whitespace_tag(versions(false, false, true)));
        assert_eq!(
            strip(&text),
            Some(("Hi".to_owned(), versions(false, false, true)))
        );
        // Ordinary whitespace after the tag is not a version tag and stays.
        let text = format!("a{}        b", whitespace_tag(versions(false, true, false)));
        assert_eq!(
            strip(&text),
            Some(("a        b".to_owned(), versions(false, true, false)))
        );
    }

    #[test]
    fn bare_base_tag_and_v4_tag() {
        assert_eq!(
            strip(&format!("x{BASE}y")),
            Some(("xy".to_owned(), Versions::default()))
        );
        let text = format!("x{BASE}{V3}{V4}y");
        assert_eq!(
            strip(&text),
            Some(("xy".to_owned(), versions(false, false, true)))
        );
        let text = format!("x{BASE}{V4}{V3}y");
        assert_eq!(
            strip(&text),
            Some(("xy".to_owned(), versions(false, false, true)))
        );
    }

    #[test]
    fn no_tag() {
        assert_eq!(strip("plain text with \t tabs"), None);
    }

    proptest! {
        #[test]
        fn round_trip(
            v1: bool, v2: bool, v3: bool,
            before in "[^ \t]{0,20}", after in "[^ \t][\\PC]{0,20}|",
        ) {
            let offered = versions(v1, v2, v3);
            let text = format!("{before}{}{after}", whitespace_tag(offered));
            prop_assert_eq!(strip(&text), Some((format!("{before}{after}"), offered)));
        }

        #[test]
        fn strip_never_panics(text in "[ \tab]*") {
            let _ = strip(&text);
        }
    }
}
