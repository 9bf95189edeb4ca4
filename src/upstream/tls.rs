//! The rustls client configuration: web roots plus `upstream.ca_file`.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use rustls::{ClientConfig, RootCertStore};

/// Builds the TLS configuration, trusting the Mozilla roots and any extra PEM roots.
pub fn client_config(ca_file: Option<&Path>) -> std::io::Result<ClientConfig> {
    let mut roots = RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(path) = ca_file {
        let invalid = |e: rustls::pki_types::pem::Error| {
            std::io::Error::new(std::io::ErrorKind::InvalidData, format!("{}: {e}", path.display()))
        };
        let mut added = 0;
        for cert in CertificateDer::pem_file_iter(path).map_err(invalid)? {
            roots
                .add(cert.map_err(invalid)?)
                .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
            added += 1;
        }
        if added == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("{}: no PEM certificates found", path.display()),
            ));
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(std::io::Error::other)?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(config)
}
