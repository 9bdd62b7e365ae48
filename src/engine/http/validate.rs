//! Request checks that hyper's parser leaves to the application (RFC 9112).

use hyper::header::{HOST, TRANSFER_ENCODING};
use hyper::http::request::Parts;
use hyper::{Method, StatusCode, Version};

/// RFC 9112 rules hyper leaves to the application: one valid Host (required in HTTP/1.1, §3.2);
/// authority-form only with CONNECT, asterisk-form only with OPTIONS (§3.2.3, §3.2.4); no
/// transfer coding but a single chunked, the only one the engine decodes (§6.1, §7: 501).
pub fn malformed(parts: &Parts) -> Option<StatusCode> {
    // One pass over the fields instead of a lookup per name: cheaper for the handful of fields
    // a request carries.
    let mut hosts = 0;
    let mut valid = true;
    let mut chunked = 0;
    for (name, value) in parts.headers.iter() {
        if name == HOST {
            hosts += 1;
            valid &= valid_host(value.as_bytes());
        } else if name == TRANSFER_ENCODING {
            for coding in value.to_str().unwrap_or("?").split(',').map(str::trim) {
                if coding.eq_ignore_ascii_case("chunked") {
                    chunked += 1;
                } else if !coding.is_empty() {
                    return Some(StatusCode::NOT_IMPLEMENTED);
                }
            }
        }
    }
    if hosts > 1 || (hosts == 0 && parts.version == Version::HTTP_11) || !valid {
        return Some(StatusCode::BAD_REQUEST);
    }
    let uri = &parts.uri;
    if (uri.scheme().is_none() && uri.authority().is_some() && parts.method != Method::CONNECT)
        || (uri.path() == "*" && parts.method != Method::OPTIONS)
    {
        return Some(StatusCode::BAD_REQUEST);
    }
    (chunked > 1).then_some(StatusCode::BAD_REQUEST)
}

/// A Host field value: empty, or an authority without userinfo (RFC 9112 §3.2, RFC 3986 §3.2).
/// The common shape (a name or IPv4 address, an optional port) is recognised here; anything else
/// goes through `http`'s authority parser, which costs about ten times more.
fn valid_host(b: &[u8]) -> bool {
    if b.is_empty() {
        return true;
    }
    let (host, port) = match b.iter().position(|&c| c == b':') {
        Some(i) => (&b[..i], Some(&b[i + 1..])),
        None => (b, None),
    };
    let simple_host = !host.is_empty()
        && host
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || *c == b'.' || *c == b'-');
    let simple_port = port.is_none_or(|p| {
        (1..=5).contains(&p.len())
            && p.iter().all(u8::is_ascii_digit)
            && p.iter().fold(0u32, |n, d| n * 10 + u32::from(d - b'0')) <= 65535
    });
    if simple_host && simple_port {
        return true;
    }
    std::str::from_utf8(b)
        .is_ok_and(|s| !s.contains('@') && s.parse::<hyper::http::uri::Authority>().is_ok())
}

#[cfg(test)]
mod tests {
    use super::valid_host;

    /// The fast path must agree with the authority parser it short-cuts.
    #[test]
    fn host_fast_path_agrees_with_the_parser() {
        let slow = |s: &str| !s.contains('@') && s.parse::<hyper::http::uri::Authority>().is_ok();
        for h in [
            "localhost",
            "example.com",
            "example.com:8080",
            "127.0.0.1",
            "127.0.0.1:1",
            "a:65535",
            "a-b.c",
            "-",
            ".",
            "a..b",
            "x:0",
            "A1.b2:00080",
            "a:65536",
            "a:99999",
            "a:",
            ":80",
            "a:b",
            "[::1]",
            "[::1]:80",
            "a b",
            "a@b",
            "a:1:2",
            "%41",
            "a_b",
            "a~b",
            "a!b",
        ] {
            assert_eq!(valid_host(h.as_bytes()), slow(h), "{h}");
        }
    }
}
