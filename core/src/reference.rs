//! Image references (`[host[:port]/]path[:tag][@digest]`), parsed by hand to the grammar of
//! distribution/reference, the package Docker itself uses.
//!
//! A reference is the one thing the user types, so parsing it is about two things: accept what
//! `docker pull` accepts (users copy references between tools), and when something is wrong say
//! which part is wrong. The only refusals beyond Docker's are things a pull could not honour
//! anyway: digests we cannot verify, ports above 65535, malformed IPv6 addresses.
//!
//! Normalization (`alpine` to `docker.io/library/alpine:latest`) is not done here: it is registry
//! policy and belongs to the adapters, which turn a reference into a
//! [`Target`](crate::adapter::Target) (see [`Adapter::normalize`](crate::adapter::Adapter::normalize)).

use std::fmt;
use std::net::Ipv6Addr;
use std::str::FromStr;

use crate::digest::Digest;

/// Longest repository path accepted. Like distribution/reference (since 2024) the registry host
/// does not count, so a long path on a long host name is still valid.
pub(crate) const MAX_PATH_LEN: usize = 255;
/// DNS names stop at 253 characters; a longer host cannot be a registry.
const MAX_DOMAIN_LEN: usize = 255;
const MAX_TAG_LEN: usize = 128;
/// How much of the offending input an error repeats, so a huge input gives a short message.
const MAX_ERROR_INPUT: usize = 200;

const PATH_COMPONENT_GRAMMAR: &str = "[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*";

/// A parsed image reference. The parts are kept as written: `domain` is only set when the user
/// wrote a registry host.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Reference {
    domain: Option<String>,
    path: String,
    tag: Option<String>,
    digest: Option<Digest>,
}

/// Why a string is not an image reference.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid reference {input:?}: {kind}")]
pub struct ReferenceError {
    /// The input that was refused, cut to its first 200 characters.
    pub input: String,
    /// Which part is wrong.
    pub kind: ReferenceErrorKind,
}

/// What is wrong with a reference. The strings carry a short human phrase naming the part.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReferenceErrorKind {
    /// Nothing was given.
    Empty,
    /// The repository path is longer than 255 characters.
    NameTooLong,
    /// The repository path has upper-case letters.
    UpperCaseInPath,
    /// The text does not follow the reference grammar; says where.
    InvalidFormat(String),
    /// The registry host (or its port) is not valid; says how.
    InvalidDomain(String),
    /// The tag does not match `[\w][\w.-]{0,127}`.
    InvalidTag,
    /// The digest cannot be verified or is malformed; says how.
    InvalidDigest(String),
}

impl fmt::Display for ReferenceErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReferenceErrorKind::Empty => f.write_str("reference is empty"),
            ReferenceErrorKind::NameTooLong => write!(
                f,
                "repository name must not be more than {MAX_PATH_LEN} characters"
            ),
            ReferenceErrorKind::UpperCaseInPath => f.write_str("repository name must be lowercase"),
            ReferenceErrorKind::InvalidFormat(what) => f.write_str(what),
            ReferenceErrorKind::InvalidDomain(what) => write!(f, "invalid registry host: {what}"),
            ReferenceErrorKind::InvalidTag => f.write_str("tag must match [\\w][\\w.-]{0,127}"),
            ReferenceErrorKind::InvalidDigest(what) => write!(f, "invalid digest: {what}"),
        }
    }
}

impl Reference {
    /// Parses what the user typed, as `docker pull` would; the error names the wrong part.
    pub fn parse(input: &str) -> Result<Reference, ReferenceError> {
        parse(input).map_err(|kind| ReferenceError {
            input: input.chars().take(MAX_ERROR_INPUT).collect(),
            kind,
        })
    }

    /// The registry host (`host[:port]`) as written, if the user wrote one. Docker's rule decides:
    /// the first of several components is a host when it contains `.` or `:`, is `localhost`, or
    /// has upper-case letters (repository paths never do).
    pub fn domain(&self) -> Option<&str> {
        self.domain.as_deref()
    }

