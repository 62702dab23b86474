//! AF_PACKET transmission with `sendmmsg`: a fixed set of frame slots, each filled with the
//! probe template once, patched in place and sent a batch per system call.

use std::{
    io,
    os::fd::{AsRawFd, FromRawFd, OwnedFd},
    ptr,
    time::{Duration, Instant},
};

/// Largest frame a slot holds (any probe of ours fits in a standard Ethernet frame).
pub const SLOT_BYTES: usize = 1536;
/// Frames per `sendmmsg`: enough to amortise the system call, small enough to pace smoothly.
pub const MAX_BATCH: usize = 64;

pub struct PacketSender {
    fd: OwnedFd,
    slots: Box<[[u8; SLOT_BYTES]]>,
    /// The template's length: every frame's longest.
    capacity: usize,
    /// Each slot's frame, by its length.
    iovecs: Box<[libc::iovec]>,
    headers: Box<[libc::mmsghdr]>,
}

// SAFETY: the raw pointers in `iovecs` and `headers` point into the boxed slices owned by the
// same value (heap memory that never moves), so moving the sender to another thread is sound.
unsafe impl Send for PacketSender {}

impl PacketSender {
    /// Opens a send-only packet socket on `ifindex`, with every slot holding `template`.
    pub fn open(ifindex: u32, template: &[u8]) -> io::Result<Self> {
        if template.len() > SLOT_BYTES {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "frame too large",
            ));
        }
        // Protocol 0: the socket receives nothing, so replies are never copied to us here.
        let raw = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        let mut addr: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        addr.sll_family = libc::AF_PACKET as u16;
        addr.sll_ifindex = ifindex as i32;
        let rc = unsafe {
            libc::bind(
                fd.as_raw_fd(),
                ptr::from_ref(&addr).cast(),
                size_of::<libc::sockaddr_ll>() as u32,
            )
        };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        // Skip the qdisc layer (where there is one): our pacing is the only queue we want.
        set_option(&fd, libc::SOL_PACKET, libc::PACKET_QDISC_BYPASS, 1)?;
        set_option(&fd, libc::SOL_SOCKET, libc::SO_SNDBUF, 4 << 20)?;

        let mut slots = vec![[0u8; SLOT_BYTES]; MAX_BATCH].into_boxed_slice();
        for slot in slots.iter_mut() {
            slot[..template.len()].copy_from_slice(template);
        }
        let mut iovecs: Box<[libc::iovec]> = slots
            .iter_mut()
            .map(|slot| libc::iovec {
                iov_base: slot.as_mut_ptr().cast(),
                iov_len: template.len(),
            })
            .collect();
        let headers = iovecs
            .iter_mut()
            .map(|iov| {
                let mut header: libc::mmsghdr = unsafe { std::mem::zeroed() };
                header.msg_hdr.msg_iov = iov;
                header.msg_hdr.msg_iovlen = 1;
                header
            })
            .collect();
        Ok(Self {
            fd,
            slots,
            capacity: template.len(),
            iovecs,
            headers,
        })
    }

    /// Slot `index` (< [`MAX_BATCH`]), template length.
    #[inline]
    pub fn slot(&mut self, index: usize) -> &mut [u8] {
        &mut self.slots[index][..self.capacity]
    }

    /// Sends the first `len` bytes of slot `index` (at most the template's length).
    #[inline]
    pub fn set_len(&mut self, index: usize, len: usize) {
        self.iovecs[index].iov_len = len.min(self.capacity);
    }

    /// The frame slot `index` sends.
    #[inline]
    pub fn frame(&self, index: usize) -> &[u8] {
        &self.slots[index][..self.iovecs[index].iov_len]
    }

    /// Transmits slots `0..count`, retrying until the kernel took all of them.
    pub fn send(&mut self, count: usize) -> io::Result<()> {
        let count = count.min(MAX_BATCH);
        let mut sent = 0;
        while sent < count {
            let rc = unsafe {
                libc::sendmmsg(
                    self.fd.as_raw_fd(),
                    self.headers[sent..].as_mut_ptr(),
                    (count - sent) as u32,
                    0,
                )
            };
            if rc < 0 {
                let err = io::Error::last_os_error();
                match err.raw_os_error() {
                    // The device queue is full: let it drain, then go on.
                    Some(libc::ENOBUFS | libc::EAGAIN | libc::EINTR) => std::thread::yield_now(),
                    _ => return Err(err),
                }
            } else {
                sent += rc as usize;
            }
        }
        Ok(())
    }
}

impl super::FrameSender for PacketSender {
    #[inline]
    fn slot(&mut self, index: usize) -> &mut [u8] {
        PacketSender::slot(self, index)
    }

    #[inline]
    fn set_len(&mut self, index: usize, len: usize) {
        PacketSender::set_len(self, index, len);
    }

    #[inline]
    fn frame(&self, index: usize) -> &[u8] {
        PacketSender::frame(self, index)
    }

    #[inline]
    fn send(&mut self, count: usize) -> io::Result<()> {
        PacketSender::send(self, count)
    }

    /// `sendmmsg` returns once the driver has every frame (no qdisc: PACKET_QDISC_BYPASS); this
    /// waits until the kernel has freed them too (nothing left in the socket's send queue,
    /// SIOCOUTQ), so a veth peer has processed them.
    fn flush(&mut self) -> io::Result<()> {
        let deadline = Instant::now() + FLUSH_TIMEOUT;
        loop {
            let mut queued: libc::c_int = 0;
            // SIOCOUTQ is TIOCOUTQ on Linux. SAFETY: it writes one int to the pointer, which is valid for the call.
            let rc = unsafe { libc::ioctl(self.fd.as_raw_fd(), libc::TIOCOUTQ, &raw mut queued) };
            if rc < 0 {
                return Err(io::Error::last_os_error());
            }
            if queued == 0 {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("AF_PACKET: {queued} bytes still queued after {FLUSH_TIMEOUT:?}"),
                ));
            }
            std::thread::sleep(Duration::from_micros(50));
        }
    }

    fn max_batch(&self) -> usize {
        MAX_BATCH
    }
}

/// How long [`flush`](super::FrameSender::flush) waits for the kernel to free sent frames.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(5);

fn set_option(fd: &OwnedFd, level: i32, name: i32, value: i32) -> io::Result<()> {
    let rc = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            name,
            ptr::from_ref(&value).cast(),
            size_of::<i32>() as u32,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
