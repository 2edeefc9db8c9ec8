//! Newline framing of the byte stream, with the request size limit (`MAX_RECV`).
//!
//! ElectrumX (aiorpcX) silently drops an oversized line and keeps the connection; the protocol
//! reference allows an error or a disconnect instead. This server answers an oversized line with
//! a -32600 error and closes the connection: a client that sends a megabyte without a newline is
//! either broken or hostile, and buffering to find the next newline only helps the latter.

/// Bytes of an unfinished line kept between reads; only the partial line is buffered.
#[derive(Debug, Default)]
pub struct LineFramer {
    partial: Vec<u8>,
}

/// A line (complete or still open) exceeded the limit.
#[derive(Debug, PartialEq, Eq)]
pub struct Oversized;

/// A buffer capacity above which the partial-line buffer is released when it empties.
const KEEP_CAPACITY: usize = 4096;

impl LineFramer {
    /// Splits `data` into lines (without `\n`), calling `on_line` for each complete one.
    ///
    /// `max` is the largest accepted line in bytes (0 = unlimited). Stops at the first oversized
    /// line; the framer must not be fed again after an error. When `on_line` returns false the
    /// rest of `data` is discarded (the session is closing).
    pub fn feed(
        &mut self,
        data: &[u8],
        max: usize,
        mut on_line: impl FnMut(&[u8]) -> bool,
    ) -> Result<(), Oversized> {
        let mut rest = data;
        while let Some(pos) = rest.iter().position(|&b| b == b'\n') {
            let (head, tail) = rest.split_at(pos);
            rest = &tail[1..];
            let keep_going = if self.partial.is_empty() {
                if max != 0 && head.len() > max {
                    return Err(Oversized);
                }
                on_line(head)
            } else {
                if max != 0 && self.partial.len() + head.len() > max {
                    return Err(Oversized);
                }
                let mut line = std::mem::take(&mut self.partial);
                line.extend_from_slice(head);
                let keep_going = on_line(&line);
                line.clear();
                if line.capacity() <= KEEP_CAPACITY {
                    self.partial = line;
                }
                keep_going
            };
            if !keep_going {
                return Ok(());
            }
        }
        if max != 0 && self.partial.len() + rest.len() > max {
            return Err(Oversized);
        }
        self.partial.extend_from_slice(rest);
        if self.partial.is_empty() && self.partial.capacity() > KEEP_CAPACITY {
            self.partial = Vec::new();
        }
        Ok(())
    }

    /// Bytes of the unfinished line currently held.
    pub fn pending(&self) -> usize {
        self.partial.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(f: &mut LineFramer, data: &[u8], max: usize) -> Result<Vec<Vec<u8>>, Oversized> {
        let mut out = Vec::new();
        f.feed(data, max, |l| {
            out.push(l.to_vec());
            true
        })?;
        Ok(out)
    }

    #[test]
    fn splits_many_lines_and_keeps_partials() {
        let mut f = LineFramer::default();
        assert_eq!(
            lines(&mut f, b"a\nbb\nc", 0).unwrap(),
            vec![b"a".to_vec(), b"bb".to_vec()]
        );
        assert_eq!(f.pending(), 1);
        assert_eq!(lines(&mut f, b"cc", 0).unwrap(), Vec::<Vec<u8>>::new());
        assert_eq!(
            lines(&mut f, b"c\n\n", 0).unwrap(),
            vec![b"cccc".to_vec(), b"".to_vec()]
        );
        assert_eq!(f.pending(), 0);
    }

    #[test]
    fn rejects_lines_over_the_limit_whether_complete_or_not() {
        let mut f = LineFramer::default();
        assert_eq!(
            lines(&mut f, b"12345\n", 5).unwrap(),
            vec![b"12345".to_vec()]
        );
        assert_eq!(lines(&mut f, b"123456\n", 5), Err(Oversized));
        let mut f = LineFramer::default();
        assert!(lines(&mut f, b"123", 5).unwrap().is_empty());
        assert_eq!(lines(&mut f, b"456", 5), Err(Oversized));
        let mut f = LineFramer::default();
        assert!(lines(&mut f, b"123", 5).unwrap().is_empty());
        assert_eq!(lines(&mut f, b"45\nx", 5).unwrap(), vec![b"12345".to_vec()]);
    }

    #[test]
    fn stops_when_asked() {
        let mut f = LineFramer::default();
        let mut seen = 0;
        f.feed(b"a\nb\nc\n", 0, |_| {
            seen += 1;
            false
        })
        .unwrap();
        assert_eq!(seen, 1);
    }
}
