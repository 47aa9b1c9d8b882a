//! `drag login` and `drag logout`: the terminal half. The user name and password are asked
//! here (the password without echo, or read from stdin with `--password-stdin`, never taken
//! as an argument, where other users' `ps` would see it); checking and keeping the login is
//! drag-core's (`drag_core::login`). Messages go to stderr: stdout carries no data here.

use std::io::{BufRead, IsTerminal, Read};
use std::sync::Arc;

use drag_core::auth::Credentials;
use drag_core::http::retry::RetryPolicy;
use drag_core::http::trace::Trace;
use drag_core::login::Checked;
use drag_core::patience::Patience;
use drag_core::{terminal_text, Error, RegistryOptions};

use crate::args::{LoginArgs, LogoutArgs};

/// Far longer than any password or token; more on stdin is a mistake (a file piped in whole).
const MAX_PASSWORD: u64 = 64 << 10;

pub async fn login(args: LoginArgs) -> anyhow::Result<()> {
    let credentials = ask_credentials(&args)?;
    let opts = RegistryOptions {
        adapter: args.place.registry.clone(),
        endpoint: None,
        insecure: args.insecure,
        cert_dir: args.cert_dir.clone(),
        config: drag_core::RegistryConfig::from_environment()?,
        credentials: None,
        auth_file: args.place.authfile.clone(),
        retry: RetryPolicy::default(),
        patience: Patience::default(),
        trace: args
            .verbose
            .then(|| Arc::new(super::StderrTrace) as Arc<dyn Trace>),
        notices: Some(Arc::new(crate::notices::Stderr)),
    };
    let report = drag_core::login::login(&args.host, &credentials, &opts).await?;
    let host = terminal_text::shown(&report.host.host);
    if report.checked == Checked::Open {
        eprintln!(
            "drag: {host} asks for no login (GET /v2/ answered without a challenge): the \
             password could not be checked; kept anyway"
        );
    }
    let place = terminal_text::shown(&report.stored.to_string());
    eprintln!("drag: login for {host} kept in {place}");
    eprintln!("Login Succeeded");
    Ok(())
}

pub fn logout(args: LogoutArgs) -> anyhow::Result<()> {
    let (host, place) = drag_core::login::logout(
        &args.host,
        args.place.registry.as_deref(),
        args.place.authfile.as_deref(),
        &drag_core::RegistryConfig::from_environment()?,
    )?;
    eprintln!(
        "drag: removed from {}",
        terminal_text::shown(&place.to_string())
    );
    eprintln!(
        "Removed login credentials for {}",
        terminal_text::shown(&host.host)
    );
    Ok(())
}

/// The user name (`--username`, else asked) and the password (stdin with
/// `--password-stdin`, else asked without echo). Asking needs a terminal on stdin and stderr.
fn ask_credentials(args: &LoginArgs) -> anyhow::Result<Credentials> {
    let usage = |m: &str| anyhow::Error::from(Error::Usage(m.to_string()));
    let on_terminal = std::io::stdin().is_terminal() && std::io::stderr().is_terminal();
    let username = match &args.username {
        Some(u) => u.clone(),
        None if args.password_stdin => {
            return Err(usage("--password-stdin needs --username"));
        }
        None if on_terminal => {
            eprint!("Username: ");
            let mut line = String::new();
            std::io::stdin()
                .lock()
                .read_line(&mut line)
                .map_err(|e| Error::io("reading the user name", e))?;
            line.trim().to_string()
        }
        None => {
            return Err(usage(
                "no terminal to ask for the user name and password on: give --username and \
                 pipe the password in with --password-stdin",
            ))
        }
    };
    if username.is_empty() {
        return Err(usage("the user name is empty"));
    }
    if username.contains(':') {
        return Err(usage("a user name cannot contain ':'"));
    }
    let password = if args.password_stdin {
        read_password_stdin()?
    } else if on_terminal {
        eprint!("Password: ");
        console::Term::stderr()
            .read_secure_line()
            .map_err(|e| Error::io("reading the password", e))?
    } else {
        return Err(usage(
            "no terminal to ask for the password on: pipe it in with --password-stdin",
        ));
    };
    if password.is_empty() {
        return Err(usage("the password is empty"));
    }
    Ok(Credentials::password(&username, &password).from_source("drag login"))
}

/// All of stdin, without the one trailing newline (`\n` or `\r\n`) `echo` and files end with,
/// as `docker login --password-stdin` reads it.
fn read_password_stdin() -> anyhow::Result<String> {
    let mut bytes = Vec::new();
    std::io::stdin()
        .lock()
        .take(MAX_PASSWORD + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Error::io("reading the password from standard input", e))?;
    if bytes.len() as u64 > MAX_PASSWORD {
        return Err(Error::Usage(format!(
            "more than {MAX_PASSWORD} bytes on standard input: not a password"
        ))
        .into());
    }
    let text = String::from_utf8(bytes)
        .map_err(|_| Error::Usage("the password on standard input is not UTF-8".into()))?;
    Ok(strip_newline(&text).to_string())
}

fn strip_newline(s: &str) -> &str {
    let s = s.strip_suffix('\n').unwrap_or(s);
    s.strip_suffix('\r').unwrap_or(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_trailing_newline_is_dropped() {
        assert_eq!(strip_newline("pw\n"), "pw");
        assert_eq!(strip_newline("pw\r\n"), "pw");
        assert_eq!(strip_newline("pw\n\n"), "pw\n");
        assert_eq!(strip_newline(" pw "), " pw ");
    }
}
