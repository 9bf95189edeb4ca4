//! The Lua scripts the shared tier runs. Each touches the keys of one hash tag only, so
//! it runs on a Redis Cluster; those that need a clock read Redis's own (`TIME`), so the
//! replicas' clocks never matter. Sent by EVALSHA, loaded again after a `SCRIPT FLUSH`.

use std::sync::LazyLock;

use redis::Script;

/// The fleet's upstream budget as GCRA. KEYS: the budget's theoretical arrival time,
/// the back-off flag. ARGV: the emission interval and the burst tolerance, in
/// microseconds. Returns `{allowed, wait_ms, backing_off}`.
pub static BUDGET: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local backoff = redis.call('PTTL', KEYS[2])
if backoff > 0 then return {0, backoff, 1} end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local wait = tat - tolerance - now
if wait > 0 then return {0, math.ceil(wait / 1000), 0} end
tat = tat + interval
redis.call('SET', KEYS[1], string.format('%.0f', tat), 'PX', math.ceil((tat - now) / 1000) + 1000)
return {1, 0, 0}
",
    )
});

/// Sets the fleet's back-off. KEYS: the back-off flag. ARGV: milliseconds. A longer
/// back-off already in force stands.
pub static BACK_OFF: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local ms = tonumber(ARGV[1])
if redis.call('PTTL', KEYS[1]) < ms then redis.call('SET', KEYS[1], '1', 'PX', ms) end
return 1
",
    )
});

/// A heartbeat. KEYS: the members' sorted set. ARGV: this replica's id, the heartbeat's
/// life in milliseconds. Returns how many replicas beat within that life.
pub static HEARTBEAT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local life = tonumber(ARGV[2])
redis.call('ZADD', KEYS[1], now, ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - life)
redis.call('PEXPIRE', KEYS[1], life * 2)
return redis.call('ZCARD', KEYS[1])
",
    )
});

/// Reads an entry and its app's purge epoch in one round trip, the entry only when
/// it is no longer than allowed: a neighbour that wrote a huge value costs a `STRLEN`,
/// not its size in memory. KEYS: the epoch, the entry. ARGV: the longest value
/// fetched. Returns `{epoch or false, entry or false, the entry's length}`.
pub static READ: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local epoch = redis.call('GET', KEYS[1])
local length = redis.call('STRLEN', KEYS[2])
if length == 0 or length > tonumber(ARGV[1]) then return {epoch, false, length} end
return {epoch, redis.call('GET', KEYS[2]), length}
",
    )
});

/// Stores an entry and lets go of the key's lock if this replica still owns it. KEYS:
/// the entry, the lock. ARGV: the envelope, its life in milliseconds, the lock's token.
pub static STORE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
if redis.call('GET', KEYS[2]) == ARGV[3] then redis.call('DEL', KEYS[2]) end
return 1
",
    )
});

/// Lets go of a lock if its token is still the one given. KEYS: the lock. ARGV: the token.
pub static UNLOCK: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
",
    )
});

/// Takes one of the fleet's query leases if fewer than the bound are held. KEYS: the
/// leases' sorted set (each lease's token, scored by when it ends, in ms of Redis's
/// clock). ARGV: the new lease's token, the bound, its life in milliseconds. Ended
/// leases (a dead replica's) are dropped first. Returns `{1, 0}` when taken, else
/// `{0, ms until the first held lease ends}`.
pub static LEASE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local max = tonumber(ARGV[2])
local life = tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) < max then
  redis.call('ZADD', KEYS[1], now + life, ARGV[1])
  redis.call('PEXPIRE', KEYS[1], life)
  return {1, 0}
end
local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return {0, math.max(1, tonumber(first[2]) - now)}
",
    )
});
