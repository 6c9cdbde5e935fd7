//! OTR Error Messages (spec "Unencoded messages" / "OTR Error Messages").
//!
//! "Any message containing the string "?OTR Error:" is an OTR Error Message. The following part
//! of the message should contain human-readable details of the error."

/// The marker of an error message.
const PREFIX: &str = "?OTR Error:";

/// The OTR Error Message carrying `text`: `"?OTR Error: " + text`.
pub fn error_message(text: &str) -> String {
    format!("{PREFIX} {text}")
}

/// The human-readable part of the error message in `text` (after the marker, one leading space
/// removed), if `text` contains one.
pub(super) fn parse(text: &str) -> Option<&str> {
    let (_, details) = text.split_once(PREFIX)?;
    Some(details.strip_prefix(' ').unwrap_or(details))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        assert_eq!(error_message("Unreadable"), "?OTR Error: Unreadable");
        assert_eq!(parse(&error_message("Unreadable")), Some("Unreadable"));
        assert_eq!(parse(&error_message(" two spaces")), Some(" two spaces"));
    }

    #[test]
    fn found_anywhere() {
        assert_eq!(parse("<b>?OTR Error:</b>oops"), Some("</b>oops"));
        assert_eq!(parse("?OTR Error:"), Some(""));
        assert_eq!(parse("?OTR error: case matters"), None);
    }
}
