//! `WWW-Authenticate` challenges (RFC 7235), which tell us how a registry wants to be asked.
//!
//! A registry answers 401 with something like
//! `Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull"`,
//! and the token request is built from those parameters. The header is remote input: real servers
//! get the grammar slightly wrong (unquoted URLs, stray commas, several challenges in one value),
//! so the parser is lenient, takes what it can recognise, and never panics.

use std::collections::BTreeMap;

/// One authentication challenge: a scheme and its parameters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Challenge {
    /// Lower-cased: schemes are case-insensitive.
    pub scheme: String,
    /// Keys lower-cased, values as sent. A token68 (`Negotiate abc==`) is stored under `token68`.
    pub params: BTreeMap<String, String>,
}

impl Challenge {
    /// The parameter's value; `name` is case-insensitive.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
    }

    /// A Bearer challenge: a token service to ask.
    pub fn is_bearer(&self) -> bool {
        self.scheme == "bearer"
    }

    /// A Basic challenge: the user's name and password, if there are any.
    pub fn is_basic(&self) -> bool {
        self.scheme == "basic"
    }
}

/// The challenges of every `WWW-Authenticate` header value, in order (a response may carry the
/// header several times).
pub fn parse_all<'a>(values: impl IntoIterator<Item = &'a str>) -> Vec<Challenge> {
    values.into_iter().flat_map(parse_challenges).collect()
}

