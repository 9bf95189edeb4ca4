//! The executor HTTP/2 streams run on.
//!
//! hyper hands every HTTP/2 stream to an executor as a future. Spawning each as a task
//! of its own (`TokioExecutor`) is unfair under load: 64 connections with 10 streams
//! each keep more runnable tasks than a tokio worker's local queue holds (256), so the
//! worker keeps moving half of its queue to the runtime's global queue, which it looks
//! at only every few dozen polls, and the streams moved there wait many times longer
//! than the rest (measured: a p99 1.75× nginx's; BENCHMARKS.md, "HTTP/2 under
//! saturation"). Most streams here are cache hits, whose future finishes the first time
//! it is polled, so [`StreamExecutor`] polls each stream once where it arrives, in its
//! connection's task, and spawns only a stream that has to wait (a miss, a request body
//! still arriving, flow control). A connection then answers what it has read before it
//! yields, as an event loop's round robin would, and a hit costs no task.

use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::task::{Context, Poll, Waker};

/// hyper's executor for HTTP/2 streams: a stream's first poll happens on the spot, and
/// a stream still pending after it becomes a task.
#[derive(Debug, Clone, Copy, Default)]
pub struct StreamExecutor;

impl<F> hyper::rt::Executor<F> for StreamExecutor
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    fn execute(&self, future: F) {
        let mut future = Box::pin(future);
        // A waker that does nothing is enough for the first poll: whatever the stream
        // waits on, the task spawned below polls it again at once, and that poll
        // registers the task's own waker (a future wakes only the waker of its latest poll).
        let mut cx = Context::from_waker(Waker::noop());
        match catch_unwind(AssertUnwindSafe(|| future.as_mut().poll(&mut cx))) {
            Ok(Poll::Ready(_)) => {}
            Ok(Poll::Pending) => {
                tokio::spawn(future);
            }
            // As a panicking task would be: the stream is dropped (reset), the connection
            // and its other streams go on. The handler catches its own panics; this is
            // hyper's stream machinery.
            Err(_) => {
                tracing::error!("an HTTP/2 stream panicked; it was reset");
                let _ = catch_unwind(AssertUnwindSafe(move || drop(future)));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    use futures_util::FutureExt;
    use hyper::rt::Executor;

    use super::*;

    #[test]
    fn a_stream_ready_at_once_runs_where_it_arrives_without_a_task() {
        // No runtime here: had the executor spawned, `tokio::spawn` would have panicked.
        let ran = Arc::new(AtomicBool::new(false));
        let flag = ran.clone();
        StreamExecutor.execute(async move { flag.store(true, Ordering::SeqCst) });
        assert!(ran.load(Ordering::SeqCst));
    }

    #[tokio::test]
    async fn a_stream_that_waits_becomes_a_task_and_finishes() {
        let (tx, mut rx) = tokio::sync::oneshot::channel::<u32>();
        let (done_tx, done_rx) = tokio::sync::oneshot::channel::<u32>();
        let polled_as_task = Arc::new(tokio::sync::Notify::new());
        let notify = polled_as_task.clone();
        let mut polls = 0;
        let mut done_tx = Some(done_tx);
        StreamExecutor.execute(std::future::poll_fn(move |cx| {
            polls += 1;
            if polls == 2 {
                notify.notify_one();
            }
            match rx.poll_unpin(cx) {
                Poll::Ready(value) => {
                    let sender = done_tx.take().expect("polled once after it finished");
                    sender.send(value.expect("sent") + 1).expect("received");
                    Poll::Ready(())
                }
                Poll::Pending => Poll::Pending,
            }
        }));
        // Sent only after the task's own first poll: that poll, not the one with the
        // do-nothing waker, is what must wake the stream for this to arrive.
        polled_as_task.notified().await;
        tx.send(41).expect("the stream is waiting");
        assert_eq!(done_rx.await.expect("the stream finished"), 42);
    }

    #[test]
    fn a_panicking_stream_is_dropped_and_the_caller_goes_on() {
        let dropped = Arc::new(AtomicBool::new(false));
        struct Flag(Arc<AtomicBool>);
        impl Drop for Flag {
            fn drop(&mut self) {
                self.0.store(true, Ordering::SeqCst);
            }
        }
        let flag = Flag(dropped.clone());
        StreamExecutor.execute(async move {
            let _flag = flag;
            panic!("hyper's stream machinery failed");
        });
        assert!(dropped.load(Ordering::SeqCst));
    }
}
