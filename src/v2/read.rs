//! Reading a request body: bounded in size (declared and counted) and in time.
//!
//! Called only once the route, the method, the key, `Content-Type` and the `Origin`
//! rule have passed, so a request refused for any of those costs no read. A declared
//! `Content-Length` over the bound is refused before a byte is read; a chunked body is
//! counted frame by frame and refused as soon as it passes the bound, so the gateway
//! never holds more than `limits.max_body_size` (plus one frame) of it.

use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use http::HeaderMap;
use http_body::Body;
use http_body_util::BodyExt;

/// Why a body was not read whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyError {
    /// Larger than `limits.max_body_size`, declared or counted: 413.
    TooLarge,
    /// Not whole within `limits.body_read_timeout`: 408, connection closed.
    Timeout,
    /// The client broke the stream off.
    Broken,
}

/// Reads `body` whole: at most `max` bytes, within `timeout`.
pub async fn read_body<B>(
    headers: &HeaderMap,
    body: B,
    max: usize,
    timeout: Duration,
) -> Result<Bytes, BodyError>
where
    B: Body + Send,
    B::Data: Send,
{
    let declared =
        headers.get(http::header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|len| len > max as u64) {
        return Err(BodyError::TooLarge);
    }
    let capacity = declared.map_or(1024, |len| len as usize);
    match tokio::time::timeout(timeout, collect(body, max, capacity)).await {
        Ok(result) => result,
        Err(_) => Err(BodyError::Timeout),
    }
}

async fn collect<B>(body: B, max: usize, capacity: usize) -> Result<Bytes, BodyError>
where
    B: Body + Send,
    B::Data: Send,
{
    let mut body = std::pin::pin!(body);
    let mut out = BytesMut::with_capacity(capacity.min(max));
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|_| BodyError::Broken)?;
        let Ok(mut data) = frame.into_data() else { continue };
        if out.len() + data.remaining() > max {
            return Err(BodyError::TooLarge);
        }
        while data.has_remaining() {
            let chunk = data.chunk();
            out.extend_from_slice(chunk);
            let n = chunk.len();
            data.advance(n);
        }
    }
    Ok(out.freeze())
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::Full;

    #[tokio::test]
    async fn bounds_hold_declared_and_counted() {
        let secs = Duration::from_secs(1);
        let body = Full::new(Bytes::from_static(b"{\"a\":1}"));
        assert_eq!(read_body(&HeaderMap::new(), body.clone(), 7, secs).await.unwrap(), "{\"a\":1}");
        assert_eq!(read_body(&HeaderMap::new(), body.clone(), 6, secs).await, Err(BodyError::TooLarge));
        let mut declared = HeaderMap::new();
        declared.insert(http::header::CONTENT_LENGTH, "100000".parse().unwrap());
        assert_eq!(read_body(&declared, body, 1000, secs).await, Err(BodyError::TooLarge));
    }
}
