use std::time::{Duration, Instant};

use drag_tests::bytes::noise;
use drag_tests::{
    http_client, response_json, sha256_digest, Compression, FakeRegistry, Fault, ImageBuilder,
    Layer, LayerBuilder,
};
use futures_util::StreamExt;
use reqwest::StatusCode;

/// A layer big enough to span many body pieces (incompressible content).
fn big_layer() -> Layer {
    LayerBuilder::new()
        .file("blob.bin", noise(300_000, 12345), 0o644)
        .build(Compression::Gzip)
}

fn registry_with(layer: &Layer) -> FakeRegistry {
    let registry = FakeRegistry::start();
    registry.push_image("r", "t", &ImageBuilder::new().layer(layer.clone()).build());
    registry
}

/// Reads a body until it ends or fails: (bytes received, whether it failed).
async fn read_body(response: reqwest::Response) -> (Vec<u8>, bool) {
    let mut received = Vec::new();
    let mut stream = response.bytes_stream();
    while let Some(chunk) = stream.next().await {
        match chunk {
            Ok(chunk) => received.extend_from_slice(&chunk),
            Err(_) => return (received, true),
        }
    }
    (received, false)
}

#[tokio::test(flavor = "multi_thread")]
async fn drop_after_cuts_the_connection_and_a_range_request_resumes() {
    let layer = big_layer();
    let registry = registry_with(&layer);
    let digest = layer.blob.digest.clone();
    registry.fault(Fault::DropAfter {
        digest: digest.clone(),
        bytes: 100_000,
    });
    let client = http_client();
    let url = format!("{}/v2/r/blobs/{digest}", registry.url());

    let first = client.get(&url).send().await.unwrap();
    assert_eq!(first.content_length(), Some(layer.blob.size()));
    let (prefix, failed) = read_body(first).await;
    assert!(failed, "the body must end in an error, not a clean EOF");
    assert_eq!(prefix.len(), 100_000);
    assert!(registry.pending_faults().is_empty(), "faults are used up");

    let rest = client
        .get(&url)
        .header("range", format!("bytes={}-", prefix.len()))
        .send()
        .await
        .unwrap();
    assert_eq!(rest.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(
        rest.headers()["content-range"],
        format!(
            "bytes 100000-{}/{}",
            layer.blob.size() - 1,
            layer.blob.size()
        )
        .as_str()
    );
    let (suffix, failed) = read_body(rest).await;
    assert!(!failed);
    let whole = [prefix, suffix].concat();
    assert_eq!(sha256_digest(&whole), digest);
    assert_eq!(registry.blob_get_count(&digest), 2);
    assert_eq!(
        registry.requests()[1].range.as_deref(),
        Some("bytes=100000-")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn status_faults_answer_the_next_blob_gets_then_stop() {
    let layer = big_layer();
    let registry = registry_with(&layer);
    registry.fault(Fault::Status {
        status: 503,
        times: 2,
        retry_after: Some(7),
    });
    let client = http_client();
    let url = format!("{}/v2/r/blobs/{}", registry.url(), layer.blob.digest);
    for _ in 0..2 {
        let response = client.get(&url).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()["retry-after"], "7");
        let body = response_json(response).await;
        assert!(body["errors"][0]["code"].is_string());
    }
    let ok = client.get(&url).send().await.unwrap();
    assert_eq!(ok.status(), StatusCode::OK);
    assert_eq!(ok.bytes().await.unwrap(), layer.blob.bytes);
}

#[tokio::test(flavor = "multi_thread")]
async fn flip_byte_corrupts_exactly_one_byte_once() {
    let layer = big_layer();
    let registry = registry_with(&layer);
    registry.fault(Fault::FlipByte {
        digest: layer.blob.digest.clone(),
        offset: 1234,
    });
    let client = http_client();
    let url = format!("{}/v2/r/blobs/{}", registry.url(), layer.blob.digest);
    let corrupt = client
        .get(&url)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(corrupt.len(), layer.blob.bytes.len());
    let differing: Vec<usize> = (0..corrupt.len())
        .filter(|&i| corrupt[i] != layer.blob.bytes[i])
        .collect();
    assert_eq!(differing, [1234]);
    let clean = client
        .get(&url)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(clean, layer.blob.bytes);
}

#[tokio::test(flavor = "multi_thread")]
async fn stall_pauses_mid_body_then_completes() {
    let layer = big_layer();
    let registry = registry_with(&layer);
    registry.fault(Fault::Stall {
        digest: layer.blob.digest.clone(),
        after_bytes: 50_000,
        for_ms: 400,
    });
    let client = http_client();
    let url = format!("{}/v2/r/blobs/{}", registry.url(), layer.blob.digest);
    let response = client.get(&url).send().await.unwrap();
    let mut stream = response.bytes_stream();
    let mut received = Vec::new();
    let mut longest_gap = Duration::ZERO;
    let mut last = Instant::now();
    while let Some(chunk) = stream.next().await {
        longest_gap = longest_gap.max(last.elapsed());
        last = Instant::now();
        received.extend_from_slice(&chunk.unwrap());
    }
    assert_eq!(received, layer.blob.bytes);
    assert!(
        longest_gap >= Duration::from_millis(350),
        "gap {longest_gap:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn chunked_fault_omits_content_length_once() {
    let layer = big_layer();
    let registry = registry_with(&layer);
    registry.fault(Fault::Chunked);
    let client = http_client();
    let url = format!("{}/v2/r/blobs/{}", registry.url(), layer.blob.digest);
    let chunked = client.get(&url).send().await.unwrap();
    assert!(chunked.headers().get("content-length").is_none());
    assert_eq!(chunked.headers()["transfer-encoding"], "chunked");
    assert_eq!(chunked.bytes().await.unwrap(), layer.blob.bytes);
    let normal = client.get(&url).send().await.unwrap();
    assert_eq!(normal.content_length(), Some(layer.blob.size()));
}

#[tokio::test(flavor = "multi_thread")]
async fn body_faults_apply_at_the_cdn_when_blobs_redirect() {
    let layer = big_layer();
    let registry = FakeRegistry::builder().cdn(true).start();
    registry.push_image("r", "t", &ImageBuilder::new().layer(layer.clone()).build());
    registry.fault(Fault::DropAfter {
        digest: layer.blob.digest.clone(),
        bytes: 10,
    });
    let client = http_client();
    let redirect = client
        .get(format!(
            "{}/v2/r/blobs/{}",
            registry.url(),
            layer.blob.digest
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(redirect.status(), StatusCode::TEMPORARY_REDIRECT);
    assert_eq!(
        registry.pending_faults().len(),
        1,
        "the redirect sends no body"
    );
    let location = redirect.headers()["location"].to_str().unwrap().to_string();
    let (prefix, failed) = read_body(client.get(&location).send().await.unwrap()).await;
    assert!(failed);
    assert_eq!(prefix.len(), 10);
}

#[tokio::test(flavor = "multi_thread")]
async fn unsatisfiable_ranges_get_416() {
    let layer = big_layer();
    let registry = registry_with(&layer);
    let response = http_client()
        .get(format!(
            "{}/v2/r/blobs/{}",
            registry.url(),
            layer.blob.digest
        ))
        .header("range", format!("bytes={}-", layer.blob.size()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::RANGE_NOT_SATISFIABLE);
}
