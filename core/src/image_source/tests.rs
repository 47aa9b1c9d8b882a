//! Sources built by hand in a directory: a classic archive's shape and a layout's, with the
//! hostile variants of each.

use std::io::Read;
use std::path::Path;

use serde_json::json;

use super::*;
use crate::manifest::media_type;

fn sha(b: &[u8]) -> Digest {
    Digest::sha256_of(b)
}

/// A one-file tar, as a layer.
fn layer_tar(content: &str) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(content.len() as u64);
    h.set_mode(0o644);
    b.append_data(&mut h, "file", content.as_bytes()).unwrap();
    b.into_inner().unwrap()
}

fn config_for(layers: &[&[u8]]) -> Vec<u8> {
    let diff_ids: Vec<String> = layers.iter().map(|l| sha(l).to_string()).collect();
    serde_json::to_vec(&json!({
        "architecture": "amd64", "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    }))
    .unwrap()
}

fn write(dir: &Path, name: &str, bytes: &[u8]) {
    let p = dir.join(name);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, bytes).unwrap();
}

/// A classic `docker save` tree: `manifest.json`, `<id>.json`, `<id>/layer.tar`.
fn classic(dir: &Path, layers: &[&[u8]], tags: &[&str]) -> Vec<u8> {
    let config = config_for(layers);
    write(dir, "cfg.json", &config);
    let mut names = Vec::new();
    for (i, l) in layers.iter().enumerate() {
        write(dir, &format!("l{i}/layer.tar"), l);
        names.push(format!("l{i}/layer.tar"));
    }
    write(
        dir,
        "manifest.json",
        &serde_json::to_vec(&json!([{"Config": "cfg.json", "RepoTags": tags, "Layers": names}]))
            .unwrap(),
    );
    config
}

fn read_all(mut r: BlobReader) -> std::io::Result<Vec<u8>> {
    let mut v = Vec::new();
    r.read_to_end(&mut v)?;
    Ok(v)
}

#[test]
fn a_classic_archive_lists_its_image_with_layers_named_by_diff_id() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (layer_tar("one"), layer_tar("two"));
    let config = classic(dir.path(), &[&a, &b], &["alpine:3.9"]);
    let source = ImageSource::open(dir.path()).unwrap();
    let [image] = source.images() else {
        panic!("one image")
    };
    assert_eq!(image.references, ["alpine:3.9"]);
    assert_eq!(image.config.as_ref().unwrap().digest, sha(&config));
    assert_eq!(image.layers[1].digest, sha(&b));
    assert_eq!(image.manifest.digest, sha(&image.manifest.bytes));
    assert_eq!(
        read_all(source.open_blob(&image.layers[0]).unwrap()).unwrap(),
        a
    );
}

#[test]
fn uncompressed_layers_are_pushed_gzipped_under_a_new_manifest_with_the_same_config() {
    let dir = tempfile::tempdir().unwrap();
    let scratch = tempfile::tempdir().unwrap();
    let (a, b) = (layer_tar("one"), layer_tar("two"));
    let config = classic(dir.path(), &[&a, &b, &a], &["x.io/app:1"]);
    let source = ImageSource::open(dir.path()).unwrap();
    let image = &source.images()[0];
    let form = source.push_form(image, scratch.path(), 2).unwrap();
    assert!(form.rewritten(image));
    let manifest: serde_json::Value = serde_json::from_slice(&form.manifest.bytes).unwrap();
    assert_eq!(manifest["mediaType"], media_type::DOCKER_MANIFEST);
    assert_eq!(manifest["config"]["digest"], sha(&config).to_string());
    assert_eq!(manifest["layers"].as_array().unwrap().len(), 3);
    // The repeated layer is compressed and pushed once.
    assert_eq!(form.blobs.len(), 3);
    for (blob, raw) in form.blobs[1..].iter().zip([&a, &b]) {
        assert_eq!(blob.desc.media_type, media_type::DOCKER_LAYER_GZIP);
        let gz = read_all(source.open_push_blob(blob).unwrap()).unwrap();
        let mut plain = Vec::new();
        flate2::read::GzDecoder::new(&gz[..])
            .read_to_end(&mut plain)
            .unwrap();
        assert_eq!(&plain, raw);
    }
}

#[test]
fn a_layer_that_is_not_its_diff_id_fails_when_read() {
    let dir = tempfile::tempdir().unwrap();
    let a = layer_tar("one");
    classic(dir.path(), &[&a], &[]);
    write(dir.path(), "l0/layer.tar", &layer_tar("eno"));
    let source = ImageSource::open(dir.path()).unwrap();
    let err = source
        .push_form(&source.images()[0], dir.path(), 1)
        .unwrap_err()
        .to_string();
    assert!(err.contains("digest mismatch"), "{err}");
}

#[test]
fn classic_paths_leaving_the_archive_and_duplicate_names_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let a = layer_tar("one");
    classic(dir.path(), &[&a], &["a:1"]);
    write(
        dir.path(),
        "manifest.json",
        br#"[{"Config":"../cfg.json","RepoTags":[],"Layers":["l0/layer.tar"]}]"#,
    );
    let err = ImageSource::open(dir.path()).unwrap_err().to_string();
    assert!(err.contains("leaves"), "{err}");

    let b = layer_tar("two");
    let cfg_b = config_for(&[&b]);
    write(dir.path(), "cfg2.json", &cfg_b);
    write(dir.path(), "m/layer.tar", &b);
    write(
        dir.path(),
        "manifest.json",
        br#"[{"Config":"cfg.json","RepoTags":["a:1"],"Layers":["l0/layer.tar"]},
             {"Config":"cfg2.json","RepoTags":["a:1"],"Layers":["m/layer.tar"]}]"#,
    );
    let err = ImageSource::open(dir.path()).unwrap_err().to_string();
    assert!(err.contains("names two images"), "{err}");
}

