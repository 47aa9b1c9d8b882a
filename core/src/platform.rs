//! Platforms (`os/arch[/variant][:os.version]`) and choosing the image for one from an index.
//!
//! Indexes spell the same platform several ways (`arm64` and `arm64/v8`, `x86_64` from older
//! tools) and the user types yet another, so comparison always goes through [`Platform::normalized`],
//! which follows containerd's aliases. Windows images additionally differ by OS build, which the
//! user can pin with a version prefix.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// An OCI image-index platform, as in the `platform` object of a manifest descriptor.
#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Platform {
    /// The operating system (`linux`, `windows`).
    pub os: String,
    /// The CPU architecture, in Go's spelling (`amd64`, `arm64`, `arm`).
    pub architecture: String,
    /// The CPU variant (`v7` for `arm/v7`, `v8` for `arm64/v8`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    /// The OS build, set by Windows images (`10.0.17763.1234`).
    #[serde(
        rename = "os.version",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub os_version: Option<String>,
    /// OS features the image requires; carried along, never compared.
    #[serde(rename = "os.features", default, skip_serializing_if = "Vec::is_empty")]
    pub os_features: Vec<String>,
}

/// The platform a resolution is for, and whether the user named it.
///
/// The difference matters only for a reference that names one image rather than an index:
/// like `docker pull --platform`, a platform the user asked for must be the image's own,
/// while a default (linux/amd64, or an adapter's) takes whatever single image is there.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Wanted {
    /// The platform to choose from an index.
    pub platform: Platform,
    /// True when the user asked for `platform` (`--platform`); false for a default.
    pub asked: bool,
}

impl Wanted {
    /// A platform the user asked for.
    pub fn asked(platform: Platform) -> Wanted {
        Wanted {
            platform,
            asked: true,
        }
    }

    /// A default platform: an adapter's, or linux/amd64.
    pub fn default_for(platform: Platform) -> Wanted {
        Wanted {
            platform,
            asked: false,
        }
    }

    /// Whether an image whose config states `actual` may be taken when the reference names
    /// it alone: always for a default, and for an asked platform when `actual` runs on it,
    /// with the fallbacks an index entry gets (an `arm/v7` machine runs a `v6` image). A
    /// config that states no platform cannot show that it runs what was asked for.
    pub fn accepts_single(&self, actual: &Platform) -> bool {
        !self.asked || self.platform.fallback_distance(actual).is_some()
    }
}

impl fmt::Display for Wanted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.platform.fmt(f)
    }
}

/// Why a string is not a platform.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid platform {input:?}: {reason}")]
pub struct PlatformError {
    /// The string that was refused.
    pub input: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

impl Platform {
    /// The platform chosen when neither the user nor the adapter names one.
    pub fn linux_amd64() -> Platform {
        Platform {
            os: "linux".into(),
            architecture: "amd64".into(),
            ..Platform::default()
        }
    }

    /// The canonical spelling: lower case, containerd's architecture aliases, and the default
    /// variant written out (`arm64` is `arm64/v8`, `arm` is `arm/v7`, `amd64/v1` is `amd64`).
    pub fn normalized(&self) -> Platform {
        let (architecture, variant) = normalize_arch(&self.architecture, self.variant.as_deref());
        let variant = variant.or_else(|| default_variant(&architecture).map(str::to_string));
        Platform {
            os: normalize_os(&self.os),
            architecture,
            variant,
            os_version: self.os_version.clone(),
            os_features: self.os_features.clone(),
        }
    }

