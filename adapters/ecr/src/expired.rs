//! ECR's answer to an expired login: a 403, not a 401.
//!
//! The token `aws ecr get-login-password` prints lasts 12 hours. Once it has expired, ECR
//! answers every request carrying it with **403** and
//! `{"errors":[{"code":"DENIED","message":"Your authorization token has expired.
//! Reauthenticate and try again."}]}`. A 403 is not a challenge, so the auth layer would not
//! act on it, and asking again cannot help: the answer is made final, with a hint saying how
//! to renew the login. Other 403s (a login without `ecr:BatchGetImage` on the repository) are
//! left to their status.

use drag_core::adapter::{Answer, ResponseQuirks, Verdict};
use drag_core::http::{HeaderMap, StatusCode};
use drag_core::RegistryError;

use crate::login_command;

/// What ECR says when the login it was given has expired (matched without regard to case).
const EXPIRED: &str = "authorization token has expired";

/// ECR's reading of its answers: a 403 whose body says the login expired is final.
pub(crate) struct ExpiredLogin;

impl ResponseQuirks for ExpiredLogin {
    fn inspect_response(&self, status: StatusCode, _headers: &HeaderMap) -> Verdict {
        Verdict {
            notice: None,
            // Only the body tells an expired login from another refusal.
            answer: if status == StatusCode::FORBIDDEN {
                Answer::ReadError
            } else {
                Answer::AsItsStatusSays
            },
        }
    }

    fn inspect_error(&self, error: &RegistryError, _headers: &HeaderMap) -> Option<String> {
        let expired = error.diagnostics.iter().any(|d| {
            d.message
                .as_deref()
                .is_some_and(|m| m.to_ascii_lowercase().contains(EXPIRED))
        });
        expired.then(|| renew(error.url.as_ref().map(|u| u.host())))
    }
}

/// The hint for an expired login to `host`.
fn renew(host: Option<&str>) -> String {
    format!(
        "the ECR login has expired (get-login-password tokens last 12 hours): renew it with {}",
        login_command(host.unwrap_or("HOST"))
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXPIRED_BODY: &[u8] = br#"{"errors":[{"code":"DENIED","message":"Your authorization token has expired. Reauthenticate and try again."}]}"#;

    #[test]
    fn a_403_is_judged_by_its_body_and_other_answers_by_their_status() {
        let h = HeaderMap::new();
        assert_eq!(
            ExpiredLogin
                .inspect_response(StatusCode::FORBIDDEN, &h)
                .answer,
            Answer::ReadError
        );
        for s in [
            StatusCode::OK,
            StatusCode::UNAUTHORIZED,
            StatusCode::NOT_FOUND,
        ] {
            assert_eq!(
                ExpiredLogin.inspect_response(s, &h).answer,
                Answer::AsItsStatusSays
            );
        }
    }

    #[test]
    fn an_expired_login_is_final_and_says_how_to_renew_it() {
        let e = RegistryError::from_body("manifest x", 403, EXPIRED_BODY);
        let hint = ExpiredLogin.inspect_error(&e, &HeaderMap::new()).unwrap();
        assert!(hint.starts_with("the ECR login has expired"), "{hint}");
        assert!(
            hint.contains("aws ecr get-login-password --region REGION | drag login --username AWS --password-stdin HOST"),
            "{hint}"
        );
    }

    #[test]
    fn another_denial_is_left_to_its_status() {
        let e = RegistryError::from_body(
            "manifest x",
            403,
            br#"{"errors":[{"code":"DENIED","message":"User: arn:aws:iam::1:user/ci is not authorized to perform: ecr:BatchGetImage"}]}"#,
        );
        assert_eq!(ExpiredLogin.inspect_error(&e, &HeaderMap::new()), None);
    }
}
