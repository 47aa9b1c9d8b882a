//! A token service for the real registry's `auth: token` mode, the way Harbor, GitLab and
//! docker_auth lock a distribution registry: the registry trusts JWTs signed by a key it was
//! given a certificate for, and the service decides, per user, which of the asked actions to
//! grant. Unlike the fake registry's token flow, the registry here checks every token itself,
//! so a test shows that drag asks for what distribution really wants (`pull,push` on the
//! destination, `pull` on a mount source) and uses what it is given.
//!
//! Tokens are ES256 JWTs carrying their self-signed certificate in `x5c`; that certificate is
//! the registry's whole `rootcertbundle`. Every request to `/token` is logged with who asked,
//! the scopes asked and the access granted.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};

use crate::server::{bind_loopback, local_addr, BackgroundServer};

/// The `service` the registry's challenges name and tokens are issued for.
pub const SERVICE: &str = "drag-test-registry";
/// Who signs the tokens.
const ISSUER: &str = "drag-test-token-service";
/// How long a token lives, in seconds.
const TOKEN_SECONDS: u64 = 300;

/// A user and what it may do: `(repository prefix, actions)` pairs; the prefix `""` means
/// every repository.
#[derive(Clone, Debug)]
pub struct Account {
    pub user: String,
    pub password: String,
    pub grants: Vec<(String, Vec<String>)>,
}

impl Account {
    /// `user`/`password`, allowed `actions` (`"pull,push"`) on repositories under `prefix`.
    pub fn new(user: &str, password: &str, prefix: &str, actions: &str) -> Account {
        Account {
            user: user.to_string(),
            password: password.to_string(),
            grants: vec![(
                prefix.to_string(),
                actions.split(',').map(str::to_string).collect(),
            )],
        }
    }
}

/// One request to `/token`, as answered.
#[derive(Clone, Debug)]
pub struct TokenRequest {
    /// The Basic user, or `None` for an anonymous request.
    pub user: Option<String>,
    /// Every `scope` parameter, as sent.
    pub scopes: Vec<String>,
    /// `repository:NAME:ACTIONS` for what the token grants (empty actions left out).
    pub granted: Vec<String>,
}

struct Shared {
    accounts: Vec<Account>,
    signer: EcdsaKeyPair,
    /// The signing certificate, DER, base64 (standard alphabet, as `x5c` wants).
    certificate: String,
    log: Mutex<Vec<TokenRequest>>,
}

/// A running token service and the certificate a registry must trust for it.
pub struct TokenService {
    shared: Arc<Shared>,
    url: String,
    dir: tempfile::TempDir,
    _server: BackgroundServer,
}

impl TokenService {
    /// Starts a service that knows `accounts`; anonymous requests get tokens granting nothing.
    pub fn start(accounts: Vec<Account>) -> TokenService {
        let key = rcgen::KeyPair::generate().expect("token signing key");
        let params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("cert params");
        let certificate = params.self_signed(&key).expect("self-sign the token key");
        let dir = tempfile::Builder::new()
            .prefix("drag-token-service-")
            .tempdir()
            .expect("temp dir for the token certificate");
        std::fs::write(dir.path().join("token.crt"), certificate.pem()).expect("write cert");
        let signer = EcdsaKeyPair::from_pkcs8(
            &ECDSA_P256_SHA256_FIXED_SIGNING,
            &key.serialize_der(),
            &SystemRandom::new(),
        )
        .expect("rcgen's key is P-256 PKCS#8");
        let shared = Arc::new(Shared {
            accounts,
            signer,
            certificate: STANDARD.encode(certificate.der()),
            log: Mutex::new(Vec::new()),
        });
        let listener = bind_loopback();
        let url = format!("http://{}", local_addr(&listener));
        let router = Router::new()
            .route("/token", get(token))
            .with_state(shared.clone());
        let server = BackgroundServer::start("token service", vec![(listener, router)]);
        TokenService {
            shared,
            url,
            dir,
            _server: server,
        }
    }

    /// The `realm` a registry sends clients to.
    pub fn realm(&self) -> String {
        format!("{}/token", self.url)
    }

    /// The certificate the registry's `rootcertbundle` names.
    pub fn certificate(&self) -> PathBuf {
        self.dir.path().join("token.crt")
    }

    /// The `auth:` part of a distribution config that trusts this service.
    pub fn registry_yaml(&self) -> String {
        format!(
            "auth:\n  token:\n    realm: {}\n    service: {SERVICE}\n    issuer: {ISSUER}\n    rootcertbundle: {}\n",
            self.realm(),
            path_text(&self.certificate()),
        )
    }

