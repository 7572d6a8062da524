//! A bound on the length of one line of an imported file: the rest of a
//! longer line is dropped before the CSV reader sees it (so a one-line
//! file of hundreds of MB never sits in memory), and the line is reported
//! as invalid.

use std::io::Read;
use std::sync::{Arc, Mutex};

/// The longest line import reads (a name, capped on import, may come in
/// longer than 1 MB).
pub const MAX_LINE: usize = 2 << 20;

/// Passes lines through up to `max` bytes each; records the numbers
/// (from 1) of the lines it cut.
pub struct LineCap<R> {
    inner: R,
    max: usize,
    /// Bytes of the current line so far.
    len: usize,
    line: u64,
    skipping: bool,
    cut: Arc<Mutex<Vec<u64>>>,
}

impl<R: Read> LineCap<R> {
    pub fn new(inner: R, max: usize) -> (Self, Arc<Mutex<Vec<u64>>>) {
        let cut = Arc::new(Mutex::new(Vec::new()));
        let cap = LineCap {
            inner,
            max,
            len: 0,
            line: 1,
            skipping: false,
            cut: cut.clone(),
        };
        (cap, cut)
    }
}

impl<R: Read> Read for LineCap<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        loop {
            let n = self.inner.read(buf)?;
            if n == 0 {
                return Ok(0);
            }
            let mut out = 0;
            for i in 0..n {
                let b = buf[i];
                if b == b'\n' {
                    self.len = 0;
                    self.line += 1;
                    self.skipping = false;
                } else if self.skipping {
                    continue;
                } else {
                    self.len += 1;
                    if self.len > self.max {
                        self.skipping = true;
                        if let Ok(mut cut) = self.cut.lock() {
                            cut.push(self.line);
                        }
                        continue;
                    }
                }
                buf[out] = b;
                out += 1;
            }
            if out > 0 {
                return Ok(out);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_lines_are_cut_and_named() {
        let (mut r, cut) = LineCap::new(&b"ab\nabcdefg\nxyz\nabcde"[..], 3);
        let mut out = String::new();
        r.read_to_string(&mut out).unwrap();
        assert_eq!(out, "ab\nabc\nxyz\nabc");
        assert_eq!(*cut.lock().unwrap(), [2, 4]);
    }
}
