//! Generated, plausible AppSignal data: samples, hourly graph points and deploy markers.
//!
//! Deterministic for a given seed and clock, so the demo shows the same world each run.

use serde_json::{json, Value};

use crate::route::escape_action;

/// A small, fast, seedable generator (SplitMix64); the demo needs no cryptography.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A float in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// An index in 0..n.
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
}

/// The generated apps' actions and their paths.
pub(super) const ACTIONS: &[(&str, &str)] = &[
    ("BlogPostsController#index", "/blog"),
    ("BlogPostsController#show", "/blog/hello-world"),
    ("CommentsController#create", "/blog/hello-world/comments"),
    ("Api::V1::PostsController#index", "/api/v1/posts"),
    ("SessionsController#create", "/login"),
    ("SearchController#show", "/search"),
];

/// The exceptions error samples raise.
pub(super) const EXCEPTIONS: &[&str] =
    &["NoMethodError", "ActiveRecord::RecordNotFound", "ActionView::Template::Error", "Redis::TimeoutError"];

/// One generated sample: what the list shows and what the show route returns.
#[derive(Debug, Clone)]
pub struct Sample {
    /// AppSignal's raw id, `{digest}_{action}_{time}`.
    pub id: String,
    /// The id as the show route forwards it (sanitized).
    pub sanitized_id: String,
    /// `Controller#action`.
    pub action: &'static str,
    /// Unix seconds.
    pub time: i64,
    /// The exception name, for error samples.
    pub exception: Option<&'static str>,
    /// The list entry.
    pub summary: Value,
    /// The full sample.
    pub detail: Value,
}

/// One deploy or custom marker.
#[derive(Debug, Clone)]
pub struct Marker {
    /// `deploy` or `custom`.
    pub kind: &'static str,
    /// Unix seconds.
    pub time: i64,
    /// The marker as AppSignal lists it.
    pub json: Value,
}

/// The simulated world of one app.
#[derive(Debug, Clone)]
pub struct AppData {
    /// Newest first, as AppSignal lists them.
    pub samples: Vec<Sample>,
    /// Oldest first.
    pub markers: Vec<Marker>,
    /// Mean response time before any deploy, in milliseconds.
    base_mean: f64,
    /// Seed for the per-hour noise of graphs.
    seed: u64,
}

impl AppData {
    /// Generates 24 hours of samples ending at `now`, and deploys that shift the graphs.
    pub fn generate(seed: u64, now: i64) -> Self {
        let mut rng = Rng::new(seed);
        let markers = markers(&mut rng, now);
        let mut samples: Vec<Sample> = (0..240).map(|_| sample(&mut rng, now)).collect();
        samples.sort_by_key(|s| std::cmp::Reverse(s.time));
        AppData { samples, markers, base_mean: 80.0 + 40.0 * rng.unit(), seed }
    }

    /// The seed of the app's noise.
    pub(super) fn seed(&self) -> u64 {
        self.seed
    }

    /// The mean response time at `time`: each deploy moves it.
    pub(super) fn mean_at(&self, time: i64) -> f64 {
        let deploys = self.markers.iter().filter(|m| m.kind == "deploy" && m.time <= time).count();
        // The second deploy is a regression, the third fixes it.
        let shift = match deploys {
            0 | 1 => 0.0,
            2 => 90.0,
            _ => -20.0,
        };
        self.base_mean + shift
    }

