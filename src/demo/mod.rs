//! `appsignal-gateway demo`: the gateway in front of a simulated AppSignal API.
//!
//! The simulation listens on its own free loopback port and answers the routes the
//! gateway fronts with generated data, checking the token as AppSignal does, so a
//! newcomer sees the whole path work without an AppSignal account.

pub mod data;
mod simulated;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use tokio::net::TcpListener;

pub use simulated::SimulatedAppSignal;

use crate::config::{self, RawApp, RawConfig, Settings, Token};
use crate::server::{self, ConnLimits};

/// The demo's apps: (id, alias).
pub const DEMO_APPS: &[(&str, &str)] =
    &[("5114f7e38c5ce90000000011", "blog"), ("5114f7e38c5ce90000000022", "shop")];

/// Starts the simulated AppSignal on a free loopback port and returns the gateway
/// settings that point at it, listening on `listen`. `raw` is the operator's own
/// configuration (a `--config` file and the environment, or the environment alone): the
/// demo keeps everything it says but the upstream (always the simulation, with its own
/// token), the listen address (`listen`), and fills in the apps and the admin address
/// where it leaves them unset.
pub async fn start_simulation(listen: SocketAddr, mut raw: RawConfig) -> std::io::Result<Settings> {
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
    let limits = ConnLimits {
        max_connections: std::num::NonZeroUsize::new(1024).expect("1024 > 0"),
        header_read_timeout: std::time::Duration::from_secs(10),
        idle_timeout: std::time::Duration::from_secs(60),
        max_head: 64 * 1024,
        grace: std::time::Duration::ZERO,
    };
    tokio::spawn(server::serve(listener, simulated, limits, std::future::pending()));

    if raw.admin_listen == RawConfig::default().admin_listen {
        raw.admin_listen = admin_next_to(listen);
    }
    raw.listen = listen.to_string();
    raw.upstream.base_url = format!("http://{upstream}");
    raw.upstream.token = Some(token);
    raw.upstream.token_file = None;
    raw.upstream.ca_file = None;
    config::validate(&raw).map_err(|e| std::io::Error::other(e.to_string()))
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
pub fn banner(listen: SocketAddr, admin: SocketAddr) -> String {
    let base = format!("http://{listen}");
    let (id, _) = DEMO_APPS[0];
    format!(
        "appsignal-gateway demo: serving a simulated AppSignal API (no account needed)\n\
         \n  gateway: {base}\n  admin:   http://{admin}/readyz\n\
         \nTry:\n\
         \x20 curl '{base}/api/blog/samples.json?limit=3'\n\
         \x20 curl '{base}/api/blog/samples/errors.json?limit=2&since=2020-01-01T00:00:00Z'\n\
         \x20 curl '{base}/api/{id}/samples/performance.json?action_id=BlogPostsController%23show&count_only=true'\n\
         \x20 curl '{base}/api/blog/graphs.json?kind=web&timeframe=day&fields[]=mean&fields[]=ex_rate'\n\
         \x20 curl '{base}/api/shop/markers.json?kind=deploy'\n\
         \x20 curl -i '{base}/api/blog/samples/unknown-id.json'    # 404 from AppSignal\n\
         \x20 curl -i '{base}/api/blog/samples.json?limit=5000'    # 400: limit out of range\n\
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
