//! A certificate authority made by the tests (rcgen; no key is ever committed), its
//! server certificates, and HTTPS clients that speak h2 or HTTP/1.1 by ALPN.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use http::Request;
use http_body_util::{BodyExt, Empty};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

/// A test certificate authority.
pub struct TestCa {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

/// A server certificate and key written to files.
pub struct Leaf {
    /// The PEM certificate file.
    pub cert: PathBuf,
    /// The PEM key file.
    pub key: PathBuf,
    /// The certificate, to compare with what a server presents.
    pub der: CertificateDer<'static>,
}

impl TestCa {
    /// A new authority with its own key.
    pub fn new() -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, "appsignal-gateway test CA");
        TestCa { issuer: CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap() }
    }

    /// A certificate for localhost and 127.0.0.1, written as `{name}.crt` / `{name}.key`.
    pub fn leaf(&self, dir: &Path, name: &str) -> Leaf {
        let params = CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        let leaf = Leaf {
            cert: dir.join(format!("{name}.crt")),
            key: dir.join(format!("{name}.key")),
            der: cert.der().clone(),
        };
        std::fs::write(&leaf.cert, cert.pem()).unwrap();
        std::fs::write(&leaf.key, key.serialize_pem()).unwrap();
        leaf
    }

    /// A client trusting only this authority, offering `alpn`.
    pub fn client(&self, alpn: &[&[u8]]) -> TlsConnector {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.issuer.der().clone()).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        TlsConnector::from(Arc::new(config))
    }
}

/// Connects to `addr` over TLS (server name 127.0.0.1) with `connector`.
pub async fn connect(addr: SocketAddr, connector: &TlsConnector) -> TlsStream<TcpStream> {
    let tcp = TcpStream::connect(addr).await.unwrap();
    let name = ServerName::try_from("127.0.0.1").unwrap();
    connector.connect(name, tcp).await.expect("TLS handshake")
}

/// An HTTP/2 connection to `addr`.
pub async fn h2(addr: SocketAddr, ca: &TestCa) -> h2::client::SendRequest<Bytes> {
    let stream = connect(addr, &ca.client(&[b"h2"])).await;
    assert_eq!(stream.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let (client, connection) = h2::client::handshake(stream).await.unwrap();
    tokio::spawn(async move {
        let _ = connection.await;
    });
    client
}

/// A whole HTTP/2 answer.
pub struct H2Answer {
    /// The status.
    pub status: u16,
    /// The headers.
    pub headers: http::HeaderMap,
    /// The body.
    pub body: Bytes,
}

/// GETs `path` on an HTTP/2 connection, with `headers`.
pub async fn h2_get(
    client: &h2::client::SendRequest<Bytes>,
    path: &str,
    headers: &[(&str, &str)],
) -> H2Answer {
    h2_get_at(client, "127.0.0.1", path, headers).await
}

/// GETs `path` on an HTTP/2 connection with `authority` as its `:authority` (and no
/// `Host`), with `headers`.
pub async fn h2_get_at(
    client: &h2::client::SendRequest<Bytes>,
    authority: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> H2Answer {
    h2_send(client, http::Method::GET, authority, path, headers, None).await
}

/// POSTs `body` to `path` on an HTTP/2 connection, with `headers`: the body sent as
/// DATA frames without a `content-length`, as a browser streams it.
pub async fn h2_post(
    client: &h2::client::SendRequest<Bytes>,
    path: &str,
    headers: &[(&str, &str)],
    body: Bytes,
) -> H2Answer {
    h2_send(client, http::Method::POST, "127.0.0.1", path, headers, Some(body)).await
}

async fn h2_send(
    client: &h2::client::SendRequest<Bytes>,
    method: http::Method,
    authority: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<Bytes>,
) -> H2Answer {
    let mut request = Request::builder().method(method).uri(format!("https://{authority}{path}"));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let mut client = client.clone().ready().await.expect("the connection takes a stream");
    let (response, mut stream) =
        client.send_request(request.body(()).unwrap(), body.is_none()).expect("stream opened");
    if let Some(body) = body {
        stream.send_data(body, true).expect("body sent");
    }
    let exchange = async {
        let response = response.await.expect("answered");
        let (parts, mut body) = response.into_parts();
        let mut bytes = Vec::new();
        while let Some(chunk) = body.data().await {
            let chunk = chunk.unwrap();
            let _ = body.flow_control().release_capacity(chunk.len());
            bytes.extend_from_slice(&chunk);
        }
        H2Answer { status: parts.status.as_u16(), headers: parts.headers, body: Bytes::from(bytes) }
    };
    tokio::time::timeout(std::time::Duration::from_secs(30), exchange).await.expect("answered within 30 s")
}

/// GETs `path` over HTTPS with HTTP/1.1, offering `alpn`; the status and the protocol
/// the server chose.
pub async fn h1_get(addr: SocketAddr, ca: &TestCa, alpn: &[&[u8]], path: &str) -> (u16, Option<Vec<u8>>) {
    let stream = connect(addr, &ca.client(alpn)).await;
    let chosen = stream.get_ref().1.alpn_protocol().map(<[u8]>::to_vec);
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await.unwrap();
    tokio::spawn(connection);
    let request = Request::get(path).header("host", "127.0.0.1").body(Empty::<Bytes>::new()).unwrap();
    let response = sender.send_request(request).await.unwrap();
    let status = response.status().as_u16();
    response.into_body().collect().await.unwrap();
    (status, chosen)
}
