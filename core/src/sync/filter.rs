//! Tag filters of a sync entry (`tags: {regex, exclude, semver, latest}`), applied to a
//! repository's tag listing. A tag is kept when it matches `regex`, matches no `exclude`
//! pattern (regexes too, so `-arm` or `^nightly`), and satisfies `semver`. `latest: N` then
//! keeps the N highest versions; tags that are not semver versions rank below every version
//! (in reverse name order among themselves), so they are only kept when fewer than N versions
//! pass. With `semver`, a tag that is not a version never passes.
//!
//! Versions are read leniently, as tags are written: a leading `v` is dropped, and a missing
//! minor or patch counts as 0 (`10.0` is `10.0.0`, `v2` is `2.0.0`).

use regex::Regex;
use semver::{Version, VersionReq};
use serde::Deserialize;

/// A filter as the list file writes it.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TagFilterSpec {
    #[serde(default)]
    regex: Option<String>,
    #[serde(default)]
    exclude: Vec<String>,
    #[serde(default)]
    semver: Option<String>,
    #[serde(default)]
    latest: Option<usize>,
}

/// A checked tag filter.
#[derive(Clone, Debug)]
pub struct TagFilter {
    regex: Option<Regex>,
    exclude: Vec<Regex>,
    semver: Option<VersionReq>,
    latest: Option<usize>,
}

/// The largest pattern accepted, so a list cannot make us build a huge automaton.
const REGEX_SIZE_LIMIT: usize = 1 << 20;

fn compile(pattern: &str, key: &str) -> Result<Regex, String> {
    regex::RegexBuilder::new(pattern)
        .size_limit(REGEX_SIZE_LIMIT)
        .build()
        .map_err(|e| format!("{key} {pattern:?}: not a valid regex: {e}"))
}

impl TagFilter {
    pub(crate) fn new(spec: TagFilterSpec) -> Result<TagFilter, String> {
        let regex = spec
            .regex
            .as_deref()
            .map(|p| compile(p, "regex"))
            .transpose()?;
        let exclude = spec
            .exclude
            .iter()
            .map(|p| compile(p, "exclude"))
            .collect::<Result<_, _>>()?;
        let semver = spec
            .semver
            .as_deref()
            .map(|r| {
                VersionReq::parse(r).map_err(|e| format!("semver {r:?}: not a valid range: {e}"))
            })
            .transpose()?;
        if spec.latest == Some(0) {
            return Err("latest: 0 keeps no tag".into());
        }
        Ok(TagFilter {
            regex,
            exclude,
            semver,
            latest: spec.latest,
        })
    }

    /// The tags of `tags` that pass, highest version first when `latest` is set, else in
    /// the listing's order.
    pub fn apply(&self, tags: &[String]) -> Vec<String> {
        let mut kept: Vec<(Option<Version>, &String)> = tags
            .iter()
            .filter(|t| self.regex.as_ref().is_none_or(|r| r.is_match(t)))
            .filter(|t| !self.exclude.iter().any(|r| r.is_match(t)))
            .map(|t| (version(t), t))
            .filter(|(v, _)| match (&self.semver, v) {
                (None, _) => true,
                (Some(req), Some(v)) => req.matches(v),
                (Some(_), None) => false,
            })
            .collect();
        if let Some(n) = self.latest {
            // Highest first; a tag that is no version ranks below every version.
            kept.sort_by(|(va, a), (vb, b)| vb.cmp(va).then_with(|| b.cmp(a)));
            kept.truncate(n);
        }
        kept.into_iter().map(|(_, t)| t.clone()).collect()
    }
}

/// A tag read as a version: `v1.2.3`, `1.2`, `10` (missing parts are 0).
fn version(tag: &str) -> Option<Version> {
    let t = tag.strip_prefix('v').unwrap_or(tag);
    if let Ok(v) = Version::parse(t) {
        return Some(v);
    }
    let (core, rest) = match t.find(['-', '+']) {
        Some(i) => (&t[..i], &t[i..]),
        None => (t, ""),
    };
    let parts: Vec<&str> = core.split('.').collect();
    if parts.is_empty() || parts.len() > 3 || parts.iter().any(|p| p.is_empty()) {
        return None;
    }
    let mut full = parts.join(".");
    for _ in parts.len()..3 {
        full.push_str(".0");
    }
    Version::parse(&format!("{full}{rest}")).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter(yaml: &str) -> TagFilter {
        TagFilter::new(serde_yaml_ng::from_str(yaml).unwrap()).unwrap()
    }

    fn tags(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn regex_keeps_only_matching_tags() {
        let f = filter("{regex: '^ltsc20'}");
        assert_eq!(
            f.apply(&tags(&["ltsc2019", "ltsc2022", "1809", "xltsc2022"])),
            ["ltsc2019", "ltsc2022"]
        );
    }

    #[test]
    fn exclude_drops_tags_matching_any_pattern() {
        let f = filter("{exclude: ['-arm', '^nightly']}");
        assert_eq!(
            f.apply(&tags(&["1.0", "1.0-arm64", "nightly-2", "2.0"])),
            ["1.0", "2.0"]
        );
    }

    #[test]
    fn semver_keeps_versions_in_range_and_drops_non_versions() {
        let f = filter("{semver: '>=10.0'}");
        assert_eq!(
            f.apply(&tags(&["9.9", "10.0", "v11.2.1", "latest", "12"])),
            ["10.0", "v11.2.1", "12"]
        );
    }

    #[test]
    fn latest_keeps_the_highest_versions_and_ranks_non_versions_last() {
        let f = filter("{latest: 2}");
        assert_eq!(
            f.apply(&tags(&["1.2", "latest", "1.10", "1.9"])),
            ["1.10", "1.9"]
        );
        let f = filter("{latest: 3}");
        assert_eq!(
            f.apply(&tags(&["edge", "1.0", "latest"])),
            ["1.0", "latest", "edge"]
        );
    }

    #[test]
    fn filters_combine() {
        let f = filter("{regex: '^v', exclude: ['rc'], semver: '^1', latest: 1}");
        assert_eq!(
            f.apply(&tags(&["v1.1", "v1.3-rc1", "v1.2", "v2.0", "1.5"])),
            ["v1.2"]
        );
    }

    #[test]
    fn latest_zero_and_bad_patterns_are_refused() {
        let spec = |y: &str| TagFilter::new(serde_yaml_ng::from_str(y).unwrap());
        assert!(spec("{latest: 0}").is_err());
        assert!(spec("{exclude: ['(']}").unwrap_err().contains("exclude"));
        assert!(spec("{semver: 'x.y'}").unwrap_err().contains("semver"));
    }
}
