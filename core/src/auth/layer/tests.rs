use super::*;
use crate::auth::Credentials;
use crate::http::scripted::{self, Reply, Scripted};
use crate::http::Stack;
use crate::patience::Patience;

/// The standard answers to challenges: Bearer token services and Basic.
struct Standard;
impl Authenticator for Standard {}
static STANDARD: Standard = Standard;

fn auth_stack(server: &Scripted, credentials: Option<Credentials>) -> Stack {
    let ctx = AuthContext {
        registry_stack: Arc::new(scripted::stack(vec![])),
        other_stack: Arc::new(scripted::stack(vec![])),
        registry: server.url("/"),
        credentials,
        insecure: false,
        patience: Patience::default(),
    };
    let auth = Auth::new(
        &STANDARD,
        ctx,
        Arc::new(TokenCache::default()),
        Scope::pull("a"),
    );
    scripted::stack(vec![Arc::new(auth)])
}

/// A 401 sending us to the server's own token service.
fn bearer(server: &Scripted, extra: &str) -> Reply {
    let realm = server.url("/token");
    Reply::status(401).header(
        "www-authenticate",
        &format!(r#"Bearer realm="{realm}",service="reg"{extra}"#),
    )
}

fn token(t: &str) -> Reply {
    Reply::status(200).body(&format!(r#"{{"token":"{t}","expires_in":300}}"#))
}

#[tokio::test]
async fn a_401_earns_one_token_which_later_requests_reuse() {
    let server = Scripted::start(vec![]).await;
    server.then(vec![
        bearer(&server, ""),
        token("t1"),
        Reply::status(200).body("manifest"),
        Reply::status(200).body("blob"),
    ]);
    let stack = auth_stack(&server, None);
    let resp = stack.send(server.get("/v2/a/manifests/1")).await.unwrap();
    assert_eq!(resp.status(), 200);
    let resp = stack.send(server.get("/v2/a/blobs/x")).await.unwrap();
    assert_eq!(resp.status(), 200);
    let seen = server.seen();
    assert_eq!(seen.len(), 4, "{seen:?}");
    assert_eq!(seen[0].header("authorization"), None);
    assert!(seen[1].target.starts_with("/token?"), "{}", seen[1].target);
    assert!(
        seen[1].target.contains("scope=repository%3Aa%3Apull"),
        "{}",
        seen[1].target
    );
    assert_eq!(seen[2].header("authorization"), Some("Bearer t1"));
    assert_eq!(seen[3].header("authorization"), Some("Bearer t1"));
}

#[tokio::test]
async fn a_401_for_a_token_in_use_renews_it_once() {
    let server = Scripted::start(vec![]).await;
    server.then(vec![
        bearer(&server, ""),
        token("t1"),
        Reply::status(200),
        // Revoked: the next request meets a 401 with t1, and gets t2.
        bearer(&server, ""),
        token("t2"),
        Reply::status(200),
    ]);
    let stack = auth_stack(&server, None);
    stack.send(server.get("/v2/a/manifests/1")).await.unwrap();
    let resp = stack.send(server.get("/v2/a/manifests/2")).await.unwrap();
    assert_eq!(resp.status(), 200);
    let auth: Vec<Option<String>> = server
        .seen()
        .iter()
        .filter(|s| s.target.starts_with("/v2/"))
        .map(|s| s.header("authorization").map(str::to_string))
        .collect();
    assert_eq!(
        auth,
        [
            None,
            Some("Bearer t1".into()),
            Some("Bearer t1".into()),
            Some("Bearer t2".into())
        ]
    );
}

#[tokio::test]
async fn a_second_401_after_answering_is_returned_not_answered_again() {
    let server = Scripted::start(vec![]).await;
    server.then(vec![bearer(&server, ""), token("t1"), bearer(&server, "")]);
    let stack = auth_stack(&server, None);
    let resp = stack.send(server.get("/v2/a/manifests/1")).await.unwrap();
    assert_eq!(resp.status(), 401);
    assert_eq!(server.seen().len(), 3);
}

#[tokio::test]
async fn a_challenge_naming_another_scope_widens_the_token_request() {
    let server = Scripted::start(vec![]).await;
    server.then(vec![
        bearer(&server, r#",scope="repository:b:pull""#),
        token("t1"),
        Reply::status(200),
    ]);
    let stack = auth_stack(&server, None);
    stack.send(server.get("/v2/b/blobs/x")).await.unwrap();
    let asked = &server.seen()[1].target;
    assert!(
        asked.contains("scope=repository%3Aa%3Apull&scope=repository%3Ab%3Apull"),
        "{asked}"
    );
}

#[tokio::test]
async fn the_registry_credential_never_reaches_another_origin() {
    let server = Scripted::start(vec![
        Reply::status(401).header("www-authenticate", r#"Basic realm="reg""#),
        Reply::status(200),
    ])
    .await;
    let elsewhere = Scripted::start(vec![Reply::status(200)]).await;
    let stack = auth_stack(&server, Some(Credentials::password("me", "secret")));
    stack.send(server.get("/v2/a/manifests/1")).await.unwrap();
    assert!(server.seen()[1]
        .header("authorization")
        .is_some_and(|h| h.starts_with("Basic ")));
    stack.send(elsewhere.get("/blob")).await.unwrap();
    assert_eq!(elsewhere.seen()[0].header("authorization"), None);
}

#[tokio::test]
async fn a_401_without_a_challenge_asks_v2_once_for_it() {
    let server = Scripted::start(vec![]).await;
    server.then(vec![
        // GCR's shape: a 401 that says nothing of how to authenticate.
        Reply::status(401),
        bearer(&server, ""),
        token("t1"),
        Reply::status(200).body("manifest"),
        // The token is revoked: again no challenge, answered from what /v2/ said.
        Reply::status(401),
        token("t2"),
        Reply::status(200).body("blob"),
    ]);
    let stack = auth_stack(&server, None);
    let resp = stack.send(server.get("/v2/a/manifests/1")).await.unwrap();
    assert_eq!(resp.status(), 200);
    let resp = stack.send(server.get("/v2/a/blobs/x")).await.unwrap();
    assert_eq!(resp.status(), 200);
    let seen = server.seen();
    let targets: Vec<&str> = seen.iter().map(|s| s.target.as_str()).collect();
    assert_eq!(seen.len(), 7, "{targets:?}");
    assert_eq!(targets[1], "/v2/");
    assert_eq!(seen[1].header("authorization"), None);
    assert!(targets[2].starts_with("/token?"), "{targets:?}");
    assert!(
        targets[2].contains("scope=repository%3Aa%3Apull"),
        "{targets:?}"
    );
    assert_eq!(seen[3].header("authorization"), Some("Bearer t1"));
    assert!(targets[5].starts_with("/token?"), "{targets:?}");
    assert_eq!(seen[6].header("authorization"), Some("Bearer t2"));
    assert_eq!(targets.iter().filter(|t| **t == "/v2/").count(), 1);
}

#[tokio::test]
async fn a_401_without_a_challenge_stays_a_401_when_v2_names_none() {
    let server = Scripted::start(vec![]).await;
    server.then(vec![
        Reply::status(401),
        Reply::status(200),
        Reply::status(401),
    ]);
    let stack = auth_stack(&server, None);
    let resp = stack.send(server.get("/v2/a/manifests/1")).await.unwrap();
    assert_eq!(resp.status(), 401);
    let resp = stack.send(server.get("/v2/a/manifests/2")).await.unwrap();
    assert_eq!(resp.status(), 401);
    let seen = server.seen();
    let targets: Vec<&str> = seen.iter().map(|s| s.target.as_str()).collect();
    assert_eq!(targets, ["/v2/a/manifests/1", "/v2/", "/v2/a/manifests/2"]);
}
