//! OTR Query Messages (spec "Unencoded messages" / "OTR Query Messages").
//!
//! "?OTR", then "?" if version 1 is offered, then "v" followed by one character per other
//! offered version and a closing "?". So "?OTRv23?" offers versions 2 and 3, "?OTR?v2?"
//! versions 1 and 2, "?OTR?" version 1 only.
//!
//! Parsing is as tolerant as libotr: the query may sit anywhere in the text (it is recognised
//! by "?OTR?" or "?OTRv"), characters other than '2' and '3' between "v" and "?" are ignored
//! (future versions), and a missing closing "?" ends the version list at the end of the text.

use super::Versions;

/// The fixed start of every query message.
const PREFIX: &str = "?OTR";

/// Builds OTR Query Messages.
#[derive(Clone, Copy, Debug)]
pub struct Query;

impl Query {
    /// The query message offering `versions`, e.g. `"?OTRv23?"`, with nothing else around it
    /// (the caller may append an explanation for users without OTR).
    ///
    /// An empty set gives the spec's "bizarre" `"?OTRv?"`.
    pub fn message(versions: Versions) -> String {
        let mut out = String::from(PREFIX);
        if versions.v1 {
            out.push('?');
        }
        if versions.v2 || versions.v3 || !versions.v1 {
            out.push('v');
            if versions.v2 {
                out.push('2');
            }
            if versions.v3 {
                out.push('3');
            }
            out.push('?');
        }
        out
    }
}

/// The versions offered by the first query message ("?OTR?" or "?OTRv") in `text`, if any.
pub(super) fn parse(text: &str) -> Option<Versions> {
    let mut rest = text;
    let after = loop {
        let (_, after) = rest.split_once(PREFIX)?;
        if after.starts_with('?') || after.starts_with('v') {
            break after;
        }
        rest = after;
    };
    let mut versions = Versions::default();
    let after = match after.strip_prefix('?') {
        Some(tail) => {
            versions.v1 = true;
            tail
        }
        None => after,
    };
    if let Some(list) = after.strip_prefix('v') {
        for c in list.chars().take_while(|&c| c != '?') {
            match c {
                '2' => versions.v2 = true,
                '3' => versions.v3 = true,
                _ => {}
            }
        }
    }
    Some(versions)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn versions(v1: bool, v2: bool, v3: bool) -> Versions {
        Versions { v1, v2, v3 }
    }

    /// Every example in the spec's table.
    const SPEC_TABLE: [(&str, Versions); 8] = [
        (
            "?OTR?",
            Versions {
                v1: true,
                v2: false,
                v3: false,
            },
        ),
        (
            "?OTRv2?",
            Versions {
                v1: false,
                v2: true,
                v3: false,
            },
        ),
        (
            "?OTRv23?",
            Versions {
                v1: false,
                v2: true,
                v3: true,
            },
        ),
        (
            "?OTR?v2?",
            Versions {
                v1: true,
                v2: true,
                v3: false,
            },
        ),
        (
            "?OTRv24x?",
            Versions {
                v1: false,
                v2: true,
                v3: false,
            },
        ),
        (
            "?OTR?v24x?",
            Versions {
                v1: true,
                v2: true,
                v3: false,
            },
        ),
        (
            "?OTR?v?",
            Versions {
                v1: true,
                v2: false,
                v3: false,
            },
        ),
        (
            "?OTRv?",
            Versions {
                v1: false,
                v2: false,
                v3: false,
            },
        ),
    ];

    #[test]
    fn spec_table() {
        for (text, expected) in SPEC_TABLE {
            assert_eq!(parse(text), Some(expected), "{text}");
        }
    }

    #[test]
    fn message_spelling() {
        assert_eq!(Query::message(versions(false, true, true)), "?OTRv23?");
        assert_eq!(Query::message(versions(false, false, true)), "?OTRv3?");
        assert_eq!(Query::message(versions(false, true, false)), "?OTRv2?");
        assert_eq!(Query::message(versions(true, false, false)), "?OTR?");
        assert_eq!(Query::message(versions(true, true, false)), "?OTR?v2?");
        assert_eq!(Query::message(versions(true, true, true)), "?OTR?v23?");
        assert_eq!(Query::message(versions(false, false, false)), "?OTRv?");
    }

    #[test]
    fn found_anywhere_and_tolerant() {
        assert_eq!(
            parse("I'd like OTR ?OTRv32? bye"),
            Some(versions(false, true, true))
        );
        assert_eq!(
            parse("?OTR ?OTRv3"),
            Some(versions(false, false, true)),
            "no closing '?'"
        );
        assert_eq!(
            parse("?OTRv2? later ?OTRv3?"),
            Some(versions(false, true, false))
        );
        assert_eq!(parse("?OTR: ?OTR Error: ?OTRx"), None);
        assert_eq!(parse("plain"), None);
    }

    proptest! {
        #[test]
        fn message_round_trips(v1: bool, v2: bool, v3: bool) {
            let offered = versions(v1, v2, v3);
            prop_assert_eq!(parse(&Query::message(offered)), Some(offered));
            let with_text = format!("{} Alice wants a private conversation.", Query::message(offered));
            prop_assert_eq!(parse(&with_text), Some(offered));
        }

        #[test]
        fn parse_never_panics(text in "\\PC*") {
            let _ = parse(&text);
            let _ = parse(&format!("?OTRv{text}"));
        }
    }
}
