//! Docker's credential-helper protocol: `docker-credential-NAME get` reads a server address on
//! stdin and prints `{"Username": ..., "Secret": ...}`; `store` reads
//! `{"ServerURL", "Username", "Secret"}` and `erase` a server address (what `drag login` and
//! `drag logout` ask). Desktop keychains, `pass`, and the cloud registries (ECR, GCR, ACR) keep
//! their credentials behind such helpers.

use std::io::{Read, Write};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use serde::Deserialize;

use super::credentials::{Credentials, Secret};
use crate::error::{Error, Result};

/// A helper that has not answered by then is stuck (waiting for a GUI prompt, say).
const TIMEOUT: Duration = Duration::from_secs(60);
/// Far more than any credential; the rest of a larger answer is not read.
const MAX_ANSWER: u64 = 1 << 20;

/// What the protocol's helpers say when they hold nothing for a server.
const NOT_FOUND: &str = "credentials not found";

#[derive(Deserialize)]
struct Answer {
    #[serde(rename = "Username", default)]
    username: String,
    #[serde(rename = "Secret", default)]
    secret: String,
}

/// `docker-credential-NAME`, once `name` is known to be one plain word: it comes from a config
/// file and becomes part of a program name.
fn program(name: &str) -> Result<String> {
    if name.is_empty()
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    {
        return Err(Error::Auth(format!(
            "credential helper name {name:?} is not a plain name"
        )));
    }
    Ok(format!("docker-credential-{name}"))
}

/// Asks helper `name` for `server`'s credentials. `Ok(None)` when the helper has none, or is
/// not installed (a config copied from another machine often names one).
pub fn get(name: &str, server: &str) -> Result<Option<Credentials>> {
    ask(&program(name)?, server)
}

/// Has helper `name` keep `credentials` for `server`. A password only: an identity token is
/// what a registry hands out, never what a user types.
pub fn store(name: &str, server: &str, credentials: &Credentials) -> Result<()> {
    keep(&program(name)?, server, credentials)
}

/// Has helper `name` forget `server`; `Ok(false)` when it held nothing for it.
pub fn erase(name: &str, server: &str) -> Result<bool> {
    forget(&program(name)?, server)
}

/// Runs `program store` with the protocol's JSON on stdin.
fn keep(program: &str, server: &str, credentials: &Credentials) -> Result<()> {
    let Secret::Password(secret) = &credentials.secret else {
        return Err(Error::Auth("only a password can be stored".into()));
    };
    let request = serde_json::json!({
        "ServerURL": server,
        "Username": credentials.username,
        "Secret": secret,
    });
    let (status, out) = run_installed(program, "store", request.to_string().as_bytes())?;
    if !status.success() {
        return Err(failed(program, status, &out));
    }
    Ok(())
}

/// Runs `program erase` with `server` on stdin.
fn forget(program: &str, server: &str) -> Result<bool> {
    let (status, out) = run_installed(program, "erase", server.as_bytes())?;
    if status.success() {
        return Ok(true);
    }
    if String::from_utf8_lossy(&out).contains(NOT_FOUND) {
        return Ok(false);
    }
    Err(failed(program, status, &out))
}

/// Runs `program get` with `server` on stdin and reads its answer.
fn ask(program: &str, server: &str) -> Result<Option<Credentials>> {
    let Some((status, out)) = run(program, "get", server.as_bytes())? else {
        return Ok(None);
    };
    let text = String::from_utf8_lossy(&out);
    if !status.success() {
        // The protocol's way of saying "nothing stored for this server".
        if text.contains(NOT_FOUND) {
            return Ok(None);
        }
        return Err(failed(program, status, &out));
    }
    let answer: Answer = serde_json::from_slice(&out).map_err(|e| {
        Error::Auth(format!(
            "credential helper {program}: answer is not the expected JSON: {e}"
        ))
    })?;
    if answer.secret.is_empty() {
        return Ok(None);
    }
    // Docker's convention: user "<token>" means the secret is an identity token.
    let secret = if answer.username == "<token>" {
        Secret::IdentityToken(answer.secret)
    } else {
        Secret::Password(answer.secret)
    };
    Ok(Some(Credentials {
        username: answer.username,
        secret,
        source: None,
    }))
}

/// [`run`] for writing: a helper the config names must be there.
fn run_installed(program: &str, action: &str, input: &[u8]) -> Result<(ExitStatus, Vec<u8>)> {
    run(program, action, input)?.ok_or_else(|| {
        Error::Auth(format!(
            "credential helper {program} is not installed (not found on PATH)"
        ))
    })
}

fn failed(program: &str, status: ExitStatus, out: &[u8]) -> Error {
    let text = String::from_utf8_lossy(out);
    Error::Auth(format!(
        "credential helper {program}: {status}: {}",
        text.trim().chars().take(200).collect::<String>()
    ))
}

