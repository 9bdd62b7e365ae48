//! Parsing a whole HTTP response written by the host (`hs_response_set_raw`), as Luminova handlers
//! return them (`"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nHello"`).

use crate::engine::error::{Error, Result};

pub struct RawResponse<'a> {
    pub status: u16,
    pub headers: Vec<(&'a str, &'a [u8])>,
    pub body: &'a [u8],
}

/// Parses a raw response with httparse. The body is whatever follows the blank line; the engine
/// frames it itself, so Content-Length and Transfer-Encoding from the text are not used.
///
/// One leniency: Luminova's own documentation shows `"...text/plain\r\n\r\Hello World!"`, where
/// the blank line lacks its `\n`. A head ended by `\r\n\r` followed by anything but `\n` is
/// accepted, and the body starts after that `\r`.
pub fn parse(raw: &[u8]) -> Result<RawResponse<'_>> {
    // The common case: a head httparse finds the end of itself (lines ended by CRLF or, as RFC
    // 9112 §2.2 lets a recipient accept, a bare LF); the body is everything after it.
    {
        let mut storage = [httparse::EMPTY_HEADER; 64];
        let mut parsed = httparse::Response::new(&mut storage);
        if let Ok(httparse::Status::Complete(n)) = parsed.parse(raw) {
            let status = parsed
                .code
                .ok_or_else(|| Error::invalid("raw response has no status"))?;
            let headers = parsed.headers.iter().map(|h| (h.name, h.value)).collect();
            return Ok(RawResponse {
                status,
                headers,
                body: &raw[n..],
            });
        }
    }
    // The rest: Luminova's typo below, a head without its blank line, or an error to report.
    let (head_len, body_start) = match find(raw, b"\r\n\r\n") {
        Some(i) => (i + 4, i + 4),
        None => match find(raw, b"\r\n\r") {
            Some(i) => (i + 2, i + 3),
            None if raw.ends_with(b"\r\n") => (raw.len(), raw.len()),
            None => {
                return Err(Error::invalid(
                    "raw response has no end of headers (a blank line, \\r\\n\\r\\n)",
                ))
            }
        },
    };
    let mut head = raw[..head_len].to_vec();
    if !head.ends_with(b"\r\n\r\n") {
        head.extend_from_slice(b"\r\n");
    }
    let mut storage = [httparse::EMPTY_HEADER; 64];
    let mut parsed = httparse::Response::new(&mut storage);
    match parsed.parse(&head) {
        Ok(httparse::Status::Complete(_)) => {}
        Ok(httparse::Status::Partial) => {
            return Err(Error::invalid("raw response head is incomplete"));
        }
        Err(e) => return Err(Error::invalid(format!("raw response is malformed: {e}"))),
    }
    let status = parsed
        .code
        .ok_or_else(|| Error::invalid("raw response has no status"))?;
    // Re-slice names and values out of `raw` (httparse borrowed our copy of the head).
    let base = head.as_ptr() as usize;
    let headers = parsed
        .headers
        .iter()
        .map(|h| {
            let n = h.name.as_ptr() as usize - base;
            let v = h.value.as_ptr() as usize - base;
            let name = std::str::from_utf8(&raw[n..n + h.name.len()]).unwrap_or("");
            (name, &raw[v..v + h.value.len()])
        })
        .collect();
    Ok(RawResponse {
        status,
        headers,
        body: &raw[body_start..],
    })
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_status_headers_body() {
        let r =
            parse(b"HTTP/1.1 201 Created\r\nContent-Type: text/plain\r\nX-A: 1\r\n\r\nhi").unwrap();
        assert_eq!(r.status, 201);
        assert_eq!(
            r.headers,
            vec![("Content-Type", &b"text/plain"[..]), ("X-A", &b"1"[..])]
        );
        assert_eq!(r.body, b"hi");
    }

    #[test]
    fn luminova_doc_typo_is_accepted() {
        let r = parse(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\\Hello World!").unwrap();
        assert_eq!(r.status, 200);
        assert_eq!(r.body, b"\\Hello World!");
        assert_eq!(r.headers.len(), 1);
    }

    /// FIXED (found by reading the parser while writing its fuzz target): a head with bare LF
    /// line ends was taken whole as the head and its body silently dropped.
    #[test]
    fn bare_lf_head_keeps_its_body() {
        let r = parse(b"HTTP/1.1 200 OK\nContent-Type: text/plain\n\nbody\r\n").unwrap();
        assert_eq!(r.status, 200);
        assert_eq!(r.headers, vec![("Content-Type", &b"text/plain"[..])]);
        assert_eq!(r.body, b"body\r\n");
        let r = parse(b"HTTP/1.1 204 No Content\n\n").unwrap();
        assert_eq!((r.status, r.body), (204, &b""[..]));
    }

    #[test]
    fn garbage_is_an_error() {
        assert!(parse(b"hello").is_err());
        assert!(parse(b"HTTP/1.1 abc\r\n\r\n").is_err());
        assert!(parse(b"NOTHTTP 200 OK\r\n\r\nx").is_err());
    }
}
