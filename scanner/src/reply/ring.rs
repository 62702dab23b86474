//! Reads [`ReplyRecord`]s from the XDP program's ring buffer, woken by epoll (no polling).

use std::io;

use aya::maps::{MapData, RingBuf};
use scanner_common::{FrameCopy, OsReplyCopy, ReplyRecord};
use tokio::io::{Interest, unix::AsyncFd};

pub struct ReplyRing {
    ring: AsyncFd<RingBuf<MapData>>,
}

impl ReplyRing {
    pub fn new(ring: RingBuf<MapData>) -> io::Result<Self> {
        // SAFETY: the ring buffer owns its map fd, which stays open and unchanged until the
        // ring (and with it this AsyncFd) is dropped.
        let ring = unsafe { AsyncFd::register_with_interest(ring, Interest::READABLE) }
            .map_err(io::Error::from)?;
        Ok(Self { ring })
    }

    /// Waits until records are available, then hands every available one to `sink`.
    pub async fn next_batch(&mut self, sink: &mut impl ReplySink) -> io::Result<usize> {
        let mut guard = self.ring.readable_mut().await?;
        let count = drain(guard.get_inner_mut(), sink);
        guard.clear_ready();
        Ok(count)
    }

    /// Hands every record and frame copy available now to `sink`, without waiting.
    pub fn drain_now(&mut self, sink: &mut impl ReplySink) -> usize {
        drain(self.ring.get_mut(), sink)
    }
}

/// Where the ring's entries go.
pub trait ReplySink {
    /// A validated reply.
    fn record(&mut self, record: ReplyRecord);
    /// A frame copied for capture (only when capture is on).
    fn frame(&mut self, copy: &FrameCopy);
    /// A reply to an OS-detection probe (only in the OS detection stage).
    fn os_reply(&mut self, _copy: &OsReplyCopy) {}
}

/// Entries are told apart by size: a [`ReplyRecord`], a [`FrameCopy`] or an [`OsReplyCopy`].
fn drain(ring: &mut RingBuf<MapData>, sink: &mut impl ReplySink) -> usize {
    let mut count = 0;
    while let Some(item) = ring.next() {
        if item.len() == size_of::<FrameCopy>() {
            let copy: FrameCopy = bytemuck::pod_read_unaligned(&item);
            sink.frame(&copy);
        } else if item.len() == size_of::<OsReplyCopy>() {
            let copy: OsReplyCopy = bytemuck::pod_read_unaligned(&item);
            sink.os_reply(&copy);
            count += 1;
        } else if let Some(bytes) = item.get(..size_of::<ReplyRecord>()) {
            sink.record(bytemuck::pod_read_unaligned(bytes));
            count += 1;
        }
    }
    count
}