    /// The repository path without the host, as written (`alpine`, not `library/alpine`).
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The tag, if the user wrote one (no `latest` is added here).
    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    /// The digest, if the user wrote one.
    pub fn digest(&self) -> Option<&Digest> {
        self.digest.as_ref()
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(domain) = &self.domain {
            write!(f, "{domain}/")?;
        }
        f.write_str(&self.path)?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

impl FromStr for Reference {
    type Err = ReferenceError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Reference::parse(s)
    }
}

fn parse(input: &str) -> Result<Reference, ReferenceErrorKind> {
    use ReferenceErrorKind as K;

    if input.is_empty() {
        return Err(K::Empty);
    }
    if input.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(K::InvalidFormat(
            "must not contain whitespace or control characters".into(),
        ));
    }
    // Docker refuses a bare image ID where a name is expected: `docker pull <id>` is almost
    // certainly a pasted ID, and would otherwise quietly become `docker.io/library/<id>`.
    if input.len() == 64
        && input
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    {
        return Err(K::InvalidFormat(
            "a 64-character hex string is an image ID, not a repository name".into(),
        ));
    }

    // No part before the digest can contain '@', and a digest never contains it either.
    let (rest, digest) = match input.split_once('@') {
        Some((rest, digest)) => (rest, Some(parse_digest(digest)?)),
        None => (input, None),
    };

    // A ':' is the tag separator only after the last '/': before it, it belongs to host:port.
    let (name, tag) = match rest.rfind(':') {
        Some(colon) if rest[colon..].find('/').is_none() => {
            (&rest[..colon], Some(&rest[colon + 1..]))
        }
        _ => (rest, None),
    };
    if name.is_empty() {
        return Err(K::InvalidFormat("missing repository name".into()));
    }

    let (domain, path) = match name.split_once('/') {
        Some((first, rest)) if looks_like_domain(first) => {
            check_domain(first).map_err(K::InvalidDomain)?;
            (Some(first), rest)
        }
        _ => {
            if name.starts_with('[') {
                // `[::1]:5000` alone: the tag split above cut the address in half.
                return Err(K::InvalidFormat(
                    "registry host without a repository path".into(),
                ));
            }
            (None, name)
        }
    };
    check_path(path)?;
    if path.len() > MAX_PATH_LEN {
        return Err(K::NameTooLong);
    }
    // Checked after the name: when the name is wrong the "tag" is usually not meant as one.
    if tag.is_some_and(|tag| !is_valid_tag(tag)) {
        return Err(K::InvalidTag);
    }

    Ok(Reference {
        domain: domain.map(str::to_string),
        path: path.to_string(),
        tag: tag.map(str::to_string),
        digest,
    })
}

/// Docker's rule (normalize.go, splitDockerDomain) for whether the first component is a host.
fn looks_like_domain(first: &str) -> bool {
    first == "localhost"
        || first.contains(['.', ':'])
        || first.bytes().any(|b| b.is_ascii_uppercase())
}

fn parse_digest(s: &str) -> Result<Digest, ReferenceErrorKind> {
    Digest::parse(s).map_err(|e| {
        // distribution accepts any well-formed algorithm; we can only verify what Digest knows,
        // so say that plainly rather than "invalid".
        let reason = match s.split_once(':') {
            Some((alg, _)) if is_digest_algorithm(alg) && !matches!(alg, "sha256" | "sha512") => {
                format!(
                    "unsupported digest algorithm {:?} (only sha256 and sha512 can be verified)",
                    truncate(alg)
                )
            }
            _ => e.reason.to_string(),
        };
        ReferenceErrorKind::InvalidDigest(reason)
    })
}

/// `[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*`
fn is_digest_algorithm(alg: &str) -> bool {
    alg.split(['-', '_', '+', '.']).all(|part| {
        let mut bytes = part.bytes();
        bytes.next().is_some_and(|b| b.is_ascii_alphabetic())
            && bytes.all(|b| b.is_ascii_alphanumeric())
    })
}

/// True for a tag as the distribution grammar has it: `[\w][\w.-]{0,127}`.
pub fn is_valid_tag(tag: &str) -> bool {
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let bytes = tag.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= MAX_TAG_LEN
        && word(bytes[0])
        && bytes[1..]
            .iter()
            .all(|&b| word(b) || b == b'.' || b == b'-')
}

fn check_path(path: &str) -> Result<(), ReferenceErrorKind> {
    if path.is_empty() {
        return Err(ReferenceErrorKind::InvalidFormat(
            "missing repository path".into(),
        ));
    }
    for component in path.split('/') {
        if component.is_empty() {
            return Err(ReferenceErrorKind::InvalidFormat(
                "repository path has an empty component (\"//\" or a trailing \"/\")".into(),
            ));
        }
        if !is_path_component(component.as_bytes()) {
            if is_path_component(component.to_ascii_lowercase().as_bytes()) {
                return Err(ReferenceErrorKind::UpperCaseInPath);
            }
            return Err(ReferenceErrorKind::InvalidFormat(format!(
                "path component {:?} must match {PATH_COMPONENT_GRAMMAR}",
                truncate(component)
            )));
        }
    }
    Ok(())
}

