//! Docker-typed manifests and indexes rewritten with OCI media types (`--oci-media-types`).
//!
//! Some tools read only OCI-typed layouts (umoci, skopeo 1.9), while most images on Docker Hub
//! are Docker schema2. Rewriting the manifests, as `skopeo copy` to `oci:` does, lets those
//! tools use the layout. Only manifests change: every blob, config included, keeps its bytes
//! and digest, and every field drag does not know about is kept. The rewritten manifests get
//! new digests, which is why this is asked for rather than done by default.

use std::collections::HashMap;

use serde_json::Value;

use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::manifest::{media_type as mt, RawManifest};

/// The OCI media type for a Docker one; OCI and unknown types are kept.
fn oci_type(docker: &str) -> Option<&'static str> {
    Some(match docker {
        mt::DOCKER_MANIFEST => mt::OCI_MANIFEST,
        mt::DOCKER_MANIFEST_LIST => mt::OCI_INDEX,
        mt::DOCKER_CONFIG => mt::OCI_CONFIG,
        mt::DOCKER_LAYER_GZIP => mt::OCI_LAYER_GZIP,
        "application/vnd.docker.image.rootfs.diff.tar" => mt::OCI_LAYER,
        "application/vnd.docker.image.rootfs.diff.tar.zstd" => mt::OCI_LAYER_ZSTD,
        mt::DOCKER_FOREIGN_LAYER_GZIP => {
            "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
        }
        _ => return None,
    })
}

/// Rewrites `manifests` (an image, or an index with everything below it). Returns them in the
/// same order, and what each old digest became, so the caller can point at the new root.
/// A manifest that is already OCI-typed, and names nothing that changed, is kept byte for byte.
pub fn convert(
    manifests: &[&RawManifest],
) -> Result<(Vec<RawManifest>, HashMap<Digest, RawManifest>)> {
    let by_digest: HashMap<&Digest, &RawManifest> =
        manifests.iter().map(|m| (&m.digest, *m)).collect();
    let mut done: HashMap<Digest, RawManifest> = HashMap::new();
    for m in manifests {
        convert_one(m, &by_digest, &mut done, 0)?;
    }
    let out = manifests
        .iter()
        .map(|m| done.get(&m.digest).cloned().unwrap_or_else(|| (*m).clone()))
        .collect();
    Ok((out, done))
}

/// Converts `m` after the children it names (indexes nest at most a few levels; `depth` keeps
/// a hostile cycle of digests from recursing forever).
fn convert_one(
    m: &RawManifest,
    by_digest: &HashMap<&Digest, &RawManifest>,
    done: &mut HashMap<Digest, RawManifest>,
    depth: usize,
) -> Result<RawManifest> {
    if let Some(c) = done.get(&m.digest) {
        return Ok(c.clone());
    }
    if depth > crate::manifest::MAX_INDEX_DEPTH + 1 {
        return Err(Error::manifest(&m.digest, "indexes nest too deeply"));
    }
    let mut doc: Value = serde_json::from_slice(&m.bytes)
        .map_err(|e| Error::manifest(&m.digest, format!("malformed manifest: {e}")))?;
    let Some(obj) = doc.as_object_mut() else {
        return Err(Error::manifest(&m.digest, "manifest is not a JSON object"));
    };
    let mut changed = retype(obj);
    if let Some(config) = obj.get_mut("config").and_then(Value::as_object_mut) {
        changed |= retype(config);
    }
    if let Some(layers) = obj.get_mut("layers").and_then(Value::as_array_mut) {
        for layer in layers.iter_mut().filter_map(Value::as_object_mut) {
            changed |= retype(layer);
        }
    }
    if let Some(children) = obj.get_mut("manifests").and_then(Value::as_array_mut) {
        for entry in children.iter_mut().filter_map(Value::as_object_mut) {
            changed |= retype(entry);
            let child = entry
                .get("digest")
                .and_then(Value::as_str)
                .and_then(|d| Digest::parse(d).ok())
                .and_then(|d| by_digest.get(&d).copied());
            if let Some(child) = child {
                let new = convert_one(child, by_digest, done, depth + 1)?;
                if new.digest != child.digest {
                    entry.insert("digest".into(), Value::from(new.digest.to_string()));
                    entry.insert("size".into(), Value::from(new.bytes.len() as u64));
                    changed = true;
                }
            }
        }
    }
    let converted = if changed {
        let bytes = serde_json::to_vec(&doc)
            .map_err(|e| Error::manifest(&m.digest, format!("re-serializing: {e}")))?;
        let media_type = oci_type(&m.media_type).unwrap_or(&m.media_type).to_string();
        RawManifest {
            digest: Digest::sha256_of(&bytes),
            bytes,
            media_type,
        }
    } else {
        m.clone()
    };
    done.insert(m.digest.clone(), converted.clone());
    Ok(converted)
}

