//! An answer as an entry: its compressed forms made once, when it is stored, so that a
//! hit never compresses; a large body is compressed on the blocking pool.

use std::time::Duration;

use bytes::Bytes;
use http::StatusCode;

use crate::cache::{Compressed, Entry};
use crate::compress;
use crate::config::CompressionSettings;

/// Bodies at least this large are compressed on the blocking pool; smaller ones take
/// well under a millisecond and are compressed in place.
const BLOCKING_COMPRESSION: usize = 64 * 1024;

/// What an entry is made of, besides its body.
#[derive(Debug, Clone, Copy)]
pub(super) struct Recipe {
    /// 200 or 404.
    pub status: StatusCode,
    /// How long it is fresh.
    pub ttl: Duration,
    /// How long it is kept (fresh and stale).
    pub retain: Duration,
    /// Whether and from which size to make compressed forms.
    pub compression: CompressionSettings,
}

/// The entry for `body`, compressed in place.
pub(super) fn entry(recipe: Recipe, body: Bytes) -> Entry {
    let compressed = recipe
        .compression
        .applies_to(body.len())
        .then(|| Compressed { gzip: compress::gzip(&body), brotli: compress::brotli(&body) });
    Entry::new(recipe.status, body, compressed, recipe.compression.enabled, recipe.ttl, recipe.retain)
}

/// The entry for `body`, compressing a large one on the blocking pool: that takes
/// milliseconds, which must not hold an async worker. `None` only if that thread died.
pub(super) async fn entry_off_thread(recipe: Recipe, body: Bytes) -> Option<Entry> {
    if recipe.compression.applies_to(body.len()) && body.len() >= BLOCKING_COMPRESSION {
        tokio::task::spawn_blocking(move || entry(recipe, body)).await.ok()
    } else {
        Some(entry(recipe, body))
    }
}
