//! Deciding what a manifest document is: image, index, or schema1, or refused as ambiguous.
//!
//! The decision rests on the bytes, not on where they came from: a registry's Content-Type
//! and a cache that stored none must give one answer for one digest, or the same tag could
//! resolve to two different images on two runs. So a document's own `mediaType` wins, then its
//! shape (`manifests` makes an index, `config`/`layers` an image, `schemaVersion: 1` or
//! `fsLayers` schema1), and a Content-Type only names what the shape cannot tell.
//!
//! A document with both `manifests` and `config`/`layers` is refused whatever it declares, as
//! containerd and containers/image do after the OCI ambiguity advisory (GHSA-77vh-xpmg-72qh):
//! two clients must not read two different things from one digest.

use serde_json::{Map, Value};

use super::media_type;
use crate::terminal_text::shown;

/// What a manifest document is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Image,
    Index,
}

/// The fields of a document that decide its kind, type-checked.
#[derive(Debug, Default)]
struct Head {
    media_type: Option<String>,
    schema_version: Option<u64>,
    /// `manifests` present and not null.
    has_manifests: bool,
    /// `config` or `layers` present and not null.
    has_image_fields: bool,
    /// Schema1's own fields: `fsLayers` and `signatures`.
    has_fs_layers: bool,
    has_signatures: bool,
    /// `config.mediaType`, when it is a string: tells a Docker image from an OCI one when the
    /// document does not say.
    config_media_type: Option<String>,
}

/// Reads the head of a document, naming the field when one has the wrong JSON type.
fn read_head(bytes: &[u8]) -> Result<Head, String> {
    let value: Value = serde_json::from_slice(bytes)
        .map_err(|e| format!("manifest is not valid JSON: {}", shown(&e.to_string())))?;
    let Value::Object(doc) = value else {
        return Err(format!(
            "manifest is not a JSON object but {}",
            json_type(&value)
        ));
    };
    let present = |key: &str| doc.get(key).is_some_and(|v| !v.is_null());
    Ok(Head {
        media_type: string_field(&doc, "mediaType")?.filter(|m| !m.is_empty()),
        schema_version: schema_version(&doc)?,
        has_manifests: present("manifests"),
        has_image_fields: present("config") || present("layers"),
        has_fs_layers: present("fsLayers"),
        has_signatures: present("signatures"),
        config_media_type: doc
            .get("config")
            .and_then(|c| c.get("mediaType"))
            .and_then(Value::as_str)
            .map(str::to_string),
    })
}

fn string_field(doc: &Map<String, Value>, key: &str) -> Result<Option<String>, String> {
    match doc.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(format!(
            "manifest field {key} must be a string, not {}",
            json_type(other)
        )),
    }
}

fn schema_version(doc: &Map<String, Value>) -> Result<Option<u64>, String> {
    match doc.get("schemaVersion") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n.as_u64().map(Some).ok_or_else(|| {
            format!("manifest field schemaVersion must be a small whole number, not {n}")
        }),
        Some(other) => Err(format!(
            "manifest field schemaVersion must be a number, not {}",
            json_type(other)
        )),
    }
}

/// A JSON value's type as a message names it ("an array"), for "must be X, not Y" errors.
pub(crate) fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn is_schema1_type(mt: &str) -> bool {
    matches!(
        mt,
        media_type::DOCKER_SCHEMA1 | media_type::DOCKER_SCHEMA1_SIGNED
    )
}

/// `application/json; charset=utf-8` -> `application/json`.
fn bare_content_type(content_type: &str) -> &str {
    content_type
        .split(';')
        .next()
        .unwrap_or(content_type)
        .trim()
}

impl Head {
    fn is_schema1(&self) -> bool {
        self.schema_version == Some(1)
            || self.has_fs_layers
            || self.media_type.as_deref().is_some_and(is_schema1_type)
    }