    /// Whether `candidate` (from an index) satisfies `self` (what the user asked for).
    ///
    /// OS and architecture must be equal once normalized, and so must the variant, with a missing
    /// variant standing for the architecture's default: `arm64` and `arm64/v8` match each other,
    /// `arm` matches `arm/v7`, but `arm/v6` does not match a variant-less `arm` image (that is a
    /// v7 image). An `os_version` in `self` is a prefix of the candidate's at a dot boundary, so
    /// `10.0.17763` picks any patch level of that build. OS features are not compared.
    pub fn matches(&self, candidate: &Platform) -> bool {
        let want = self.normalized();
        let have = candidate.normalized();
        // Attestation manifests sit in indexes as unknown/unknown; they are never an image to run.
        if have.os == "unknown" || have.architecture == "unknown" {
            return false;
        }
        want.os == have.os
            && want.architecture == have.architecture
            && want.variant == have.variant
            && match (&want.os_version, &have.os_version) {
                (None, _) => true,
                (Some(want), Some(have)) => is_version_prefix(want, have),
                (Some(_), None) => false,
            }
    }
}

impl Platform {
    /// How far `candidate` falls short of `self`: `Some(0)` when it [matches](Platform::matches),
    /// `Some(n)` when it is an older variant of the same architecture that still runs here (the
    /// larger `n`, the older), `None` when it does not run at all.
    ///
    /// The fallbacks are those containerd and containers/image apply: `arm/v7` runs `v6` and
    /// `v5` images (`arm/v8` also `v7`), any `arm64` runs the base `arm64` (`v8`, written with
    /// or without the variant), and `amd64/v3` runs `v2` and plain `amd64`. Other architectures
    /// (running `386` on `amd64`, `arm` on `arm64`) are not offered: asking for one architecture
    /// and silently getting another would surprise more than it helps.
    pub(crate) fn fallback_distance(&self, candidate: &Platform) -> Option<u32> {
        if self.matches(candidate) {
            return Some(0);
        }
        let want = self.normalized();
        let have = candidate.normalized();
        if have.os == "unknown"
            || have.architecture == "unknown"
            || want.os != have.os
            || want.architecture != have.architecture
        {
            return None;
        }
        if let Some(v) = &want.os_version {
            if !have
                .os_version
                .as_deref()
                .is_some_and(|h| is_version_prefix(v, h))
            {
                return None;
            }
        }
        let level = |v: &Option<String>| -> Option<u32> {
            match v.as_deref() {
                None => Some(1),
                Some(v) => v.strip_prefix('v')?.parse().ok(),
            }
        };
        match want.architecture.as_str() {
            "arm" | "amd64" => {
                let (w, h) = (level(&want.variant)?, level(&have.variant)?);
                let oldest = if want.architecture == "arm" { 5 } else { 1 };
                (h >= oldest && h < w).then(|| w - h)
            }
            // Every arm64 variant runs the base one; finer ordering of v8.x and v9.x is not
            // guessed at.
            "arm64" => (have.variant.as_deref() == Some("v8")).then_some(1),
            _ => None,
        }
    }
}

/// Among candidates that run on `wanted`, the index of the best: a match beats a fallback to
/// an older variant (the nearest first); among matches an exact variant beats a defaulted one;
/// among several Windows matches the highest os.version (compared numerically component by
/// component) wins; otherwise the first in order.
pub(crate) fn choose_best(wanted: &Platform, candidates: &[Platform]) -> Option<usize> {
    let wanted_variant = normalize_arch(&wanted.architecture, wanted.variant.as_deref()).1;
    let rank = |candidate: &Platform, distance: u32| {
        // "Exact" means spelled the same modulo aliases, before defaults are filled in: someone
        // asking for arm64/v8 prefers an entry saying v8 over one that leaves it implicit.
        let exact = normalize_arch(&candidate.architecture, candidate.variant.as_deref()).1
            == wanted_variant;
        let version = if normalize_os(&candidate.os) == "windows" {
            numeric_version(candidate.os_version.as_deref().unwrap_or(""))
        } else {
            Vec::new()
        };
        (std::cmp::Reverse(distance), exact, version)
    };

    let mut best: Option<(usize, _)> = None;
    for (i, candidate) in candidates.iter().enumerate() {
        let Some(distance) = wanted.fallback_distance(candidate) else {
            continue;
        };
        let r = rank(candidate, distance);
        // Strictly better only, so the first of equals wins.
        if best
            .as_ref()
            .is_none_or(|(_, b)| r.cmp(b) == Ordering::Greater)
        {
            best = Some((i, r));
        }
    }
    best.map(|(i, _)| i)
}

impl FromStr for Platform {
    type Err = PlatformError;

    /// `os/arch[/variant][:os.version]`, kept as written (compare through [`Platform::matches`]).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = |reason| PlatformError {
            input: s.chars().take(200).collect(),
            reason,
        };
        const FORMAT: &str = "expected os/arch[/variant][:os.version], e.g. linux/arm64/v8";