/// `[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*`: separators never start, end or double up, except
/// `__` and runs of `-`.
pub(crate) fn is_path_component(s: &[u8]) -> bool {
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let mut i = 0;
    loop {
        let start = i;
        while i < s.len() && alnum(s[i]) {
            i += 1;
        }
        if i == start {
            return false;
        }
        if i == s.len() {
            return true;
        }
        match s[i] {
            b'.' => i += 1,
            b'_' => i += if s.get(i + 1) == Some(&b'_') { 2 } else { 1 },
            b'-' => {
                while s.get(i) == Some(&b'-') {
                    i += 1;
                }
            }
            _ => return false,
        }
    }
}

/// `host[:port]`, host being DNS labels (IPv4 included) or a bracketed IPv6 address.
fn check_domain(domain: &str) -> Result<(), String> {
    if domain.len() > MAX_DOMAIN_LEN {
        return Err(format!("must not be more than {MAX_DOMAIN_LEN} characters"));
    }
    let (host, port) = if let Some(inner) = domain.strip_prefix('[') {
        let (addr, after) = inner
            .split_once(']')
            .ok_or_else(|| format!("{:?} has no closing ']'", truncate(domain)))?;
        // distribution excludes zones and embedded IPv4 (only hex digits and ':'); the address
        // must also really be one, which its regexp leaves to later.
        if addr.is_empty()
            || !addr.bytes().all(|b| b.is_ascii_hexdigit() || b == b':')
            || addr.parse::<Ipv6Addr>().is_err()
        {
            return Err(format!("{:?} is not an IPv6 address", truncate(addr)));
        }
        let port = match after.strip_prefix(':') {
            Some(port) => Some(port),
            None if after.is_empty() => None,
            None => return Err("expected ':port' after ']'".into()),
        };
        (None, port)
    } else {
        let (host, port) = match domain.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (domain, None),
        };
        (Some(host), port)
    };
    if let Some(host) = host {
        if !host.split('.').all(is_domain_label) {
            return Err(format!(
                "{:?} is not a host name (labels of letters, digits and inner '-')",
                truncate(host)
            ));
        }
    }
    if let Some(port) = port {
        let valid = !port.is_empty()
            && port.bytes().all(|b| b.is_ascii_digit())
            && port.parse::<u16>().is_ok();
        if !valid {
            return Err(format!(
                "port {:?} must be a number from 0 to 65535",
                truncate(port)
            ));
        }
    }
    Ok(())
}

/// `[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]`
fn is_domain_label(label: &str) -> bool {
    let b = label.as_bytes();
    !b.is_empty()
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter().all(|&c| c.is_ascii_alphanumeric() || c == b'-')
}

