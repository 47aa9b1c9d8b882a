//! A read-only view of an image config.
//!
//! The config bytes go to the output exactly as served (their digest is the image ID), so this
//! module only reads them: the diff IDs that name uncompressed layers, and the fields `inspect`
//! shows. Keys are matched case-insensitively because some Windows images on MCR spell
//! `rootfs` as `rootfS`.

use serde_json::{Map, Value};

use crate::digest::Digest;
use crate::error::{Error, Result};

/// The most config bytes drag will parse: real configs are a few KiB; a huge one is hostile.
pub const MAX_CONFIG_BYTES: u64 = 16 << 20;

#[derive(Clone, Debug)]
pub struct ImageConfig {
    value: Map<String, Value>,
}

impl ImageConfig {
    pub fn parse(bytes: &[u8]) -> Result<ImageConfig> {
        if bytes.len() as u64 > MAX_CONFIG_BYTES {
            return Err(Error::manifest(
                "image config",
                format!(
                    "config of {} bytes is larger than the {MAX_CONFIG_BYTES} byte limit",
                    bytes.len()
                ),
            ));
        }
        match serde_json::from_slice(bytes) {
            Ok(Value::Object(value)) => Ok(ImageConfig { value }),
            Ok(_) => Err(Error::manifest(
                "image config",
                "config is not a JSON object",
            )),
            Err(e) => Err(Error::manifest(
                "image config",
                format!("malformed config: {e}"),
            )),
        }
    }

    /// The uncompressed layer digests, in order (`rootfs.diff_ids`).
    pub fn diff_ids(&self) -> Result<Vec<Digest>> {
        let ids = get_ci(&self.value, "rootfs")
            .and_then(Value::as_object)
            .and_then(|r| get_ci(r, "diff_ids"))
            .and_then(Value::as_array)
            .ok_or_else(|| Error::manifest("image config", "config has no rootfs.diff_ids"))?;
        ids.iter()
            .map(|v| {
                let s = v
                    .as_str()
                    .ok_or_else(|| Error::manifest("image config", "diff_id is not a string"))?;
                Ok(Digest::parse(s)?)
            })
            .collect()
    }

    pub fn os(&self) -> Option<&str> {
        get_ci(&self.value, "os").and_then(Value::as_str)
    }

    pub fn architecture(&self) -> Option<&str> {
        get_ci(&self.value, "architecture").and_then(Value::as_str)
    }

    /// A top-level field (`created`, `variant`, `os.version`...).
    pub fn field(&self, key: &str) -> Option<&Value> {
        get_ci(&self.value, key)
    }

    /// A field of the runtime config (`Env`, `Cmd`, `Entrypoint`, `Labels`...).
    pub fn runtime(&self, key: &str) -> Option<&Value> {
        get_ci(&self.value, "config")
            .and_then(Value::as_object)
            .and_then(|c| get_ci(c, key))
    }
}

fn get_ci<'a>(map: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    map.get(key).or_else(|| {
        map.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn reads_diff_ids_whatever_the_case_of_rootfs() {
        for key in ["rootfs", "rootfS", "RootFS"] {
            let cfg =
                format!(r#"{{"os":"windows","{key}":{{"type":"layers","diff_ids":["{A}"]}}}}"#);
            let c = ImageConfig::parse(cfg.as_bytes()).unwrap();
            assert_eq!(c.diff_ids().unwrap(), vec![Digest::parse(A).unwrap()]);
            assert_eq!(c.os(), Some("windows"));
        }
    }

    #[test]
    fn hostile_diff_id_is_refused() {
        let cfg = r#"{"rootfs":{"diff_ids":["sha256:../x"]}}"#;
        assert!(ImageConfig::parse(cfg.as_bytes())
            .unwrap()
            .diff_ids()
            .is_err());
    }

    #[test]
    fn runtime_fields() {
        let cfg = r#"{"config":{"Env":["A=1"],"Cmd":["sh"]}}"#;
        let c = ImageConfig::parse(cfg.as_bytes()).unwrap();
        assert_eq!(c.runtime("cmd").unwrap()[0], "sh");
        assert!(c.runtime("Entrypoint").is_none());
    }
}
