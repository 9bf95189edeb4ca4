//! `appsignal-gateway demo`: the gateway in front of a simulated AppSignal API.
//!
//! The simulation listens on its own free loopback port and answers the routes the
//! gateway fronts with generated data, checking the token as AppSignal does, so a
//! newcomer sees the whole path work without an AppSignal account.

mod dashboard;
pub mod data;
mod graphql;
mod simulated;
mod v2;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use tokio::net::TcpListener;

pub use dashboard::Dashboard;
pub use simulated::SimulatedAppSignal;

use crate::config::{self, RawApp, RawConfig, Settings, Token};
use crate::server::{self, ConnLimits};

/// The demo's apps: (id, alias).
pub const DEMO_APPS: &[(&str, &str)] =
    &[("5114f7e38c5ce90000000011", "blog"), ("5114f7e38c5ce90000000022", "shop")];

/// What `demo` runs besides the gateway: the settings that point the gateway at the
/// simulation, and the dashboard page's listener (bound, not yet served: it needs the
/// gateway's bound address).
#[derive(Debug)]
pub struct Simulation {
    /// The gateway's settings.
    pub settings: Settings,
    /// Where the dashboard page is served, another origin than the gateway's.
    pub dashboard: TcpListener,
    /// Whether `cors.allowed_origins` lets the dashboard read (the file may list others).
    pub dashboard_allowed: bool,
    /// The app the dashboard shows (the first listed, by alias if it has one).
    pub dashboard_app: String,
    /// With `--tls`: the self-signed certificate the gateway serves, for `curl --cacert`.
    pub certificate: Option<std::path::PathBuf>,
    /// With `--tls`: the directory holding the certificate and its key, removed when this
    /// is dropped. The caller keeps it until the gateway has stopped.
    pub certificate_dir: Option<tempfile::TempDir>,
}

/// Serves the dashboard for the gateway at `gateway` (`http://` or `https://host:port`)
/// on `listener`, until the process ends.
pub fn serve_dashboard(listener: TcpListener, gateway: &str, app: &str) {
    let dashboard = Arc::new(Dashboard::new(gateway, app));
    tokio::spawn(server::serve(listener, dashboard, demo_limits(), None, std::future::pending()));
}

fn demo_limits() -> ConnLimits {
    ConnLimits {
        max_connections: std::num::NonZeroUsize::new(1024).expect("1024 > 0"),
        header_read_timeout: std::time::Duration::from_secs(10),
        idle_timeout: std::time::Duration::from_secs(60),
        max_head: 64 * 1024,
        grace: std::time::Duration::ZERO,
    }
}

