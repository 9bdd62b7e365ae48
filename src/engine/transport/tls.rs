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

/// A rustls config and the certificates it serves.
#[derive(Clone)]
struct Built {
    config: Arc<ServerConfig>,
    /// The resolver inside `config` (opaque there): the tests ask it which certificate a
    /// server name gets.
    #[cfg_attr(not(test), allow(dead_code))]
    certs: Arc<ByName>,
}

/// The TLS side of a server: the configuration and the current rustls config built from it.
pub struct Tls {
    spec: Mutex<Spec>,
    current: RwLock<Option<Built>>,
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

impl ByName {
    fn pick(&self, server_name: Option<&str>) -> &Arc<CertifiedKey> {
        let Some(name) = server_name else {
            return &self.default;
        };
        let name = name.to_ascii_lowercase();
        if let Some(ck) = self.names.get(&name) {
            return ck;
        }
        if let Some((_, parent)) = name.split_once('.') {
            if let Some(ck) = self.names.get(&format!("*.{parent}")) {
                return ck;
            }
        }
        &self.default
    }
}

impl ResolvesServerCert for ByName {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.pick(hello.server_name()).clone())
    }
}

/// ALPN names we can serve, checked by `set_alpn`.
const KNOWN_ALPN: [&str; 2] = ["h2", "http/1.1"];

