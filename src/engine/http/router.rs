//! Route patterns, compiled once at registration.
//!
//! Luminova's rule: the pattern becomes `'/' . trim($pattern, '/')`, every `/{name}` segment becomes
//! a lazy capture `(.*?)`, and the whole is anchored (`#^...$#`) against the request path with the
//! query removed, also normalised to `'/' . trim($path, '/')`. We keep that, name the captures,
//! and wrap the body in a group so that an alternation (`a|b`) stays anchored on both ends.

use crate::engine::error::{Error, ErrorKind, Result};
use hyper::Method;
use regex::Regex;
use std::sync::Arc;

/// A compiled pattern: the regex plus the names of its capture groups (None for unnamed ones).
pub struct Pattern {
    regex: Regex,
    /// The same pattern as literal pieces and lazy captures, when it has no other regex syntax
    /// (`/user/{id}`, `/a/{x}/b/{y}`): matched without the regex engine and without allocating
    /// its capture slots. Same result as the regex by construction; checked in the tests.
    simple: Option<Vec<Seg>>,
    names: Arc<[Option<Box<str>>]>,
    source: Box<str>,
}

#[derive(Debug)]
enum Seg {
    Lit(Box<str>),
    Capture,
}

/// Regex syntax that makes a literal piece not literal.
fn is_literal(s: &str) -> bool {
    !s.contains([
        '\\', '.', '+', '*', '?', '(', ')', '|', '[', ']', '{', '}', '^', '$',
    ])
}

/// Matches `segs` against `path[at..]` to the end, captures as short as possible from left to
/// right: the semantics of the anchored regex with lazy `(.*?)` groups.
///
/// Backtracking over several captures is polynomial in the path's length (`/{a}/{b}/{c}/x`
/// against a path of slashes): each capture end tried costs one unit of `budget`, and `None`
/// means it ran out, so that the caller asks the regex, whose time is linear in the path.
fn match_simple(
    segs: &[Seg],
    path: &str,
    at: usize,
    out: &mut Vec<(usize, usize)>,
    budget: &mut usize,
) -> Option<bool> {
    match segs.split_first() {
        None => Some(at == path.len()),
        Some((Seg::Lit(lit), rest)) => {
            if !path[at..].starts_with(&**lit) {
                return Some(false);
            }
            match_simple(rest, path, at + lit.len(), out, budget)
        }
        Some((Seg::Capture, rest)) => {
            // `.` does not match `\n`: a capture ends at the first one.
            let stop = path[at..].find('\n').map_or(path.len(), |i| at + i);
            for end in at..=stop {
                if !path.is_char_boundary(end) {
                    continue;
                }
                *budget = budget.checked_sub(1)?;
                out.push((at, end));
                if match_simple(rest, path, end, out, budget)? {
                    return Some(true);
                }
                out.pop();
            }
            Some(false)
        }
    }
}

fn is_ident(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c == '_' || c.is_ascii_alphabetic())
        && chars.all(|c| c == '_' || c.is_ascii_alphanumeric())
}

/// Trims `/` from both ends and puts back one leading `/`: Luminova's path normalisation.
pub fn normalize_path(path: &str) -> std::borrow::Cow<'_, str> {
    let trimmed = path.trim_matches('/');
    if trimmed.len() + 1 == path.len() && path.starts_with('/') {
        std::borrow::Cow::Borrowed(path)
    } else {
        std::borrow::Cow::Owned(format!("/{trimmed}"))
    }
}

