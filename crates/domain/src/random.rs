//! Operating-system randomness for IDs and tokens.

/// Fills `buf` from the operating system's CSPRNG.
///
/// # Panics
/// When the operating system cannot provide randomness at all, which leaves no safe way to
/// issue IDs or tokens.
pub(crate) fn fill(buf: &mut [u8]) {
    #[expect(clippy::expect_used, reason = "no safe fallback without OS randomness")]
    getrandom::fill(buf).expect("the operating system's random source failed");
}
