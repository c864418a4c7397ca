//! Wire bytes as text: [`lossy`] the way CAT servers read a message's strings, [`utf8`]
//! where only valid text will do (a frame's domain and ID as the store files them).

use std::borrow::Cow;

/// `bytes` as UTF-8 text, invalid sequences replaced (as CAT servers decode strings);
/// borrowed unless something was replaced.
///
/// ASCII is checked first: nearly every type, name, status, domain and ID is ASCII, and
/// `is_ascii` checks a word at a time where `from_utf8` walks a short text a byte at a time
/// (about 100 instructions for a 20-byte name, some 25 texts a tree). `from_utf8` next,
/// which checks valid text several times faster than `from_utf8_lossy`'s chunk walk.
#[inline]
pub fn lossy(bytes: &[u8]) -> Cow<'_, str> {
    match utf8(bytes) {
        Some(text) => Cow::Borrowed(text),
        None => String::from_utf8_lossy(bytes),
    }
}

/// `bytes` as text if they are valid UTF-8: `std::str::from_utf8` with the ASCII check
/// first (see [`lossy`]; the collector also reads every frame's domain and ID this way).
#[inline]
pub fn utf8(bytes: &[u8]) -> Option<&str> {
    match ascii::AsciiStr::from_ascii(bytes) {
        Ok(ascii) => Some(ascii.as_str()),
        Err(_) => std::str::from_utf8(bytes).ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_borrowed_when_valid_and_replaced_when_not() {
        assert!(matches!(lossy(b"shop"), Cow::Borrowed("shop")));
        assert!(matches!(
            lossy("caf\u{e9}".as_bytes()),
            Cow::Borrowed("caf\u{e9}")
        ));
        assert_eq!(lossy(b"sh\xffop"), "sh\u{fffd}op");
        assert_eq!(lossy(b""), "");
    }

    #[test]
    fn strict_text_is_whatever_from_utf8_accepts() {
        for bytes in [
            &b"shop-0a000001-497900-7"[..],
            "caf\u{e9}".as_bytes(),
            b"sh\xffop",
            b"",
        ] {
            assert_eq!(utf8(bytes), std::str::from_utf8(bytes).ok());
        }
    }
}