impl Pattern {
    pub fn compile(pattern: &str) -> Result<Pattern> {
        let body = format!("/{}", pattern.trim_matches('/'));
        // Replace `/{name}` with `/(?P<name>.*?)`; braces that are not an identifier (`{2,3}`)
        // are regex quantifiers and stay as they are.
        let mut re = String::with_capacity(body.len() + 16);
        re.push_str("^(?:");
        let mut segs = Some(Vec::new());
        let lit = |segs: &mut Option<Vec<Seg>>, text: &str| {
            if !is_literal(text) {
                *segs = None;
            } else if let Some(v) = segs.as_mut() {
                v.push(Seg::Lit(text.into()));
            }
        };
        let mut rest = body.as_str();
        while let Some(pos) = rest.find("/{") {
            let after = &rest[pos + 2..];
            match after.find('}') {
                Some(end) if is_ident(&after[..end]) => {
                    lit(&mut segs, &format!("{}/", &rest[..pos]));
                    if let Some(v) = segs.as_mut() {
                        v.push(Seg::Capture);
                    }
                    re.push_str(&rest[..pos]);
                    re.push_str("/(?P<");
                    re.push_str(&after[..end]);
                    re.push_str(">.*?)");
                    rest = &after[end + 1..];
                }
                _ => {
                    segs = None;
                    re.push_str(&rest[..pos + 2]);
                    rest = after;
                }
            }
        }
        lit(&mut segs, rest);
        re.push_str(rest);
        re.push_str(")$");
        let regex = Regex::new(&re).map_err(|e| {
            Error::new(
                ErrorKind::Pattern,
                format!("invalid route pattern '{pattern}' (as regex '{re}'): {e}"),
            )
        })?;
        let names: Arc<[Option<Box<str>>]> = regex
            .capture_names()
            .skip(1)
            .map(|n| n.map(Box::from))
            .collect();
        Ok(Pattern {
            regex,
            simple: segs,
            names,
            source: pattern.into(),
        })
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    /// Matches a normalised path; on success returns the byte ranges of every capture group
    /// (an unmatched optional group is an empty range at 0).
    pub fn matches(&self, path: &str) -> Option<Vec<(usize, usize)>> {
        if let Some(segs) = &self.simple {
            let mut out = Vec::new();
            // Enough for any one-capture pattern and for usual paths with more captures.
            let mut budget = 64 + 4 * path.len();
            if let Some(found) = match_simple(segs, path, 0, &mut out, &mut budget) {
                return found.then_some(out);
            }
        }
        if self.names.is_empty() {
            return self.regex.is_match(path).then(Vec::new);
        }
        let caps = self.regex.captures(path)?;
        Some(
            (1..caps.len())
                .map(|i| caps.get(i).map_or((0, 0), |m| (m.start(), m.end())))
                .collect(),
        )
    }

    pub fn names(&self) -> &Arc<[Option<Box<str>>]> {
        &self.names
    }

    /// Whether `matches` takes the regex-free path. For the fuzz harness's differential check.
    #[doc(hidden)]
    pub fn has_fast_path(&self) -> bool {
        self.simple.is_some()
    }

    /// `matches` through the regex alone, whichever path `matches` takes: the oracle the fuzz
    /// harness compares the fast path with.
    #[doc(hidden)]
    pub fn matches_regex(&self, path: &str) -> Option<Vec<(usize, usize)>> {
        let caps = self.regex.captures(path)?;
        Some(
            (1..caps.len())
                .map(|i| caps.get(i).map_or((0, 0), |m| (m.start(), m.end())))
                .collect(),
        )
    }
}

/// Which methods a route answers.
pub enum Methods {
    Any,
    List(Vec<Method>),
}

impl Methods {
    /// Parses `"GET|POST"`, `"ALL"` or `"*"` (case-insensitive, spaces ignored).
    pub fn parse(spec: &str) -> Result<Methods> {
        let mut list = Vec::new();
        for token in spec.split('|').map(str::trim) {
            if token.is_empty() {
                continue;
            }
            if token == "*" || token.eq_ignore_ascii_case("ALL") {
                return Ok(Methods::Any);
            }
            let method =
                Method::from_bytes(token.to_ascii_uppercase().as_bytes()).map_err(|_| {
                    Error::invalid(format!("invalid HTTP method '{token}' in '{spec}'"))
                })?;
            list.push(method);
        }
        if list.is_empty() {
            return Err(Error::invalid(format!("no HTTP method in '{spec}'")));
        }
        Ok(Methods::List(list))
    }

    fn accepts(&self, method: &Method) -> bool {
        match self {
            Methods::Any => true,
            // HEAD is answered by the GET route (hyper drops the body).
            Methods::List(list) => list
                .iter()
                .any(|m| m == method || (*method == Method::HEAD && *m == Method::GET)),
        }
    }
}

/// A matched route and the byte ranges of its captures in the path.
pub type Match<'a, H> = (&'a Route<H>, Vec<(usize, usize)>);

pub struct Route<H> {
    pub id: u32,
    pub methods: Methods,
    pub pattern: Pattern,
    pub handler: H,
}

/// Routes in registration order. Lookup follows Luminova: routes naming the request's method
/// first, then the ALL routes; within each group the first registered match wins.
pub struct Router<H> {
    routes: Vec<Route<H>>,
}

impl<H> Default for Router<H> {
    fn default() -> Self {
        Router { routes: Vec::new() }
    }
}

impl<H> Router<H> {
    pub fn add(&mut self, id: u32, methods: Methods, pattern: Pattern, handler: H) {
        self.routes.push(Route {
            id,
            methods,
            pattern,
            handler,
        });
    }

    pub fn is_empty(&self) -> bool {
        self.routes.is_empty()
    }

