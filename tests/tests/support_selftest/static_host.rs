use drag_tests::{http_client, Listener, StaticHost};
use reqwest::StatusCode;

#[tokio::test(flavor = "multi_thread")]
async fn serves_registered_paths_and_records_credentials() {
    let host = StaticHost::start([("/layers/base.tar.gz", b"foreign bytes".to_vec())]);
    host.add("/later", "added");
    let client = http_client();

    let found = client
        .get(host.url_for("/layers/base.tar.gz"))
        .bearer_auth("leaked")
        .send()
        .await
        .unwrap();
    assert_eq!(found.status(), StatusCode::OK);
    assert_eq!(found.bytes().await.unwrap(), &b"foreign bytes"[..]);
    let later = client.get(host.url_for("/later")).send().await.unwrap();
    assert_eq!(later.text().await.unwrap(), "added");
    let missing = client.get(host.url_for("/nope")).send().await.unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);

    let requests = host.requests();
    assert_eq!(requests.len(), 3);
    assert_eq!(requests[0].listener, Listener::Static);
    assert_eq!(requests[0].authorization.as_deref(), Some("Bearer leaked"));
    assert_eq!(requests[1].authorization, None);
    assert_eq!(requests[2].path(), "/nope");
}