/// Runs `program action` with `input` on stdin: its exit status and (capped) stdout, or
/// None when the helper is not installed.
fn run(program: &str, action: &str, input: &[u8]) -> Result<Option<(ExitStatus, Vec<u8>)>> {
    let fail = |what: String| Error::Auth(format!("credential helper {program}: {what}"));
    let mut child = match Command::new(program)
        .arg(action)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
    {
        Ok(child) => child,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(fail(format!("could not run it: {e}"))),
    };
    if let Some(mut stdin) = child.stdin.take() {
        // A helper that exits without reading makes this a broken pipe; its answer says more.
        let _ = stdin.write_all(input);
    }
    let stdout = child.stdout.take();
    let reader = std::thread::spawn(move || {
        let mut out = Vec::new();
        if let Some(s) = stdout {
            let _ = s.take(MAX_ANSWER).read_to_end(&mut out);
        }
        out
    });
    let deadline = Instant::now() + TIMEOUT;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(10));
            }
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(fail(format!("no answer after {}s", TIMEOUT.as_secs())));
            }
            Err(e) => return Err(fail(format!("waiting for it: {e}"))),
        }
    };
    Ok(Some((status, reader.join().unwrap_or_default())))
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    /// A helper script that answers with `body` (and `status`), whatever it is asked.
    fn helper(dir: &std::path::Path, body: &str, status: i32) -> String {
        let path = dir.join("docker-credential-test");
        let script = format!("#!/bin/sh\nread server\ncat <<'EOF'\n{body}\nEOF\nexit {status}\n");
        std::fs::write(&path, script).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path.display().to_string()
    }

    #[test]
    fn answers_become_credentials() {
        let dir = tempfile::tempdir().unwrap();
        let p = helper(
            dir.path(),
            r#"{"ServerURL":"x","Username":"u","Secret":"s"}"#,
            0,
        );
        assert_eq!(ask(&p, "x").unwrap(), Some(Credentials::password("u", "s")));
        let p = helper(
            dir.path(),
            r#"{"Username":"<token>","Secret":"refresh"}"#,
            0,
        );
        assert_eq!(
            ask(&p, "x").unwrap().unwrap().identity_token(),
            Some("refresh")
        );
        let p = helper(dir.path(), "credentials not found in native keychain", 1);
        assert_eq!(ask(&p, "x").unwrap(), None);
        let p = helper(dir.path(), "keychain locked", 1);
        let e = ask(&p, "x").unwrap_err().to_string();
        assert!(e.contains("keychain locked"), "{e}");
        let p = helper(dir.path(), "not json", 0);
        assert!(ask(&p, "x").is_err());
    }

    #[test]
    fn store_and_erase_send_the_protocols_input_and_read_its_verdicts() {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("docker-credential-rec");
        let log = dir.path().join("log");
        let missing = dir.path().join("missing");
        let script = format!(
            "#!/bin/sh\nprintf '%s ' \"$1\" >> '{log}'\ncat >> '{log}'\necho >> '{log}'\n\
             if [ -e '{missing}' ]; then echo 'credentials not found in native keychain'; exit 1; fi\n",
            log = log.display(),
            missing = missing.display(),
        );
        std::fs::write(&bin, script).unwrap();
        std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
        let program = bin.display().to_string();
        keep(&program, "h:5000", &Credentials::password("alice", "s\"3")).unwrap();
        assert!(forget(&program, "h:5000").unwrap());
        let logged = std::fs::read_to_string(&log).unwrap();
        let lines: Vec<&str> = logged.lines().collect();
        let (action, json) = lines[0].split_once(' ').unwrap();
        assert_eq!(action, "store");
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(json).unwrap(),
            serde_json::json!({"ServerURL": "h:5000", "Username": "alice", "Secret": "s\"3"})
        );
        assert_eq!(lines[1], "erase h:5000");
        // Nothing held: not an error, but not erased either.
        std::fs::write(&missing, "").unwrap();
        assert!(!forget(&program, "h:5000").unwrap());
        let e = keep(&program, "h", &Credentials::password("a", "b")).unwrap_err();
        assert!(e.to_string().contains("credentials not found"), "{e}");
        let absent = dir
            .path()
            .join("docker-credential-absent")
            .display()
            .to_string();
        let e = keep(&absent, "h", &Credentials::password("a", "b")).unwrap_err();
        assert!(e.to_string().contains("not installed"), "{e}");
        assert!(store("../x", "h", &Credentials::password("a", "b")).is_err());
        assert!(erase("", "h").is_err());
    }

    #[test]
    fn missing_helpers_have_no_credentials_and_odd_names_are_refused() {
        assert_eq!(get("drag-test-no-such-helper", "x").unwrap(), None);
        assert!(get("../../bin/sh", "x").is_err());
        assert!(get("", "x").is_err());
    }
}