    /// A token for `subject` granting `access` (`(repository, "pull,push")` pairs), for a test
    /// to look at the registry directly.
    pub fn mint(&self, subject: &str, access: &[(&str, &str)]) -> String {
        let access: Vec<(String, Vec<String>)> = access
            .iter()
            .map(|(name, actions)| {
                let actions = actions.split(',').map(str::to_string).collect();
                (name.to_string(), actions)
            })
            .collect();
        sign(&self.shared, subject, &access)
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<TokenRequest> {
        self.shared.log.lock().unwrap().clone()
    }
}

fn path_text(path: &Path) -> String {
    path.display().to_string()
}

/// `GET /token?service=...&scope=...`: checks the Basic login if one is sent (a wrong one is a
/// 401), then grants each scope's actions the account allows.
async fn token(
    State(shared): State<Arc<Shared>>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let pairs: Vec<(String, String)> =
        url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
            .into_owned()
            .collect();
    let scopes: Vec<String> = pairs
        .iter()
        .filter(|(k, _)| k == "scope")
        .map(|(_, v)| v.clone())
        .collect();
    if !pairs.iter().any(|(k, v)| k == "service" && v == SERVICE) {
        return (StatusCode::BAD_REQUEST, "unknown service").into_response();
    }
    let account = match basic_login(&headers) {
        None => None,
        Some((user, password)) => {
            match shared
                .accounts
                .iter()
                .find(|a| a.user == user && a.password == password)
            {
                Some(account) => Some(account.clone()),
                None => {
                    shared.log.lock().unwrap().push(TokenRequest {
                        user: Some(user),
                        scopes,
                        granted: Vec::new(),
                    });
                    return (
                        StatusCode::UNAUTHORIZED,
                        axum::Json(
                            serde_json::json!({"details": "incorrect username or password"}),
                        ),
                    )
                        .into_response();
                }
            }
        }
    };
    let mut access: Vec<(String, Vec<String>)> = Vec::new();
    for scope in &scopes {
        // `repository:NAME:ACTIONS`; NAME may hold no colon, ACTIONS are comma-separated.
        let mut parts = scope.splitn(3, ':');
        let (Some("repository"), Some(name), Some(actions)) =
            (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        let allowed = |action: &str| {
            account.as_ref().is_some_and(|a| {
                a.grants.iter().any(|(prefix, actions)| {
                    name.starts_with(prefix.as_str()) && actions.iter().any(|x| x == action)
                })
            })
        };
        let granted: Vec<String> = actions
            .split(',')
            .filter(|a| allowed(a))
            .map(str::to_string)
            .collect();
        if !granted.is_empty() {
            access.push((name.to_string(), granted));
        }
    }
    let user = account.as_ref().map(|a| a.user.clone());
    let token = sign(&shared, user.as_deref().unwrap_or(""), &access);
    shared.log.lock().unwrap().push(TokenRequest {
        user,
        scopes,
        granted: access
            .iter()
            .map(|(name, actions)| format!("repository:{name}:{}", actions.join(",")))
            .collect(),
    });
    let body = serde_json::json!({
        "token": token,
        "access_token": token,
        "expires_in": TOKEN_SECONDS,
    });
    (
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

/// The `(user, password)` of an `Authorization: Basic` header.
fn basic_login(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let decoded = STANDARD.decode(value.strip_prefix("Basic ")?).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_string(), password.to_string()))
}

/// A compact JWS of the claims distribution checks: issuer, audience, times, access.
fn sign(shared: &Shared, subject: &str, access: &[(String, Vec<String>)]) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs();
    let header = serde_json::json!({"typ": "JWT", "alg": "ES256", "x5c": [shared.certificate]});
    let access: Vec<serde_json::Value> = access
        .iter()
        .map(|(name, actions)| {
            serde_json::json!({"type": "repository", "name": name, "actions": actions})
        })
        .collect();
    let claims = serde_json::json!({
        "iss": ISSUER,
        "sub": subject,
        "aud": SERVICE,
        "exp": now + TOKEN_SECONDS,
        "nbf": now - 5,
        "iat": now,
        "jti": format!("{now}-{}", rand::random::<u64>()),
        "access": access,
    });
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let signature = shared
        .signer
        .sign(&SystemRandom::new(), input.as_bytes())
        .expect("sign a token");
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature.as_ref()))
}
