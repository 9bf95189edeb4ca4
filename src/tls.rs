//! HTTPS on `listen`: the certificate and key (PEM), checked as a pair, served through a
//! resolver a reload can swap, and the rustls server configuration offering `h2` and
//! `http/1.1` by ALPN. Imports nothing from the rest of the crate.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwap;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::ServerConfig;

/// How long before its expiry a certificate is warned about.
pub const EXPIRY_WARNING: Duration = Duration::from_secs(14 * 24 * 3600);

/// Why a certificate and key cannot be served.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The certificate file cannot be read or is not PEM.
    #[error("cannot read the certificate: {0}")]
    CertFile(String),
    /// The certificate file holds no certificate.
    #[error("holds no PEM certificate")]
    NoCertificate,
    /// The key file cannot be read, holds no key, or a key of a kind rustls cannot use.
    #[error("cannot use the private key: {0}")]
    KeyFile(String),
    /// The key is not the certificate's.
    #[error("the private key does not match the certificate in tls.cert_file")]
    Mismatch,
}

impl TlsError {
    /// The configuration key the error is about.
    pub fn key(&self) -> &'static str {
        match self {
            TlsError::CertFile(_) | TlsError::NoCertificate => "tls.cert_file",
            TlsError::KeyFile(_) | TlsError::Mismatch => "tls.key_file",
        }
    }
}

/// Reads `cert_file` (a PEM chain, leaf first) and `key_file` (PEM: PKCS#8, RSA or EC)
/// and checks that the key is the leaf's.
pub fn load_pair(cert_file: &Path, key_file: &Path) -> Result<Arc<CertifiedKey>, TlsError> {
    let unreadable = |path: &Path, e: rustls::pki_types::pem::Error| format!("{}: {e}", path.display());
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert_file)
        .map_err(|e| TlsError::CertFile(unreadable(cert_file, e)))?
        .collect::<Result<_, _>>()
        .map_err(|e| TlsError::CertFile(unreadable(cert_file, e)))?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate);
    }
    let key =
        PrivateKeyDer::from_pem_file(key_file).map_err(|e| TlsError::KeyFile(unreadable(key_file, e)))?;
    let signing = rustls::crypto::ring::sign::any_supported_type(&key)
        .map_err(|e| TlsError::KeyFile(format!("{}: {e}", key_file.display())))?;
    let certified = CertifiedKey::new(certs, signing);
    certified.keys_match().map_err(|_| TlsError::Mismatch)?;
    Ok(Arc::new(certified))
}

/// A warning when the leaf certificate has expired or expires within
/// [`EXPIRY_WARNING`] of `now`.
pub fn expiry_warning(certified: &CertifiedKey, now: SystemTime) -> Option<String> {
    let leaf = certified.end_entity_cert().ok()?;
    let (_, parsed) = x509_parser::parse_x509_certificate(leaf.as_ref()).ok()?;
    let not_after = parsed.validity().not_after;
    let expires = UNIX_EPOCH + Duration::from_secs(u64::try_from(not_after.timestamp()).unwrap_or(0));
    let date = not_after.to_datetime().date();
    match expires.duration_since(now) {
        Err(_) => Some(format!("the certificate in tls.cert_file expired on {date}")),
        Ok(left) if left < EXPIRY_WARNING => Some(format!(
            "the certificate in tls.cert_file expires on {date}, in {} days",
            left.as_secs() / 86_400
        )),
        Ok(_) => None,
    }
}

/// The certificate the listener serves; a reload replaces it for new connections.
#[derive(Debug)]
pub struct Certs {
    current: ArcSwap<CertifiedKey>,
}

impl Certs {
    /// Serves `certified`.
    pub fn new(certified: Arc<CertifiedKey>) -> Arc<Self> {
        Arc::new(Certs { current: ArcSwap::new(certified) })
    }

    /// Serves `certified` to connections from now on; open ones keep theirs.
    pub fn replace(&self, certified: Arc<CertifiedKey>) {
        self.current.store(certified);
    }
}

impl ResolvesServerCert for Certs {
    fn resolve(&self, _: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.load_full())
    }
}

/// The server configuration: TLS 1.2 and 1.3 with ring, `h2` preferred over
/// `http/1.1` by ALPN, the certificate from `certs`.
pub fn server_config(certs: Arc<Certs>) -> Arc<ServerConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("ring supports the default protocol versions")
        .with_no_client_auth()
        .with_cert_resolver(certs);
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Arc::new(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(dir: &Path, name: &str, days: i64) -> (std::path::PathBuf, std::path::PathBuf) {
        let mut params = rcgen::CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
        let now = time::OffsetDateTime::now_utc();
        params.not_before = now - time::Duration::days(30);
        params.not_after = now + time::Duration::days(days);
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        let (c, k) = (dir.join(format!("{name}.crt")), dir.join(format!("{name}.key")));
        std::fs::write(&c, cert.pem()).unwrap();
        std::fs::write(&k, key.serialize_pem()).unwrap();
        (c, k)
    }

    #[test]
    fn a_pair_loads_and_a_key_of_another_certificate_does_not() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = pair(dir.path(), "a", 90);
        let (_, other_key) = pair(dir.path(), "b", 90);
        let loaded = load_pair(&cert, &key).unwrap();
        assert!(expiry_warning(&loaded, SystemTime::now()).is_none());
        let mismatch = load_pair(&cert, &other_key).unwrap_err();
        assert!(matches!(mismatch, TlsError::Mismatch));
        assert_eq!(mismatch.key(), "tls.key_file");
        let missing = load_pair(&dir.path().join("none.crt"), &key).unwrap_err();
        assert_eq!(missing.key(), "tls.cert_file");
        assert!(missing.to_string().contains("none.crt"), "{missing}");
        let no_key = load_pair(&cert, &cert).unwrap_err();
        assert_eq!(no_key.key(), "tls.key_file");
    }

    #[test]
    fn expiry_is_warned_two_weeks_ahead_and_after() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = pair(dir.path(), "soon", 3);
        let soon = expiry_warning(&load_pair(&cert, &key).unwrap(), SystemTime::now()).unwrap();
        assert!(
            soon.contains("expires on") && soon.contains("in 2 days") || soon.contains("in 3 days"),
            "{soon}"
        );
        let (cert, key) = pair(dir.path(), "past", -1);
        let past = expiry_warning(&load_pair(&cert, &key).unwrap(), SystemTime::now()).unwrap();
        assert!(past.contains("expired on"), "{past}");
    }
}