    pub fn find(&self, method: &Method, path: &str) -> Option<Match<'_, H>> {
        let specific = self
            .routes
            .iter()
            .filter(|r| matches!(r.methods, Methods::List(_)) && r.methods.accepts(method));
        let any = self
            .routes
            .iter()
            .filter(|r| matches!(r.methods, Methods::Any));
        specific
            .chain(any)
            .find_map(|r| r.pattern.matches(path).map(|caps| (r, caps)))
    }

    pub fn get(&self, id: u32) -> Option<&Route<H>> {
        self.routes.iter().find(|r| r.id == id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caps<'a>(p: &Pattern, path: &'a str) -> Option<Vec<&'a str>> {
        p.matches(path)
            .map(|v| v.into_iter().map(|(a, b)| &path[a..b]).collect())
    }

    #[test]
    fn luminova_patterns() {
        let p = Pattern::compile("/user/{id}").unwrap();
        assert_eq!(caps(&p, "/user/42"), Some(vec!["42"]));
        assert_eq!(p.names()[0].as_deref(), Some("id"));
        assert_eq!(caps(&p, "/users/42"), None);
        let ws = Pattern::compile("/ws(?:/.*)?").unwrap();
        assert!(ws.matches("/ws").is_some());
        assert!(ws.matches("/ws/room/1").is_some());
        assert!(ws.matches("/wsx").is_none());
        let root = Pattern::compile("/").unwrap();
        assert!(root.matches("/").is_some());
        assert!(root.matches("/a").is_none());
        let alt = Pattern::compile("a|b").unwrap();
        assert!(alt.matches("/a").is_some() && alt.matches("/ab").is_none());
        let q = Pattern::compile("/n/\\d{2,3}").unwrap();
        assert!(q.matches("/n/123").is_some() && q.matches("/n/1").is_none());
    }

    #[test]
    fn simple_matcher_agrees_with_the_regex() {
        let patterns = [
            "/",
            "/user/{id}",
            "/a/{x}/b/{y}",
            "/{a}/{b}",
            "/files/{rest}",
            "{a}",
            "/user/{id}/posts",
            "/{a}/x/{b}",
            "/user-x/{id}",
        ];
        let paths = [
            "/",
            "/user/42",
            "/user/",
            "/user/42/posts",
            "/user/a/b/posts",
            "/a/1/b/2",
            "/a/1/b/2/b/3",
            "/a/b/c",
            "/x",
            "/x-",
            "/x-y",
            "/files/a/b/c",
            "/axbxc",
            "/q",
            "/user/é/posts",
            "/a//b/",
        ];
        let mut simple = 0;
        for pat in patterns {
            let p = Pattern::compile(pat).unwrap();
            simple += p.simple.is_some() as usize;
            for path in paths {
                let regex = p.regex.captures(path).map(|c| {
                    (1..c.len())
                        .map(|i| c.get(i).map_or((0, 0), |m| (m.start(), m.end())))
                        .collect::<Vec<_>>()
                });
                assert_eq!(p.matches(path), regex, "pattern {pat} path {path}");
            }
        }
        assert_eq!(simple, patterns.len(), "all of these take the fast path");
        assert!(Pattern::compile("/ws(?:/.*)?").unwrap().simple.is_none());
        assert!(Pattern::compile("/v1.0/{x}").unwrap().simple.is_none());
    }

    #[test]
    fn invalid_pattern_is_refused_with_its_text() {
        let err = Pattern::compile("/bad/(").err().unwrap();
        assert_eq!(err.kind, ErrorKind::Pattern);
        assert!(err.message.contains("/bad/("), "{}", err.message);
    }

    #[test]
    fn normalisation() {
        assert_eq!(normalize_path("/a/b/"), "/a/b");
        assert_eq!(normalize_path("//a"), "/a");
        assert_eq!(normalize_path("/"), "/");
        assert_eq!(normalize_path(""), "/");
        assert!(matches!(
            normalize_path("/a/b"),
            std::borrow::Cow::Borrowed(_)
        ));
    }

    #[test]
    fn method_routes_before_all_and_head_uses_get() {
        let mut r = Router::default();
        r.add(0, Methods::Any, Pattern::compile("/x").unwrap(), "any");
        r.add(
            1,
            Methods::parse("get|post").unwrap(),
            Pattern::compile("/x").unwrap(),
            "get",
        );
        assert_eq!(r.find(&Method::GET, "/x").unwrap().0.handler, "get");
        assert_eq!(r.find(&Method::HEAD, "/x").unwrap().0.handler, "get");
        assert_eq!(r.find(&Method::DELETE, "/x").unwrap().0.handler, "any");
        assert!(Methods::parse("GE T").is_err());
        assert!(Methods::parse("").is_err());
    }
}
