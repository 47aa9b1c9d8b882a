//! Azure Container Registry: `NAME.azurecr.io` (and the sovereign clouds' `NAME.azurecr.cn`,
//! `NAME.azurecr.us`).
//!
//! Facts about this registry:
//! - Names are used as written: no `library/` is added, repositories nest (`team/app`).
//! - Every request, anonymous or not, goes through a Bearer token service on the registry's
//!   own host (`https://NAME.azurecr.io/oauth2/token`). Its answers carry only
//!   `access_token`, no `token`; the shared token path reads either.
//! - Logins come in two kinds:
//!   - an Entra ID identity: `az acr login --name NAME --expose-token` prints a refresh token
//!     to be used with the user name `00000000-0000-0000-0000-000000000000` (the null GUID).
//!     That password is not a password: it is exchanged for access tokens by **POST**ing
//!     `grant_type=refresh_token&refresh_token=...` to the realm, and GET with Basic is
//!     refused. This adapter turns that user's password into an identity token, so the shared
//!     token path POSTs it ([`as_refresh_token`]); an identity token already stored (as
//!     `docker login` stores ACR's) takes the same path.
//!   - the admin user, or a repository-scoped token: a user name and password, sent as Basic
//!     on a GET of the realm, as for any token service.
//! - Access tokens are short-lived (minutes): a pull that outlives one meets a 401 and the
//!   auth layer asks for a new one, as it does for any registry.

use async_trait::async_trait;
use drag_core::adapter::{
    as_written, Adapter, Authenticator, ManifestQuirks, Registration, Resolver, Target,
};
use drag_core::auth::challenge::Challenge;
use drag_core::auth::{answer_challenges, AuthContext, Credential, Credentials, Scope, Secret};
use drag_core::reference::Reference;
use drag_core::{Error, Result};

pub const NAME: &str = "acr";
const HOSTS: &[&str] = &["*.azurecr.io", "*.azurecr.cn", "*.azurecr.us"];

/// The user name whose password is a refresh token from `az acr login --expose-token`.
pub const REFRESH_TOKEN_USER: &str = "00000000-0000-0000-0000-000000000000";

pub struct Acr;

impl Adapter for Acr {
    fn name(&self) -> &'static str {
        NAME
    }

    fn summary(&self) -> &'static str {
        "Azure Container Registry; az acr login --expose-token refresh tokens"
    }

    fn hosts(&self) -> &'static [&'static str] {
        HOSTS
    }

    fn normalize(&self, reference: &Reference) -> Result<Target> {
        let registry = reference.domain().ok_or_else(|| {
            Error::Usage(format!(
                "{reference} names no registry; ACR images are NAME.azurecr.io/{}",
                reference.path()
            ))
        })?;
        let registry = registry.to_ascii_lowercase();
        Ok(as_written(&registry, reference))
    }
}

/// The login as ACR means it: the null-GUID user's password is a refresh token, to be
/// exchanged by POST; any other login is kept as it is.
pub fn as_refresh_token(credentials: &Credentials) -> Option<Credentials> {
    match &credentials.secret {
        Secret::Password(token) if credentials.username == REFRESH_TOKEN_USER => {
            Some(Credentials {
                username: credentials.username.clone(),
                secret: Secret::IdentityToken(token.clone()),
                source: credentials.source.clone(),
            })
        }
        _ => None,
    }
}

#[async_trait]
impl Authenticator for Acr {
    async fn authenticate(
        &self,
        ctx: &AuthContext,
        challenges: &[Challenge],
        scopes: &[Scope],
    ) -> Result<Option<Credential>> {
        match ctx.credentials.as_ref().and_then(as_refresh_token) {
            Some(refresh) => {
                answer_challenges(&ctx.with_credentials(Some(refresh)), challenges, scopes).await
            }
            None => answer_challenges(ctx, challenges, scopes).await,
        }
    }

    fn how_to_log_in(&self, host: &str) -> Option<String> {
        let name = host.split('.').next().unwrap_or(host);
        Some(format!(
            "`az acr login --name {name} --expose-token --output tsv --query accessToken | \
             drag login --username {REFRESH_TOKEN_USER} --password-stdin {host}`, or with the \
             admin user or a token: `drag login --username USER --password-stdin {host}`"
        ))
    }
}
impl Resolver for Acr {}
impl ManifestQuirks for Acr {}

inventory::submit! { Registration(&Acr) }

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claims_azure_registries_in_every_cloud() {
        for host in ["myreg.azurecr.io", "myreg.azurecr.cn", "myreg.azurecr.us"] {
            assert!(Acr.claims(host), "{host}");
        }
        assert!(!Acr.claims("azurecr.io"));
        assert!(!Acr.claims("myreg.azurecr.io.example"));
    }

    #[test]
    fn only_the_null_guid_users_password_is_a_refresh_token() {
        let refresh =
            as_refresh_token(&Credentials::password(REFRESH_TOKEN_USER, "eyJ-refresh")).unwrap();
        assert_eq!(refresh.identity_token(), Some("eyJ-refresh"));
        assert!(refresh.basic_header().is_none());
        assert!(as_refresh_token(&Credentials::password("admin", "pw")).is_none());
    }

    #[test]
    fn names_are_kept_as_written() {
        let t = Acr
            .normalize(&Reference::parse("myreg.azurecr.io/team/app:1").unwrap())
            .unwrap();
        assert_eq!(t.name.repository, "team/app");
        assert_eq!(t.full_name(), "myreg.azurecr.io/team/app:1");
    }
}
