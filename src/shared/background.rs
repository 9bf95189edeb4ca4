//! The replica's background work for the shared tier: keeping the connection and the
//! heartbeat (whose success closes the breaker), and the purge subscription.
//!
//! Pub/sub drops what is published while a subscriber is away, so after every
//! (re)subscription the replica empties its own cache before trusting it again.

use std::sync::{Arc, Weak};
use std::time::Duration;

use futures_util::StreamExt;

use super::{scripts, Shared};
use crate::cache::ResponseCache;

/// The purge message for every app.
pub const PURGE_ALL: &str = "all";
/// The purge message's prefix for one app: `app:{id}`.
pub const PURGE_APP: &str = "app:";

/// How often a replica beats; a replica silent for [`HEARTBEAT_LIFE`] is gone.
const HEARTBEAT_EVERY: Duration = Duration::from_secs(1);
const HEARTBEAT_LIFE: Duration = Duration::from_secs(5);
/// Bounds on the wait before subscribing again.
const RESUBSCRIBE_MIN: Duration = Duration::from_millis(100);
const RESUBSCRIBE_MAX: Duration = Duration::from_secs(2);

/// Starts the heartbeat and the subscription; both end when `shared` is dropped.
pub fn spawn(shared: &Arc<Shared>, cache: Arc<ResponseCache>) {
    tokio::spawn(heartbeat(Arc::downgrade(shared)));
    tokio::spawn(subscription(Arc::downgrade(shared), cache));
}

async fn heartbeat(shared: Weak<Shared>) {
    let mut ticks = tokio::time::interval(HEARTBEAT_EVERY);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut reported = false;
    loop {
        ticks.tick().await;
        let Some(shared) = shared.upgrade() else { return };
        if let Err(reason) = shared.link.connect().await {
            if !reported {
                tracing::warn!(redis = %shared.link.url(), reason, "cannot reach the shared tier: acting alone until it answers");
                reported = true;
            }
            continue;
        }
        let mut invocation = scripts::HEARTBEAT.key(shared.keys.members());
        invocation.arg(&shared.replica).arg(HEARTBEAT_LIFE.as_millis() as u64);
        match shared.link.probe::<u32>(&invocation).await {
            Ok(members) => {
                shared.members.store(members.max(1), std::sync::atomic::Ordering::Relaxed);
                shared.metrics.shared.set_members(members);
                reported = false;
            }
            Err(_) if !reported => {
                tracing::warn!(redis = %shared.link.url(), "the shared tier does not answer: acting alone until it does");
                reported = true;
            }
            Err(_) => {}
        }
    }
}

async fn subscription(shared: Weak<Shared>, cache: Arc<ResponseCache>) {
    let mut pause = RESUBSCRIBE_MIN;
    loop {
        let Some(strong) = shared.upgrade() else { return };
        let channel = strong.keys.channel().to_owned();
        let connecting = async {
            let mut pubsub = strong.link.pubsub_client()?.get_async_pubsub().await?;
            pubsub.subscribe(&channel).await?;
            Ok::<_, redis::RedisError>(pubsub)
        };
        let pubsub = tokio::time::timeout(strong.link.connect_timeout(), connecting).await;
        drop(strong);
        let Ok(Ok(pubsub)) = pubsub else {
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(RESUBSCRIBE_MAX);
            continue;
        };
        pause = RESUBSCRIBE_MIN;
        // Purges published while this replica was not subscribed never reach it.
        cache.purge_all();
        tracing::debug!("subscribed to purges; own cache emptied");
        let mut messages = pubsub.into_on_message();
        while let Some(message) = messages.next().await {
            let Ok(text) = message.get_payload::<String>() else { continue };
            if text == PURGE_ALL {
                cache.purge_all();
            } else if let Some(app) = text.strip_prefix(PURGE_APP) {
                cache.purge_app(app);
            } else {
                continue;
            }
            match shared.upgrade() {
                Some(shared) => shared.metrics.shared.purge(false),
                None => return,
            }
        }
        tracing::debug!("purge subscription lost; subscribing again");
    }
}
