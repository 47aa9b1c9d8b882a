//! A repository's tag list: `Link` pagination followed within fixed totals, and only valid tags
//! kept.
//!
//! The tag list is the one answer a registry may spread over any number of pages, so a
//! hostile or broken paginator (the same page forever, or endless new ones) could otherwise
//! grow our memory without end. The limits are totals across pages: [`MAX_TAGS`] entries,
//! [`MAX_TAG_LIST_BYTES`] of page bodies, [`MAX_PAGES`] requests; a page URL that comes back
//! is a loop. Entries that are not tags (`[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`) are left out and
//! counted: they could carry escape sequences to a terminal, or names we would then request.

use std::collections::HashSet;
use std::hash::{BuildHasher, RandomState};

use reqwest::header::HeaderMap;
use reqwest::Method;

use crate::error::{Error, Result};
use crate::reference::is_valid_tag;
use crate::registry::{header_str, Session};
use crate::terminal_text;
use crate::transport;

/// The most entries a tag list may have, over all its pages.
pub const MAX_TAGS: usize = 100_000;
/// The most bytes of page bodies a tag list may take, over all its pages.
pub const MAX_TAG_LIST_BYTES: usize = 16 << 20;
/// The most pages a tag list may take.
pub const MAX_PAGES: usize = 10_000;

/// A repository's tags, as far as they are valid tags.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TagList {
    pub tags: Vec<String>,
    /// How many entries were not valid tags, and left out.
    pub invalid: usize,
    /// The first of them, escaped and cut short, for a message.
    pub first_invalid: Option<String>,
}

impl TagList {
    fn add(&mut self, tag: String) {
        if is_valid_tag(&tag) {
            self.tags.push(tag);
        } else {
            self.invalid += 1;
            if self.first_invalid.is_none() {
                self.first_invalid = Some(terminal_text::shown(&tag));
            }
        }
    }

    fn entries(&self) -> usize {
        self.tags.len() + self.invalid
    }
}

/// Every tag of `session`'s repository.
pub async fn list(session: &Session) -> Result<TagList> {
    #[derive(serde::Deserialize)]
    struct Page {
        #[serde(default)]
        tags: Option<Vec<String>>,
    }
    let what = format!("tags of {}", session.display_name());
    let mut url = session.url("tags/list")?;
    let mut list = TagList::default();
    let mut budget = MAX_TAG_LIST_BYTES;
    // Hashes, not URLs: a hostile Link may be long, and only equality matters.
    let hasher = RandomState::new();
    let mut seen = HashSet::new();
    for _ in 0..MAX_PAGES {
        seen.insert(hasher.hash_one(url.as_str()));
        let resp = session
            .send(Method::GET, url.clone(), HeaderMap::new(), &what)
            .await?;
        if !resp.status().is_success() {
            return Err(transport::error_from_response(what, resp).await);
        }
        let next = header_str(resp.headers(), "link").and_then(|l| next_link(&l));
        let body = transport::read_limited(resp, budget, &what, &session.patience())
            .await
            .map_err(|e| match e {
                Error::Manifest { .. } => too_big(&what, "bytes", MAX_TAG_LIST_BYTES),
                other => other,
            })?;
        budget -= body.len();
        let page: Page = serde_json::from_slice(&body)
            .map_err(|e| Error::manifest(&what, format!("malformed tag list: {e}")))?;
        drop(body);
        for tag in page.tags.unwrap_or_default() {
            if list.entries() >= MAX_TAGS {
                return Err(too_big(&what, "tags", MAX_TAGS));
            }
            list.add(tag);
        }
        let Some(next) = next else {
            return Ok(list);
        };
        let joined = url
            .join(&next)
            .map_err(|e| Error::manifest(&what, format!("bad Link header: {e}")))?;
        if !transport::same_origin(&joined, session.base()) {
            return Err(Error::Refused {
                url: terminal_text::shown(&transport::redacted(&joined)),
                reason: "tag list pagination pointing to another host".into(),
            });
        }
        if seen.contains(&hasher.hash_one(joined.as_str())) {
            return Err(Error::manifest(
                &what,
                format!(
                    "tag list pagination loops: the registry sent page {} again",
                    terminal_text::shown(&transport::redacted(&joined))
                ),
            ));
        }
        url = joined;
    }
    Err(too_big(&what, "pages", MAX_PAGES))
}

fn too_big(what: &str, unit: &str, limit: usize) -> Error {
    Error::manifest(
        what,
        format!("the tag list has more than {limit} {unit}; drag stops there"),
    )
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
}
