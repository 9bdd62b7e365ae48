//! TLS
//!
//! https and wss: certificates chosen by the client's server name (SNI), client certificates
//! (mutual TLS), ALPN, and reload without restart. rustls (TLS 1.2 and 1.3) with the ring
//! provider. PEM input: the certificate chain leaf first; the key PKCS#8, PKCS#1 or SEC1,
//! unencrypted (decrypt an encrypted key first: `openssl pkey -in enc.pem -out key.pem`).
//!
//! The first certificate turns TLS on for every listener of the server; that must happen before
//! the first `hs_run`/`hs_poll`. A server created with a `tls://` or `ssl://` address refuses to
//! start without one (`HS_ERR_STATE`). Every call here checks what it is given at once (files
//! read, key matched to certificate) and changes nothing on failure; once running, changes apply
//! to handshakes that begin afterwards while established connections keep theirs. Paths and
//! buffers are only read during the call (files again by `hs_tls_reload`).
//!
//! Errors: a missing or unreadable file is `HS_ERR_IO`; bad PEM, no key, a key that does not
//! match its certificate, an unknown ALPN name `HS_ERR_INVALID`; `hs_last_error` names the file.

use super::convert::{bytes, flag, text, text_or_null};
use super::guard::{guard, ok};
use super::handles::{borrow, hs_server};
use crate::engine::transport::tls::Source;
use std::ffi::{c_char, c_int};
use std::path::PathBuf;
use std::sync::Arc;

/// Adds, or replaces, the certificate for `server_name` from PEM files: `cert_path` holds the
/// chain (leaf first), `key_path` the private key (NULL: the key is in `cert_path` too).
/// `server_name` NULL or "": the default certificate, used for clients that send no server name
/// or one no certificate is registered for (until a default is set, the first certificate added
/// is it). A name `*.example.com` matches one label (`a.example.com`). The files are re-read by
/// `hs_tls_reload`.
#[no_mangle]
pub extern "C" fn hs_tls_cert_file(
    server: *mut hs_server,
    server_name: *const c_char,
    cert_path: *const c_char,
    key_path: *const c_char,
) -> c_int {
    guard(|| {
        let name = unsafe { text_or_null(server_name, "server_name") }?;
        let cert = Source::File(PathBuf::from(unsafe { text(cert_path, "cert_path") }?));
        let key = unsafe { text_or_null(key_path, "key_path") }?.map(|p| Source::File(p.into()));
        unsafe { borrow(server, "server") }?.tls_cert(name, cert, key)?;
        ok()
    })
}

/// As `hs_tls_cert_file`, from PEM text in memory (copied): `cert` holds the chain, `key` the
/// private key (`key_len` 0: the key is in `cert`). Calling it again for the same name while
/// running is how a host that reads its certificates itself reloads them.
#[no_mangle]
pub extern "C" fn hs_tls_cert_pem(
    server: *mut hs_server,
    server_name: *const c_char,
    cert: *const u8,
    cert_len: usize,
    key: *const u8,
    key_len: usize,
) -> c_int {
    guard(|| {
        let name = unsafe { text_or_null(server_name, "server_name") }?;
        let cert = unsafe { bytes(cert.cast(), cert_len, "cert") }?;
        let cert = Source::Pem(Arc::from(cert));
        let key = match key_len {
            0 => None,
            n => Some(Source::Pem(Arc::from(unsafe {
                bytes(key.cast(), n, "key")
            }?))),
        };
        unsafe { borrow(server, "server") }?.tls_cert(name, cert, key)?;
        ok()
    })
}

/// Asks clients for a certificate and verifies it against the CA certificates in the PEM file
/// `ca_path` (mutual TLS). `required` 1: a client without a valid certificate fails the
/// handshake; 0: a client may send none (a certificate it sends must still be valid).
#[no_mangle]
pub extern "C" fn hs_tls_client_ca_file(
    server: *mut hs_server,
    ca_path: *const c_char,
    required: c_int,
) -> c_int {
    guard(|| {
        let ca = Source::File(PathBuf::from(unsafe { text(ca_path, "ca_path") }?));
        unsafe { borrow(server, "server") }?.tls_client_ca(ca, flag(required))?;
        ok()
    })
}

/// As `hs_tls_client_ca_file`, from PEM text in memory (copied).
#[no_mangle]
pub extern "C" fn hs_tls_client_ca_pem(
    server: *mut hs_server,
    pem: *const u8,
    len: usize,
    required: c_int,
) -> c_int {
    guard(|| {
        let pem = Source::Pem(Arc::from(unsafe { bytes(pem.cast(), len, "pem") }?));
        unsafe { borrow(server, "server") }?.tls_client_ca(pem, flag(required))?;
        ok()
    })
}

/// The ALPN protocols offered, comma-separated, in order of preference: `h2` and `http/1.1`
/// are known (default `"h2,http/1.1"`, or `"http/1.1"` with HTTP/2 off; `h2` is dropped while
/// HTTP/2 is off). Another name is `HS_ERR_INVALID`. A client that offers none of them fails the
/// handshake (no_application_protocol); one that offers no ALPN at all is served.
#[no_mangle]
pub extern "C" fn hs_tls_alpn(server: *mut hs_server, protocols: *const c_char) -> c_int {
    guard(|| {
        let list = unsafe { text(protocols, "protocols") }?;
        unsafe { borrow(server, "server") }?.tls_alpn(list)?;
        ok()
    })
}

/// Re-reads every file given to `hs_tls_cert_file` and `hs_tls_client_ca_file` (certificates
/// given in memory stay as they are). All or nothing: if a file is missing or bad, or a key no
/// longer matches its certificate, the certificates in use stay in use and the error names the
/// file. New handshakes get the new certificates; established connections keep theirs. Callable
/// from any thread while the server runs. `HS_ERR_STATE` when no certificate is configured.
#[no_mangle]
pub extern "C" fn hs_tls_reload(server: *mut hs_server) -> c_int {
    guard(|| {
        unsafe { borrow(server, "server") }?.tls_reload()?;
        ok()
    })
}
