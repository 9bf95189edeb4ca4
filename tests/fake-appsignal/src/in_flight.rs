//! Requests being answered now, and the most there ever were at once: overall and by
//! the first segment of their path (so gateways given base URLs `{fake}/a`, `{fake}/b`
//! are told apart).

use std::collections::HashMap;

/// In flight now and at most, overall and per first path segment.
#[derive(Default)]
pub(crate) struct InFlight {
    now: usize,
    max: usize,
    /// First segment → (now, most).
    by_segment: HashMap<String, (usize, usize)>,
}

fn segment(path: &str) -> &str {
    path.trim_start_matches('/').split('/').next().unwrap_or("")
}

impl InFlight {
    /// A request for `path` starts being answered.
    pub(crate) fn start(&mut self, path: &str) {
        self.now += 1;
        self.max = self.max.max(self.now);
        let (now, max) = self.by_segment.entry(segment(path).to_owned()).or_default();
        *now += 1;
        *max = (*max).max(*now);
    }

    /// A request for `path` is answered (or dropped).
    pub(crate) fn end(&mut self, path: &str) {
        self.now -= 1;
        if let Some((now, _)) = self.by_segment.get_mut(segment(path)) {
            *now -= 1;
        }
    }

    /// Starts counting the most at once afresh, from those in flight now.
    pub(crate) fn reset_max(&mut self) {
        self.max = self.now;
        for (now, max) in self.by_segment.values_mut() {
            *max = *now;
        }
    }

    /// The most requests ever in flight at once.
    pub(crate) fn max(&self) -> usize {
        self.max
    }

    /// The most requests whose path starts with `/{first}/` ever in flight at once.
    pub(crate) fn max_under(&self, first: &str) -> usize {
        self.by_segment.get(first).map_or(0, |(_, max)| *max)
    }
}
