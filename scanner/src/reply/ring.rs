//! Reads [`ReplyRecord`]s from the XDP program's ring buffer, woken by epoll (no polling).

use std::io;

use aya::maps::{MapData, RingBuf};
use scanner_common::{FrameCopy, OsReplyCopy, ReplyRecord, RingEntry};
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

/// Entries are told apart by their first byte, a [`RingEntry`]; one too short for its tag
/// (which the XDP program never writes) is skipped.
fn drain(ring: &mut RingBuf<MapData>, sink: &mut impl ReplySink) -> usize {
    let mut count = 0;
    while let Some(item) = ring.next() {
        count += usize::from(dispatch(&item, sink));
    }
    count
}

/// Hands one entry to `sink`; returns whether it was a reply.
fn dispatch(item: &[u8], sink: &mut impl ReplySink) -> bool {
    match item.first().copied().and_then(RingEntry::from_u8) {
        Some(RingEntry::Reply) => item.get(..size_of::<ReplyRecord>()).is_some_and(|bytes| {
            sink.record(bytemuck::pod_read_unaligned(bytes));
            true
        }),
        Some(RingEntry::Frame) => {
            if let Some(bytes) = item.get(..size_of::<FrameCopy>()) {
                sink.frame(&bytemuck::pod_read_unaligned(bytes));
            }
            false
        }
        Some(RingEntry::OsReply) => item.get(..size_of::<OsReplyCopy>()).is_some_and(|bytes| {
            sink.os_reply(&bytemuck::pod_read_unaligned(bytes));
            true
        }),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Default)]
    struct Seen {
        records: Vec<ReplyRecord>,
        frames: usize,
        os_replies: usize,
    }

    impl ReplySink for Seen {
        fn record(&mut self, record: ReplyRecord) {
            self.records.push(record);
        }
        fn frame(&mut self, _copy: &FrameCopy) {
            self.frames += 1;
        }
        fn os_reply(&mut self, _copy: &OsReplyCopy) {
            self.os_replies += 1;
        }
    }

    #[test]
    fn entries_are_read_by_their_tag_and_untagged_or_short_ones_are_skipped() {
        let record = ReplyRecord {
            port: 443,
            ..ReplyRecord::default()
        };
        let mut frame: FrameCopy = bytemuck::Zeroable::zeroed();
        frame.entry = RingEntry::Frame as u8;
        let mut os: OsReplyCopy = bytemuck::Zeroable::zeroed();
        os.entry = RingEntry::OsReply as u8;
        let mut seen = Seen::default();
        assert!(dispatch(bytemuck::bytes_of(&record), &mut seen));
        assert!(!dispatch(bytemuck::bytes_of(&frame), &mut seen));
        assert!(dispatch(bytemuck::bytes_of(&os), &mut seen));
        // An OS copy's size with a reply's tag is still a reply, read from its head.
        let mut tagged_reply = os;
        tagged_reply.entry = RingEntry::Reply as u8;
        assert!(dispatch(bytemuck::bytes_of(&tagged_reply), &mut seen));
        for bad in [&[][..], &[0u8; 32][..], &[9u8; 32][..], &[1u8; 8][..]] {
            assert!(!dispatch(bad, &mut seen), "{bad:?}");
        }
        assert_eq!(seen.records.len(), 2);
        assert_eq!(seen.records[0], record);
        assert_eq!((seen.frames, seen.os_replies), (1, 1));
    }
}
