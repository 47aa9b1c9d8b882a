//! A repository's tag list: `Link` pagination followed within fixed totals, and only valid tags
//! kept.
//!
//! The tag list is the one answer a registry may spread over any number of pages, so a
//! hostile or broken paginator (the same page forever, or endless new ones) could otherwise
//! grow our memory without end. The limits are totals across pages: [`MAX_TAGS`] entries,
//! [`MAX_TAG_LIST_BYTES`] of page bodies, [`MAX_PAGES`] requests; a page URL that comes back
//! is a loop. Entries that are not tags (`[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`) are left out and
//! counted: they could carry escape sequences to a terminal, or names we would then request.
//! `null` entries (Nexus sends them) name nothing and are skipped. A registry that caps the page
//! size (ECR: `n` at most 1000) is asked for that size, and never for more, even when its own
//! `Link` would. Digests spelled as tags
//! (`sha256__<hex>`, Artifactory) are kept and counted, for the caller to hide.

use std::collections::HashSet;
use std::hash::{BuildHasher, RandomState};

use reqwest::Method;

use crate::error::{Error, Result};
use crate::http::policy;
use crate::http::send::read_limited;
use crate::http::{RedactedUrl, Request};
use crate::reference::is_valid_tag;
use crate::registry::Session;
use crate::terminal_text;

/// The most entries a tag list may have, over all its pages.
pub const MAX_TAGS: usize = 100_000;
/// The most bytes of page bodies a tag list may take, over all its pages.
pub const MAX_TAG_LIST_BYTES: usize = 16 << 20;
/// The most pages a tag list may take.
pub const MAX_PAGES: usize = 10_000;

/// A repository's tags, as far as they are valid tags.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TagList {
    /// The valid tags, in the registry's order.
    pub tags: Vec<String>,
    /// How many entries were not valid tags, and left out.
    pub invalid: usize,
    /// The first of them, escaped and cut short, for a message.
    pub first_invalid: Option<String>,
    /// How many entries looked like digests (`sha256__<hex>`, as Artifactory lists), kept in
    /// `tags` and left to the caller to show or hide (see [`TagList::is_digest_like`]).
    pub digest_like: usize,
    /// How many entries were JSON `null` (Nexus), skipped.
    nulls: usize,
}

impl TagList {
    /// Whether `tag` is a digest spelled as a tag, `<algorithm>__<hex>`, as Artifactory lists
    /// the manifests it holds by digest: not a name anyone gave the image.
    pub fn is_digest_like(tag: &str) -> bool {
        let Some((algorithm, hex)) = tag.split_once("__") else {
            return false;
        };
        let hex_len = match algorithm {
            "sha256" => 64,
            "sha512" => 128,
            _ => return false,
        };
        hex.len() == hex_len && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    }

    fn add(&mut self, tag: String) {
        if is_valid_tag(&tag) {
            if TagList::is_digest_like(&tag) {
                self.digest_like += 1;
            }
            self.tags.push(tag);
        } else {
            self.invalid += 1;
            if self.first_invalid.is_none() {
                self.first_invalid = Some(terminal_text::shown(&tag));
            }
        }
    }

    fn entries(&self) -> usize {
        self.tags.len() + self.invalid + self.nulls
    }
}