/// The challenges in one header value, in order. What cannot be understood is skipped.
pub fn parse_challenges(header: &str) -> Vec<Challenge> {
    let mut p = Parser {
        s: header.as_bytes(),
        i: 0,
    };
    let mut challenges = Vec::new();
    loop {
        p.skip_list_separators();
        if p.at_end() {
            return challenges;
        }
        let Some(scheme) = p.token() else {
            p.skip_element();
            continue;
        };
        let mut challenge = Challenge {
            scheme: scheme.to_ascii_lowercase(),
            params: BTreeMap::new(),
        };
        // challenge = auth-scheme [ 1*SP ( token68 / #auth-param ) ]
        if p.skip_ws() {
            if let Some(token68) = p.token68() {
                challenge.params.insert("token68".into(), token68);
            } else {
                p.params(&mut challenge.params);
            }
        } else if !p.at_end() && p.peek() != Some(b',') {
            // `Bearer"x"` or `Bearer=x`: not a challenge.
            p.skip_element();
            continue;
        }
        challenges.push(challenge);
    }
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn at_end(&self) -> bool {
        self.i >= self.s.len()
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    /// Skips optional whitespace; says whether there was any.
    fn skip_ws(&mut self) -> bool {
        let start = self.i;
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.i += 1;
        }
        self.i > start
    }

    /// The `#` list rule allows empty elements: `, ,Basic realm="x",,`.
    fn skip_list_separators(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b',')) {
            self.i += 1;
        }
    }

    /// Skips something unrecognisable up to the next top-level comma. Always moves forward, so
    /// the loops calling it end.
    fn skip_element(&mut self) {
        if self.peek() != Some(b'"') {
            self.i += 1;
        }
        while let Some(b) = self.peek() {
            match b {
                b',' => return,
                // A comma inside quotes does not end the element.
                b'"' => {
                    self.quoted_string();
                }
                _ => self.i += 1,
            }
        }
    }

    /// RFC 7230 `token` (ASCII, so slicing there is at a character boundary).
    fn token(&mut self) -> Option<String> {
        let start = self.i;
        while self.peek().is_some_and(is_tchar) {
            self.i += 1;
        }
        (self.i > start).then(|| self.text(start, self.i))
    }

    /// A token68 is only taken when it is all there is before the next comma and the next list
    /// element is not a parameter, which is what sets `Negotiate abc==` apart from
    /// `Basic realm=abc` and `Bearer realm=, service="s"`.
    fn token68(&mut self) -> Option<String> {
        let start = self.i;
        let mut j = start;
        while self.s.get(j).copied().is_some_and(is_token68_char) {
            j += 1;
        }
        if j == start {
            return None;
        }
        while self.s.get(j) == Some(&b'=') {
            j += 1;
        }
        let end = j;
        while matches!(self.s.get(j), Some(b' ' | b'\t')) {
            j += 1;
        }
        if j < self.s.len() {
            if self.s[j] != b',' {
                return None;
            }
            let mut next = Parser { s: self.s, i: j };
            next.skip_list_separators();
            if next.token().is_some() {
                next.skip_ws();
                if next.peek() == Some(b'=') {
                    return None;
                }
            }
        }
        self.i = end;
        Some(self.text(start, end))
    }

    /// `#auth-param`, stopping before the next challenge's scheme. The first of a repeated name
    /// wins (RFC 7235 forbids repeats).
    fn params(&mut self, params: &mut BTreeMap<String, String>) {
        loop {
            self.skip_list_separators();
            if self.at_end() {
                return;
            }
            let start = self.i;
            let Some(name) = self.token() else {
                self.skip_element();
                continue;
            };
            self.skip_ws();
            if self.peek() != Some(b'=') {
                // A token not followed by '=' is the scheme of the next challenge.
                self.i = start;
                return;
            }
            self.i += 1;
            self.skip_ws();
            let value = if self.peek() == Some(b'"') {
                Some(self.quoted_string())
            } else {
                self.unquoted_value()
            };
            match value {
                Some(value) => {
                    params.entry(name.to_ascii_lowercase()).or_insert(value);
                }
                None if self.at_end() || self.peek() == Some(b',') => {}
                None => self.skip_element(),
            }
        }
    }

    /// A `token` by the grammar, but servers send unquoted URLs too (`realm=https://x/token`), so
    /// anything up to a delimiter is taken.
    fn unquoted_value(&mut self) -> Option<String> {
        let start = self.i;
        while self
            .peek()
            .is_some_and(|b| !matches!(b, b',' | b' ' | b'\t' | b'"'))
        {
            self.i += 1;
        }
        (self.i > start).then(|| self.text(start, self.i))
    }

    /// A quoted-string starting at the current `"`, unescaped. An unterminated one runs to the
    /// end of the header rather than being lost.
    fn quoted_string(&mut self) -> String {
        self.i += 1;
        let mut out = Vec::new();
        while let Some(b) = self.peek() {
            self.i += 1;
            match b {
                b'"' => break,
                b'\\' => {
                    if let Some(escaped) = self.peek() {
                        out.push(escaped);
                        self.i += 1;
                    }
                }
                _ => out.push(b),
            }
        }
        // Only ASCII backslashes were dropped from valid UTF-8, so this is never lossy in practice.
        String::from_utf8_lossy(&out).into_owned()
    }

    fn text(&self, start: usize, end: usize) -> String {
        String::from_utf8_lossy(&self.s[start..end]).into_owned()
    }
}

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn is_token68_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~+/".contains(&b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn challenge(scheme: &str, params: &[(&str, &str)]) -> Challenge {
        Challenge {
            scheme: scheme.into(),
            params: params
                .iter()
                .map(|&(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    #[test]
    fn docker_hub_bearer() {
        let h = r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull""#;
        let c = parse_challenges(h);
        assert_eq!(
            c,
            [challenge(
                "bearer",
                &[
                    ("realm", "https://auth.docker.io/token"),
                    ("service", "registry.docker.io"),
                    ("scope", "repository:library/alpine:pull"),
                ]
            )]
        );
        assert!(c[0].is_bearer());
        assert!(!c[0].is_basic());
    }

    #[test]
    fn several_challenges_and_commas_in_quotes() {
        let h = r#"Basic realm="x", Bearer realm="https://auth/token",service="s",scope="repository:a/b:pull,push""#;
        assert_eq!(
            parse_challenges(h),
            [
                challenge("basic", &[("realm", "x")]),
                challenge(
                    "bearer",
                    &[
                        ("realm", "https://auth/token"),
                        ("service", "s"),
                        ("scope", "repository:a/b:pull,push"),
                    ]
                ),
            ]
        );
    }

    #[test]
    fn quoted_string_escapes() {
        let c = parse_challenges(r#"Bearer realm="a\"b\\c\d", error="x\,y""#);
        assert_eq!(c[0].param("realm"), Some(r#"a"b\cd"#));
        assert_eq!(c[0].param("error"), Some("x,y"));
        // Non-ASCII survives, escaped or not.
        let c = parse_challenges("Basic realm=\"caf\\é ✓\"");
        assert_eq!(c[0].param("realm"), Some("café ✓"));
    }

    #[test]
    fn unquoted_values_and_whitespace() {
        let c = parse_challenges(
            "Bearer   realm = https://auth.example/token ,\tservice=\t\"reg\"  ,scope =repository:a:pull ,error=invalid_token",
        );
        assert_eq!(
            c,
            [challenge(
                "bearer",
                &[
                    ("realm", "https://auth.example/token"),
                    ("service", "reg"),
                    ("scope", "repository:a:pull"),
                    ("error", "invalid_token"),
                ]
            )]
        );
        // No comma between parameters: still understood.
        let c = parse_challenges(r#"Bearer realm="a"service="b""#);
        assert_eq!(c[0].param("service"), Some("b"));
    }

    #[test]
    fn empty_parameter_lists_and_token68() {
        assert_eq!(parse_challenges("Negotiate"), [challenge("negotiate", &[])]);
        assert_eq!(
            parse_challenges("Negotiate abc=="),
            [challenge("negotiate", &[("token68", "abc==")])]
        );
        assert_eq!(
            parse_challenges("Negotiate a+b/c9-._~= , Basic realm=x"),
            [
                challenge("negotiate", &[("token68", "a+b/c9-._~=")]),
                challenge("basic", &[("realm", "x")]),
            ]
        );
        assert_eq!(
            parse_challenges(r#"Negotiate, NTLM ,Basic realm="r""#),
            [
                challenge("negotiate", &[]),
                challenge("ntlm", &[]),
                challenge("basic", &[("realm", "r")]),
            ]
        );
        assert_eq!(
            parse_challenges("Basic realm=x, Negotiate"),
            [
                challenge("basic", &[("realm", "x")]),
                challenge("negotiate", &[])
            ]
        );
    }

    #[test]
    fn case_insensitive_scheme_and_names() {
        let c = parse_challenges(r#"BEARER Realm="X", SERVICE="Y""#);
        assert_eq!(
            c,
            [challenge("bearer", &[("realm", "X"), ("service", "Y")])]
        );
        assert!(c[0].is_bearer());
        assert_eq!(c[0].param("REALM"), Some("X"));
        assert_eq!(c[0].param("Service"), Some("Y"));
        assert_eq!(c[0].param("scope"), None);
        assert!(parse_challenges("bAsIc realm=x")[0].is_basic());
    }

    #[test]
    fn empty_elements_duplicates_and_damage() {
        assert_eq!(
            parse_challenges(r#" , ,Basic realm="x",, , "#),
            [challenge("basic", &[("realm", "x")])]
        );
        // The first of a repeated parameter wins.
        assert_eq!(
            parse_challenges("Basic realm=a, realm=b")[0].param("realm"),
            Some("a")
        );
        // Unterminated quote: keep what was sent.
        assert_eq!(
            parse_challenges(r#"Bearer realm="https://auth/tok"#)[0].param("realm"),
            Some("https://auth/tok")
        );
        // A parameter with no value is dropped, the rest kept.
        assert_eq!(
            parse_challenges(r#"Bearer realm=, service="s""#),
            [challenge("bearer", &[("service", "s")])]
        );
        // Garbage before a valid challenge does not hide it.
        assert_eq!(
            parse_challenges(r#"=== "junk, more", Basic realm="x""#),
            [challenge("basic", &[("realm", "x")])]
        );
        assert_eq!(
            parse_challenges(r#"Bearer="x", Basic"#),
            [challenge("basic", &[])]
        );
        for nothing in ["", " ", ",,,", "\"", "=", "\"\\", "\u{fffd}"] {
            assert_eq!(parse_challenges(nothing), [], "{nothing:?}");
        }
    }

    #[test]
    fn several_header_values() {
        let c = parse_all([r#"Basic realm="x""#, "", r#"Bearer realm="y", Negotiate"#]);
        assert_eq!(
            c,
            [
                challenge("basic", &[("realm", "x")]),
                challenge("bearer", &[("realm", "y")]),
                challenge("negotiate", &[]),
            ]
        );
        let owned = [String::from("Basic realm=a")];
        assert_eq!(parse_all(owned.iter().map(String::as_str)).len(), 1);
    }

    /// Every slice and random damage of real headers, and random bytes: never a panic, and what
    /// comes out keeps the promises about case.
    #[test]
    fn never_panics_on_garbage() {
        let valid = [
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull""#,
            r#"Basic realm="x", Bearer realm="https://auth/token",service="s",scope="repository:a/b:pull,push""#,
            r#"Negotiate abc==, Basic realm="a\"b\\c", NTLM"#,
            "Bearer  realm = https://x/t ,\tservice=\"é ✓\"",
        ];
        let check = |header: &str| {
            for c in parse_challenges(header) {
                assert!(!c.scheme.is_empty());
                assert_eq!(c.scheme, c.scheme.to_ascii_lowercase());
                assert!(c.params.keys().all(|k| *k == k.to_ascii_lowercase()));
            }
        };
        for h in valid {
            for start in 0..=h.len() {
                for end in start..=h.len() {
                    if let Some(slice) = h.get(start..end) {
                        check(slice);
                    }
                }
            }
        }

        // Seeded, so a failure can be replayed.
        let mut rng = rand::rngs::StdRng::seed_from_u64(0x9e37_79b9_7f4a_7c15);
        let mut next = move || rand::Rng::random::<u64>(&mut rng);
        let alphabet = b" \t,=\"\\abcABC/+:~.-_\x00\xff";
        for round in 0..20_000 {
            let len = (next() % 64) as usize;
            let bytes: Vec<u8> = if round % 2 == 0 {
                (0..len).map(|_| next() as u8).collect()
            } else {
                (0..len)
                    .map(|_| alphabet[(next() % alphabet.len() as u64) as usize])
                    .collect()
            };
            check(&String::from_utf8_lossy(&bytes));
        }
        for h in valid {
            for _ in 0..2_000 {
                let mut bytes = h.as_bytes().to_vec();
                for _ in 0..3 {
                    let at = (next() % bytes.len() as u64) as usize;
                    bytes[at] = alphabet[(next() % alphabet.len() as u64) as usize];
                }
                check(&String::from_utf8_lossy(&bytes));
            }
        }
    }
}