    /// One hourly graph point with the fields asked for (all when none are).
    pub fn graph_point(&self, hour: i64, fields: &[&str]) -> Value {
        let mut rng = Rng::new(self.seed ^ (hour as u64).wrapping_mul(0x2545_F491_4F6C_DD1D));
        let mean = self.mean_at(hour) * (0.9 + 0.2 * rng.unit());
        let count = 400 + rng.below(300) as u64;
        let ex_count = rng.below(12) as u64;
        let mut point = json!({ "timestamp": hour });
        let all = ["mean", "count", "ex_count", "ex_rate", "pct"];
        for field in if fields.is_empty() { &all[..] } else { fields } {
            let value = match *field {
                "mean" => json!(round2(mean)),
                "count" => json!(count),
                "ex_count" => json!(ex_count),
                "ex_rate" => json!(round2(100.0 * ex_count as f64 / count as f64)),
                "pct" => json!(round2(mean * 2.4)),
                _ => continue,
            };
            point[*field] = value;
        }
        point
    }
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

fn digest(rng: &mut Rng) -> String {
    format!("{:016x}{:08x}", rng.next_u64(), rng.next_u64() as u32)
}

fn sample(rng: &mut Rng, now: i64) -> Sample {
    let (action, path) = ACTIONS[rng.below(ACTIONS.len())];
    let time = now - rng.below(86_400) as i64;
    let exception = (rng.unit() < 0.2).then(|| EXCEPTIONS[rng.below(EXCEPTIONS.len())]);
    let duration = round2(40.0 + 900.0 * rng.unit() * rng.unit());
    let id = format!("{}_{action}_{time}", digest(rng));
    let summary = json!({
        "id": id,
        "action": action,
        "path": path,
        "duration": if exception.is_some() { Value::Null } else { json!(duration) },
        "status": if exception.is_some() { Value::Null } else { json!(200) },
        "time": time,
        "is_exception": exception.is_some(),
        "exception": { "name": exception },
    });
    let detail = json!({
        "id": id,
        "action": action,
        "db_runtime": round2(duration * 0.4),
        "duration": duration,
        "environment": { "HTTP_USER_AGENT": "Mozilla/5.0 (X11; Linux x86_64)" },
        "hostname": format!("app{}", 1 + rng.below(3)),
        "is_exception": exception.is_some(),
        "kind": "http_request",
        "params": { "id": rng.below(1000) },
        "path": path,
        "request_format": "html",
        "request_method": "GET",
        "session_data": {},
        "status": if exception.is_some() { "500" } else { "200" },
        "view_runtime": round2(duration * 0.3),
        "time": time,
        "end": time + 1,
        "events": [{
            "action": "query", "duration": round2(duration * 0.3), "group": "active_record",
            "name": "sql.active_record", "payload": { "query": "SELECT * FROM posts WHERE id = ?" },
            "time": 0, "end": 0, "digest": "000000", "allocation_count": 1200,
        }],
        "exception": exception.map(|name| json!({
            "message": "Something went wrong in the demo",
            "name": name,
            "backtrace": ["app/controllers/blog_posts_controller.rb:12", "lib/demo.rb:3"],
        })),
    });
    let sanitized_id = escape_action(&id);
    Sample { id, sanitized_id, action, time, exception, summary, detail }
}

const USERS: [&str; 3] = ["alice", "bob", "carol"];

fn markers(rng: &mut Rng, now: i64) -> Vec<Marker> {
    let hour = now - now % 3600;
    let mut out = Vec::new();
    for (i, hours_ago) in [20, 13, 5].into_iter().enumerate() {
        let time = hour - hours_ago * 3600;
        let revision = format!("{:07x}", rng.next_u64() & 0xFFF_FFFF);
        out.push(Marker {
            kind: "deploy",
            time,
            json: json!({
                "id": digest(rng), "kind": "deploy", "created_at": iso(time),
                "repository": "main", "revision": revision,
                "user": USERS[i],
            }),
        });
    }
    let time = hour - 9 * 3600;
    out.push(Marker {
        kind: "custom",
        time,
        json: json!({
            "id": digest(rng), "kind": "custom", "created_at": iso(time),
            "message": "Database maintenance", "icon": "🛠",
        }),
    });
    out.sort_by_key(|m| m.time);
    out
}

/// Unix seconds as RFC 3339 UTC.
pub fn iso(seconds: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(seconds)
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_default()
}

/// Whether `action` matches an escaped `action_id` filter.
pub fn action_matches(action: &str, escaped: &str) -> bool {
    escape_action(action) == escaped
}