        let (spec, os_version) = match s.split_once(':') {
            Some((spec, version)) => (spec, Some(version)),
            None => (s, None),
        };
        let parts: Vec<&str> = spec.split('/').collect();
        let (os, architecture, variant) = match parts[..] {
            [os, arch] => (os, arch, None),
            [os, arch, variant] => (os, arch, Some(variant)),
            [_] => return Err(err(FORMAT)),
            _ => {
                return Err(err(
                    "too many parts: expected os/arch[/variant][:os.version]",
                ))
            }
        };
        for (part, empty) in [
            (Some(os), "empty os"),
            (Some(architecture), "empty architecture"),
            (variant, "empty variant"),
            (os_version, "empty os.version after ':'"),
        ] {
            match part {
                Some("") => return Err(err(empty)),
                Some(p)
                    if !p
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b)) =>
                {
                    return Err(err(
                        "invalid character (allowed: letters, digits, '_', '.', '-')",
                    ))
                }
                _ => {}
            }
        }
        Ok(Platform {
            os: os.to_string(),
            architecture: architecture.to_string(),
            variant: variant.map(str::to_string),
            os_version: os_version.map(str::to_string),
            os_features: Vec::new(),
        })
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(variant) = &self.variant {
            write!(f, "/{variant}")?;
        }
        if let Some(version) = &self.os_version {
            write!(f, ":{version}")?;
        }
        Ok(())
    }
}

fn normalize_os(os: &str) -> String {
    let os = os.to_ascii_lowercase();
    if os == "macos" {
        "darwin".into()
    } else {
        os
    }
}

/// containerd's architecture aliases, without filling in default variants (so callers can still
/// tell an explicit `v8` from an implicit one).
fn normalize_arch(arch: &str, variant: Option<&str>) -> (String, Option<String>) {
    let arch = arch.to_ascii_lowercase();
    let variant = variant
        .map(str::to_ascii_lowercase)
        .filter(|v| !v.is_empty());
    let (arch, variant) = match arch.as_str() {
        "i386" => ("386", None),
        "x86_64" | "x86-64" | "amd64" => ("amd64", variant.filter(|v| v != "v1")),
        "aarch64" | "arm64" => {
            let variant = variant.map(|v| match v.as_str() {
                "8" | "v8.0" => "v8".to_string(),
                "9" | "9.0" | "v9.0" => "v9".to_string(),
                _ => v,
            });
            ("arm64", variant)
        }
        "armhf" => ("arm", Some("v7".to_string())),
        "armel" => ("arm", Some("v6".to_string())),
        "arm" => {
            let variant = variant.map(|v| match v.as_str() {
                "5" | "6" | "7" | "8" => format!("v{v}"),
                _ => v,
            });
            ("arm", variant)
        }
        _ => return (arch, variant),
    };
    (arch.to_string(), variant)
}

/// The variant an image without one is built for.
fn default_variant(arch: &str) -> Option<&'static str> {
    match arch {
        "arm64" => Some("v8"),
        "arm" => Some("v7"),
        _ => None,
    }
}

/// `want` equals `have` or is a prefix of it ending where a dot begins.
fn is_version_prefix(want: &str, have: &str) -> bool {
    have.strip_prefix(want)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('.'))
}

