//! Unguessable bytes for the names and tokens isoprobe makes on a shared machine.

/// `N` bytes from the kernel's random source; where it gave fewer, the clock is mixed in so
/// that two values still differ.
pub(crate) fn bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    // SAFETY: getrandom writes at most `bytes.len()` bytes into `bytes`.
    let n = unsafe { libc::getrandom(bytes.as_mut_ptr().cast(), bytes.len(), 0) };
    if n != bytes.len() as isize {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        for (b, n) in bytes.iter_mut().zip(nanos.to_le_bytes()) {
            *b ^= n;
        }
    }
    bytes
}

/// Lower-case hex of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn two_draws_differ_and_read_as_hex() {
        let (a, b) = (super::bytes::<16>(), super::bytes::<16>());
        assert_ne!(a, b);
        let h = super::hex(&a);
        assert_eq!(h.len(), 32);
        assert!(h.bytes().all(|c| c.is_ascii_hexdigit()));
    }
}