/// Starts the simulated AppSignal on a free loopback port and returns the gateway
/// settings that point at it, listening on `listen`. `raw` is the operator's own
/// configuration (a `--config` file and the environment, or the environment alone): the
/// demo keeps everything it says but the upstream (always the simulation, with its own
/// token), the listen address (`listen`), and fills in the apps, the admin address and the
/// dashboard's origin (`cors.allowed_origins`) where it leaves them unset. With `tls`, the
/// gateway serves HTTPS with a self-signed certificate made now (`rcgen`) for localhost
/// and the listen address, written to a directory of its own under the system's
/// temporary directory, removed with [`Simulation::certificate_dir`].
pub async fn start_simulation(
    listen: SocketAddr,
    mut raw: RawConfig,
    tls: bool,
) -> std::io::Result<Simulation> {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0);
    let token = Token::new(&format!("demo-{:016x}", data::Rng::new(now as u64 ^ 0x5EED).next_u64()));
    if raw.apps.is_empty() {
        raw.apps = DEMO_APPS
            .iter()
            .map(|(id, name)| RawApp { id: (*id).into(), name: Some((*name).into()) })
            .collect();
    }
    let ids: Vec<&str> = raw.apps.iter().map(|app| app.id.as_str()).collect();
    let simulated = Arc::new(SimulatedAppSignal::new(token.clone(), &ids, now));
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let upstream = listener.local_addr()?;
    tokio::spawn(server::serve(listener, simulated, demo_limits(), None, std::future::pending()));
    let dashboard = TcpListener::bind(dashboard_next_to(listen)).await?;
    let origin = format!("http://{}", dashboard.local_addr()?);
    // The dashboard's origin is allowed unless the operator's file lists its own.
    if raw.cors.allowed_origins.is_empty() {
        raw.cors.allowed_origins = vec![origin.clone()];
    }
    let dashboard_allowed = raw.cors.allowed_origins.iter().any(|o| *o == origin || o == "*");
    let first = &raw.apps[0];
    let dashboard_app = first.name.clone().unwrap_or_else(|| first.id.clone());

    if raw.admin_listen == RawConfig::default().admin_listen {
        raw.admin_listen = admin_next_to(listen);
    }
    raw.listen = listen.to_string();
    raw.upstream.base_url = format!("http://{upstream}");
    raw.upstream.token = Some(token);
    raw.upstream.token_file = None;
    raw.upstream.ca_file = None;
    let (certificate, certificate_dir) = match tls {
        true => {
            let dir = tempfile::Builder::new().prefix("appsignal-gateway-demo-").tempdir()?;
            let (cert, key) = self_signed(listen, dir.path())?;
            raw.tls.cert_file = Some(cert.to_string_lossy().into_owned());
            raw.tls.key_file = Some(key.to_string_lossy().into_owned());
            (Some(cert), Some(dir))
        }
        false => (None, None),
    };
    let settings = config::validate(&raw).map_err(|e| std::io::Error::other(e.to_string()))?;
    Ok(Simulation { settings, dashboard, dashboard_allowed, dashboard_app, certificate, certificate_dir })
}

/// A self-signed certificate for localhost, 127.0.0.1 and `listen`'s address, and its
/// key, written into `dir` as `cert.pem` and `key.pem` (the key readable by this user only).
fn self_signed(
    listen: SocketAddr,
    dir: &std::path::Path,
) -> std::io::Result<(std::path::PathBuf, std::path::PathBuf)> {
    let mut names = vec!["localhost".to_owned(), "127.0.0.1".to_owned()];
    if !listen.ip().is_unspecified() && !names.contains(&listen.ip().to_string()) {
        names.push(listen.ip().to_string());
    }
    let failed = |e: rcgen::Error| std::io::Error::other(format!("cannot make the demo certificate: {e}"));
    let params = rcgen::CertificateParams::new(names).map_err(failed)?;
    let key = rcgen::KeyPair::generate().map_err(failed)?;
    let cert = params.self_signed(&key).map_err(failed)?;
    let (cert_path, key_path) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert_path, cert.pem())?;
    {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&key_path)?;
        file.write_all(key.serialize_pem().as_bytes())?;
    }
    Ok((cert_path, key_path))
}

/// The dashboard's address: two ports after the gateway's (`127.0.0.1:8082` beside the
/// default 8080, the admin being 8081), or any free port.
fn dashboard_next_to(listen: SocketAddr) -> SocketAddr {
    match listen.port() {
        0 | 65534.. => SocketAddr::new(listen.ip(), 0),
        port => SocketAddr::new(listen.ip(), port + 2),
    }
}

/// The demo's admin address: the port after the gateway's (`127.0.0.1:8081` beside the
/// default 8080), so README's examples work as written; any free port when the gateway's
/// own port is chosen by the system (0) or is the last one.
fn admin_next_to(listen: SocketAddr) -> String {
    match listen.port() {
        0 | u16::MAX => "127.0.0.1:0".into(),
        port => SocketAddr::new(listen.ip(), port + 1).to_string(),
    }
}