/// Every tag of `session`'s repository.
pub(crate) async fn list(session: &Session) -> Result<TagList> {
    let what = format!("tags of {}", session.display_name());
    let mut url = session.url("tags/list")?;
    let page_size = session.tag_page_size();
    if let Some(n) = page_size {
        url.query_pairs_mut().append_pair("n", &n.to_string());
    }
    let mut list = TagList::default();
    let mut budget = MAX_TAG_LIST_BYTES;
    // Hashes, not URLs: a hostile Link may be long, and only equality matters.
    let hasher = RandomState::new();
    let mut seen = HashSet::new();
    for _ in 0..MAX_PAGES {
        seen.insert(hasher.hash_one(url.as_str()));
        let resp = session
            .send(Request::new(Method::GET, url.clone(), &what))
            .await?;
        if !resp.status().is_success() {
            return Err(resp.into_error(what).await);
        }
        let next = resp.header("link").and_then(|l| next_link(&l));
        let body = read_limited(resp, budget, &what, &session.patience())
            .await
            .map_err(|e| match e {
                Error::TooLarge { .. } => too_big(&what, "bytes", MAX_TAG_LIST_BYTES),
                other => other,
            })?;
        budget -= body.len();
        if let Err(e) = read_page(&body, &mut list) {
            if list.entries() >= MAX_TAGS {
                return Err(too_big(&what, "tags", MAX_TAGS));
            }
            return Err(Error::manifest(&what, format!("malformed tag list: {e}")));
        }
        drop(body);
        let Some(next) = next else {
            return Ok(list);
        };
        let joined = url
            .join(&next)
            .map_err(|e| Error::manifest(&what, format!("bad Link header: {e}")))?;
        if !policy::same_origin(&joined, session.base()) {
            return Err(Error::Refused {
                url: RedactedUrl::new(&joined).to_string(),
                reason: "tag list pagination pointing to another host".into(),
            });
        }
        if seen.contains(&hasher.hash_one(joined.as_str())) {
            return Err(Error::manifest(
                &what,
                format!(
                    "tag list pagination loops: the registry sent page {} again",
                    RedactedUrl::new(&joined)
                ),
            ));
        }
        url = match page_size {
            Some(cap) => at_most(joined, cap),
            None => joined,
        };
    }
    Err(too_big(&what, "pages", MAX_PAGES))
}

/// Adds one page's `tags` to `list` entry by entry, stopping at [`MAX_TAGS`]: a 16 MiB page of
/// one-character tags holds millions, which must not all be held before the limit is checked.
fn read_page(body: &[u8], list: &mut TagList) -> serde_json::Result<()> {
    use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
    use std::fmt;

    struct Page<'a>(&'a mut TagList);
    impl<'de> Visitor<'de> for Page<'_> {
        type Value = ();
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a JSON object with a `tags` array")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
            while let Some(key) = map.next_key::<String>()? {
                if key == "tags" {
                    map.next_value_seed(Tags(&mut *self.0))?;
                } else {
                    map.next_value::<IgnoredAny>()?;
                }
            }
            Ok(())
        }
    }

    struct Tags<'a>(&'a mut TagList);
    impl<'de> DeserializeSeed<'de> for Tags<'_> {
        type Value = ();
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
            d.deserialize_option(self)
        }
    }
    impl<'de> Visitor<'de> for Tags<'_> {
        type Value = ();
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("an array of tags, or null")
        }
        fn visit_none<E>(self) -> Result<(), E> {
            Ok(())
        }
        fn visit_unit<E>(self) -> Result<(), E> {
            Ok(())
        }
        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
            d.deserialize_seq(self)
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
            loop {
                if self.0.entries() >= MAX_TAGS {
                    return Err(serde::de::Error::custom("too many tags"));
                }
                // Nexus puts `null` among the tags; it names nothing, so it is skipped, and
                // not counted among the entries that are not tags.
                match seq.next_element::<Option<String>>()? {
                    Some(Some(tag)) => self.0.add(tag),
                    Some(None) => self.0.nulls += 1,
                    None => return Ok(()),
                }
            }
        }
    }

    let mut de = serde_json::Deserializer::from_slice(body);
    de.deserialize_map(Page(list))?;
    de.end()
}

fn too_big(what: &str, unit: &str, limit: usize) -> Error {
    Error::manifest(
        what,
        format!("the tag list has more than {limit} {unit}; drag stops there"),
    )
}

/// `url` with every `n` over `cap` (or not a number) cut down to `cap`: a registry's `Link`
/// may carry back a size the registry itself refuses.
fn at_most(mut url: url::Url, cap: usize) -> url::Url {
    let too_big = |v: &str| !matches!(v.parse::<usize>(), Ok(n) if n <= cap);
    if !url.query_pairs().any(|(k, v)| k == "n" && too_big(&v)) {
        return url;
    }
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .map(|(k, v)| {
            let v = if k == "n" && too_big(&v) {
                cap.to_string()
            } else {
                v.into_owned()
            };
            (k.into_owned(), v)
        })
        .collect();
    url.query_pairs_mut().clear().extend_pairs(pairs);
    url
}

