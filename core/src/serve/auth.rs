//! `--htpasswd FILE`: HTTP Basic logins checked against an htpasswd file, as distribution's
//! `auth: htpasswd` does, and with the same rule that only bcrypt hashes (`htpasswd -B`, `$2y$`)
//! are accepted: MD5-crypt, SHA-1 and plain entries are a startup error naming the line, not
//! a login that silently never works.
//!
//! bcrypt is slow on purpose, and clients send their credentials with every request, so a
//! login that was checked once is remembered (as a SHA-256 of user and password, never the
//! password) and checks run on the blocking pool, off the threads serving requests.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::{Arc, Mutex};

use base64::Engine;

use crate::error::{Error, Result};

/// The largest htpasswd file read.
const MAX_FILE_BYTES: u64 = 1 << 20;
/// How many checked logins are remembered (a full cache is cleared, then refilled).
const MAX_REMEMBERED: usize = 1024;

/// The users of an htpasswd file.
pub(crate) struct Htpasswd {
    users: HashMap<String, String>,
    remembered: Mutex<HashSet<[u8; 32]>>,
}

impl Htpasswd {
    /// Reads `path`, refusing any entry that is not `user:bcrypt-hash`.
    pub(crate) fn read(path: &Path) -> Result<Htpasswd> {
        let usage = |why: String| Error::Usage(format!("--htpasswd {}: {why}", path.display()));
        let meta = std::fs::metadata(path).map_err(|e| Error::io_path("reading", path, e))?;
        if meta.len() > MAX_FILE_BYTES {
            return Err(usage(format!("larger than {MAX_FILE_BYTES} bytes")));
        }
        let text = std::fs::read_to_string(path).map_err(|e| Error::io_path("reading", path, e))?;
        let mut users = HashMap::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (user, hash) = line
                .split_once(':')
                .ok_or_else(|| usage(format!("line {}: not USER:HASH", i + 1)))?;
            if !["$2a$", "$2b$", "$2y$", "$2x$"]
                .iter()
                .any(|p| hash.starts_with(p))
            {
                return Err(usage(format!(
                    "line {} ({user}): only bcrypt hashes are accepted, as by distribution's registry (make them with `htpasswd -B`)",
                    i + 1
                )));
            }
            if hash.parse::<bcrypt::HashParts>().is_err() {
                return Err(usage(format!(
                    "line {} ({user}): malformed bcrypt hash",
                    i + 1
                )));
            }
            users.insert(user.to_string(), hash.to_string());
        }
        if users.is_empty() {
            return Err(usage("no users".into()));
        }
        Ok(Htpasswd {
            users,
            remembered: Mutex::new(HashSet::new()),
        })
    }

    /// Whether an `Authorization` header value is a valid Basic login; the user name when it is.
    pub(crate) async fn check(self: &Arc<Self>, header: Option<&str>) -> Option<String> {
        let (user, password) = basic(header?)?;
        let hash = self.users.get(&user)?.clone();
        let key = {
            use sha2::Digest as _;
            let mut h = sha2::Sha256::new();
            h.update(user.as_bytes());
            h.update([0]);
            h.update(password.as_bytes());
            h.update([0]);
            h.update(hash.as_bytes());
            <[u8; 32]>::from(h.finalize())
        };
        if self.lock().contains(&key) {
            return Some(user);
        }
        let ok = tokio::task::spawn_blocking(move || bcrypt::verify(password, &hash))
            .await
            .ok()?
            .ok()?;
        if !ok {
            return None;
        }
        let mut remembered = self.lock();
        if remembered.len() >= MAX_REMEMBERED {
            remembered.clear();
        }
        remembered.insert(key);
        Some(user)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashSet<[u8; 32]>> {
        self.remembered.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// `Basic base64(user:password)`.
fn basic(header: &str) -> Option<(String, String)> {
    let (scheme, encoded) = header.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_string(), password.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(text: &str) -> tempfile::NamedTempFile {
        let f = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(f.path(), text).unwrap();
        f
    }

    #[tokio::test]
    async fn bcrypt_logins_are_checked_and_remembered() {
        let hash = bcrypt::hash("secret", 4).unwrap();
        let f = file(&format!("# users\nalice:{hash}\n"));
        let h = Arc::new(Htpasswd::read(f.path()).unwrap());
        let header = |u: &str, p: &str| {
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"))
            )
        };
        assert_eq!(
            h.check(Some(&header("alice", "secret"))).await.as_deref(),
            Some("alice")
        );
        assert_eq!(h.lock().len(), 1);
        assert_eq!(
            h.check(Some(&header("alice", "secret"))).await.as_deref(),
            Some("alice")
        );
        assert_eq!(h.check(Some(&header("alice", "wrong"))).await, None);
        assert_eq!(h.check(Some(&header("bob", "secret"))).await, None);
        assert_eq!(h.check(Some("Bearer x")).await, None);
        assert_eq!(h.check(None).await, None);
    }

    #[test]
    fn other_hash_kinds_are_refused_at_startup() {
        for line in [
            "bob:$apr1$abc$def",
            "bob:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=",
            "bob:plain",
            "bob",
            "",
        ] {
            let f = file(line);
            let err = Htpasswd::read(f.path()).err().unwrap().to_string();
            assert!(err.contains("--htpasswd"), "{err}");
        }
        let f = file("bob:$apr1$abc$def\n");
        let err = Htpasswd::read(f.path()).err().unwrap().to_string();
        assert!(err.contains("line 1 (bob): only bcrypt"), "{err}");
    }
}
