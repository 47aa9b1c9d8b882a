//! The registry API as distribution answers it: manifests as stored (media type, digest,
//! Accept), blobs whole and by range, writes refused, paged lists, referrers.

use std::path::Path;

use drag_tests::{http_client, response_json, sha256_digest};

use super::{error_code, get, header, serve, sources};
#[tokio::test(flavor = "multi_thread")]
async fn manifests_and_blobs_are_served_as_stored_with_ranges() {
    let s = sources();
    let served = serve(&s);
    let base = format!("{}/v2", served.url());
    let r = get(&format!("{base}/"), &[]).await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        header(&r, "docker-distribution-api-version"),
        "registry/2.0"
    );

    let url = format!("{base}/library/alpine/manifests/3.9");
    let head = http_client().head(&url).send().await.unwrap();
    assert_eq!(head.status(), 200);
    assert_eq!(header(&head, "docker-content-digest"), s.alpine.digest());
    assert_eq!(
        header(&head, "content-type"),
        "application/vnd.docker.distribution.manifest.v2+json"
    );
    assert_eq!(
        header(&head, "content-length"),
        s.alpine.manifest.bytes.len().to_string()
    );
    let r = get(&url, &[]).await;
    assert_eq!(r.bytes().await.unwrap(), s.alpine.manifest.bytes);
    let r = get(&format!("{base}/org/app/manifests/{}", s.app.digest()), &[]).await;
    assert_eq!(
        header(&r, "content-type"),
        "application/vnd.oci.image.manifest.v1+json"
    );
    assert_eq!(r.bytes().await.unwrap(), s.app.manifest.bytes);
    // A client that does not take the stored type is told so rather than given it.
    let r = get(
        &url,
        &[("accept", "application/vnd.oci.image.index.v1+json")],
    )
    .await;
    assert_eq!(r.status(), 404);
    assert_eq!(error_code(r).await, "MANIFEST_UNKNOWN");

    let layer = &s.alpine.layers[0].blob;
    let blob_url = format!("{base}/library/alpine/blobs/{}", layer.digest);
    let r = get(&blob_url, &[]).await;
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "docker-content-digest"), layer.digest);
    assert!(r.bytes().await.unwrap() == layer.bytes);
    let size = layer.bytes.len();
    let r = get(&blob_url, &[("range", "bytes=10-1009")]).await;
    assert_eq!(r.status(), 206);
    assert_eq!(header(&r, "content-range"), format!("bytes 10-1009/{size}"));
    assert!(r.bytes().await.unwrap() == layer.bytes[10..1010]);
    let r = get(&blob_url, &[("range", "bytes=-100")]).await;
    assert_eq!(r.status(), 206);
    assert!(r.bytes().await.unwrap() == layer.bytes[size - 100..]);
    for bad in [
        format!("bytes={size}-"),
        "bytes=9-3".into(),
        "lines=1-2".into(),
    ] {
        let r = get(&blob_url, &[("range", &bad)]).await;
        assert_eq!(r.status(), 416, "{bad}");
        assert_eq!(header(&r, "content-range"), format!("bytes */{size}"));
    }
    // From a layout directory as from a tar.
    let app_layer = &s.app.layers[1].blob;
    let r = get(
        &format!("{base}/org/app/blobs/{}", app_layer.digest),
        &[("range", "bytes=100-")],
    )
    .await;
    assert_eq!(r.status(), 206);
    assert!(r.bytes().await.unwrap() == app_layer.bytes[100..]);
    // Each repository answers for its own images' blobs only.
    let r = get(&format!("{base}/org/app/blobs/{}", layer.digest), &[]).await;
    assert_eq!(r.status(), 404);
    assert_eq!(error_code(r).await, "BLOB_UNKNOWN");
    let r = get(&format!("{base}/nothing/here/manifests/1"), &[]).await;
    assert_eq!(r.status(), 404);
    assert_eq!(error_code(r).await, "NAME_UNKNOWN");
    // containerd's mirror requests name the upstream registry: accepted.
    let r = get(&format!("{url}?ns=docker.io"), &[]).await;
    assert_eq!(r.status(), 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn writes_are_refused_with_unsupported() {
    let s = sources();
    let served = serve(&s);
    let base = format!("{}/v2/library/alpine", served.url());
    let client = http_client();
    let digest = s.alpine.digest();
    for request in [
        client.post(format!("{base}/blobs/uploads/")),
        client.put(format!("{base}/manifests/3.9")).body("{}"),
        client.delete(format!("{base}/manifests/{digest}")),
        client.patch(format!("{base}/blobs/uploads/1")).body("x"),
    ] {
        let r = request.send().await.unwrap();
        assert_eq!(r.status(), 405);
        assert_eq!(header(&r, "allow"), "GET, HEAD");
        let body = response_json(r).await;
        assert_eq!(body["errors"][0]["code"], "UNSUPPORTED");
        assert!(
            body["errors"][0]["message"]
                .as_str()
                .unwrap()
                .contains("read-only"),
            "{body}"
        );
    }
    let r = get(&format!("{base}/manifests/3.9"), &[]).await;
    assert_eq!(r.status(), 200, "nothing was changed");
}

/// Follows `Link` headers from `first`, returning each page's `key` list.
async fn pages(first: String, key: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let mut next = Some(first);
    let origin = next
        .as_ref()
        .unwrap()
        .split("/v2/")
        .next()
        .unwrap()
        .to_string();
    while let Some(url) = next.take() {
        let r = get(&url, &[]).await;
        assert_eq!(r.status(), 200);
        next = r.headers().get("link").map(|l| {
            let l = l.to_str().unwrap();
            let path = l.trim_start_matches('<').split('>').next().unwrap();
            assert!(l.ends_with("rel=\"next\""), "{l}");
            format!("{origin}{path}")
        });
        let body = response_json(r).await;
        out.push(
            body[key]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t.as_str().unwrap().to_string())
                .collect(),
        );
        assert!(out.len() < 10, "paging does not end");
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn tags_and_the_catalogue_are_paged_with_n_last_and_link() {
    let s = sources();
    let served = serve(&s);
    let base = format!("{}/v2", served.url());
    let all = pages(format!("{base}/library/alpine/tags/list"), "tags").await;
    assert_eq!(all, [["3.10", "3.9", "edge"]]);
    let paged = pages(format!("{base}/library/alpine/tags/list?n=2"), "tags").await;
    assert_eq!(paged, [vec!["3.10", "3.9"], vec!["edge"]]);
    let after = pages(format!("{base}/library/alpine/tags/list?last=3.9"), "tags").await;
    assert_eq!(after, [["edge"]]);
    let catalog = pages(format!("{base}/_catalog?n=1"), "repositories").await;
    assert_eq!(catalog, [["library/alpine"], ["org/app"]]);
}

/// Writes `bytes` as a blob of the layout at `dir`; its descriptor.
fn add_blob(dir: &Path, media_type: &str, bytes: &[u8]) -> serde_json::Value {
    let digest = sha256_digest(bytes);
    let path = dir
        .join("blobs/sha256")
        .join(digest.trim_start_matches("sha256:"));
    std::fs::write(path, bytes).unwrap();
    serde_json::json!({"mediaType": media_type, "digest": digest, "size": bytes.len()})
}

#[tokio::test(flavor = "multi_thread")]
async fn referrers_list_the_manifests_whose_subject_is_asked_for() {
    let s = sources();
    let layout = s.path("app");
    // An SBOM for org/app:1, written into the layout as `oras attach` would push it.
    let empty = add_blob(&layout, "application/vnd.oci.empty.v1+json", b"{}");
    let sbom = add_blob(
        &layout,
        "application/spdx+json",
        b"{\"spdxVersion\":\"SPDX-2.3\"}",
    );
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "artifactType": "application/spdx+json",
        "config": empty,
        "layers": [sbom],
        "subject": {
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": s.app.digest(),
            "size": s.app.manifest.bytes.len(),
        },
        "annotations": {"org.example.kind": "sbom"},
    });
    let bytes = serde_json::to_vec(&manifest).unwrap();
    let desc = add_blob(
        &layout,
        "application/vnd.oci.image.manifest.v1+json",
        &bytes,
    );
    let index_path = layout.join("index.json");
    let mut index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&index_path).unwrap()).unwrap();
    index["manifests"]
        .as_array_mut()
        .unwrap()
        .push(desc.clone());
    std::fs::write(&index_path, serde_json::to_vec(&index).unwrap()).unwrap();

    let served = serve(&s);
    let base = format!("{}/v2/org/app", served.url());
    let r = get(&format!("{base}/referrers/{}", s.app.digest()), &[]).await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        header(&r, "content-type"),
        "application/vnd.oci.image.index.v1+json"
    );
    let body = response_json(r).await;
    let entries = body["manifests"].as_array().unwrap();
    assert_eq!(entries.len(), 1, "{body}");
    assert_eq!(entries[0]["digest"], desc["digest"]);
    assert_eq!(entries[0]["artifactType"], "application/spdx+json");
    assert_eq!(entries[0]["annotations"]["org.example.kind"], "sbom");
    let r = get(
        &format!(
            "{base}/referrers/{}?artifactType=application/vnd.example.other",
            s.app.digest()
        ),
        &[],
    )
    .await;
    assert_eq!(header(&r, "oci-filters-applied"), "artifactType");
    assert_eq!(response_json(r).await["manifests"], serde_json::json!([]));
    // The referrer itself is served from its subject's repository.
    let r = get(
        &format!("{base}/manifests/{}", desc["digest"].as_str().unwrap()),
        &[],
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.bytes().await.unwrap(), bytes);
    // An image nothing refers to has none.
    let r = get(
        &format!(
            "{}/v2/library/alpine/referrers/{}",
            served.url(),
            s.alpine.digest()
        ),
        &[],
    )
    .await;
    assert_eq!(response_json(r).await["manifests"], serde_json::json!([]));
}
