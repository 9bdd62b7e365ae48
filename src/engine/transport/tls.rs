//! TLS for a server's listeners: certificates (PEM, from files or memory) selected by SNI, an
//! optional client-certificate check (mutual TLS), ALPN, and reload without restart.
//!
//! rustls with the `ring` provider, chosen explicitly (`builder_with_provider`): the crate is
//! built without aws-lc, and with two providers compiled in the process-default builder panics.
//! Files are read with `std::fs` (not `tokio::fs`, which runs on blocking threads), at configure
//! and reload time only, never per handshake.
//!
//! Every change builds a whole new `ServerConfig` and swaps it in: a handshake takes the config
//! current when it starts, so new handshakes see a new certificate while connections already
//! established keep theirs. A change that fails leaves the old config in place.

use crate::engine::error::{Error, ErrorKind, Result};
use parking_lot::{Mutex, RwLock};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use rustls::ServerConfig;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

/// Where PEM text comes from: a file (re-read on reload) or the host's memory (kept as given).
#[derive(Clone)]
pub enum Source {
    File(PathBuf),
    Pem(Arc<[u8]>),
}

impl Source {
    fn describe(&self) -> String {
        match self {
            Source::File(p) => p.display().to_string(),
            Source::Pem(_) => "the PEM given in memory".into(),
        }
    }

    fn read(&self) -> Result<Arc<[u8]>> {
        match self {
            Source::Pem(b) => Ok(b.clone()),
            Source::File(p) => std::fs::read(p).map(Arc::from).map_err(|e| {
                Error::new(ErrorKind::Io, format!("cannot read {}: {e}", p.display()))
            }),
        }
    }
}

/// One certificate as configured: for a server name (None: the default one), its chain and key.
#[derive(Clone)]
struct CertSpec {
    name: Option<String>,
    cert: Source,
    /// None: the key is in the certificate's PEM.
    key: Option<Source>,
}

#[derive(Clone)]
struct ClientCa {
    pem: Source,
    required: bool,
}

/// What the host configured; every `ServerConfig` is built from this.
#[derive(Clone, Default)]
struct Spec {
    certs: Vec<CertSpec>,
    client_ca: Option<ClientCa>,
    /// None: the default list for the HTTP/2 setting.
    alpn: Option<Vec<Vec<u8>>>,
    http2: bool,
}

/// The TLS side of a server: the configuration and the current rustls config built from it.
pub struct Tls {
    spec: Mutex<Spec>,
    current: RwLock<Option<Arc<ServerConfig>>>,
}

impl Default for Tls {
    fn default() -> Self {
        Tls {
            spec: Mutex::new(Spec {
                http2: true,
                ..Spec::default()
            }),
            current: RwLock::new(None),
        }
    }
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn invalid(what: String) -> Error {
    Error::new(ErrorKind::Invalid, what)
}

/// The certificate chain in `pem` (leaf first).
fn read_chain(pem: &[u8], from: &Source) -> Result<Vec<CertificateDer<'static>>> {
    let chain = CertificateDer::pem_slice_iter(pem)
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| invalid(format!("{}: bad PEM certificate: {e}", from.describe())))?;
    if chain.is_empty() {
        return Err(invalid(format!(
            "{}: no certificate (expected a PEM block 'BEGIN CERTIFICATE')",
            from.describe()
        )));
    }
    Ok(chain)
}

/// The first private key in `pem`: PKCS#8, PKCS#1 (RSA) or SEC1 (EC).
fn read_key(pem: &[u8], from: &Source) -> Result<PrivateKeyDer<'static>> {
    match PrivateKeyDer::from_pem_slice(pem) {
        Ok(k) => Ok(k),
        Err(_) if contains(pem, b"ENCRYPTED") => Err(invalid(format!(
            "{}: the private key is encrypted; give it decrypted, e.g. \
             `openssl pkey -in {} -out key.pem` (asks for the passphrase)",
            from.describe(),
            match from {
                Source::File(p) => p.display().to_string(),
                Source::Pem(_) => "encrypted-key.pem".into(),
            }
        ))),
        Err(rustls::pki_types::pem::Error::NoItemsFound) => Err(invalid(format!(
            "{}: no private key (expected a PEM block 'BEGIN PRIVATE KEY', 'BEGIN RSA PRIVATE \
             KEY' or 'BEGIN EC PRIVATE KEY')",
            from.describe()
        ))),
        Err(e) => Err(invalid(format!(
            "{}: bad PEM private key: {e}",
            from.describe()
        ))),
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// Reads and checks one certificate: the chain, the key, and that they belong together.
fn load_cert(spec: &CertSpec, provider: &CryptoProvider) -> Result<Arc<CertifiedKey>> {
    let cert_pem = spec.cert.read()?;
    let chain = read_chain(&cert_pem, &spec.cert)?;
    let key = match &spec.key {
        Some(src) => read_key(&src.read()?, src)?,
        None => read_key(&cert_pem, &spec.cert)?,
    };
    let key_from = spec.key.as_ref().unwrap_or(&spec.cert).describe();
    let ck = CertifiedKey::from_der(chain, key, provider).map_err(|e| {
        invalid(match e {
            rustls::Error::InconsistentKeys(_) => format!(
                "the private key in {key_from} does not match the certificate in {}",
                spec.cert.describe()
            ),
            e => format!("{key_from}: unusable private key: {e}"),
        })
    })?;
    Ok(Arc::new(ck))
}

/// Picks the certificate for a handshake by the client's server name (SNI): an exact name, then
/// a `*.` wildcard one label deep, else the default.
#[derive(Debug)]
struct ByName {
    default: Arc<CertifiedKey>,
    names: HashMap<String, Arc<CertifiedKey>>,
}

impl ResolvesServerCert for ByName {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let Some(name) = hello.server_name() else {
            return Some(self.default.clone());
        };
        let name = name.to_ascii_lowercase();
        if let Some(ck) = self.names.get(&name) {
            return Some(ck.clone());
        }
        if let Some((_, parent)) = name.split_once('.') {
            if let Some(ck) = self.names.get(&format!("*.{parent}")) {
                return Some(ck.clone());
            }
        }
        Some(self.default.clone())
    }
}

