//! The cap on a subscriber's attributes: at most `MAX_BYTES` of JSON (as
//! stored and as `subscribers export` writes it) per subscriber, on every
//! path that writes them (the admin API's POST and PATCH, after merging
//! with what is stored; `subscribers import`, per row). So a row of an
//! export is always far below the import's line cap and imports again.

use serde_json::{Map, Value};

/// 64 KiB of JSON text per subscriber.
pub const MAX_BYTES: usize = 64 * 1024;

/// The length of `attributes` as compact JSON (as stored), counted without
/// building the text.
pub fn json_len(attributes: &Map<String, Value>) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut n = Count(0);
    // Writing to a counter cannot fail; keys are strings.
    let _ = serde_json::to_writer(&mut n, attributes);
    n.0
}

/// `Err` with a one-line reason when `attributes` are over the cap.
pub fn check(attributes: &Map<String, Value>) -> Result<(), String> {
    check_len(json_len(attributes))
}

/// `Err` with a one-line reason when `n` bytes of JSON are over the cap.
pub fn check_len(n: usize) -> Result<(), String> {
    if n > MAX_BYTES {
        return Err(format!(
            "attributes would be {n} bytes of JSON; a subscriber may have at most {} KiB of them",
            MAX_BYTES >> 10
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_count_is_the_stored_length() {
        let mut m = Map::new();
        m.insert("city".into(), Value::String("Oslo \"é\"\n".into()));
        m.insert("n".into(), serde_json::json!(1e10));
        assert_eq!(json_len(&m), Value::Object(m.clone()).to_string().len());
        assert!(check(&m).is_ok());
        m.insert("big".into(), Value::String("x".repeat(MAX_BYTES)));
        let e = check(&m).unwrap_err();
        assert!(e.contains("at most 64 KiB"), "{e}");
    }
}
