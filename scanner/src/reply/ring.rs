//! Reads [`ReplyRecord`]s from the XDP program's ring buffer, woken by epoll (no polling).

use std::io;

use aya::maps::{MapData, RingBuf};
use scanner_common::{FrameCopy, ReplyRecord};
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

    /// Waits until records are available, then hands every available one to `on_record`
    /// (and every frame copy, when capture is on, to `on_frame`).
    pub async fn next_batch(
        &mut self,
        on_record: impl FnMut(ReplyRecord),
        on_frame: impl FnMut(&FrameCopy),
    ) -> io::Result<usize> {
        let mut guard = self.ring.readable_mut().await?;
        let count = drain(guard.get_inner_mut(), on_record, on_frame);
        guard.clear_ready();
        Ok(count)
    }

    /// Hands every record and frame copy available now over, without waiting.
    pub fn drain_now(
        &mut self,
        on_record: impl FnMut(ReplyRecord),
        on_frame: impl FnMut(&FrameCopy),
    ) -> usize {
        drain(self.ring.get_mut(), on_record, on_frame)
    }
}

/// Entries are told apart by size: a [`ReplyRecord`] or a [`FrameCopy`].
fn drain(
    ring: &mut RingBuf<MapData>,
    mut on_record: impl FnMut(ReplyRecord),
    mut on_frame: impl FnMut(&FrameCopy),
) -> usize {
    let mut count = 0;
    while let Some(item) = ring.next() {
        if item.len() == size_of::<FrameCopy>() {
            let copy: FrameCopy = bytemuck::pod_read_unaligned(&item);
            on_frame(&copy);
        } else if let Some(bytes) = item.get(..size_of::<ReplyRecord>()) {
            on_record(bytemuck::pod_read_unaligned(bytes));
            count += 1;
        }
    }
    count
}