/// ALPN names we can serve, checked by `set_alpn`.
const KNOWN_ALPN: [&str; 2] = ["h2", "http/1.1"];

fn build(spec: &Spec) -> Result<Option<Arc<ServerConfig>>> {
    if spec.certs.is_empty() {
        return Ok(None);
    }
    let provider = provider();
    let mut default = None;
    let mut names = HashMap::new();
    for c in &spec.certs {
        let ck = load_cert(c, &provider)?;
        match &c.name {
            None => default = Some(ck),
            Some(n) => {
                default.get_or_insert_with(|| ck.clone());
                names.insert(n.clone(), ck);
            }
        }
    }
    let resolver = Arc::new(ByName {
        default: default.expect("at least one certificate"),
        names,
    });
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| invalid(format!("TLS versions: {e}")))?;
    let builder = match &spec.client_ca {
        None => builder.with_no_client_auth(),
        Some(ca) => {
            let pem = ca.pem.read()?;
            let mut roots = rustls::RootCertStore::empty();
            for cert in read_chain(&pem, &ca.pem)? {
                roots.add(cert).map_err(|e| {
                    invalid(format!(
                        "{}: unusable CA certificate: {e}",
                        ca.pem.describe()
                    ))
                })?;
            }
            let mut v = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
            if !ca.required {
                v = v.allow_unauthenticated();
            }
            let verifier = v
                .build()
                .map_err(|e| invalid(format!("{}: client verification: {e}", ca.pem.describe())))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut config = builder.with_cert_resolver(resolver);
    config.alpn_protocols = match &spec.alpn {
        Some(list) => list
            .iter()
            .filter(|p| spec.http2 || p.as_slice() != b"h2")
            .cloned()
            .collect(),
        None if spec.http2 => vec![b"h2".to_vec(), b"http/1.1".to_vec()],
        None => vec![b"http/1.1".to_vec()],
    };
    // TLS 1.3 resumption by stateless tickets (the ticketer rotates its keys by the clock; no
    // thread). Failing to make one only costs resumption.
    if let Ok(t) = rustls::crypto::ring::Ticketer::new() {
        config.ticketer = t;
    }
    Ok(Some(Arc::new(config)))
}

impl Tls {
    /// The config for a handshake starting now; None while TLS is off.
    pub fn current(&self) -> Option<Arc<ServerConfig>> {
        self.current.read().clone()
    }

    pub fn enabled(&self) -> bool {
        self.current.read().is_some()
    }

    /// Applies `change` to a copy of the spec and builds from it; both are kept only if the
    /// build succeeds.
    fn change(&self, change: impl FnOnce(&mut Spec) -> Result<()>) -> Result<()> {
        let mut spec = self.spec.lock();
        let mut next = spec.clone();
        change(&mut next)?;
        let built = build(&next)?;
        *spec = next;
        *self.current.write() = built;
        Ok(())
    }

    /// Adds or replaces the certificate for `name` (None or "": the default).
    pub fn set_cert(&self, name: Option<&str>, cert: Source, key: Option<Source>) -> Result<()> {
        let name = name
            .filter(|n| !n.is_empty())
            .map(|n| n.trim_end_matches('.').to_ascii_lowercase());
        if let Some(n) = &name {
            let label_ok = |l: &str| {
                !l.is_empty() && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            };
            let rest = n.strip_prefix("*.").unwrap_or(n);
            if !rest.split('.').all(label_ok) {
                return Err(invalid(format!("'{n}' is not a server name")));
            }
        }
        self.change(|s| {
            let spec = CertSpec { name, cert, key };
            match s.certs.iter_mut().find(|c| c.name == spec.name) {
                Some(c) => *c = spec,
                None => s.certs.push(spec),
            }
            Ok(())
        })
    }

    pub fn set_client_ca(&self, pem: Source, required: bool) -> Result<()> {
        self.change(|s| {
            s.client_ca = Some(ClientCa { pem, required });
            Ok(())
        })
    }

    /// The ALPN protocols offered, comma-separated, in order of preference.
    pub fn set_alpn(&self, list: &str) -> Result<()> {
        let mut names = Vec::new();
        for p in list.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            if !KNOWN_ALPN.contains(&p) {
                return Err(invalid(format!(
                    "ALPN protocol '{p}' is not served here (known: h2, http/1.1)"
                )));
            }
            names.push(p.as_bytes().to_vec());
        }
        if names.is_empty() {
            return Err(invalid("the ALPN list is empty".into()));
        }
        self.change(|s| {
            s.alpn = Some(names);
            Ok(())
        })
    }

    pub fn set_http2(&self, on: bool) -> Result<()> {
        self.change(|s| {
            s.http2 = on;
            Ok(())
        })
    }

    /// Re-reads every file; all or nothing.
    pub fn reload(&self) -> Result<()> {
        if self.spec.lock().certs.is_empty() {
            return Err(Error::state("no TLS certificate is configured"));
        }
        self.change(|_| Ok(()))
    }
}
