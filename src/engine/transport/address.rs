//! The one address parser: the forms Luminova's constructor and `hs_new` accept, with Luminova's
//! default port, and name resolution for binding.

use crate::engine::error::{Error, ErrorKind, Result};
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};

/// Luminova's port when none is given (neither as an argument nor in a `tcp://` address).
pub const DEFAULT_PORT: u16 = 8080;

/// The URL schemes of a listening address: `tcp://` plain, `tls://` and `ssl://` (PHP's stream
/// names) TLS.
const SCHEMES: [(&str, bool); 3] = [("tcp://", false), ("tls://", true), ("ssl://", true)];

/// Whether `address` names a TLS endpoint (`tls://` or `ssl://`): the server then refuses to
/// start without a certificate rather than serve plain text.
pub fn wants_tls(address: &str) -> bool {
    let a = address.trim();
    SCHEMES.iter().any(|(scheme, tls)| {
        *tls && a
            .get(..scheme.len())
            .is_some_and(|s| s.eq_ignore_ascii_case(scheme))
    })
}

/// Splits the address forms Luminova accepts: `127.0.0.1`, `localhost`, `::1`, `[::1]`,
/// `0.0.0.0`, a host name, `tcp://host:port`, `tcp://[::1]:port` (and the same with `tls://` or
/// `ssl://`, see `wants_tls`). `port`: `Some(p)` with p > 0 wins; `Some(0)` takes the port of a
/// URL address, else 0 (an ephemeral port); `None` takes the port of a URL address, else
/// `DEFAULT_PORT` (Luminova's default). Returns the host without brackets, and the port.
pub fn parse_address(address: &str, port: Option<u16>) -> Result<(String, u16)> {
    let address = address.trim();
    if address.is_empty() {
        return Err(Error::invalid("empty address"));
    }
    let url = SCHEMES.iter().find_map(|(scheme, _)| {
        address
            .get(..scheme.len())
            .is_some_and(|s| s.eq_ignore_ascii_case(scheme))
            .then(|| &address[scheme.len()..])
    });
    let (host, url_port) = match url {
        Some(rest) => {
            let rest = rest.trim_end_matches('/');
            if let Some(v6) = rest.strip_prefix('[') {
                let (h, tail) = v6
                    .split_once(']')
                    .ok_or_else(|| Error::invalid(format!("unclosed '[' in '{address}'")))?;
                let p = match tail.strip_prefix(':') {
                    Some(p) => Some(p),
                    None if tail.is_empty() => None,
                    None => return Err(Error::invalid(format!("bad address '{address}'"))),
                };
                (h.to_string(), p)
            } else if rest.matches(':').count() == 1 {
                let (h, p) = rest.split_once(':').unwrap_or((rest, ""));
                (h.to_string(), Some(p))
            } else {
                (rest.to_string(), None)
            }
        }
        None if address.contains("://") => {
            return Err(Error::invalid(format!(
                "unsupported scheme in '{address}' (tcp://, tls:// and ssl:// are served here)"
            )))
        }
        None => (address.trim_matches(['[', ']']).to_string(), None),
    };
    let url_port = match url_port {
        Some(p) => Some(
            p.parse::<u16>()
                .map_err(|_| Error::invalid(format!("bad port '{p}' in '{address}'")))?,
        ),
        None => None,
    };
    if host.is_empty() {
        return Err(Error::invalid(format!("no host in '{address}'")));
    }
    let port = match port {
        Some(0) => url_port.unwrap_or(0),
        Some(p) => p,
        None => url_port.unwrap_or(DEFAULT_PORT),
    };
    Ok((host, port))
}

/// The socket address to bind for `host`: an IP as is, a name through the resolver (IPv4
/// preferred: `localhost` is usually both, and clients try 127.0.0.1 first).
pub fn resolve(host: &str, port: u16) -> Result<SocketAddr> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, port));
    }
    let addrs: Vec<SocketAddr> = (host, port)
        .to_socket_addrs()
        .map_err(|e| Error::new(ErrorKind::Io, format!("cannot resolve '{host}': {e}")))?
        .collect();
    addrs
        .iter()
        .find(|a| a.is_ipv4())
        .or(addrs.first())
        .copied()
        .ok_or_else(|| Error::new(ErrorKind::Io, format!("'{host}' resolves to no address")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn address_forms() {
        let p = |a: &str, port: Option<u16>| parse_address(a, port).unwrap();
        assert_eq!(p("127.0.0.1", Some(8081)), ("127.0.0.1".into(), 8081));
        assert_eq!(p("127.0.0.1", None), ("127.0.0.1".into(), DEFAULT_PORT));
        assert_eq!(p("tcp://127.0.0.1:9000", None), ("127.0.0.1".into(), 9000));
        assert_eq!(
            p("tcp://127.0.0.1:9000", Some(81)),
            ("127.0.0.1".into(), 81)
        );
        assert_eq!(
            p("tcp://127.0.0.1:9000", Some(0)),
            ("127.0.0.1".into(), 9000)
        );
        assert_eq!(p("tcp://127.0.0.1", Some(0)), ("127.0.0.1".into(), 0));
        assert_eq!(
            p("tcp://127.0.0.1", None),
            ("127.0.0.1".into(), DEFAULT_PORT)
        );
        assert_eq!(p("tcp://[::1]:9000", None), ("::1".into(), 9000));
        assert_eq!(p("[::1]", Some(5)), ("::1".into(), 5));
        assert_eq!(p("::1", Some(5)), ("::1".into(), 5));
        assert_eq!(p("localhost", Some(0)), ("localhost".into(), 0));
        assert!(parse_address("tcp://h:notaport", None).is_err());
        assert!(parse_address("tcp://h:", None).is_err());
        assert!(parse_address("tcp://[::1", None).is_err());
        assert!(parse_address("http://127.0.0.1:443", None).is_err());
        assert_eq!(p("ssl://127.0.0.1:443", None), ("127.0.0.1".into(), 443));
        assert_eq!(p("TLS://[::1]:8443", Some(0)), ("::1".into(), 8443));
        assert!(wants_tls(" ssl://h:1") && wants_tls("tls://h") && wants_tls("SSL://h"));
        assert!(!wants_tls("tcp://h:1") && !wants_tls("h") && !wants_tls("é"));
        assert!(parse_address("", Some(1)).is_err());
        assert!(parse_address("  ", None).is_err());
    }
}