/// A layout with one image whose layer is gzip, as served.
fn layout(dir: &Path, annotations: serde_json::Value) -> (Vec<u8>, Vec<u8>) {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, &layer_tar("one")).unwrap();
    let layer = gz.finish().unwrap();
    let config = config_for(&[&layer_tar("one")]);
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2, "mediaType": media_type::OCI_MANIFEST,
        "config": {"mediaType": media_type::OCI_CONFIG, "digest": sha(&config), "size": config.len()},
        "layers": [{"mediaType": media_type::OCI_LAYER_GZIP, "digest": sha(&layer), "size": layer.len()}],
    }))
    .unwrap();
    for blob in [&layer, &config, &manifest] {
        write(dir, &format!("blobs/sha256/{}", sha(blob).hex()), blob);
    }
    write(dir, "oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#);
    write(
        dir,
        "index.json",
        &serde_json::to_vec(&json!({"schemaVersion": 2, "manifests": [{
            "mediaType": media_type::OCI_MANIFEST, "digest": sha(&manifest),
            "size": manifest.len(), "annotations": annotations}]}))
        .unwrap(),
    );
    (manifest, layer)
}

#[test]
fn a_layout_keeps_its_manifest_and_names_from_annotations() {
    let dir = tempfile::tempdir().unwrap();
    let (manifest, _) = layout(
        dir.path(),
        json!({"io.containerd.image.name": "docker.io/library/alpine:3.9",
               "org.opencontainers.image.ref.name": "3.9"}),
    );
    let source = ImageSource::open(dir.path()).unwrap();
    let image = &source.images()[0];
    assert_eq!(image.references, ["docker.io/library/alpine:3.9"]);
    assert_eq!(image.tag.as_deref(), Some("3.9"));
    let form = source.push_form(image, dir.path(), 1).unwrap();
    assert!(!form.rewritten(image));
    assert_eq!(form.manifest.bytes, manifest);
}

#[test]
fn a_layout_blob_that_lies_about_its_size_or_escapes_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (_, layer) = layout(dir.path(), json!({}));
    let source = ImageSource::open(dir.path()).unwrap();
    let mut lying = source.images()[0].layers[0].clone();
    lying.size += 1;
    let err = source.open_blob(&lying).unwrap_err().to_string();
    assert!(err.contains("size mismatch"), "{err}");

    let outside = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(outside.path(), &layer).unwrap();
    let blob = dir
        .path()
        .join(format!("blobs/sha256/{}", sha(&layer).hex()));
    std::fs::remove_file(&blob).unwrap();
    std::os::unix::fs::symlink(outside.path(), &blob).unwrap();
    let err = source
        .open_blob(&source.images()[0].layers[0])
        .unwrap_err()
        .to_string();
    assert!(err.contains("outside the source"), "{err}");
}

#[test]
fn a_layout_index_with_a_bad_digest_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    layout(dir.path(), json!({}));
    write(
        dir.path(),
        "index.json",
        br#"{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:../../etc/passwd","size":3}]}"#,
    );
    let err = ImageSource::open(dir.path()).unwrap_err().to_string();
    assert!(err.contains("invalid digest"), "{err}");
}

#[test]
fn an_uncompressed_layer_its_config_does_not_name_is_not_pushed() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (layer_tar("one"), layer_tar("two"));
    classic(dir.path(), &[&a], &["a:1"]);
    // The config names another layer than the one stored.
    let config = config_for(&[&b]);
    write(dir.path(), "cfg.json", &config);
    let source = ImageSource::open(dir.path()).unwrap();
    let image = &source.images()[0];
    assert_eq!(
        image.layers[0].digest,
        sha(&b),
        "named by the config's diff ID"
    );
    let mut wrong = image.clone();
    wrong.layers[0].digest = sha(&a);
    wrong.layers[0].size = a.len() as u64;
    let err = source
        .push_form(&wrong, dir.path(), 1)
        .unwrap_err()
        .to_string();
    assert!(err.contains("diff ID"), "{err}");
}