    /// The type of an image manifest that declares none and was served as no image type: a
    /// Docker config makes it Docker's schema2, anything else OCI's, as containers/image's
    /// `GuessMIMEType` reads it. Only the config decides, so the cache agrees with the registry.
    fn undeclared_image_type(&self) -> &'static str {
        if self.config_media_type.as_deref() == Some(media_type::DOCKER_CONFIG) {
            media_type::DOCKER_MANIFEST
        } else {
            media_type::OCI_MANIFEST
        }
    }

    /// The schema1 media type to name in the refusal: the document's, else the served one when
    /// it is a schema1 type, else what its signatures say it is.
    fn schema1_type(&self, served: Option<&str>) -> String {
        self.media_type
            .clone()
            .filter(|m| is_schema1_type(m))
            .or_else(|| served.filter(|s| is_schema1_type(s)).map(str::to_string))
            .unwrap_or_else(|| {
                if self.has_signatures {
                    media_type::DOCKER_SCHEMA1_SIGNED
                } else {
                    media_type::DOCKER_SCHEMA1
                }
                .to_string()
            })
    }
}

/// The media type to record for a manifest: its own `mediaType`, else what its shape says
/// (keeping the served flavour of that kind; else OCI's, or Docker's schema2 for an image with
/// a Docker config), else the Content-Type. The Content-Type never overrides the shape, so the
/// registry and the cache agree.
pub(crate) fn effective_media_type(bytes: &[u8], content_type: Option<&str>) -> String {
    let served = content_type
        .map(bare_content_type)
        .filter(|c| c.starts_with("application/vnd."));
    let Ok(head) = read_head(bytes) else {
        // Unreadable: parsing will say why; the served type is all there is to record.
        return served.unwrap_or(media_type::OCI_MANIFEST).to_string();
    };
    if let Some(declared) = &head.media_type {
        return declared.clone();
    }
    if head.is_schema1() {
        return head.schema1_type(served);
    }
    // The shape decides the kind; a served type of that same kind keeps its flavour (Docker or
    // OCI), so the registry and the cache record the same type.
    let served_if = |kinds: [&str; 2]| served.filter(|s| kinds.contains(s));
    match (head.has_manifests, head.has_image_fields) {
        (true, false) => served_if([media_type::DOCKER_MANIFEST_LIST, media_type::OCI_INDEX])
            .unwrap_or(media_type::OCI_INDEX)
            .to_string(),
        (false, true) => served_if([media_type::DOCKER_MANIFEST, media_type::OCI_MANIFEST])
            .unwrap_or_else(|| head.undeclared_image_type())
            .to_string(),
        // Ambiguous or shapeless: parsing refuses it whatever is recorded.
        _ => served.unwrap_or(media_type::OCI_MANIFEST).to_string(),
    }
}

/// Decides the kind of a document recorded as `media_type`, or says why it is refused.
pub(crate) fn decide(bytes: &[u8], media_type: &str) -> Result<Kind, String> {
    let head = read_head(bytes)?;
    if head.is_schema1() || is_schema1_type(media_type) {
        return Err(format!(
            "Docker schema1 manifests ({}) are deprecated and not supported; push the image \
             again with a current client to get a schema2 or OCI manifest",
            head.schema1_type(Some(media_type))
        ));
    }
    // Only 1 (refused above) and 2 exist. An undeclared document of another version is not
    // guessed at, as containers/image does not: its fields may mean something else.
    if let (None, Some(v)) = (&head.media_type, head.schema_version) {
        if v != 2 {
            return Err(format!(
                "unsupported manifest schemaVersion {v} (drag reads version 2: Docker schema2 \
                 and OCI)"
            ));
        }
    }
    if head.has_manifests && head.has_image_fields {
        return Err(
            "ambiguous manifest: it has both `manifests` (an index) and `config`/`layers` (an \
             image); refused, as containerd and containers/image do"
                .into(),
        );
    }
    // The document's own declaration beats whatever it was recorded as.
    let declared = head.media_type.as_deref().unwrap_or(media_type);
    let kind = match declared {
        media_type::DOCKER_MANIFEST_LIST | media_type::OCI_INDEX => Kind::Index,
        media_type::DOCKER_MANIFEST | media_type::OCI_MANIFEST => Kind::Image,
        other => {
            return Err(format!("unsupported manifest media type {}", shown(other)));
        }
    };
    match kind {
        Kind::Index if head.has_image_fields => Err(format!(
            "manifest declared as an index ({declared}) has `config`/`layers`"
        )),
        Kind::Image if head.has_manifests => Err(format!(
            "manifest declared as an image ({declared}) has `manifests`"
        )),
        _ => Ok(kind),
    }
}