/// The lines `demo` prints once the gateway is up.
pub fn banner(
    listen: SocketAddr,
    admin: SocketAddr,
    dashboard: SocketAddr,
    dashboard_allowed: bool,
    certificate: Option<&std::path::Path>,
) -> String {
    let base = format!("{}://{listen}", if certificate.is_some() { "https" } else { "http" });
    let curl = match certificate {
        Some(path) => format!("curl --cacert {}", path.display()),
        None => "curl".to_owned(),
    };
    let tls_note = match certificate {
        Some(path) => format!(
            "\n  HTTPS (HTTP/2 and HTTP/1.1) with a self-signed certificate made at start: {}\n\
             \x20 curl trusts it with --cacert, as below; a browser asks you to accept it once\n\
             \x20 (open {base}/healthz first, then the dashboard).\n",
            path.display()
        ),
        None => String::new(),
    };
    let (id, _) = DEMO_APPS[0];
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let hour_ago = now.saturating_sub(3600);
    let note = match dashboard_allowed {
        true => String::new(),
        false => {
            format!("  (add \"http://{dashboard}\" to cors.allowed_origins for the dashboard to read)\n")
        }
    };
    format!(
        "appsignal-gateway demo: serving a simulated AppSignal API (no account needed)\n\
         \n  dashboard: http://{dashboard}/   (open it in a browser: another origin, so CORS and JSONP are real)\n{note}\
         \n  gateway: {base}\n  admin:   http://{admin}/readyz\n{tls_note}\
         \nTry:\n\
         \x20 {curl} '{base}/api/blog/samples.json?limit=3'\n\
         \x20 {curl} '{base}/api/blog/samples/errors.json?limit=2&since=2020-01-01T00:00:00Z'\n\
         \x20 {curl} '{base}/api/{id}/samples/performance.json?action_id=BlogPostsController%23show&count_only=true'\n\
         \x20 {curl} '{base}/api/blog/graphs.json?kind=web&timeframe=day&fields[]=mean&fields[]=ex_rate'\n\
         \x20 {curl} '{base}/api/shop/markers.json?kind=deploy'\n\
         \x20 {curl} -X POST '{base}/api/v2/metrics/timeseries' -H 'content-type: application/json' \\\n\
         \x20   -d '{{\"site_id\":\"blog\",\"from\":{hour_ago},\"to\":{now},\"select\":[{{\"name\":\"transaction_duration\",\"tags\":{{\"namespace\":\"web\"}},\"field\":\"P95\"}}]}}'\n\
         \x20 {curl} -X POST '{base}/api/v2/logs/lines' -H 'content-type: application/json' \\\n\
         \x20   -d '{{\"site_id\":\"blog\",\"source_ids\":[\"app\"],\"query\":\"severity=error\",\"pagination\":{{\"per_page\":5,\"order\":\"DESC\"}}}}'\n\
         \x20 {curl} '{base}/api/blog/graphql/ExceptionIncidents.json?state=OPEN&limit=5'   # GraphQL\n\
         \x20 {curl} -i '{base}/api/blog/samples/unknown-id.json'    # 404 from AppSignal\n\
         \x20 {curl} -i '{base}/api/blog/samples.json?limit=5000'    # 400: limit out of range\n\
         \nAdmin (operators only):\n\
         \x20 curl 'http://{admin}/metrics'\n\
         \x20 curl -X POST 'http://{admin}/cache/purge?app=blog'\n\
         \nPress Ctrl-C to stop.\n"
    )
}

#[cfg(test)]
mod tests {
    use super::admin_next_to;

    #[test]
    fn the_demo_admin_port_follows_the_gateway_port() {
        assert_eq!(admin_next_to("127.0.0.1:8080".parse().unwrap()), "127.0.0.1:8081");
        assert_eq!(admin_next_to("127.0.0.1:0".parse().unwrap()), "127.0.0.1:0");
        assert_eq!(admin_next_to("127.0.0.1:65535".parse().unwrap()), "127.0.0.1:0");
    }
}
