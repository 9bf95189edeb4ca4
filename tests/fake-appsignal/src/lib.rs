//! An in-process fake AppSignal: records what it receives, answers what the test says.

mod in_flight;

use std::collections::VecDeque;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Request, Response, StatusCode};
use http_body::Frame;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::Notify;

use in_flight::InFlight;
pub mod graphql;
pub use graphql::GraphQlRequest;

/// What the fake answers.
#[derive(Debug, Clone)]
#[allow(dead_code)]
pub enum Reply {
    /// 200 with a JSON body naming the request's path and a sequence number.
    Echo,
    /// This status and body, as JSON.
    Json(u16, &'static str),
    /// 200 with a body that is not JSON.
    NotJson,
    /// 200 with a JSON body of this many bytes and a Content-Length.
    Huge(usize),
    /// 200 with a JSON body of this many bytes, streamed without a Content-Length.
    HugeChunked(usize),
    /// Never answers.
    Hang,
    /// Closes the connection without answering.
    Reset,
    /// This status with a body that quotes the whole request URL, token included.
    EchoUrl(u16),
    /// 429 with this `Retry-After`.
    Throttle(&'static str),
    /// Waits, then answers.
    Delay(Duration, Box<Reply>),
    /// AppSignal's GraphQL: the document executed over the fake's world (see [`graphql`]);
    /// what `/graphql` answers unless a route or the queue says otherwise.
    GraphQl,
    /// As [`Reply::GraphQl`], with an `errors` entry beside the data (a partial answer, 200).
    GraphQlPartial,
    /// This status with `{"data": null, "errors": [{"message": …}]}`; `{url}` in the message
    /// becomes the request URL, token included.
    GraphQlRefused(u16, &'static str),
}

/// One request the fake received.
#[derive(Debug, Clone)]
#[allow(dead_code)]
pub struct Received {
    /// The method.
    pub method: String,
    /// The path.
    pub path: String,
    /// The raw query string.
    pub query: String,
    /// Every header.
    pub headers: HeaderMap,
    /// The body, whole (empty for a GET).
    pub body: Bytes,
}

impl Received {
    /// The body as JSON (`null` when empty).
    pub fn json(&self) -> serde_json::Value {
        match self.body.is_empty() {
            true => serde_json::Value::Null,
            false => serde_json::from_slice(&self.body).expect("the gateway sent JSON"),
        }
    }

    /// The decoded query pairs, in order.
    pub fn pairs(&self) -> Vec<(String, String)> {
        self.query
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| {
                let (k, v) = p.split_once('=').unwrap_or((p, ""));
                let d = |s: &str| percent_encoding::percent_decode_str(s).decode_utf8().unwrap().into_owned();
                (d(k), d(v))
            })
            .collect()
    }
}

#[derive(Default)]
struct State {
    received: Vec<Received>,
    /// Replies to use first, one per request; then `default`.
    queue: VecDeque<Reply>,
    default: Option<Reply>,
    /// Replies by path, before the queue: how AppSignal answers each route.
    routes: Vec<(String, Reply)>,
    /// Requests being answered now, and the most there ever were at once.
    in_flight: InFlight,
}

/// The fake server.
#[derive(Clone)]
pub struct FakeAppSignal {
    /// Its base URL, `http://127.0.0.1:{port}`.
    pub url: String,
    state: Arc<Mutex<State>>,
    arrived: Arc<Notify>,
}

#[allow(dead_code)]
impl FakeAppSignal {
    /// Starts the fake on a free loopback port.
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        let fake = FakeAppSignal {
            url: format!("http://{addr}"),
            state: Arc::new(Mutex::new(State::default())),
            arrived: Arc::new(Notify::new()),
        };
        let server = fake.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let fake = server.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |req| {
                        let fake = fake.clone();
                        async move { fake.answer(req).await }
                    });
                    let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
                });
            }
        });
        fake
    }

    /// Answers every later request with `reply`.
    pub fn always(&self, reply: Reply) {
        self.state.lock().unwrap().default = Some(reply);
    }

    /// Answers the next request with `reply`, before the default.
    pub fn then(&self, reply: Reply) {
        self.state.lock().unwrap().queue.push_back(reply);
    }

    /// Answers every later request for `path` with `reply`, before the queue and default.
    pub fn on(&self, path: &str, reply: Reply) {
        self.state.lock().unwrap().routes.push((path.to_owned(), reply));
    }

    /// The most requests that were ever being answered at once.
    pub fn max_in_flight(&self) -> usize {
        self.state.lock().unwrap().in_flight.max()
    }

    /// Counts the most requests at once afresh from now (overall and under each prefix).
    pub fn reset_max_in_flight(&self) {
        self.state.lock().unwrap().in_flight.reset_max();
    }

    /// The most requests under `/{first}/` (a gateway whose base URL ends in `/{first}`)
    /// that were ever being answered at once.
    pub fn max_in_flight_under(&self, first: &str) -> usize {
        self.state.lock().unwrap().in_flight.max_under(first)
    }

    /// Everything received so far.
    pub fn received(&self) -> Vec<Received> {
        self.state.lock().unwrap().received.clone()
    }

    /// How many requests arrived.
    pub fn count(&self) -> usize {
        self.state.lock().unwrap().received.len()
    }

    /// Waits (without sleeping) until at least `n` requests have arrived.
    pub async fn wait_for(&self, n: usize) {
        let wait = async {
            loop {
                let notified = self.arrived.notified();
                if self.count() >= n {
                    return;
                }
                notified.await;
            }
        };
        tokio::time::timeout(Duration::from_secs(30), wait).await.expect("the fake never got the requests");
    }

    async fn answer(&self, req: Request<Incoming>) -> Result<Response<Chunks>, std::io::Error> {
        let (parts, body) = req.into_parts();
        let body = body.collect().await.map_err(std::io::Error::other)?.to_bytes();
        let req = Request::from_parts(parts, ());
        let reply = {
            let mut state = self.state.lock().unwrap();
            state.received.push(Received {
                method: req.method().to_string(),
                path: req.uri().path().to_owned(),
                query: req.uri().query().unwrap_or("").to_owned(),
                headers: req.headers().clone(),
                body: body.clone(),
            });
            let seq = state.received.len();
            let routed = state.routes.iter().find(|(p, _)| p == req.uri().path()).map(|(_, r)| r.clone());
            // GraphQL requests skip the default reply: it is meant for the REST routes.
            let graphql = (req.uri().path() == "/graphql").then_some(Reply::GraphQl);
            let reply = routed
                .or_else(|| state.queue.pop_front())
                .or(graphql)
                .or_else(|| state.default.clone())
                .unwrap_or(Reply::Echo);
            state.in_flight.start(req.uri().path());
            (reply, seq)
        };
        let _done = Done(self.state.clone(), req.uri().path().to_owned());
        self.arrived.notify_waiters();
        let (mut reply, seq) = reply;
        loop {
            return Ok(match reply {
                Reply::Delay(wait, then) => {
                    tokio::time::sleep(wait).await;
                    reply = *then;
                    continue;
                }
                Reply::Echo => {
                    json(200, format!(r#"{{"count":1,"path":"{}","seq":{seq}}}"#, req.uri().path()))
                }
                Reply::Json(status, body) => json(status, body.to_owned()),
                Reply::NotJson => {
                    let mut r = json(200, "<html>maintenance</html>".into());
                    r.headers_mut().insert("content-type", "text/html".parse().unwrap());
                    r
                }
                Reply::Huge(size) => json(200, huge(size)),
                Reply::HugeChunked(size) => Response::new(Chunks::Stream { left: size, first: true }),
                Reply::Hang => std::future::pending().await,
                Reply::Reset => return Err(std::io::Error::other("reset by the fake")),
                Reply::EchoUrl(status) => {
                    json(status, format!(r#"{{"error":"bad request to {}"}}"#, req.uri()))
                }
                Reply::GraphQl | Reply::GraphQlPartial | Reply::GraphQlRefused(..) => {
                    graphql::answer(&req, &body, &reply)
                }
                Reply::Throttle(after) => {
                    let mut r = json(429, r#"{"error":"slow down"}"#.into());
                    r.headers_mut().insert("retry-after", after.parse().unwrap());
                    r
                }
            });
        }
    }
}

/// Counts a request out of flight however its answer ends (a hang dropped, a reset).
struct Done(Arc<Mutex<State>>, String);

impl Drop for Done {
    fn drop(&mut self) {
        self.0.lock().unwrap().in_flight.end(&self.1);
    }
}

fn huge(size: usize) -> String {
    format!("[{}0]", "0,".repeat(size / 2))
}

fn json(status: u16, body: String) -> Response<Chunks> {
    let len = body.len();
    let mut response = Response::new(Chunks::Whole(Some(Bytes::from(body))));
    *response.status_mut() = StatusCode::from_u16(status).unwrap();
    response.headers_mut().insert("content-type", "application/json".parse().unwrap());
    response.headers_mut().insert("content-length", len.into());
    response
}

/// A body that is either whole or streamed in 8 KiB chunks of unknown total size.
pub enum Chunks {
    /// One frame, then the end.
    Whole(Option<Bytes>),
    /// `left` bytes of a JSON array, in chunks.
    Stream { left: usize, first: bool },
}

impl http_body::Body for Chunks {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let this = self.get_mut();
        match this {
            Chunks::Whole(body) => Poll::Ready(body.take().map(|b| Ok(Frame::data(b)))),
            Chunks::Stream { left: 0, .. } => Poll::Ready(None),
            Chunks::Stream { left, first } => {
                let n = (*left).min(8192);
                *left -= n;
                let mut chunk = vec![b' '; n];
                if *first {
                    chunk[0] = b'[';
                    *first = false;
                }
                Poll::Ready(Some(Ok(Frame::data(Bytes::from(chunk)))))
            }
        }
    }
}
