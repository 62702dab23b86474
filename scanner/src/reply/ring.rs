//! Reads [`ReplyRecord`]s from the XDP program's ring buffer, woken by epoll (no polling).

use std::io;

use aya::maps::{MapData, RingBuf};
use scanner_common::ReplyRecord;
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

    /// Waits until records are available, then hands every available one to `on_record`.
    pub async fn next_batch(&mut self, on_record: impl FnMut(ReplyRecord)) -> io::Result<usize> {
        let mut guard = self.ring.readable_mut().await?;
        let count = drain(guard.get_inner_mut(), on_record);
        guard.clear_ready();
        Ok(count)
    }

    /// Hands every record available now to `on_record`, without waiting.
    pub fn drain_now(&mut self, on_record: impl FnMut(ReplyRecord)) -> usize {
        drain(self.ring.get_mut(), on_record)
    }
}

fn drain(ring: &mut RingBuf<MapData>, mut on_record: impl FnMut(ReplyRecord)) -> usize {
    let mut count = 0;
    while let Some(item) = ring.next() {
        // The kernel side only ever submits whole records; anything shorter is skipped.
        if let Some(bytes) = item.get(..size_of::<ReplyRecord>()) {
            on_record(bytemuck::pod_read_unaligned(bytes));
            count += 1;
        }
    }
    count
}