/// `10.0.17763.5830` as numbers, so that build 20348 beats 17763 and patch 10 beats 9. A part
/// that is not a number counts as 0: it should not happen, and must not win.
fn numeric_version(v: &str) -> Vec<u64> {
    if v.is_empty() {
        return Vec::new();
    }
    v.split('.').map(|p| p.parse().unwrap_or(0)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Platform {
        s.parse().unwrap_or_else(|e| panic!("{s:?}: {e}"))
    }

    #[test]
    fn a_single_image_must_run_an_asked_platform_but_any_default_takes_it() {
        let amd = p("linux/amd64");
        let asked = |s: &str| Wanted::asked(p(s));
        assert!(asked("linux/amd64").accepts_single(&amd));
        assert!(!asked("linux/s390x").accepts_single(&amd));
        assert!(!asked("windows/amd64").accepts_single(&amd));
        assert!(Wanted::default_for(p("linux/s390x")).accepts_single(&amd));
        // The fallbacks of an index entry apply: a v7 machine runs a v6 image, not the reverse.
        assert!(asked("linux/arm/v7").accepts_single(&p("linux/arm/v6")));
        assert!(!asked("linux/arm/v6").accepts_single(&p("linux/arm/v7")));
        assert!(asked("linux/arm64/v8").accepts_single(&p("linux/aarch64")));
        // A config that states no platform proves nothing.
        assert!(!asked("linux/amd64").accepts_single(&Platform::default()));
        assert_eq!(asked("linux/arm/v7").to_string(), "linux/arm/v7");
    }

    #[test]
    fn parses_and_displays() {
        let plat = |os: &str, arch: &str, variant: Option<&str>, version: Option<&str>| Platform {
            os: os.into(),
            architecture: arch.into(),
            variant: variant.map(Into::into),
            os_version: version.map(Into::into),
            os_features: Vec::new(),
        };
        for (s, expected) in [
            ("linux/amd64", plat("linux", "amd64", None, None)),
            ("linux/arm64/v8", plat("linux", "arm64", Some("v8"), None)),
            ("linux/arm/v7", plat("linux", "arm", Some("v7"), None)),
            (
                "windows/amd64:10.0.17763",
                plat("windows", "amd64", None, Some("10.0.17763")),
            ),
            (
                "windows/amd64/v2:10.0.20348.2582",
                plat("windows", "amd64", Some("v2"), Some("10.0.20348.2582")),
            ),
            // Kept as written; normalizing is a separate step.
            ("Linux/X86_64", plat("Linux", "X86_64", None, None)),
        ] {
            assert_eq!(p(s), expected);
            assert_eq!(expected.to_string(), s);
        }
        assert_eq!(Platform::linux_amd64(), p("linux/amd64"));
    }

    #[test]
    fn parse_errors_say_what_is_wrong() {
        let reason = |s: &str| s.parse::<Platform>().unwrap_err().reason;
        assert!(reason("").starts_with("expected os/arch"));
        assert!(reason("linux").starts_with("expected os/arch"));
        assert!(reason("linux/arm/v7/extra").starts_with("too many parts"));
        assert_eq!(reason("/amd64"), "empty os");
        assert_eq!(reason("linux/"), "empty architecture");
        assert_eq!(reason("linux/arm/"), "empty variant");
        assert_eq!(reason("windows/amd64:"), "empty os.version after ':'");
        assert!(reason("linux/amd 64").starts_with("invalid character"));
        assert!(reason("linux/amd64:10:0").starts_with("invalid character"));
        assert!(reason("lin*ux/amd64").starts_with("invalid character"));
        let e = "linux".parse::<Platform>().unwrap_err().to_string();
        assert!(
            e.starts_with("invalid platform \"linux\": expected os/arch"),
            "{e}"
        );
    }

    #[test]
    fn normalizes_like_containerd() {
        let n = |s: &str| p(s).normalized().to_string();
        assert_eq!(n("Linux/AMD64"), "linux/amd64");
        assert_eq!(n("linux/x86_64"), "linux/amd64");
        assert_eq!(n("linux/x86-64"), "linux/amd64");
        assert_eq!(n("linux/amd64/v1"), "linux/amd64");
        assert_eq!(n("linux/amd64/v3"), "linux/amd64/v3");
        assert_eq!(n("linux/aarch64"), "linux/arm64/v8");
        assert_eq!(n("linux/arm64"), "linux/arm64/v8");
        assert_eq!(n("linux/arm64/8"), "linux/arm64/v8");
        assert_eq!(n("linux/arm64/v8.0"), "linux/arm64/v8");
        assert_eq!(n("linux/arm64/9"), "linux/arm64/v9");
        assert_eq!(n("linux/arm64/v8.2"), "linux/arm64/v8.2");
        assert_eq!(n("linux/armhf"), "linux/arm/v7");
        assert_eq!(n("linux/armel"), "linux/arm/v6");
        assert_eq!(n("linux/arm"), "linux/arm/v7");
        assert_eq!(n("linux/arm/7"), "linux/arm/v7");
        assert_eq!(n("linux/arm/6"), "linux/arm/v6");
        assert_eq!(n("linux/i386"), "linux/386");
        assert_eq!(n("linux/386"), "linux/386");
        assert_eq!(n("macos/arm64"), "darwin/arm64/v8");
        assert_eq!(n("linux/riscv64"), "linux/riscv64");
        assert_eq!(n("windows/amd64:10.0.17763"), "windows/amd64:10.0.17763");
        // Normalizing is idempotent.
        for s in [
            "linux/armhf",
            "linux/aarch64",
            "linux/amd64/v1",
            "Linux/ARM/7",
        ] {
            let once = p(s).normalized();
            assert_eq!(once.normalized(), once, "{s}");
        }
    }

    #[test]
    fn matching() {
        let m = |want: &str, have: &str| p(want).matches(&p(have));
        assert!(m("linux/amd64", "linux/amd64"));
        assert!(m("linux/amd64", "linux/x86_64"));
        assert!(m("LINUX/amd64", "linux/AMD64"));
        assert!(m("linux/amd64", "linux/amd64/v1"));
        assert!(!m("linux/amd64", "linux/amd64/v3"));
        assert!(!m("linux/amd64", "linux/386"));
        assert!(!m("linux/amd64", "windows/amd64"));
        assert!(!m("linux/amd64", "linux/arm64"));

        assert!(m("linux/arm64", "linux/arm64/v8"));
        assert!(m("linux/arm64/v8", "linux/arm64"));
        assert!(m("linux/aarch64", "linux/arm64"));
        assert!(!m("linux/arm64/v8", "linux/arm64/v9"));

        assert!(m("linux/arm", "linux/arm/v7"));
        assert!(m("linux/arm", "linux/arm"));
        assert!(m("linux/arm/v7", "linux/arm"));
        assert!(m("linux/armhf", "linux/arm/v7"));
        assert!(!m("linux/arm", "linux/arm/v6"));
        assert!(!m("linux/arm/v6", "linux/arm"));
        assert!(m("linux/armel", "linux/arm/v6"));

        // unknown/unknown is how indexes carry attestations: never an image to run.
        assert!(!m("linux/amd64", "unknown/unknown"));
        assert!(!m("unknown/unknown", "unknown/unknown"));
        assert!(!Platform::linux_amd64().matches(&Platform {
            os: "unknown".into(),
            architecture: "unknown".into(),
            ..Platform::default()
        }));
    }

    #[test]
    fn os_version_is_a_prefix_at_a_dot() {
        let m = |want: &str, have: &str| p(want).matches(&p(have));
        assert!(m(
            "windows/amd64:10.0.17763",
            "windows/amd64:10.0.17763.5830"
        ));
        assert!(m("windows/amd64:10.0.17763", "windows/amd64:10.0.17763"));
        assert!(!m("windows/amd64:10.0.17763", "windows/amd64:10.0.177631"));
        assert!(!m(
            "windows/amd64:10.0.17763",
            "windows/amd64:10.0.20348.2582"
        ));
        assert!(m("windows/amd64:10.0", "windows/amd64:10.0.20348.2582"));
        assert!(!m(
            "windows/amd64:10.0.17763.5830",
            "windows/amd64:10.0.17763"
        ));
        // A pinned version wants proof; an index entry without one gives none.
        assert!(!m("windows/amd64:10.0.17763", "windows/amd64"));
        // No version asked: any will do.
        assert!(m("windows/amd64", "windows/amd64:10.0.17763.5830"));
        assert!(m("windows/amd64", "windows/amd64"));
    }

    #[test]
    fn choosing_the_best() {
        let all = |specs: &[&str]| specs.iter().map(|s| p(s)).collect::<Vec<_>>();

        let index = all(&[
            "linux/amd64",
            "linux/arm64",
            "linux/arm/v7",
            "unknown/unknown",
        ]);
        assert_eq!(choose_best(&p("linux/amd64"), &index), Some(0));
        assert_eq!(choose_best(&p("linux/arm64/v8"), &index), Some(1));
        assert_eq!(choose_best(&p("linux/arm"), &index), Some(2));
        assert_eq!(choose_best(&p("linux/s390x"), &index), None);
        assert_eq!(choose_best(&p("linux/amd64"), &[]), None);

        // An exact variant beats a defaulted one, whichever comes first.
        let arm64 = all(&["linux/arm64", "linux/arm64/v8"]);
        assert_eq!(choose_best(&p("linux/arm64/v8"), &arm64), Some(1));
        assert_eq!(choose_best(&p("linux/arm64"), &arm64), Some(0));
        let arm64 = all(&["linux/arm64/v8", "linux/arm64"]);
        assert_eq!(choose_best(&p("linux/arm64"), &arm64), Some(1));
        assert_eq!(choose_best(&p("linux/aarch64/8"), &arm64), Some(0));

        // Equal candidates: the first wins.
        let twice = all(&["linux/amd64", "linux/amd64"]);
        assert_eq!(choose_best(&p("linux/amd64"), &twice), Some(0));

        // Windows: highest os.version among the matches, numerically.
        let windows = all(&[
            "windows/amd64:10.0.17763.5830",
            "windows/amd64:10.0.17763.10000",
            "windows/amd64:10.0.17763.999",
            "windows/amd64:10.0.20348.2582",
            "linux/amd64",
        ]);
        assert_eq!(
            choose_best(&p("windows/amd64:10.0.17763"), &windows),
            Some(1)
        );
        assert_eq!(choose_best(&p("windows/amd64"), &windows), Some(3));
        assert_eq!(
            choose_best(&p("windows/amd64:10.0.20348"), &windows),
            Some(3)
        );
        assert_eq!(choose_best(&p("windows/amd64:10.0.14393"), &windows), None);
        assert_eq!(choose_best(&p("linux/amd64"), &windows), Some(4));
    }

    #[test]
    fn older_variants_are_taken_only_when_nothing_matches() {
        let all = |specs: &[&str]| specs.iter().map(|s| p(s)).collect::<Vec<_>>();
        let pick = |want: &str, specs: &[&str]| {
            let candidates = all(specs);
            choose_best(&p(want), &candidates).map(|i| candidates[i].to_string())
        };
        let pick = |want: &str, specs: &[&str]| pick(want, specs).unwrap_or_default();

        // arm/v7 (and plain arm, which is v7) falls back to v6, then v5; never upwards.
        assert_eq!(
            pick("linux/arm/v7", &["linux/arm/v5", "linux/arm/v6"]),
            "linux/arm/v6"
        );
        assert_eq!(
            pick("linux/arm", &["linux/arm/v5", "linux/amd64"]),
            "linux/arm/v5"
        );
        assert_eq!(
            pick(
                "linux/arm/v7",
                &["linux/arm/v6", "linux/arm/v7", "linux/arm/v5"]
            ),
            "linux/arm/v7"
        );
        assert_eq!(
            pick("linux/arm/v7", &["linux/arm/v6", "linux/arm"]),
            "linux/arm"
        );
        assert_eq!(
            pick("linux/arm/v8", &["linux/arm/v6", "linux/arm/v7"]),
            "linux/arm/v7"
        );
        assert_eq!(pick("linux/arm/v6", &["linux/arm/v7", "linux/arm"]), "");
        assert_eq!(pick("linux/arm/v5", &["linux/arm/v6"]), "");
        assert_eq!(pick("linux/arm/v7", &["windows/arm/v6", "linux/arm64"]), "");

        // arm64 of any variant runs the base arm64, spelled with or without v8.
        assert_eq!(
            pick("linux/arm64", &["linux/amd64", "linux/arm64"]),
            "linux/arm64"
        );
        assert_eq!(pick("linux/arm64/v8", &["linux/arm64"]), "linux/arm64");
        assert_eq!(pick("linux/arm64/v9", &["linux/arm64"]), "linux/arm64");
        assert_eq!(
            pick("linux/arm64/v8.2", &["linux/arm64/v8"]),
            "linux/arm64/v8"
        );
        assert_eq!(
            pick("linux/arm64/v9", &["linux/arm64", "linux/arm64/v9"]),
            "linux/arm64/v9"
        );
        assert_eq!(pick("linux/arm64", &["linux/arm64/v9"]), "");
        assert_eq!(pick("linux/arm64", &["linux/arm/v7"]), "");

        // amd64 microarchitecture levels, down to plain amd64; never 386.
        assert_eq!(
            pick("linux/amd64/v3", &["linux/386", "linux/amd64"]),
            "linux/amd64"
        );
        assert_eq!(
            pick("linux/amd64/v3", &["linux/amd64", "linux/amd64/v2"]),
            "linux/amd64/v2"
        );
        assert_eq!(pick("linux/amd64", &["linux/amd64/v2"]), "");

        // The matching rule itself stays strict.
        assert!(!p("linux/arm/v7").matches(&p("linux/arm/v6")));
        assert_eq!(
            p("linux/arm/v7").fallback_distance(&p("linux/arm/v5")),
            Some(2)
        );
        assert_eq!(
            p("linux/arm/v7").fallback_distance(&p("unknown/unknown")),
            None
        );
    }

    #[test]
    fn serde_uses_oci_field_names() {
        let json = r#"{"architecture":"amd64","os":"windows","os.version":"10.0.17763.5830","os.features":["win32k"]}"#;
        let plat: Platform = serde_json::from_str(json).unwrap();
        assert_eq!(plat.os_version.as_deref(), Some("10.0.17763.5830"));
        assert_eq!(plat.os_features, ["win32k"]);
        assert_eq!(plat.variant, None);
        let back = serde_json::to_value(&plat).unwrap();
        assert_eq!(
            back,
            serde_json::from_str::<serde_json::Value>(json).unwrap()
        );

        let minimal = serde_json::to_string(&Platform::linux_amd64()).unwrap();
        assert_eq!(minimal, r#"{"os":"linux","architecture":"amd64"}"#);
        let arm: Platform =
            serde_json::from_str(r#"{"os":"linux","architecture":"arm","variant":"v7"}"#).unwrap();
        assert_eq!(arm, p("linux/arm/v7"));
    }
}