/// The target of `Link: <url>; rel="next"`.
fn next_link(link: &str) -> Option<String> {
    link.split(',').find_map(|part| {
        let (target, params) = part.split_once(';')?;
        let is_next = params.split(';').any(|p| {
            p.trim()
                .replace(' ', "")
                .eq_ignore_ascii_case("rel=\"next\"")
                || p.trim().eq_ignore_ascii_case("rel=next")
        });
        let t = target.trim();
        (is_next && t.starts_with('<') && t.ends_with('>')).then(|| t[1..t.len() - 1].to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_link_next() {
        assert_eq!(
            next_link(r#"</v2/x/tags/list?last=b&n=2>; rel="next""#).as_deref(),
            Some("/v2/x/tags/list?last=b&n=2")
        );
        assert_eq!(next_link(r#"</a>; rel="prev""#), None);
    }

    #[test]
    fn a_next_page_never_asks_for_more_than_the_cap() {
        let url = |s: &str| url::Url::parse(s).unwrap();
        let big = url("https://r.example/v2/a/tags/list?last=x&n=5000");
        assert_eq!(
            at_most(big, 1000).as_str(),
            "https://r.example/v2/a/tags/list?last=x&n=1000"
        );
        let odd = url("https://r.example/v2/a/tags/list?n=lots&last=x");
        assert_eq!(
            at_most(odd, 1000).as_str(),
            "https://r.example/v2/a/tags/list?n=1000&last=x"
        );
        let fine = "https://r.example/v2/a/tags/list?last=x%2By&n=100";
        assert_eq!(at_most(url(fine), 1000).as_str(), fine);
    }

    #[test]
    fn entries_that_are_not_tags_are_counted_and_left_out() {
        let mut list = TagList::default();
        for t in [
            "1.0",
            "\x1b[2Jevil\rdone",
            "latest",
            "",
            "-x",
            &"a".repeat(129),
        ] {
            list.add(t.to_string());
        }
        assert_eq!(list.tags, ["1.0", "latest"]);
        assert_eq!(list.invalid, 4);
        assert_eq!(list.first_invalid.as_deref(), Some("\\x1b[2Jevil\\rdone"));
    }

    #[test]
    fn digest_like_entries_are_kept_and_counted() {
        let hex = "0123456789abcdef".repeat(4);
        let mut list = TagList::default();
        for t in [
            format!("sha256__{hex}"),
            "1.0".to_string(),
            format!("sha256__{}", &hex[1..]),
            format!("md5__{hex}"),
            format!("sha256__{}", hex.to_uppercase()),
        ] {
            list.add(t);
        }
        assert_eq!(list.tags.len(), 5);
        assert_eq!(list.digest_like, 1);
        assert!(TagList::is_digest_like(&format!("sha256__{hex}")));
        assert!(!TagList::is_digest_like("sha256__abc"));
    }

    #[test]
    fn a_page_is_read_entry_by_entry_and_stops_at_the_tag_limit() {
        let mut list = TagList::default();
        read_page(
            br#"{"name":"x","tags":["a","b"],"other":[1,{"k":null}]}"#,
            &mut list,
        )
        .unwrap();
        read_page(br#"{"name":"x","tags":null}"#, &mut list).unwrap();
        assert_eq!(list.tags, ["a", "b"]);
        read_page(br#"{"tags":[null,"c",null]}"#, &mut list).unwrap();
        assert_eq!(list.tags, ["a", "b", "c"]);
        assert_eq!(list.invalid, 0);
        assert!(read_page(br#"{"tags":"a"}"#, &mut list).is_err());
        assert!(read_page(br#"{"tags":["c"]} trailing"#, &mut list).is_err());

        // One page holding more entries than the limit: never more than the limit is kept.
        let mut huge = String::from(r#"{"tags":["#);
        for _ in 0..MAX_TAGS + 10 {
            huge.push_str(r#""t","#);
        }
        huge.push_str(r#""t"]}"#);
        let mut list = TagList::default();
        assert!(read_page(huge.as_bytes(), &mut list).is_err());
        assert_eq!(list.entries(), MAX_TAGS);
    }
}
