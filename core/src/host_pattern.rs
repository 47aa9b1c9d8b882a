//! Host patterns: how an adapter claims a family of hosts (`*.gcr.io`, `*-docker.pkg.dev`,
//! `*.dkr.ecr.*.amazonaws.com`) rather than a fixed list.
//!
//! The rules, chosen to match what registries' host names look like and to claim no more:
//! - A pattern is compared with the registry host as the reference writes it, port included.
//!   As for Docker, `localhost:5000` and `localhost` are different registries, so a pattern
//!   without a port never claims a host with one (`*.gcr.io` does not claim `eu.gcr.io:443`);
//!   a pattern may name a port (`registry.local:5000`).
//! - `*` stands for one or more characters within one DNS label: it never matches a `.` or a
//!   `:`, so `*.gcr.io` claims `eu.gcr.io` but neither `gcr.io` nor `a.b.gcr.io`. A label may
//!   hold text around a `*` (`*-docker.pkg.dev`) and a pattern may hold several.
//! - Letters match ignoring ASCII case, as DNS does.

/// True if `host` (`name[:port]`, as in a reference) matches `pattern`.
pub(crate) fn matches(pattern: &str, host: &str) -> bool {
    let mut patterns = pattern.split('.');
    let mut labels = host.split('.');
    loop {
        match (patterns.next(), labels.next()) {
            (Some(p), Some(l)) if label_matches(p.as_bytes(), l.as_bytes()) => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

/// One label against one label pattern, where `*` is one or more bytes other than `:`.
/// Dynamic programming over (pattern prefix, label prefix), so several stars cost
/// `O(pattern × label)` and never backtrack; labels are short (the reference parser caps hosts).
fn label_matches(pattern: &[u8], label: &[u8]) -> bool {
    // row[j]: the pattern so far matches label[..j].
    let mut row = vec![false; label.len() + 1];
    row[0] = true;
    for &p in pattern {
        let mut next = vec![false; label.len() + 1];
        for j in 1..=label.len() {
            let c = label[j - 1];
            next[j] = if p == b'*' {
                // This star takes c, either as its first byte or as one more.
                c != b':' && (row[j - 1] || next[j - 1])
            } else {
                row[j - 1] && p.eq_ignore_ascii_case(&c)
            };
        }
        row = next;
    }
    row[label.len()]
}

/// True if `pattern` names one host literally, without a `*`.
pub(crate) fn is_literal(pattern: &str) -> bool {
    !pattern.contains('*')
}

#[cfg(test)]
mod tests {
    use super::matches;

    #[test]
    fn a_literal_host_matches_itself_ignoring_case() {
        assert!(matches("gcr.io", "gcr.io"));
        assert!(matches("gcr.io", "GCR.io"));
        assert!(matches("MCR.microsoft.com", "mcr.microsoft.com"));
        assert!(!matches("gcr.io", "gcr.iox"));
        assert!(!matches("gcr.io", "xgcr.io"));
        assert!(!matches("gcr.io", "eu.gcr.io"));
    }

    #[test]
    fn a_star_is_one_or_more_characters_of_one_label() {
        assert!(matches("*.gcr.io", "eu.gcr.io"));
        assert!(matches("*.gcr.io", "US.GCR.IO"));
        assert!(!matches("*.gcr.io", "gcr.io"), "a star is never empty");
        assert!(!matches("*.gcr.io", ".gcr.io"));
        assert!(
            !matches("*.gcr.io", "a.b.gcr.io"),
            "a star never spans a dot"
        );
        assert!(!matches("*.gcr.io", "eu.gcr.io.evil.example"));
        assert!(!matches("*.gcr.io", "eu.xgcr.io"));
    }

    #[test]
    fn a_star_may_share_its_label_with_text() {
        assert!(matches("*-docker.pkg.dev", "europe-west1-docker.pkg.dev"));
        assert!(matches("*-docker.pkg.dev", "us-docker.pkg.dev"));
        assert!(!matches("*-docker.pkg.dev", "-docker.pkg.dev"));
        assert!(!matches("*-docker.pkg.dev", "docker.pkg.dev"));
        assert!(!matches("*-docker.pkg.dev", "us-docker.pkg.dev.example"));
        assert!(!matches("*-docker.pkg.dev", "us.x-docker.pkg.dev"));
        assert!(matches("a*b*c", "axxbyyc"));
        assert!(matches("a*b*c", "abbbc"));
        assert!(!matches("a*b*c", "abc"));
    }

    #[test]
    fn several_stars_each_take_one_label() {
        let ecr = "*.dkr.ecr.*.amazonaws.com";
        assert!(matches(ecr, "123456789012.dkr.ecr.eu-west-1.amazonaws.com"));
        assert!(!matches(ecr, "123456789012.dkr.ecr.amazonaws.com"));
        assert!(!matches(ecr, "1.dkr.ecr.eu.west.amazonaws.com"));
        assert!(!matches(ecr, "public.ecr.aws"));
    }

    #[test]
    fn a_port_is_part_of_the_host() {
        assert!(!matches("*.gcr.io", "eu.gcr.io:443"));
        assert!(!matches("localhost", "localhost:5000"));
        assert!(matches("localhost:5000", "localhost:5000"));
        assert!(matches("*.local:5000", "registry.local:5000"));
        assert!(!matches("*.local:5000", "registry.local:5001"));
        assert!(
            !matches("*", "localhost:5000"),
            "a star never takes the port"
        );
        assert!(!matches("*", "[::1]:5000"));
    }

    #[test]
    fn long_hosts_with_many_stars_are_refused_quickly() {
        let host = format!("{}.io", "a".repeat(250));
        let pattern = format!("{}b.io", "*".repeat(60));
        let started = std::time::Instant::now();
        assert!(!matches(&pattern, &host));
        assert!(started.elapsed() < std::time::Duration::from_secs(1));
    }
}