#[cfg(test)]
mod tests {
    //! Cases rebuilt from the peers' fixture sets (containers/image `manifest/fixtures`,
    //! go-containerregistry `pkg/v1/layout/testdata`, image-spec `schema` tests), checked
    //! against what containers/image and containerd do with them.

    use super::*;
    use crate::manifest::media_type::*;

    const D: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    fn desc(mt: &str) -> String {
        format!(r#"{{"mediaType":"{mt}","digest":"{D}","size":0}}"#)
    }

    /// What drag makes of a document served under a Content-Type.
    #[derive(Debug, PartialEq)]
    enum Outcome {
        Image(&'static str),
        Index(&'static str),
        Refused(&'static str),
    }
    use Outcome::*;

    fn outcome(doc: &str, content_type: Option<&str>) -> Result<(Kind, String), String> {
        let mt = effective_media_type(doc.as_bytes(), content_type);
        let kind = decide(doc.as_bytes(), &mt)?;
        // The whole parse too: descriptors (digests, sizes, platforms) are refused there.
        crate::manifest::parse_manifest(doc.as_bytes(), &mt, "x").map_err(|e| e.to_string())?;
        Ok((kind, mt))
    }

    #[test]
    fn documents_are_accepted_refused_and_kinded_like_the_reference_implementations() {
        let cfg = desc(OCI_CONFIG);
        let layer = desc(OCI_LAYER_GZIP);
        let dcfg = desc(DOCKER_CONFIG);
        let item = desc(OCI_MANIFEST);
        let cases: Vec<(&str, String, Option<&str>, Outcome)> = vec![
            (
                "OCI image with mediaType",
                format!(
                    r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","config":{cfg},"layers":[{layer}]}}"#
                ),
                Some(OCI_MANIFEST),
                Image(OCI_MANIFEST),
            ),
            (
                "OCI image without mediaType, served as application/json",
                format!(r#"{{"schemaVersion":2,"config":{cfg},"layers":[{layer}]}}"#),
                Some("application/json"),
                Image(OCI_MANIFEST),
            ),
            (
                "OCI image without mediaType, no Content-Type (the cache)",
                format!(r#"{{"schemaVersion":2,"config":{cfg},"layers":[]}}"#),
                None,
                Image(OCI_MANIFEST),
            ),
            (
                "OCI index without mediaType, served as an image manifest: the shape decides",
                format!(r#"{{"schemaVersion":2,"manifests":[{item}]}}"#),
                Some(OCI_MANIFEST),
                Index(OCI_INDEX),
            ),
            (
                "OCI index without mediaType, no Content-Type",
                format!(r#"{{"schemaVersion":2,"manifests":[{item}]}}"#),
                None,
                Index(OCI_INDEX),
            ),
            (
                "Docker schema2 image",
                format!(
                    r#"{{"schemaVersion":2,"mediaType":"{DOCKER_MANIFEST}","config":{dcfg},"layers":[]}}"#
                ),
                Some("text/plain"),
                Image(DOCKER_MANIFEST),
            ),
            (
                "Docker manifest list",
                format!(
                    r#"{{"schemaVersion":2,"mediaType":"{DOCKER_MANIFEST_LIST}","manifests":[]}}"#
                ),
                Some(DOCKER_MANIFEST_LIST),
                Index(DOCKER_MANIFEST_LIST),
            ),
            (
                "declared mediaType beats the Content-Type",
                format!(r#"{{"schemaVersion":2,"mediaType":"{OCI_INDEX}","manifests":[]}}"#),
                Some(DOCKER_MANIFEST),
                Index(OCI_INDEX),
            ),
            (
                "layers: null reads as an image with no layers",
                format!(r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","config":{cfg},"layers":null}}"#),
                None,
                Image(OCI_MANIFEST),
            ),
            (
                "manifests: null on an image is not an index field",
                format!(r#"{{"schemaVersion":2,"config":{cfg},"layers":[],"manifests":null}}"#),
                None,
                Image(OCI_MANIFEST),
            ),
            (
                "manifests: null on a declared index",
                format!(r#"{{"schemaVersion":2,"mediaType":"{OCI_INDEX}","manifests":null}}"#),
                None,
                Index(OCI_INDEX),
            ),
            (
                "OCI 1.1 artifact manifest is an image manifest by kind",
                format!(
                    r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","artifactType":"application/spdx+json","config":{},"layers":[{layer}]}}"#,
                    desc("application/vnd.oci.empty.v1+json")
                ),
                None,
                Image(OCI_MANIFEST),
            ),
            (
                "declared image with manifests (ambiguity advisory)",
                format!(
                    r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","config":{cfg},"layers":[],"manifests":[{item}]}}"#
                ),
                Some(OCI_MANIFEST),
                Refused("ambiguous"),
            ),
            (
                "declared index with config and layers (ambiguity advisory)",
                format!(
                    r#"{{"schemaVersion":2,"mediaType":"{OCI_INDEX}","config":{cfg},"layers":[],"manifests":[]}}"#
                ),
                Some(OCI_INDEX),
                Refused("ambiguous"),
            ),
            (
                "undeclared document with both shapes",
                format!(r#"{{"schemaVersion":2,"config":{cfg},"manifests":[]}}"#),
                Some(OCI_INDEX),
                Refused("ambiguous"),
            ),
            (
                "declared index with only layers",
                format!(r#"{{"schemaVersion":2,"mediaType":"{OCI_INDEX}","layers":[{layer}]}}"#),
                None,
                Refused("declared as an index"),
            ),
            (
                "declared image with only manifests",
                format!(r#"{{"schemaVersion":2,"mediaType":"{DOCKER_MANIFEST}","manifests":[]}}"#),
                None,
                Refused("declared as an image"),
            ),
            (
                "signed schema1 under its own type",
                r#"{"schemaVersion":1,"name":"a","tag":"b","fsLayers":[],"history":[],"signatures":[]}"#.into(),
                Some(DOCKER_SCHEMA1_SIGNED),
                Refused("schema1 manifests (application/vnd.docker.distribution.manifest.v1+prettyjws)"),
            ),
            (
                "schema1 served as an OCI manifest",
                r#"{"schemaVersion":1,"name":"a","tag":"b","fsLayers":[],"history":[]}"#.into(),
                Some(OCI_MANIFEST),
                Refused("schema1 manifests (application/vnd.docker.distribution.manifest.v1+json)"),
            ),
            (
                "signed schema1 served as application/json",
                r#"{"schemaVersion":1,"name":"a","fsLayers":[],"signatures":[{}]}"#.into(),
                Some("application/json"),
                Refused("schema1 manifests (application/vnd.docker.distribution.manifest.v1+prettyjws)"),
            ),
            (
                "schemaVersion as a string",
                format!(r#"{{"schemaVersion":"2","mediaType":"{OCI_MANIFEST}","config":{cfg},"layers":[]}}"#),
                None,
                Refused("schemaVersion must be a number, not a string"),
            ),
            (
                "negative schemaVersion",
                format!(r#"{{"schemaVersion":-2,"config":{cfg},"layers":[]}}"#),
                None,
                Refused("schemaVersion must be a small whole number"),
            ),
            (
                "mediaType as a number",
                format!(r#"{{"schemaVersion":2,"mediaType":2,"config":{cfg},"layers":[]}}"#),
                Some(OCI_MANIFEST),
                Refused("mediaType must be a string, not a number"),
            ),
            (
                "mediaType as an object",
                r#"{"schemaVersion":2,"mediaType":{},"manifests":[]}"#.to_string(),
                None,
                Refused("mediaType must be a string, not an object"),
            ),
            (
                "a JSON array",
                "[]".into(),
                Some(OCI_MANIFEST),
                Refused("not a JSON object but an array"),
            ),
            ("not JSON", "<html>".into(), None, Refused("not valid JSON")),
            (
                "unknown declared type (old ORAS artifact manifest)",
                r#"{"mediaType":"application/vnd.oci.artifact.manifest.v1+json","blobs":[]}"#
                    .into(),
                None,
                Refused("unsupported manifest media type application/vnd.oci.artifact.manifest.v1+json"),
            ),
            (
                "shapeless document under an unknown vnd type",
                r#"{"schemaVersion":2}"#.into(),
                Some("application/vnd.example+json"),
                Refused("unsupported manifest media type application/vnd.example+json"),
            ),

            // From here on, one case per behaviour found by running drag over the peers'
            // fixtures; each is rebuilt by hand and names the fixture it mirrors. CI is
            // containers/image (`manifest/fixtures`, `internal/manifest/testdata`), SPEC the
            // image-spec `schema/*_test.go` cases, GGCR go-containerregistry's
            // `pkg/v1/layout/testdata`.
            (
                // CI v2s2nomime.manifest.json: GuessMIMEType says Docker schema2.
                "Docker image without mediaType, nothing served: its Docker config says Docker",
                format!(r#"{{"schemaVersion":2,"config":{dcfg},"layers":[]}}"#),
                None,
                Image(DOCKER_MANIFEST),
            ),
            (
                // CI v2s2nomime.manifest.json served as OCI: the served flavour of the kind stays.
                "Docker-config image without mediaType, served as an OCI image",
                format!(r#"{{"schemaVersion":2,"config":{dcfg},"layers":[]}}"#),
                Some(OCI_MANIFEST),
                Image(OCI_MANIFEST),
            ),
            (
                // CI ociv1nomime.artifact.json (with a real digest): an artifact is an OCI image
                // manifest by kind; `is_image` and resolve turn it away later.
                "undeclared artifact with a custom config and layers: null",
                format!(
                    r#"{{"schemaVersion":2,"config":{},"layers":null}}"#,
                    desc("application/vnd.example.custom.config.v1+json")
                ),
                None,
                Image(OCI_MANIFEST),
            ),
            (
                // CI ociv1.artifact.json: containers/image parses the empty digest (a Go
                // string); drag refuses every digest it could not fetch or verify.
                "artifact whose config digest is empty",
                format!(
                    r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","config":{{"mediaType":"application/vnd.example.custom.config.v1+json","digest":"","size":0}},"layers":null}}"#
                ),
                None,
                Refused("invalid digest \"\": missing algorithm prefix"),
            ),
            (
                // CI ociv1.everything.json, SPEC manifest "subject field with a valid
                // descriptor": fields drag does not use pass through.
                "OCI manifest with artifactType, subject, annotations, urls and data",
                format!(
                    r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","artifactType":"application/vnd.example.thing",
                    "config":{{"mediaType":"application/vnd.example.cfg","digest":"{D}","size":1,"urls":["https://cdn.example/c"],"annotations":{{"k":"v"}},"data":"YQ=="}},
                    "layers":[{{"mediaType":"application/vnd.example.layer","digest":"{D}","size":2,"urls":["https://cdn.example/l"],"annotations":{{"k":"v"}}}}],
                    "subject":{item},"annotations":{{"top":"0"}}}}"#
                ),
                Some(OCI_MANIFEST),
                Image(OCI_MANIFEST),
            ),
            (
                // SPEC manifest "subject field with invalid value": drag never reads `subject`.
                "OCI manifest whose subject is not a descriptor",
                format!(
                    r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","config":{cfg},"layers":[{layer}],"subject":"nope"}}"#
                ),
                None,
                Image(OCI_MANIFEST),
            ),
            (
                // CI ociv1.invalid.mediatype, ociv1.encrypted, ociv1.nondistributable*.json,
                // v2s2.nondistributable*.json: layer types are judged when the layer is pulled.
                "OCI manifest with unknown, encrypted and non-distributable layer types",
                format!(
                    r#"{{"schemaVersion":2,"config":{cfg},"layers":[{},{},{}]}}"#,
                    desc("application/vnd.oci.image.layer.v1.tar+unknown"),
                    desc("application/vnd.oci.image.layer.v1.tar+gzip+encrypted"),
                    desc("application/vnd.oci.image.layer.nondistributable.v1.tar+zstd")
                ),
                None,
                Image(OCI_MANIFEST),
            ),
            (
                // CI v2s2.everything.json: urls on the config and the layers.
                "Docker image with urls on its config and layers",
                format!(
                    r#"{{"schemaVersion":2,"mediaType":"{DOCKER_MANIFEST}","config":{{"mediaType":"{DOCKER_CONFIG}","size":1,"digest":"{D}","urls":["https://cdn.example/c"]}},
                    "layers":[{{"mediaType":"{DOCKER_FOREIGN_LAYER_GZIP}","size":2,"digest":"{D}","urls":["https://cdn.example/l"]}}]}}"#
                ),
                Some(DOCKER_MANIFEST),
                Image(DOCKER_MANIFEST),
            ),
            (
                // SPEC backwards_compatibility (library/docker from Docker Hub): an octet-stream
                // config; the kind is an image and `is_image` accepts it (manifest.rs tests).
                "Docker image with an application/octet-stream config",
                format!(
                    r#"{{"schemaVersion":2,"mediaType":"{DOCKER_MANIFEST}","config":{},"layers":[{}]}}"#,
                    desc("application/octet-stream"),
                    desc(DOCKER_LAYER_GZIP)
                ),
                Some(DOCKER_MANIFEST),
                Image(DOCKER_MANIFEST),
            ),
            (
                // SPEC manifest "empty layer, expected at least one": the schema wants one,
                // the Go decoders do not, and an image of no layers is an empty root.
                "OCI manifest with an empty layers array",
                format!(r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","config":{cfg},"layers":[]}}"#),
                None,
                Image(OCI_MANIFEST),
            ),
            (
                // GGCR test_index: a Docker manifest listed (and so fetched) as an OCI image.
                "declared Docker image served as an OCI image",
                format!(
                    r#"{{"schemaVersion":2,"mediaType":"{DOCKER_MANIFEST}","config":{dcfg},"layers":[{}]}}"#,
                    desc(DOCKER_LAYER_GZIP)
                ),
                Some(OCI_MANIFEST),
                Image(DOCKER_MANIFEST),
            ),
            (
                // GGCR test_index 2b29...: an undeclared index listed as a Docker manifest list.
                "undeclared index served as a Docker manifest list keeps that type",
                format!(r#"{{"schemaVersion":2,"manifests":[{item}]}}"#),
                Some(DOCKER_MANIFEST_LIST),
                Index(DOCKER_MANIFEST_LIST),
            ),
            (
                // GGCR test_index, test_gc_image_unknown_mediatype; SPEC index "invalid"/"empty
                // referenced manifest media type": entries are judged when walked into, by the
                // document each one fetches.
                "index whose entries have no platform and odd media types",
                format!(
                    r#"{{"schemaVersion":2,"manifests":[{},{},{},{}]}}"#,
                    desc("application/vnd.oci.descriptor.v1+json"),
                    desc(""),
                    desc("invalid"),
                    desc("application/customized.manifest+json")
                ),
                None,
                Index(OCI_INDEX),
            ),
            (
                // CI oci1.index.everything.json: artifactType, subject, data, urls.
                "OCI index with artifactType, subject and an artifact entry",
                format!(
                    r#"{{"schemaVersion":2,"mediaType":"{OCI_INDEX}","artifactType":"application/vnd.example.top",
                    "manifests":[{{"mediaType":"{OCI_MANIFEST}","digest":"{D}","size":1,"urls":["https://cdn.example/m"],"annotations":{{"m":"1"}},"data":"YQ==",
                    "platform":{{"architecture":"A","os":"B","os.version":"C","os.features":["D"],"variant":"E"}},"artifactType":"application/vnd.example.sub"}}],
                    "subject":{item},"annotations":{{"top":"0"}}}}"#
                ),
                Some(OCI_INDEX),
                Index(OCI_INDEX),
            ),
            (
                // CI v2list.everything.json: every platform field, and urls.
                "Docker manifest list with every platform field",
                format!(
                    r#"{{"schemaVersion":2,"mediaType":"{DOCKER_MANIFEST_LIST}","manifests":[{{"mediaType":"{DOCKER_MANIFEST}","size":1,"digest":"{D}","urls":["https://cdn.example/m"],
                    "platform":{{"architecture":"a","os":"b","os.version":"c","os.features":["d"],"variant":"e","features":["f"]}}}}]}}"#
                ),
                None,
                Index(DOCKER_MANIFEST_LIST),
            ),
            (
                // SPEC index "platform.architecture is missing": Go reads "", the schema and
                // drag refuse (drag matches platforms on it).
                "index entry whose platform has no architecture",
                format!(
                    r#"{{"schemaVersion":2,"mediaType":"{OCI_INDEX}","manifests":[{{"mediaType":"{OCI_MANIFEST}","digest":"{D}","size":1,"platform":{{"os":"linux"}}}}]}}"#
                ),
                None,
                Refused("missing field `architecture`"),
            ),
            (
                // SPEC manifest/index/descriptor "size is a string".
                "descriptor size as a string",
                format!(
                    r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","config":{{"mediaType":"{OCI_CONFIG}","digest":"{D}","size":"7"}},"layers":[]}}"#
                ),
                None,
                Refused("invalid type: string \"7\", expected u64"),
            ),
            (
                // SPEC descriptor "negative size".
                "negative descriptor size",
                format!(
                    r#"{{"schemaVersion":2,"mediaType":"{OCI_INDEX}","manifests":[{{"mediaType":"{OCI_MANIFEST}","digest":"{D}","size":-7}}]}}"#
                ),
                None,
                Refused("invalid value: integer `-7`"),
            ),
            (
                // SPEC descriptor "digest missing".
                "descriptor without a digest",
                format!(
                    r#"{{"schemaVersion":2,"mediaType":"{OCI_INDEX}","manifests":[{{"mediaType":"{OCI_MANIFEST}","size":7}}]}}"#
                ),
                None,
                Refused("missing field `digest`"),
            ),
            (
                // SPEC descriptor "digest ... characters needs to be lower for sha256".
                "upper-case sha256 digest",
                format!(
                    r#"{{"schemaVersion":2,"config":{cfg},"layers":[{{"mediaType":"{OCI_LAYER}","digest":"sha256:{}","size":1}}]}}"#,
                    "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855"
                ),
                None,
                Refused("not lower-case hexadecimal"),
            ),
            (
                // SPEC descriptor and manifest "alternate digest algorithm" (sha256+b64u...):
                // valid by the schema, but drag can only verify sha256 and sha512, as
                // go-digest can only verify its registered algorithms.
                "digest with an algorithm drag cannot verify",
                format!(
                    r#"{{"schemaVersion":2,"config":{cfg},"layers":[{{"mediaType":"{OCI_LAYER}","digest":"sha256+b64u:47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU","size":1}}]}}"#
                ),
                None,
                Refused("unsupported algorithm"),
            ),
            (
                // CI v2s1-invalid-signatures.manifest.json: `signatures` of the wrong type is
                // still a signed schema1 to GuessMIMEType.
                "schema1 whose signatures is a number",
                r#"{"schemaVersion":1,"name":"a","tag":"b","fsLayers":[],"history":[],"signatures":1}"#.into(),
                None,
                Refused("schema1 manifests (application/vnd.docker.distribution.manifest.v1+prettyjws)"),
            ),
            (
                // CI unknown-version.manifest.json: GuessMIMEType gives up; so does drag, by name.
                "undeclared document of an unknown schemaVersion",
                r#"{"schemaVersion":99999,"name":"a","tag":"b"}"#.into(),
                Some(OCI_MANIFEST),
                Refused("unsupported manifest schemaVersion 99999"),
            ),
            (
                // CI unknown-version.manifest.json, reshaped: an image shape does not make a
                // version drag does not know readable.
                "undeclared image shape of schemaVersion 3",
                format!(r#"{{"schemaVersion":3,"config":{cfg},"layers":[]}}"#),
                None,
                Refused("unsupported manifest schemaVersion 3"),
            ),
            (
                // CI non-json.manifest.json (gzip bytes): not JSON at all.
                "binary bytes",
                "\u{1f}\u{8b}\u{8}\u{0}".into(),
                Some(OCI_MANIFEST),
                Refused("not valid JSON"),
            ),
        ];
        for (name, doc, content_type, want) in cases {
            let got = outcome(&doc, content_type);
            match (&want, &got) {
                (Image(mt), Ok((Kind::Image, got_mt))) | (Index(mt), Ok((Kind::Index, got_mt))) => {
                    assert_eq!(mt, got_mt, "{name}")
                }
                (Refused(reason), Err(got)) => {
                    assert!(got.contains(reason), "{name}: {got:?} lacks {reason:?}")
                }
                _ => panic!("{name}: wanted {want:?}, got {got:?}"),
            }
        }
    }

    #[test]
    fn the_kind_does_not_depend_on_the_content_type_when_the_document_has_no_media_type() {
        let cfg = desc(OCI_CONFIG);
        let docs = [
            format!(r#"{{"schemaVersion":2,"config":{cfg},"layers":[]}}"#),
            r#"{"schemaVersion":2,"manifests":[]}"#.to_string(),
        ];
        let served = [
            None,
            Some(OCI_MANIFEST),
            Some(OCI_INDEX),
            Some(DOCKER_MANIFEST),
            Some(DOCKER_MANIFEST_LIST),
            Some("application/json"),
            Some("text/plain; charset=utf-8"),
        ];
        for doc in &docs {
            let (kind, _) = outcome(doc, None).unwrap();
            for content_type in served {
                let (got, mt) = outcome(doc, content_type).unwrap();
                assert_eq!(got, kind, "{doc} {content_type:?}");
                // A served type of the same kind keeps its flavour; any other gives OCI's.
                let same_kind = content_type.is_some_and(|c| {
                    let c_kind = match c {
                        OCI_INDEX | DOCKER_MANIFEST_LIST => Some(Kind::Index),
                        OCI_MANIFEST | DOCKER_MANIFEST => Some(Kind::Image),
                        _ => None,
                    };
                    c_kind == Some(kind)
                });
                let oci = if kind == Kind::Index {
                    OCI_INDEX
                } else {
                    OCI_MANIFEST
                };
                let want = if same_kind {
                    content_type.unwrap()
                } else {
                    oci
                };
                assert_eq!(mt, want, "{doc} {content_type:?}");
            }
        }
    }

    #[test]
    fn hostile_media_types_are_shown_cut_at_a_character_boundary() {
        // Byte 200 falls inside the two-byte 'é': cutting by bytes would panic.
        let hostile = format!("{}é{}", "a".repeat(199), "b".repeat(300));
        let doc = format!(r#"{{"schemaVersion":2,"mediaType":"{hostile}"}}"#);
        let err = outcome(&doc, None).unwrap_err();
        assert!(err.contains("unsupported manifest media type"), "{err}");
        assert!(err.len() < 400, "{err}");
        let bad_json = format!("{{\"x\": \"{hostile}\x01");
        assert!(outcome(&bad_json, None).is_err());
    }
}