fn build(spec: &Spec) -> Result<Option<Built>> {
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
    let certs = Arc::new(ByName {
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
    let mut config = builder.with_cert_resolver(certs.clone());
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
    Ok(Some(Built {
        config: Arc::new(config),
        certs,
    }))
}

impl Tls {
    /// The config for a handshake starting now; None while TLS is off.
    pub fn current(&self) -> Option<Arc<ServerConfig>> {
        self.current.read().as_ref().map(|b| b.config.clone())
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A self-signed certificate for `names` and its key, as PEM.
    fn make(names: &[&str]) -> (String, String) {
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let c = rcgen::generate_simple_self_signed(names).unwrap();
        (c.cert.pem(), c.signing_key.serialize_pem())
    }

    struct Dir(PathBuf);
    impl Dir {
        fn new(tag: &str) -> Dir {
            let d = std::env::temp_dir().join(format!("hs-tls-{tag}-{}", std::process::id()));
            std::fs::create_dir_all(&d).unwrap();
            Dir(d)
        }
        fn write(&self, name: &str, text: &str) -> PathBuf {
            let p = self.0.join(name);
            std::fs::write(&p, text).unwrap();
            p
        }
    }
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    /// The leaf certificate (DER) a handshake for `name` gets now.
    fn leaf(tls: &Tls, name: Option<&str>) -> Vec<u8> {
        let built = tls.current.read().clone().unwrap();
        built.certs.pick(name).cert[0].as_ref().to_vec()
    }

    fn der(pem: &str) -> Vec<u8> {
        CertificateDer::from_pem_slice(pem.as_bytes())
            .unwrap()
            .to_vec()
    }

    #[test]
    fn certificates_by_server_name_with_a_default() {
        let (a, ak) = make(&["a.test"]);
        let (b, bk) = make(&["*.b.test"]);
        let tls = Tls::default();
        assert!(!tls.enabled());
        let pem = |s: &str| Source::Pem(Arc::from(s.as_bytes()));
        // Key in the same PEM as the chain.
        tls.set_cert(Some("a.test"), pem(&format!("{a}{ak}")), None)
            .unwrap();
        tls.set_cert(Some("*.b.test"), pem(&b), Some(pem(&bk)))
            .unwrap();
        assert!(tls.enabled());
        assert_eq!(leaf(&tls, Some("a.test")), der(&a));
        assert_eq!(leaf(&tls, Some("A.TEST")), der(&a));
        assert_eq!(leaf(&tls, Some("x.b.test")), der(&b), "wildcard");
        assert_eq!(leaf(&tls, Some("y.x.b.test")), der(&a), "one label only");
        assert_eq!(leaf(&tls, None), der(&a), "the first is the default");
        assert_eq!(leaf(&tls, Some("other")), der(&a));
        // An explicit default wins over the first one.
        tls.set_cert(None, pem(&b), Some(pem(&bk))).unwrap();
        assert_eq!(leaf(&tls, None), der(&b));
        assert_eq!(leaf(&tls, Some("a.test")), der(&a));
        assert_eq!(
            tls.current().unwrap().alpn_protocols,
            vec![b"h2".to_vec(), b"http/1.1".to_vec()]
        );
    }

    #[test]
    fn bad_input_is_refused_and_changes_nothing() {
        let dir = Dir::new("bad");
        let (a, ak) = make(&["a.test"]);
        let (_, other_key) = make(&["a.test"]);
        let cert = dir.write("cert.pem", &a);
        let key = dir.write("key.pem", &ak);
        let wrong = dir.write("wrong.pem", &other_key);
        let tls = Tls::default();
        let file = |p: &PathBuf| Source::File(p.clone());

        let e = tls
            .set_cert(None, file(&cert), Some(file(&wrong)))
            .unwrap_err();
        assert_eq!(e.kind, ErrorKind::Invalid);
        assert!(e.message.contains("does not match"), "{}", e.message);
        assert!(e.message.contains("wrong.pem"), "{}", e.message);
        assert!(!tls.enabled(), "a failed first certificate leaves TLS off");

        let missing = dir.0.join("missing.pem");
        let e = tls.set_cert(None, file(&missing), None).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Io);
        assert!(e.message.contains("missing.pem"), "{}", e.message);

        let e = tls.set_cert(None, file(&key), None).unwrap_err();
        assert!(e.message.contains("no certificate"), "{}", e.message);
        let e = tls.set_cert(None, file(&cert), None).unwrap_err();
        assert!(e.message.contains("no private key"), "{}", e.message);

        let encrypted = dir.write(
            "enc.pem",
            "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIBvTBXBgkqhkiG9w0BBQ0wSjApBgkqhkiG9w0BBQwwHAQI\n-----END ENCRYPTED PRIVATE KEY-----\n",
        );
        let e = tls
            .set_cert(None, file(&cert), Some(file(&encrypted)))
            .unwrap_err();
        assert!(
            e.message.contains("encrypted") && e.message.contains("openssl pkey"),
            "{}",
            e.message
        );

        assert!(tls
            .set_cert(Some("bad name!"), file(&cert), Some(file(&key)))
            .is_err());
        assert!(tls
            .set_alpn("h2,spdy/3")
            .unwrap_err()
            .message
            .contains("spdy/3"));
        assert!(!tls.enabled());
        assert_eq!(tls.reload().unwrap_err().kind, ErrorKind::State);
    }

    #[test]
    fn reload_swaps_in_new_files_or_keeps_the_old_ones() {
        let dir = Dir::new("reload");
        let (a, ak) = make(&["a.test"]);
        let (b, bk) = make(&["a.test"]);
        let cert = dir.write("cert.pem", &a);
        let key = dir.write("key.pem", &ak);
        let tls = Tls::default();
        tls.set_cert(
            None,
            Source::File(cert.clone()),
            Some(Source::File(key.clone())),
        )
        .unwrap();
        let first = tls.current().unwrap();

        // Half-replaced files (new certificate, old key): refused, the old config stays.
        dir.write("cert.pem", &b);
        let e = tls.reload().unwrap_err();
        assert!(e.message.contains("does not match"), "{}", e.message);
        assert!(Arc::ptr_eq(&first, &tls.current().unwrap()));
        assert_eq!(leaf(&tls, None), der(&a));

        // Both replaced: the reload takes them.
        dir.write("key.pem", &bk);
        tls.reload().unwrap();
        let second = tls.current().unwrap();
        assert!(!Arc::ptr_eq(&first, &second));
        assert_eq!(leaf(&tls, None), der(&b));

        // The client CA file is re-read too: garbage in it is refused, naming it.
        let (ca, _) = make(&["ca.test"]);
        let ca_file = dir.write("ca.pem", &ca);
        tls.set_client_ca(Source::File(ca_file.clone()), true)
            .unwrap();
        let with_ca = tls.current().unwrap();
        dir.write("ca.pem", "not a certificate\n");
        let e = tls.reload().unwrap_err();
        assert!(e.message.contains("ca.pem"), "{}", e.message);
        assert!(Arc::ptr_eq(&with_ca, &tls.current().unwrap()));
        dir.write("ca.pem", &ca);
        tls.reload().unwrap();
        let second = tls.current().unwrap();

        // A file gone: refused, naming it; the config before stays.
        std::fs::remove_file(&key).unwrap();
        let e = tls.reload().unwrap_err();
        assert_eq!(e.kind, ErrorKind::Io);
        assert!(e.message.contains("key.pem"), "{}", e.message);
        assert!(Arc::ptr_eq(&second, &tls.current().unwrap()));
    }

    #[test]
    fn alpn_follows_http2_and_the_host_list() {
        let (a, ak) = make(&["a.test"]);
        let tls = Tls::default();
        tls.set_cert(
            None,
            Source::Pem(Arc::from(a.as_bytes())),
            Some(Source::Pem(Arc::from(ak.as_bytes()))),
        )
        .unwrap();
        tls.set_http2(false).unwrap();
        assert_eq!(
            tls.current().unwrap().alpn_protocols,
            vec![b"http/1.1".to_vec()]
        );
        tls.set_alpn("h2, http/1.1").unwrap();
        assert_eq!(
            tls.current().unwrap().alpn_protocols,
            vec![b"http/1.1".to_vec()],
            "h2 dropped while HTTP/2 is off"
        );
        tls.set_http2(true).unwrap();
        tls.set_alpn("http/1.1,h2").unwrap();
        assert_eq!(
            tls.current().unwrap().alpn_protocols,
            vec![b"http/1.1".to_vec(), b"h2".to_vec()]
        );
    }
}
