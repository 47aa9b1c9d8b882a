//! The `Range` header of a blob request: one byte range, as resuming clients send it
//! (`bytes=N-`, `bytes=N-M`, `bytes=-N`). A header that is malformed or asks for nothing inside
//! the blob is refused (416, as Go's file server answers), and a request for several ranges is
//! answered with the whole blob, which HTTP allows.

/// What to send of a blob of `size` bytes.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Wanted {
    /// The whole blob (no Range, or several ranges).
    Whole,
    /// `start..=end`, both inside the blob.
    Part { start: u64, end: u64 },
    /// Nothing satisfiable: 416.
    Unsatisfiable,
}

/// Reads a `Range` header value for a blob of `size` bytes.
pub(crate) fn wanted(header: Option<&str>, size: u64) -> Wanted {
    let Some(value) = header else {
        return Wanted::Whole;
    };
    let Some(set) = value.trim().strip_prefix("bytes=") else {
        return Wanted::Unsatisfiable;
    };
    if set.contains(',') {
        return Wanted::Whole;
    }
    let Some((first, last)) = set.trim().split_once('-') else {
        return Wanted::Unsatisfiable;
    };
    let number = |s: &str| {
        (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse::<u64>().ok())
            .flatten()
    };
    match (first.is_empty(), number(first), number(last)) {
        // `-N`: the last N bytes.
        (true, _, Some(n)) if n > 0 && size > 0 => Wanted::Part {
            start: size.saturating_sub(n),
            end: size - 1,
        },
        (false, Some(start), None) if last.is_empty() && start < size => Wanted::Part {
            start,
            end: size - 1,
        },
        (false, Some(start), Some(end)) if start <= end && start < size => Wanted::Part {
            start,
            end: end.min(size - 1),
        },
        _ => Wanted::Unsatisfiable,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_read_and_clamped() {
        assert_eq!(wanted(None, 10), Wanted::Whole);
        assert_eq!(
            wanted(Some("bytes=2-4"), 10),
            Wanted::Part { start: 2, end: 4 }
        );
        assert_eq!(
            wanted(Some("bytes=2-"), 10),
            Wanted::Part { start: 2, end: 9 }
        );
        assert_eq!(
            wanted(Some("bytes=-3"), 10),
            Wanted::Part { start: 7, end: 9 }
        );
        assert_eq!(
            wanted(Some("bytes=5-100"), 10),
            Wanted::Part { start: 5, end: 9 }
        );
        assert_eq!(
            wanted(Some("bytes=-100"), 10),
            Wanted::Part { start: 0, end: 9 }
        );
        assert_eq!(wanted(Some("bytes=0-1,4-5"), 10), Wanted::Whole);
    }

    #[test]
    fn bad_ranges_are_unsatisfiable() {
        for bad in [
            "bytes=10-",
            "bytes=10-12",
            "bytes=5-2",
            "bytes=-0",
            "bytes=x-1",
            "bytes=",
            "bytes=-",
            "items=0-1",
            "bytes=+1-2",
            "bytes=99999999999999999999999-",
        ] {
            assert_eq!(wanted(Some(bad), 10), Wanted::Unsatisfiable, "{bad}");
        }
        assert_eq!(wanted(Some("bytes=0-"), 0), Wanted::Unsatisfiable);
    }
}