/// Rewrites the object's `mediaType` if it is a Docker one; true if it did.
fn retype(obj: &mut serde_json::Map<String, Value>) -> bool {
    let new = obj
        .get("mediaType")
        .and_then(Value::as_str)
        .and_then(oci_type);
    match new {
        Some(t) => {
            obj.insert("mediaType".into(), Value::from(t));
            true
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn raw(v: Value) -> RawManifest {
        let bytes = serde_json::to_vec(&v).unwrap();
        RawManifest {
            digest: Digest::sha256_of(&bytes),
            media_type: v["mediaType"].as_str().unwrap().to_string(),
            bytes,
        }
    }

    fn parse(m: &RawManifest) -> Value {
        serde_json::from_slice(&m.bytes).unwrap()
    }

    fn docker_image(layer: &str) -> RawManifest {
        raw(json!({
            "schemaVersion": 2,
            "mediaType": mt::DOCKER_MANIFEST,
            "config": {"mediaType": mt::DOCKER_CONFIG, "digest": format!("sha256:{}", "c".repeat(64)), "size": 7},
            "layers": [
                {"mediaType": mt::DOCKER_LAYER_GZIP, "digest": layer, "size": 9},
                {"mediaType": mt::DOCKER_FOREIGN_LAYER_GZIP, "digest": format!("sha256:{}", "f".repeat(64)),
                 "size": 3, "urls": ["https://example.com/base"]},
            ],
            "x-unknown": {"kept": true},
        }))
    }

    #[test]
    fn an_image_gets_oci_types_and_keeps_blobs_and_unknown_fields() {
        let layer = format!("sha256:{}", "a".repeat(64));
        let image = docker_image(&layer);
        let (out, _) = convert(&[&image]).unwrap();
        let m = &out[0];
        assert_eq!(m.media_type, mt::OCI_MANIFEST);
        assert_eq!(m.digest, Digest::sha256_of(&m.bytes));
        let v = parse(m);
        assert_eq!(v["mediaType"], mt::OCI_MANIFEST);
        assert_eq!(v["config"]["mediaType"], mt::OCI_CONFIG);
        assert_eq!(v["config"]["size"], 7);
        assert_eq!(v["layers"][0]["mediaType"], mt::OCI_LAYER_GZIP);
        assert_eq!(v["layers"][0]["digest"], layer.as_str());
        assert_eq!(
            v["layers"][1]["mediaType"],
            "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
        );
        assert_eq!(v["layers"][1]["urls"][0], "https://example.com/base");
        assert_eq!(v["x-unknown"]["kept"], true);
    }

    #[test]
    fn an_index_points_at_its_converted_children() {
        let a = docker_image(&format!("sha256:{}", "a".repeat(64)));
        let b = docker_image(&format!("sha256:{}", "b".repeat(64)));
        let list = raw(json!({
            "schemaVersion": 2,
            "mediaType": mt::DOCKER_MANIFEST_LIST,
            "manifests": [
                {"mediaType": mt::DOCKER_MANIFEST, "digest": a.digest.to_string(), "size": a.bytes.len(),
                 "platform": {"os": "linux", "architecture": "amd64"}},
                {"mediaType": mt::DOCKER_MANIFEST, "digest": b.digest.to_string(), "size": b.bytes.len(),
                 "platform": {"os": "linux", "architecture": "arm64", "variant": "v8"}},
            ],
        }));
        // Children listed after their parent, as a pull finds them.
        let (out, map) = convert(&[&list, &a, &b]).unwrap();
        let index = parse(&out[0]);
        assert_eq!(out[0].media_type, mt::OCI_INDEX);
        for (i, child) in [&out[1], &out[2]].into_iter().enumerate() {
            let entry = &index["manifests"][i];
            assert_eq!(entry["mediaType"], mt::OCI_MANIFEST);
            assert_eq!(entry["digest"], child.digest.to_string());
            assert_eq!(entry["size"], child.bytes.len());
        }
        assert_eq!(index["manifests"][1]["platform"]["variant"], "v8");
        assert_eq!(map[&list.digest].digest, out[0].digest);
    }

    #[test]
    fn oci_manifests_are_kept_byte_for_byte() {
        let m = raw(json!({
            "schemaVersion": 2,
            "mediaType": mt::OCI_MANIFEST,
            "config": {"mediaType": mt::OCI_CONFIG, "digest": format!("sha256:{}", "c".repeat(64)), "size": 7},
            "layers": [],
        }));
        let (out, _) = convert(&[&m]).unwrap();
        assert_eq!(out[0].bytes, m.bytes);
        assert_eq!(out[0].digest, m.digest);
    }
}
