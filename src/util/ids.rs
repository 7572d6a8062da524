//! Random identifiers from the operating system's random source.

/// `n` random bytes from the OS, hex encoded.
pub fn random_hex(n: usize) -> String {
    let mut buf = vec![0u8; n];
    fill(&mut buf);
    hex::encode(buf)
}

/// A 32-hex-digit identifier that sorts by time: the milliseconds since
/// 1970 (11 hex digits, good until the year 2527) followed by 84 random
/// bits. Ids made one after another land next to each other in a B-tree
/// index (a campaign's Message-IDs: each batch of outcomes then writes one
/// or two index pages instead of a page per row), and the random part
/// keeps each unguessable.
pub fn time_ordered_hex() -> String {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0) as u64;
    let mut random = random_hex(11);
    random.truncate(21);
    format!("{:011x}{random}", ms & 0xfff_ffff_ffff)
}

/// Fill `buf` from the OS random source.
pub fn fill(buf: &mut [u8]) {
    getrandom::fill(buf).expect("the operating system's random source failed");
}

#[cfg(test)]
mod tests {
    #[test]
    fn random_hex_has_the_length_and_differs() {
        let a = super::random_hex(16);
        assert_eq!(a.len(), 32);
        assert_ne!(a, super::random_hex(16));
    }

    #[test]
    fn time_ordered_ids_sort_by_time_and_differ() {
        let a = super::time_ordered_hex();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let b = super::time_ordered_hex();
        assert_eq!((a.len(), b.len()), (32, 32));
        assert!(a.chars().chain(b.chars()).all(|c| c.is_ascii_hexdigit()));
        assert!(a < b, "{a} then {b}");
        assert_ne!(super::time_ordered_hex(), super::time_ordered_hex());
    }
}