/// Keeps an echoed fragment of the input short.
fn truncate(s: &str) -> String {
    const MAX: usize = 64;
    if s.chars().count() <= MAX {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(MAX).collect();
        t.push('…');
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    const FFFF: &str = "sha256:ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff";
    const BE17: &str = "sha256:be178c0543eb17f5f3043021c9e5fcf30285e557a4fc309cce97ff9ca6182912";

    fn ok(input: &str) -> Reference {
        Reference::parse(input).unwrap_or_else(|e| panic!("{input:?} rejected: {e}"))
    }

    fn err(input: &str) -> ReferenceErrorKind {
        match Reference::parse(input) {
            Ok(r) => panic!("{input:?} accepted as {r:?}"),
            Err(e) => e.kind,
        }
    }

    fn is_format(kind: &ReferenceErrorKind) -> bool {
        matches!(kind, ReferenceErrorKind::InvalidFormat(_))
    }

    /// (input, domain, path, tag, digest); every valid input must also print back as itself.
    fn check(
        input: &str,
        domain: Option<&str>,
        path: &str,
        tag: Option<&str>,
        digest: Option<&str>,
    ) {
        let r = ok(input);
        assert_eq!(r.domain(), domain, "domain of {input:?}");
        assert_eq!(r.path(), path, "path of {input:?}");
        assert_eq!(r.tag(), tag, "tag of {input:?}");
        assert_eq!(
            r.digest().map(|d| d.to_string()).as_deref(),
            digest,
            "digest of {input:?}"
        );
        assert_eq!(r.to_string(), input, "round trip");
        assert_eq!(input.parse::<Reference>().unwrap(), r);
    }

    // reference_test.go TestReferenceParse, valid cases. Where upstream's `Domain` differs it is
    // because we apply Docker's rule (a first component is a host only if it looks like one).
    #[test]
    fn distribution_valid_references() {
        check("test_com", None, "test_com", None, None);
        check("test.com:tag", None, "test.com", Some("tag"), None);
        check("test.com:5000", None, "test.com", Some("5000"), None);
        check(
            "test.com/repo:tag",
            Some("test.com"),
            "repo",
            Some("tag"),
            None,
        );
        check("test:5000/repo", Some("test:5000"), "repo", None, None);
        check(
            "test:5000/repo:tag",
            Some("test:5000"),
            "repo",
            Some("tag"),
            None,
        );
        check(
            &format!("test:5000/repo@{FFFF}"),
            Some("test:5000"),
            "repo",
            None,
            Some(FFFF),
        );
        check(
            &format!("test:5000/repo:tag@{FFFF}"),
            Some("test:5000"),
            "repo",
            Some("tag"),
            Some(FFFF),
        );
        check(
            "lowercase:Uppercase",
            None,
            "lowercase",
            Some("Uppercase"),
            None,
        );
        let long = format!("{}a", "a/".repeat(127));
        check(
            &format!("{long}:tag-puts-this-over-max"),
            None,
            &long,
            Some("tag-puts-this-over-max"),
            None,
        );
        check(
            "sub-dom1.foo.com/bar/baz/quux",
            Some("sub-dom1.foo.com"),
            "bar/baz/quux",
            None,
            None,
        );
        check(
            "sub-dom1.foo.com/bar/baz/quux:some-long-tag",
            Some("sub-dom1.foo.com"),
            "bar/baz/quux",
            Some("some-long-tag"),
            None,
        );
        check(
            "b.gcr.io/test.example.com/my-app:test.example.com",
            Some("b.gcr.io"),
            "test.example.com/my-app",
            Some("test.example.com"),
            None,
        );
        check(
            "xn--n3h.com/myimage:xn--n3h.com",
            Some("xn--n3h.com"),
            "myimage",
            Some("xn--n3h.com"),
            None,
        );
        check(
            &format!("xn--7o8h.com/myimage:xn--7o8h.com@{FFFF}"),
            Some("xn--7o8h.com"),
            "myimage",
            Some("xn--7o8h.com"),
            Some(FFFF),
        );
        check("foo_bar.com:8080", None, "foo_bar.com", Some("8080"), None);
        check(
            "foo/foo_bar.com:8080",
            None,
            "foo/foo_bar.com",
            Some("8080"),
            None,
        );
        check("192.168.1.1", None, "192.168.1.1", None, None);
        check("192.168.1.1:tag", None, "192.168.1.1", Some("tag"), None);
        check("192.168.1.1:5000", None, "192.168.1.1", Some("5000"), None);
        check("192.168.1.1/repo", Some("192.168.1.1"), "repo", None, None);
        check(
            "192.168.1.1:5000/repo",
            Some("192.168.1.1:5000"),
            "repo",
            None,
            None,
        );
        check(
            "192.168.1.1:5000/repo:5050",
            Some("192.168.1.1:5000"),
            "repo",
            Some("5050"),
            None,
        );
        check(
            "[2001:db8::1]/repo",
            Some("[2001:db8::1]"),
            "repo",
            None,
            None,
        );
        check(
            "[2001:db8:1:2:3:4:5:6]/repo:tag",
            Some("[2001:db8:1:2:3:4:5:6]"),
            "repo",
            Some("tag"),
            None,
        );
        check(
            "[2001:db8::1]:5000/repo",
            Some("[2001:db8::1]:5000"),
            "repo",
            None,
            None,
        );
        check(
            "[2001:db8::1]:5000/repo:tag",
            Some("[2001:db8::1]:5000"),
            "repo",
            Some("tag"),
            None,
        );
        check(
            &format!("[2001:db8::1]:5000/repo@{FFFF}"),
            Some("[2001:db8::1]:5000"),
            "repo",
            None,
            Some(FFFF),
        );
        check(
            &format!("[2001:db8::1]:5000/repo:tag@{FFFF}"),
            Some("[2001:db8::1]:5000"),
            "repo",
            Some("tag"),
            Some(FFFF),
        );
        check(
            "[2001:db8::]:5000/repo",
            Some("[2001:db8::]:5000"),
            "repo",
            None,
            None,
        );
        check("[::1]:5000/repo", Some("[::1]:5000"), "repo", None, None);
        let path255 = "a".repeat(255);
        check(
            &format!("example.com/{path255}:tag"),
            Some("example.com"),
            &path255,
            Some("tag"),
            None,
        );
    }

    #[test]
    fn distribution_invalid_references() {
        assert_eq!(err(""), ReferenceErrorKind::Empty);
        assert!(is_format(&err(":justtag")));
        assert!(is_format(&err(&format!("@{FFFF}"))));
        assert!(matches!(
            err("repo@sha256:ffffffffffffffffffffffffffffffffff"),
            ReferenceErrorKind::InvalidDigest(_)
        ));
        assert!(matches!(
            err(&format!("validname@invaliddigest:{}", &FFFF[7..])),
            ReferenceErrorKind::InvalidDigest(_)
        ));
        assert_eq!(err("Uppercase:tag"), ReferenceErrorKind::UpperCaseInPath);
        assert_eq!(
            err("test:5000/Uppercase/lowercase:tag"),
            ReferenceErrorKind::UpperCaseInPath
        );
        assert_eq!(
            err(&format!("domain/{}:tag", "a".repeat(256))),
            ReferenceErrorKind::NameTooLong
        );
        assert!(is_format(&err("aa/asdf$$^/aa")));
        assert!(is_format(&err("[2001:db8::1]")));
        assert!(is_format(&err("[2001:db8::1]:5000")));
        assert!(is_format(&err("[2001:db8::1]:tag")));
        assert!(matches!(
            err("[fe80::1%eth0]:5000/repo"),
            ReferenceErrorKind::InvalidDomain(_)
        ));
        // The '@' ends the name, so this is a name that is not a host plus a bad digest.
        assert!(Reference::parse("[fe80::1%@invalidzone]:5000/repo").is_err());
    }

    // regexp_test.go TestReferenceRegexp.
    #[test]
    fn distribution_reference_regexp_vectors() {
        check(
            "registry.com:8080/myapp:tag",
            Some("registry.com:8080"),
            "myapp",
            Some("tag"),
            None,
        );
        check(
            &format!("registry.com:8080/myapp@{BE17}"),
            Some("registry.com:8080"),
            "myapp",
            None,
            Some(BE17),
        );
        check(
            &format!("registry.com:8080/myapp:tag2@{BE17}"),
            Some("registry.com:8080"),
            "myapp",
            Some("tag2"),
            Some(BE17),
        );
        // `localhost` alone is a repository name, so ":8080" is its tag.
        check(
            &format!("localhost:8080@{BE17}"),
            None,
            "localhost",
            Some("8080"),
            Some(BE17),
        );
        check(
            &format!("localhost:8080/name@{BE17}"),
            Some("localhost:8080"),
            "name",
            None,
            Some(BE17),
        );
        check(
            &format!("localhost@{BE17}"),
            None,
            "localhost",
            None,
            Some(BE17),
        );
        check(
            &format!("localhost:5000/foo@{FFFF}"),
            Some("localhost:5000"),
            "foo",
            None,
            Some(FFFF),
        );
        check("localhost/foo", Some("localhost"), "foo", None, None);

        for bad in [
            "registry.com:8080/myapp@sha256:badbadbadbad",
            "registry.com:8080/myapp@bad",
            "registry.com:8080/myapp@2bad",
        ] {
            assert!(
                matches!(err(bad), ReferenceErrorKind::InvalidDigest(_)),
                "{bad}"
            );
        }
        assert_eq!(
            err("registry.com:8080/myapp:invalid~tag"),
            ReferenceErrorKind::InvalidTag
        );
        assert!(matches!(
            err("bad_hostname.com:8080/myapp:tag"),
            ReferenceErrorKind::InvalidDomain(_)
        ));
        assert!(matches!(
            err(&format!("localhost:http/name@{BE17}")),
            ReferenceErrorKind::InvalidDomain(_)
        ));
    }

    // regexp_test.go TestFullNameRegexp: (input, domain, path) or rejected.
    #[test]
    fn distribution_name_vectors() {
        let valid: &[(&str, Option<&str>, &str)] = &[
            ("short", None, "short"),
            ("simple/name", None, "simple/name"),
            ("library/ubuntu", None, "library/ubuntu"),
            ("docker/stevvooe/app", None, "docker/stevvooe/app"),
            (
                "aa/aa/aa/aa/aa/aa/aa/aa/aa/bb/bb/bb/bb/bb/bb",
                None,
                "aa/aa/aa/aa/aa/aa/aa/aa/aa/bb/bb/bb/bb/bb/bb",
            ),
            ("a/a/a/a", None, "a/a/a/a"),
            ("a", None, "a"),
            ("a/aa/a", None, "a/aa/a"),
            ("foo.com", None, "foo.com"),
            ("foo.com:8080/bar", Some("foo.com:8080"), "bar"),
            ("foo.com/bar/baz", Some("foo.com"), "bar/baz"),
            ("localhost:8080/bar", Some("localhost:8080"), "bar"),
            ("blog.foo.com/bar/baz", Some("blog.foo.com"), "bar/baz"),
            ("aa-a/a", None, "aa-a/a"),
            ("foo_bar", None, "foo_bar"),
            ("foo_bar.com", None, "foo_bar.com"),
            ("foo.com/foo_bar", Some("foo.com"), "foo_bar"),
            ("xn--7o8h.com/myimage", Some("xn--7o8h.com"), "myimage"),
            (
                "example.com/xn--7o8h.com/myimage",
                Some("example.com"),
                "xn--7o8h.com/myimage",
            ),
            (
                "example.com/some_separator__underscore/myimage",
                Some("example.com"),
                "some_separator__underscore/myimage",
            ),
            ("do__cker/docker", None, "do__cker/docker"),
            (
                "registry.io/foo/project--id.module--name.ver---sion--name",
                Some("registry.io"),
                "foo/project--id.module--name.ver---sion--name",
            ),
            ("Asdf.com/foo/bar", Some("Asdf.com"), "foo/bar"),
            // Upper case makes a first component a host (upstream FIXME: "Uppercase" passes).
            ("Uppercase/lowercase:tag", Some("Uppercase"), "lowercase"),
        ];
        for &(input, domain, path) in valid {
            let r = ok(input);
            assert_eq!((r.domain(), r.path()), (domain, path), "{input:?}");
            assert_eq!(r.to_string(), input);
        }
        // Upstream splits "a" off as a host; by Docker's rule it is part of a 257-character path.
        let long = format!("{}a", "a/".repeat(128));
        assert_eq!(err(&long), ReferenceErrorKind::NameTooLong);
        assert_eq!(ok(&format!("a.io/{}", &long[2..])).path(), &long[2..]);

        for bad in [
            "a/a/a/a/",
            "a//a/a",
            "foo.com/",
            "foo.com:http/bar",
            "a^a",
            "aa/asdf$$^/aa",
            "asdf$$^/aa",
            "a-/a/a/a",
            "foo.com/a-/a/a",
            "-foo/bar",
            "foo/bar-",
            "foo-/bar",
            "foo/-bar",
            "_foo/bar",
            "foo_bar.com:8080/app",
            "____/____",
            "_docker/_docker",
            "docker_/docker_",
            "example.com/__underscore/myimage",
            "example.com/..dots/myimage",
            "example.com/.dots/myimage",
            "example.com/nodouble..dots/myimage",
            "docker./docker",
            ".docker/docker",
            "docker-/docker",
            "-docker/docker",
            "do..cker/docker",
            "do__cker:8080/docker",
        ] {
            assert!(Reference::parse(bad).is_err(), "{bad:?} accepted");
        }
        assert_eq!(err("Foo/FarB"), ReferenceErrorKind::UpperCaseInPath);
    }

    // regexp_test.go TestDomainRegexp. We are stricter in two places the upstream comments
    // mark as "will fail on validation": ports above 65535 and malformed IPv6 addresses.
    #[test]
    fn domain_grammar() {
        for good in [
            "test.com",
            "test.com:10304",
            "localhost",
            "localhost:8080",
            "a",
            "a.b",
            "ab.cd.com",
            "a-b.com",
            "ab.c-om",
            "0101.com",
            "001a.com",
            "b.gbc.io:443",
            "b.gbc.io",
            "xn--n3h.com",
            "Asdf.com",
            "192.168.1.1:7505",
            "[fd00:1:2::3]:7505",
            "[2001:0db8:85a3:0000:0000:8a2e:0370:7334]:7505",
            "[::1]",
        ] {
            assert_eq!(check_domain(good), Ok(()), "{good:?}");
        }
        for bad in [
            "test.com:http",
            "-ab.com",
            "ab-.com",
            "ab.-com",
            "ab.com-",
            "192.168.1.1:75050",
            "192.168.1.1:750050",
            "[fd00:1:2::3]75050",
            "[fd00:1:2::3]::75050",
            "[fd00:1:2::3%eth0]:75050",
            "[fd00123123123]:7505",
            "[2001:0db8:85a3:0000:0000:8a2e:0370:7334]:750505",
            "fd00:1:2::3:75050",
            "[2001:db8:3:4::192.0.2.33]",
            "[]",
            "[::1",
            "test.com:",
            "a..b",
            &"a".repeat(256),
        ] {
            assert!(check_domain(bad).is_err(), "{bad:?} accepted");
        }
    }

    // normalize_test.go TestValidateReferenceName / TestValidateRemoteName / TestParseRepositoryInfo.
    #[test]
    fn docker_domain_rule() {
        let cases: &[(&str, Option<&str>, &str)] = &[
            ("docker/docker", None, "docker/docker"),
            ("debian", None, "debian"),
            (
                "localhost/library/debian",
                Some("localhost"),
                "library/debian",
            ),
            (
                "LOCALDOMAIN/library/debian",
                Some("LOCALDOMAIN"),
                "library/debian",
            ),
            (
                "docker.io/docker/docker",
                Some("docker.io"),
                "docker/docker",
            ),
            ("docker.io/debian", Some("docker.io"), "debian"),
            ("index.docker.io/debian", Some("index.docker.io"), "debian"),
            (
                "127.0.0.1:5000/library/debian",
                Some("127.0.0.1:5000"),
                "library/debian",
            ),
            ("192.168.0.1:8/debian", Some("192.168.0.1:8"), "debian"),
            (
                "[fc00::1]:5000/docker/docker",
                Some("[fc00::1]:5000"),
                "docker/docker",
            ),
            (
                "[fc00:1:2:3:4:5:6:7]:5000/library/debian",
                Some("[fc00:1:2:3:4:5:6:7]:5000"),
                "library/debian",
            ),
            ("Docker/docker", Some("Docker"), "docker"),
            ("DOCKER/docker", Some("DOCKER"), "docker"),
            ("Foo/bar", Some("Foo"), "bar"),
            (
                "example.com:8000/private/moonbase",
                Some("example.com:8000"),
                "private/moonbase",
            ),
            ("docker-rules/docker", None, "docker-rules/docker"),
            ("docker---rules/docker", None, "docker---rules/docker"),
            ("d/docker", None, "d/docker"),
            ("jess/t", None, "jess/t"),
            ("dock__er/docker", None, "dock__er/docker"),
            (
                "thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev",
                None,
                "thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev",
            ),
            (
                "docker.io/1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a",
                Some("docker.io"),
                "1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a",
            ),
        ];
        for &(input, domain, path) in cases {
            let r = ok(input);
            assert_eq!((r.domain(), r.path()), (domain, path), "{input:?}");
        }
        for bad in [
            "https://github.com/docker/docker",
            "docker/Docker",
            "-docker",
            "-docker.io/docker/docker",
            "docker///docker",
            "docker.io/docker/Docker",
            "docker.io/docker///docker",
            "[fc00::1]",
            "[fc00::1]:5000",
            "fc00::1:5000/debian",
            "[fe80::1%eth0]:5000/debian",
            "[2001:db8:3:4::192.0.2.33]:5000/debian",
            "1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a",
            "dock_.er/docker",
            "dock-.er/docker",
            "-docker-/docker",
            "docker/",
            "this_is_not_a_valid_namespace_because_its_lenth_is_greater_than_255_this_is_not_a_valid_namespace_because_its_lenth_is_greater_than_255_this_is_not_a_valid_namespace_because_its_lenth_is_greater_than_255_this_is_not_a_valid_namespace_because_its_lenth_is_greater_than_255/docker",
        ] {
            assert!(Reference::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn tags() {
        let t128 = format!("a{}", "b".repeat(127));
        assert_eq!(ok(&format!("foo:{t128}")).tag(), Some(t128.as_str()));
        assert_eq!(ok("foo:_x.Y-9").tag(), Some("_x.Y-9"));
        let t129 = "a".repeat(129);
        assert_eq!(err(&format!("foo:{t129}")), ReferenceErrorKind::InvalidTag);
        for bad in ["foo:", "foo:-x", "foo:.x", "foo:a~b", "foo:a+b", "foo:é"] {
            assert_eq!(err(bad), ReferenceErrorKind::InvalidTag, "{bad:?}");
        }
        assert!(is_format(&err("foo:bar:baz")));
    }

    #[test]
    fn digests() {
        let sha512 = format!("sha512:{}", "f".repeat(128));
        let r = ok(&format!("foo@{sha512}"));
        assert_eq!(r.digest().unwrap().to_string(), sha512);

        let kind = err(&format!("validname@md5:{}", "f".repeat(32)));
        assert!(
            kind.to_string()
                .contains("unsupported digest algorithm \"md5\""),
            "{kind}"
        );
        let kind = err(&format!("validname@sha384:{}", "f".repeat(96)));
        assert!(
            kind.to_string().contains("unsupported digest algorithm"),
            "{kind}"
        );

        for bad in [
            "foo@",
            "foo@sha256",
            "foo@sha256:",
            &format!("foo@{}", FFFF.to_uppercase()),
            &format!("foo@{FFFF}@{FFFF}"),
            &format!("foo@sha256:{}", "F".repeat(64)),
        ] {
            assert!(
                matches!(err(bad), ReferenceErrorKind::InvalidDigest(_)),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn whitespace_and_odd_characters_are_rejected() {
        for bad in [
            " alpine",
            "alpine ",
            "al pine",
            "alpine:la test",
            "alpine\n",
            "alpine\t:3",
            "alpine\0",
            "alpïne",
            "docker.io/alpine\r",
        ] {
            assert!(Reference::parse(bad).is_err(), "{bad:?} accepted");
        }
        assert!(err("a b").to_string().contains("whitespace"));
    }

    #[test]
    fn errors_are_short_and_readable() {
        let huge = format!("{}!", "a".repeat(100_000));
        let e = Reference::parse(&huge).unwrap_err();
        assert_eq!(e.input.chars().count(), MAX_ERROR_INPUT);
        assert!(e.to_string().len() < 600, "{} bytes", e.to_string().len());

        let huge_host = format!("{}.com/foo", "a".repeat(10_000));
        let e = Reference::parse(&huge_host).unwrap_err();
        assert!(matches!(e.kind, ReferenceErrorKind::InvalidDomain(_)));
        assert!(e.to_string().len() < 600);

        let e = Reference::parse("Alpine").unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid reference \"Alpine\": repository name must be lowercase"
        );
        let e = Reference::parse("alpine:-x").unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid reference \"alpine:-x\": tag must match [\\w][\\w.-]{0,127}"
        );
        assert_eq!(
            Reference::parse("").unwrap_err().to_string(),
            "invalid reference \"\": reference is empty"
        );
        let e = Reference::parse("foo/-bar").unwrap_err().to_string();
        assert!(e.contains("\"-bar\""), "{e}");
    }

    /// Random and damaged input never panics, and whatever is accepted prints back as written.
    #[test]
    fn never_panics_and_accepted_input_round_trips() {
        let seeds = [
            format!("[2001:db8::1]:5000/repo:tag@{FFFF}"),
            format!("localhost:5000/foo/bar__baz--q.x:v1.2@{BE17}"),
            "Docker.io/library/alpine:3.20".to_string(),
        ];
        let alphabet = b"aZ09/:@.-_[]%~ \xe9";
        let mut rng = rand::rngs::StdRng::seed_from_u64(0x2545_f491_4f6c_dd1d);
        let mut next = move || rand::Rng::random::<u64>(&mut rng);
        let mut accepted = 0;
        for round in 0..30_000 {
            let mut bytes = seeds[round % seeds.len()].clone().into_bytes();
            for _ in 0..1 + next() % 4 {
                let at = (next() % bytes.len() as u64) as usize;
                let b = alphabet[(next() % alphabet.len() as u64) as usize];
                match next() % 3 {
                    0 => bytes[at] = b,
                    1 => bytes.insert(at, b),
                    _ => {
                        bytes.remove(at);
                    }
                }
            }
            let input = String::from_utf8_lossy(&bytes);
            if let Ok(r) = Reference::parse(&input) {
                accepted += 1;
                assert_eq!(r.to_string(), input);
                assert_eq!(ok(&input), r);
            }
        }
        assert!(accepted > 100, "only {accepted} mutations accepted");
    }
}
