//! Amazon Elastic Container Registry (private): `ACCOUNT.dkr.ecr.REGION.amazonaws.com`.
//!
//! Facts about this registry:
//! - Hosts: `ACCOUNT.dkr.ecr.REGION.amazonaws.com`, in China
//!   `ACCOUNT.dkr.ecr.REGION.amazonaws.com.cn`, the FIPS endpoints
//!   `ACCOUNT.dkr.ecr-fips.REGION.amazonaws.com`, and the dual-stack (IPv6) endpoints
//!   `ACCOUNT.dkr-ecr.REGION.on.aws` and `ACCOUNT.dkr-ecr-fips.REGION.on.aws`.
//! - Names are used as written: no `library/` is added, and repositories nest freely
//!   (`team/service/api`).
//! - Auth: every request is challenged with Basic only,
//!   `Basic realm="https://HOST/",service="ecr.amazonaws.com"`; no token service. The login is
//!   user `AWS` with the token `aws ecr get-login-password` prints (valid 12 hours), or what
//!   the `ecr-login` credential helper (`docker-credential-ecr-login`) returns for the host.
//!   The shared auth path answers the Basic challenge with that login.
//! - How to log in: `aws ecr get-login-password --region REGION | drag login --username AWS
//!   --password-stdin HOST`; without a login, the error says exactly that ([`login_command`]).
//! - An expired login is not a 401: ECR answers **403** `DENIED` "Your authorization token
//!   has expired. Reauthenticate and try again." Asking again cannot help, so that answer is
//!   final (no retries) and says how to renew the login ([`expired`]).
//! - Manifests come without `Docker-Content-Digest`; the core hashes the body, as for any
//!   registry.
//! - Tag lists page with `n`/`last` and `Link`, and `n` over 1000 is refused with a 400:
//!   drag asks for pages of 1000 and never more ([`PAGE_SIZE`]).

pub mod expired;

use drag_core::adapter::{
    as_written, Adapter, Authenticator, ManifestQuirks, Registration, Resolver, ResponseQuirks,
    Target,
};
use drag_core::reference::Reference;
use drag_core::{Error, Result};

pub const NAME: &str = "ecr";
const HOSTS: &[&str] = &[
    "*.dkr.ecr.*.amazonaws.com",
    "*.dkr.ecr.*.amazonaws.com.cn",
    "*.dkr.ecr-fips.*.amazonaws.com",
    "*.dkr-ecr.*.on.aws",
    "*.dkr-ecr-fips.*.on.aws",
];

/// The largest tag page ECR serves: `n` over it is a 400.
pub const PAGE_SIZE: usize = 1000;

pub struct Ecr;

impl Adapter for Ecr {
    fn name(&self) -> &'static str {
        NAME
    }

    fn summary(&self) -> &'static str {
        "Amazon ECR (private); log in as AWS with `aws ecr get-login-password`"
    }

    fn hosts(&self) -> &'static [&'static str] {
        HOSTS
    }

    fn normalize(&self, reference: &Reference) -> Result<Target> {
        let registry = reference.domain().ok_or_else(|| {
            Error::Usage(format!(
                "{reference} names no registry; ECR images are \
                 ACCOUNT.dkr.ecr.REGION.amazonaws.com/{}",
                reference.path()
            ))
        })?;
        let registry = registry.to_ascii_lowercase();
        Ok(as_written(&registry, reference))
    }

    fn response_quirks(&self) -> Option<&'static dyn ResponseQuirks> {
        Some(&expired::ExpiredLogin)
    }

    fn tag_page_size(&self) -> Option<usize> {
        Some(PAGE_SIZE)
    }
}

/// The region an ECR host names (`us-east-1` of `1.dkr.ecr.us-east-1.amazonaws.com`, or of
/// `1.dkr-ecr.us-east-1.on.aws`); None for any other host (an `--endpoint`).
pub fn region(host: &str) -> Option<&str> {
    let host = host.split(':').next().unwrap_or(host);
    let labels: Vec<&str> = host.split('.').collect();
    let region = match labels.as_slice() {
        [_, "dkr", "ecr" | "ecr-fips", region, "amazonaws", "com", ..] => *region,
        [_, "dkr-ecr" | "dkr-ecr-fips", region, "on", "aws"] => *region,
        _ => return None,
    };
    Some(region).filter(|r| !r.is_empty())
}

/// The command that logs in to `host`: the token from `aws ecr get-login-password` as the
/// password of user `AWS`, read from standard input.
pub fn login_command(host: &str) -> String {
    let region = region(&host.to_ascii_lowercase())
        .map(str::to_string)
        .unwrap_or_else(|| "REGION".into());
    format!(
        "`aws ecr get-login-password --region {region} | drag login --username AWS \
         --password-stdin {host}` (or the ecr-login credential helper, \
         docker-credential-ecr-login)"
    )
}

impl Authenticator for Ecr {
    // The Basic challenge is answered by the shared path with the `AWS` login.
    fn how_to_log_in(&self, host: &str) -> Option<String> {
        Some(login_command(host))
    }
}
impl Resolver for Ecr {}
impl ManifestQuirks for Ecr {}

inventory::submit! { Registration(&Ecr) }

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claims_every_ecr_endpoint_and_nothing_else() {
        for host in [
            "123456789012.dkr.ecr.us-east-1.amazonaws.com",
            "123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn",
            "123456789012.dkr.ecr-fips.us-gov-west-1.amazonaws.com",
            "123456789012.dkr-ecr.eu-west-1.on.aws",
        ] {
            assert!(Ecr.claims(host), "{host}");
        }
        for host in [
            "public.ecr.aws",
            "dkr.ecr.us-east-1.amazonaws.com",
            "123456789012.dkr.ecr.us-east-1.amazonaws.com.evil.example",
            "api.ecr.us-east-1.amazonaws.com",
        ] {
            assert!(!Ecr.claims(host), "{host}");
        }
    }

    #[test]
    fn names_are_kept_as_written() {
        let t = Ecr
            .normalize(
                &Reference::parse("123456789012.dkr.ecr.us-east-1.amazonaws.com/team/app:1")
                    .unwrap(),
            )
            .unwrap();
        assert_eq!(t.name.repository, "team/app");
        assert_eq!(
            t.full_name(),
            "123456789012.dkr.ecr.us-east-1.amazonaws.com/team/app:1"
        );
        let t = Ecr
            .normalize(&Reference::parse("1.dkr.ecr.eu-west-1.amazonaws.com/alpine").unwrap())
            .unwrap();
        assert_eq!(t.name.repository, "alpine");
        assert!(Ecr
            .normalize(&Reference::parse("app").unwrap())
            .unwrap_err()
            .is_usage());
    }

    #[test]
    fn the_login_command_names_the_hosts_region() {
        assert_eq!(
            region("123456789012.dkr.ecr.us-east-1.amazonaws.com"),
            Some("us-east-1")
        );
        assert_eq!(
            region("1.dkr.ecr.cn-north-1.amazonaws.com.cn"),
            Some("cn-north-1")
        );
        assert_eq!(region("1.dkr-ecr.eu-west-1.on.aws"), Some("eu-west-1"));
        assert_eq!(region("127.0.0.1:5000"), None);
        assert_eq!(
            login_command("1.dkr.ecr.eu-west-1.amazonaws.com"),
            "`aws ecr get-login-password --region eu-west-1 | drag login --username AWS \
             --password-stdin 1.dkr.ecr.eu-west-1.amazonaws.com` (or the ecr-login \
             credential helper, docker-credential-ecr-login)"
        );
        assert!(login_command("127.0.0.1:5000").contains("--region REGION |"));
    }
}
