//! What scrubbing the token from a stored body costs (issue 26): `Token::scrub_bytes` on
//! a 1 MiB JSON body, without the token (the usual case: one scan) and with it echoed
//! 64 times (a scan per form and a copy). Prints the median of 50 runs of each.
//!
//! `cargo run --release --example scrub`

use std::time::{Duration, Instant};

use appsignal_gateway::config::Token;

fn median(mut runs: Vec<Duration>) -> Duration {
    runs.sort();
    runs[runs.len() / 2]
}

fn time(token: &Token, body: &[u8]) -> (Duration, bool) {
    let mut found = false;
    let runs = (0..50)
        .map(|_| {
            let started = Instant::now();
            found = std::hint::black_box(token.scrub_bytes(std::hint::black_box(body))).is_some();
            started.elapsed()
        })
        .collect();
    (median(runs), found)
}

fn main() {
    let token = Token::new("tok-SECRET-4f9a2b77c0ffee");
    let record = r#"{"id":"5114f7e38c5ce90000000011","action":"BlogPostsController#show","duration":12.5,"next":"/api/x?page=2"},"#;
    let mut clean = String::from("{\"data\":[");
    while clean.len() < (1 << 20) - 2 {
        clean.push_str(record);
    }
    clean.truncate((1 << 20) - 2);
    clean.push_str("]}");
    let step = clean.len() / 64;
    let mut echoed = clean.clone().into_bytes();
    for i in 0..64 {
        let at = i * step + 10;
        echoed[at..at + token.expose().len()].copy_from_slice(token.expose().as_bytes());
    }
    let (without, found) = time(&token, clean.as_bytes());
    assert!(!found);
    let (with, found) = time(&token, &echoed);
    assert!(found);
    println!("1 MiB body, no token:        {:>8.1} µs (median of 50)", without.as_secs_f64() * 1e6);
    println!("1 MiB body, token 64 times:  {:>8.1} µs (median of 50)", with.as_secs_f64() * 1e6);
}
