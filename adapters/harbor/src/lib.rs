//! Harbor, self-hosted: chosen with `--registry harbor` (or the configuration file), as it
//! claims no host of its own.
//!
//! Facts about this registry:
//! - Names are `PROJECT/REPOSITORY` as written, under the instance's host; a proxy-cache
//!   project keeps the upstream path after it (`harbor.example/dockerhub/library/alpine`).
//! - Auth: `/v2/` challenges with Bearer and a token service at
//!   `https://HOST/service/token`; tokens are fetched with GET, with the login as Basic.
//! - Quirk: a request carrying an expired or under-scoped token is answered 401 with
//!   **`Basic realm="harbor"`**, not a new Bearer challenge. Answering that with the user's
//!   password as Basic would send the password to every API request; instead this adapter asks
//!   `/v2/` for the Bearer challenge and fetches a new token for the scopes the session needs.
//! - Quirk: the token service answers POST with **405**, so the OAuth2 form (an identity token
//!   exchanged by POST) cannot be used: a stored identity token is sent as the password of a
//!   GET, like any login.
//! - Robot accounts are named `robot$NAME` (`robot$project+name` for project robots): the
//!   `$` (and `+`) are part of the user name, kept as they are in the Basic credentials.

use async_trait::async_trait;
use drag_core::adapter::{
    as_written, Adapter, Authenticator, ManifestQuirks, Registration, Resolver, Target,
};
use drag_core::auth::challenge::Challenge;
use drag_core::auth::{
    answer_challenges, fetch_token, registry_challenges, AuthContext, Credential, Credentials,
    Scope, Secret,
};
use drag_core::reference::Reference;
use drag_core::{Error, Result};

pub const NAME: &str = "harbor";

pub struct Harbor;

impl Adapter for Harbor {
    fn name(&self) -> &'static str {
        NAME
    }

    fn summary(&self) -> &'static str {
        "Harbor, self-hosted (robot$name logins; GET-only token service)"
    }

    fn hosts(&self) -> &'static [&'static str] {
        &[]
    }

    fn normalize(&self, reference: &Reference) -> Result<Target> {
        let registry = reference.domain().ok_or_else(|| {
            Error::Usage(format!(
                "{reference} names no registry; Harbor images are HOST/PROJECT/{}",
                reference.path()
            ))
        })?;
        let registry = registry.to_ascii_lowercase();
        Ok(as_written(&registry, reference))
    }
}

/// The login as Harbor's token service takes it: always a password on a GET, since it refuses
/// the POST an identity token would be exchanged with.
pub fn as_password(credentials: Credentials) -> Credentials {
    match credentials.secret {
        Secret::IdentityToken(token) => Credentials {
            secret: Secret::Password(token),
            ..credentials
        },
        Secret::Password(_) => credentials,
    }
}

#[async_trait]
impl Authenticator for Harbor {
    async fn authenticate(
        &self,
        ctx: &AuthContext,
        challenges: &[Challenge],
        scopes: &[Scope],
    ) -> Result<Option<Credential>> {
        let ctx = ctx.with_credentials(ctx.credentials.clone().map(as_password));
        if let Some(bearer) = challenges.iter().find(|c| c.is_bearer()) {
            return fetch_token(&ctx, bearer, scopes).await.map(Some);
        }
        // Harbor's `Basic realm="harbor"` for a stale or under-scoped token: its `/v2/` says
        // how it really wants to be asked.
        let asked = registry_challenges(&ctx).await?;
        match asked.iter().find(|c| c.is_bearer()) {
            Some(bearer) => fetch_token(&ctx, bearer, scopes).await.map(Some),
            // Only when `/v2/` itself wants Basic is the login sent as Basic.
            None => answer_challenges(&ctx, &asked, scopes).await,
        }
    }

    fn how_to_log_in(&self, host: &str) -> Option<String> {
        Some(format!(
            "`drag login --username USER --password-stdin {host}` (a robot account: \
             --username 'robot$NAME'; an OIDC user: the CLI secret from the Harbor profile as \
             the password)"
        ))
    }
}
impl Resolver for Harbor {}
impl ManifestQuirks for Harbor {}

inventory::submit! { Registration(&Harbor) }

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claims_no_host() {
        assert!(!Harbor.claims("harbor.example"));
        assert!(!Harbor.is_catch_all());
    }

    #[test]
    fn an_identity_token_goes_as_a_password_and_a_robot_name_is_kept() {
        let stored = Credentials {
            username: "robot$proj+ci".into(),
            secret: Secret::IdentityToken("cli-secret".into()),
            source: None,
        };
        let c = as_password(stored);
        assert_eq!(c.identity_token(), None);
        assert_eq!(
            c.basic_header().unwrap(),
            Credentials::password("robot$proj+ci", "cli-secret")
                .basic_header()
                .unwrap()
        );
    }

    #[test]
    fn names_are_kept_as_written() {
        let t = Harbor
            .normalize(&Reference::parse("harbor.example/proj/app:1").unwrap())
            .unwrap();
        assert_eq!(t.full_name(), "harbor.example/proj/app:1");
        assert!(Harbor
            .normalize(&Reference::parse("app").unwrap())
            .unwrap_err()
            .is_usage());
    }
}
