//! User credentials for a registry: a user name with a password, or an identity token (the
//! OAuth2 refresh token `docker login` stores for some registries).

use base64::Engine as _;

use crate::error::{Error, Result};

/// A user's login for one registry (`--user`, an auth file, a credential helper).
#[derive(Clone)]
pub struct Credentials {
    /// The user name.
    pub username: String,
    /// What proves it.
    pub secret: Secret,
    /// Where it was found (`--user`, an auth file's path, a credential helper), for the
    /// message when a registry refuses it; not part of its identity.
    pub source: Option<String>,
}

impl PartialEq for Credentials {
    fn eq(&self, other: &Credentials) -> bool {
        self.username == other.username && self.secret == other.secret
    }
}

impl Eq for Credentials {}

/// What proves a user name.
#[derive(Clone, PartialEq, Eq)]
pub enum Secret {
    /// A password (or a personal access token used as one): sent as Basic.
    Password(String),
    /// Exchanged at the token service (`grant_type=refresh_token`); never sent as Basic.
    IdentityToken(String),
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Secret::Password(_) => f.write_str("Password(<redacted>)"),
            Secret::IdentityToken(_) => f.write_str("IdentityToken(<redacted>)"),
        }
    }
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match self.secret {
            Secret::Password(_) => "password",
            Secret::IdentityToken(_) => "identity token",
        };
        write!(f, "Credentials({} / <redacted {kind}>)", self.username)
    }
}

impl Credentials {
    /// Parses `USER:PASSWORD`.
    pub fn parse(s: &str) -> Result<Credentials> {
        let (u, p) = s
            .split_once(':')
            .ok_or_else(|| Error::Usage("--user expects USER:PASSWORD".into()))?;
        if u.is_empty() {
            return Err(Error::Usage("--user has an empty user name".into()));
        }
        Ok(Credentials::password(u, p).from_source("--user"))
    }

    /// A user name and password.
    pub fn password(username: &str, password: &str) -> Credentials {
        Credentials {
            username: username.to_string(),
            secret: Secret::Password(password.to_string()),
            source: None,
        }
    }

    /// The same login, saying where it was found.
    pub fn from_source(mut self, source: impl Into<String>) -> Credentials {
        self.source = Some(source.into());
        self
    }

    /// `Authorization: Basic ...`, for credentials that have a password.
    pub fn basic_header(&self) -> Option<String> {
        let Secret::Password(password) = &self.secret else {
            return None;
        };
        let raw = format!("{}:{password}", self.username);
        Some(format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(raw)
        ))
    }

    /// The OAuth2 refresh token, for credentials that are one.
    pub fn identity_token(&self) -> Option<&str> {
        match &self.secret {
            Secret::IdentityToken(t) => Some(t),
            Secret::Password(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_header_and_redaction() {
        let c = Credentials::parse("u:p:with:colons").unwrap();
        assert!(c.secret == Secret::Password("p:with:colons".into()));
        assert_eq!(c.basic_header().unwrap(), "Basic dTpwOndpdGg6Y29sb25z");
        assert!(!format!("{c:?}").contains("p:with"));
        assert!(Credentials::parse("nocolon").is_err());
        assert!(Credentials::parse(":pw").is_err());

        let token = Credentials {
            username: "<token>".into(),
            secret: Secret::IdentityToken("refresh-me".into()),
            source: None,
        };
        assert!(token.basic_header().is_none());
        assert_eq!(token.identity_token(), Some("refresh-me"));
        assert!(!format!("{token:?}").contains("refresh-me"));
    }
}
