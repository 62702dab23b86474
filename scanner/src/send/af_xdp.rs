//! AF_XDP transmission: a UMEM of page-sized frames, each filled with the probe template once,
//! handed to the kernel by descriptor through the TX ring and returned through the completion
//! ring. Patching a recycled frame rewrites only the per-probe fields, as with AF_PACKET, and
//! nothing is copied, allocated or asked of the kernel per packet: a batch is one producer update
//! and one `sendto` kick (repeated only when the kernel stopped early; none in zero-copy mode
//! while the driver is polling).
//!
//! ```text
//!  UMEM  [ TX frames: slots + free stack + in flight ........ ][ fill frames (stocked once) ]
//!  slots ──patch──> TX ring ──kernel──> completion ring ──reap──> free stack ──> slots
//! ```
//!
//! The socket binds zero-copy where the driver offers it and falls back to copy mode (the
//! kernel builds an skb per frame; veth offers only this). In copy mode the kernel transmits
//! synchronously inside the kick, up to its per-call budget (raised to the ring size where the
//! kernel has `XDP_MAX_TX_SKB_BUDGET`, 6.17+; 32 before), so every batch is kicked and the kick
//! repeated while descriptors remain. `XDP_USE_NEED_WAKEUP` is requested for zero-copy mode,
//! where it saves the kick while the driver is polling anyway.

use std::{
    fmt, io,
    os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd},
    ptr::{self, NonNull},
    sync::atomic::{AtomicU32, Ordering, fence},
    thread,
    time::{Duration, Instant},
};

/// Bytes per UMEM frame: one page, so every frame is page-aligned and never straddles pages.
pub const FRAME_SIZE: usize = 4096;
/// `XDP_MAX_TX_SKB_BUDGET` (linux/if_xdp.h, Linux 6.17): frames one copy-mode kick may send.
const XDP_MAX_TX_SKB_BUDGET: libc::c_int = 9;
/// A sender that sees no progress at all for this long reports an error instead of spinning.
const STALL: Duration = Duration::from_secs(5);
/// After the driver dropped a frame for a full queue, time for its peer to drain (a veth
/// peer's NAPI empties its 256-frame XDP ring in well under this).
const DROP_BACKOFF: Duration = Duration::from_micros(50);
/// How long [`XdpSender::open_with`] retries binding a queue the kernel reports busy.
pub const BUSY_RETRY: Duration = Duration::from_secs(1);

/// Sizes of an AF_XDP sender.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct XdpConfig {
    /// Slots per batch: frames submitted with one producer update and at most one kick.
    pub max_batch: usize,
    /// Entries of the TX ring and of the completion ring (a power of two, at least `max_batch`).
    pub ring_entries: u32,
    /// UMEM frames for transmission (at least twice `max_batch`): slots, free and in flight.
    pub tx_frames: u32,
    /// Frames stocked once in the fill ring (a power of two). A zero-copy driver takes the
    /// receive buffers of the bound queue from the UMEM, so without them reception on that
    /// queue (replies for the XDP program) could starve; copy mode never touches them.
    pub fill_frames: u32,
}

impl Default for XdpConfig {
    /// Batches of 256 in a 2048-entry ring, 4096 TX frames, 1024 fill frames: 20 MiB of UMEM.
    fn default() -> Self {
        XdpConfig {
            max_batch: 256,
            ring_entries: 2048,
            tx_frames: 4096,
            fill_frames: 1024,
        }
    }
}

impl XdpConfig {
    /// Bytes of UMEM these sizes take.
    pub fn umem_bytes(&self) -> u64 {
        (u64::from(self.tx_frames) + u64::from(self.fill_frames)) * FRAME_SIZE as u64
    }

    /// Half the frames (and ring entries, down to a batch), or `None` when that would not
    /// hold two batches.
    fn halved(self) -> Option<Self> {
        let smaller = XdpConfig {
            ring_entries: (self.ring_entries / 2).max(self.max_batch.next_power_of_two() as u32),
            tx_frames: self.tx_frames / 2,
            fill_frames: (self.fill_frames / 2).max(1),
            ..self
        };
        smaller.validate().ok().map(|()| smaller)
    }

    fn validate(&self) -> io::Result<()> {
        let ok = self.max_batch > 0
            && self.ring_entries.is_power_of_two()
            && self.ring_entries as usize >= self.max_batch
            && self.tx_frames as usize >= 2 * self.max_batch
            && self.fill_frames.is_power_of_two()
            // At most 4 GiB of UMEM: frame offsets and counts stay far from overflowing.
            && (u64::from(self.tx_frames) + u64::from(self.fill_frames)) * FRAME_SIZE as u64
                <= 1 << 32;
        if ok {
            Ok(())
        } else {
            Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("AF_XDP: inconsistent sizes {self:?}"),
            ))
        }
    }
}

/// How the kernel bound the socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum XdpMode {
    /// The driver reads frames from the UMEM itself.
    ZeroCopy,
    /// The kernel copies each frame into an skb (generic path; all veth offers).
    Copy,
}

impl fmt::Display for XdpMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            XdpMode::ZeroCopy => "zero-copy",
            XdpMode::Copy => "copy",
        })
    }
}

/// An AF_XDP socket bound to one queue of one interface, sending pre-filled UMEM frames.
pub struct XdpSender {
    // Dropped in declaration order: the ring mappings, then the socket, then the UMEM (which
    // the kernel keeps pinned for as long as it still needs it).
    tx: Ring<libc::xdp_desc>,
    completion: Ring<u64>,
    fd: OwnedFd,
    umem: Mapping,
    /// The UMEM offset of the frame behind each slot.
    slots: Box<[u64]>,
    /// Frames neither in a slot nor in the kernel's hands.
    free: FrameStack,
    /// Frames in the TX ring or in the kernel, not yet returned by the completion ring.
    outstanding: u32,
    /// Frames the driver dropped (copy mode, NET_XMIT_DROP): completed, never sent.
    dropped: u64,
    /// Bytes of UMEM holding TX frames: every frame offset is below this.
    tx_area: u64,
    /// The template's length: every frame's longest.
    frame_len: u32,
    /// The length of each slot's frame.
    lens: Box<[u32]>,
    mode: XdpMode,
    queue: u32,
    ifname: String,
}

// SAFETY: the raw pointers point into mappings owned by this value (they move with it and live
// as long as it does), and an AF_XDP socket may be used from any thread. The value is used by
// one thread at a time (`&mut self`).
unsafe impl Send for XdpSender {}

impl XdpSender {
    /// Opens an AF_XDP socket on device queue `queue` of interface `ifindex` (in the calling
    /// thread's network namespace), with every TX frame holding `template`.
    pub fn open(ifindex: u32, queue: u32, template: &[u8]) -> io::Result<Self> {
        Self::open_with(ifindex, queue, template, XdpConfig::default())
    }

    /// Like [`open`](Self::open), with other sizes.
    ///
    /// A queue stays taken for a moment after its previous socket was closed (the kernel
    /// releases the buffer pool from a workqueue: 10-20 ms measured here), so a bind that finds
    /// the queue busy is retried for up to [`BUSY_RETRY`] before the error is returned.
    pub fn open_with(
        ifindex: u32,
        queue: u32,
        template: &[u8],
        config: XdpConfig,
    ) -> io::Result<Self> {
        let started = Instant::now();
        let mut config = config;
        loop {
            match Self::try_open(ifindex, queue, template, config) {
                Err(err)
                    if err.kind() == io::ErrorKind::ResourceBusy
                        && started.elapsed() < BUSY_RETRY =>
                {
                    thread::sleep(Duration::from_millis(5));
                }
                // Over the locked-memory limit: fewer buffers, while a batch still fits.
                Err(err) if err.kind() == io::ErrorKind::OutOfMemory => match config.halved() {
                    Some(smaller) => config = smaller,
                    None => return Err(err),
                },
                result => return result,
            }
        }
    }

    /// Bytes of packet buffers for transmission: fewer than asked when the locked-memory
    /// limit allowed no more.
    pub fn tx_buffer_bytes(&self) -> u64 {
        self.tx_area
    }

    fn try_open(ifindex: u32, queue: u32, template: &[u8], config: XdpConfig) -> io::Result<Self> {
        config.validate()?;
        if template.is_empty() || template.len() > FRAME_SIZE {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("AF_XDP: a frame of {} bytes", template.len()),
            ));
        }
        let ifname = super::interface_name(ifindex).map_err(|err| {
            io::Error::new(err.kind(), format!("AF_XDP: no interface {ifindex}: {err}"))
        })?;
        let fail = |what: &str, err: io::Error| {
            io::Error::new(
                err.kind(),
                format!("AF_XDP on {ifname} queue {queue}: {what}: {err}"),
            )
        };
        // Binding a queue the device does not have fails (EINVAL), or, when it has as many RX
        // queues but fewer TX queues, succeeds and then silently sends nothing: check first.
        let tx_queues = super::channels(&ifname).map(|(tx, _)| tx);
        if let Some(count) = tx_queues
            && queue >= count
        {
            return Err(no_such_queue(&ifname, queue, count));
        }

        // SAFETY: plain syscall; the result is checked and owned right away.
        let raw = unsafe { libc::socket(libc::AF_XDP, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) };
        if raw < 0 {
            return Err(fail("socket", io::Error::last_os_error()));
        }
        // SAFETY: a fresh fd nobody else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };

        let tx_frames = config.tx_frames as usize;
        let frames = tx_frames + config.fill_frames as usize;
        let mut umem = Mapping::anonymous(frames * FRAME_SIZE).map_err(|e| fail("UMEM", e))?;
        for frame in 0..tx_frames {
            let at = frame * FRAME_SIZE;
            umem.bytes_mut()[at..at + template.len()].copy_from_slice(template);
        }
        let reg = libc::xdp_umem_reg {
            addr: umem.ptr.as_ptr() as u64,
            len: umem.len as u64,
            chunk_size: FRAME_SIZE as u32,
            headroom: 0,
            flags: 0,
            tx_metadata_len: 0,
        };
        let locked = memlock::make_room(umem.len as u64);
        set_xdp_option(&fd, libc::XDP_UMEM_REG, &reg).map_err(|err| match err.raw_os_error() {
            // Our own kind for it: open_with retries with fewer buffers.
            Some(libc::ENOBUFS) => fail(
                "UMEM_REG",
                io::Error::new(
                    io::ErrorKind::OutOfMemory,
                    memlock::explain(&err, umem.len as u64, locked),
                ),
            ),
            _ => fail("UMEM_REG", err),
        })?;
        set_xdp_option(&fd, libc::XDP_UMEM_FILL_RING, &config.fill_frames)
            .map_err(|e| fail("fill ring", e))?;
        set_xdp_option(&fd, libc::XDP_UMEM_COMPLETION_RING, &config.ring_entries)
            .map_err(|e| fail("completion ring", e))?;
        set_xdp_option(&fd, libc::XDP_TX_RING, &config.ring_entries)
            .map_err(|e| fail("TX ring", e))?;
        // One kick may send the whole ring (copy mode); older kernels stop at 32 per kick.
        match set_xdp_option(&fd, XDP_MAX_TX_SKB_BUDGET, &config.ring_entries) {
            Err(err) if err.raw_os_error() != Some(libc::ENOPROTOOPT) => {
                return Err(fail("TX budget", err));
            }
            _ => {}
        }
        // Copy mode charges each skb to the socket until it is freed: room for many batches.
        for option in [libc::SO_SNDBUFFORCE, libc::SO_SNDBUF] {
            if set_option(&fd, libc::SOL_SOCKET, option, &(16i32 << 20)).is_ok() {
                break;
            }
        }

        let offsets = mmap_offsets(&fd).map_err(|e| fail("mmap offsets", e))?;
        let tx = Ring::map(
            &fd,
            &offsets.tx,
            config.ring_entries,
            libc::XDP_PGOFF_TX_RING,
        )
        .map_err(|e| fail("mapping the TX ring", e))?;
        let completion = Ring::map(
            &fd,
            &offsets.cr,
            config.ring_entries,
            libc::XDP_UMEM_PGOFF_COMPLETION_RING as libc::off_t,
        )
        .map_err(|e| fail("mapping the completion ring", e))?;
        {
            let mut fill: Ring<u64> = Ring::map(
                &fd,
                &offsets.fr,
                config.fill_frames,
                libc::XDP_UMEM_PGOFF_FILL_RING as libc::off_t,
            )
            .map_err(|e| fail("mapping the fill ring", e))?;
            for i in 0..config.fill_frames {
                fill.write(i, ((tx_frames + i as usize) * FRAME_SIZE) as u64);
            }
            fill.submit(config.fill_frames);
            // The kernel keeps the ring; we never touch it again.
        }

        // No mode flag: the kernel binds zero-copy where the driver can, copy mode otherwise.
        let addr = libc::sockaddr_xdp {
            sxdp_family: libc::AF_XDP as u16,
            sxdp_flags: libc::XDP_USE_NEED_WAKEUP,
            sxdp_ifindex: ifindex,
            sxdp_queue_id: queue,
            sxdp_shared_umem_fd: 0,
        };
        // SAFETY: a valid sockaddr_xdp of the length given.
        let rc = unsafe {
            libc::bind(
                fd.as_raw_fd(),
                ptr::from_ref(&addr).cast(),
                size_of::<libc::sockaddr_xdp>() as libc::socklen_t,
            )
        };
        if rc < 0 {
            let err = io::Error::last_os_error();
            return Err(match err.raw_os_error() {
                Some(libc::EINVAL) => {
                    let known = match tx_queues {
                        Some(count) => format!("it reports {count} TX queue(s)"),
                        None => "its driver does not report how many".to_owned(),
                    };
                    fail(
                        "bind",
                        io::Error::new(
                            err.kind(),
                            format!("{err} (does {ifname} have a queue {queue}? {known})"),
                        ),
                    )
                }
                Some(libc::EBUSY) => fail(
                    "bind",
                    io::Error::new(
                        err.kind(),
                        format!("{err}: another AF_XDP socket is bound to this queue"),
                    ),
                ),
                _ => fail("bind", err),
            });
        }
        let mode = if xdp_options(&fd).map_err(|e| fail("XDP_OPTIONS", e))?
            & libc::XDP_OPTIONS_ZEROCOPY
            != 0
        {
            XdpMode::ZeroCopy
        } else {
            XdpMode::Copy
        };
        if mode == XdpMode::ZeroCopy {
            // Wakes the driver for the stocked fill ring (and the TX ring); nothing to wait for.
            let mut poll = libc::pollfd {
                fd: fd.as_raw_fd(),
                events: libc::POLLIN | libc::POLLOUT,
                revents: 0,
            };
            // SAFETY: one valid pollfd, no timeout.
            unsafe { libc::poll(&raw mut poll, 1, 0) };
        }

        let mut free = FrameStack::new(tx_frames);
        for frame in (0..tx_frames).rev() {
            free.push((frame * FRAME_SIZE) as u64);
        }
        let slots = (0..config.max_batch)
            .map(|_| free.pop().expect("tx_frames >= 2 * max_batch"))
            .collect();
        Ok(XdpSender {
            tx,
            completion,
            fd,
            umem,
            slots,
            free,
            outstanding: 0,
            dropped: 0,
            tx_area: (tx_frames * FRAME_SIZE) as u64,
            frame_len: template.len() as u32,
            lens: vec![template.len() as u32; config.max_batch].into_boxed_slice(),
            mode,
            queue,
            ifname,
        })
    }

    /// Zero-copy or copy mode, as the kernel bound the socket.
    pub fn mode(&self) -> XdpMode {
        self.mode
    }

    /// The device queue the socket is bound to.
    pub fn queue(&self) -> u32 {
        self.queue
    }

    /// Slots per batch.
    pub fn max_batch(&self) -> usize {
        self.slots.len()
    }

    /// Frames handed to the kernel and not yet returned by the completion ring.
    pub fn outstanding(&self) -> u32 {
        self.outstanding
    }

    /// Frames the driver refused in copy mode (NET_XMIT_DROP, e.g. a veth whose peer is down or
    /// whose peer's backlog is full): the kernel returns them through the completion ring
    /// without sending them, and cannot say which they were, so only a retry pass recovers
    /// their probes. (AF_PACKET resends such a frame itself: `sendmmsg` fails on it.)
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Sends the first `len` bytes of slot `index` (at most the template's length).
    #[inline]
    pub fn set_len(&mut self, index: usize, len: usize) {
        self.lens[index] = (len as u32).min(self.frame_len);
    }

    /// The frame slot `index` sends.
    #[inline]
    pub fn frame(&self, index: usize) -> &[u8] {
        let frame = self.slots[index] as usize;
        // SAFETY: as in `slot`; shared access through `&self`.
        unsafe {
            std::slice::from_raw_parts(self.umem.ptr.as_ptr().add(frame), self.lens[index] as usize)
        }
    }

    /// Slot `index` (< [`max_batch`](Self::max_batch)), template length.
    #[inline]
    pub fn slot(&mut self, index: usize) -> &mut [u8] {
        let frame = self.slots[index] as usize;
        // SAFETY: `frame` is the offset of a TX frame (set at open, or checked against
        // `tx_area` when the completion ring returned it), so the range lies inside the UMEM
        // mapping. A frame in a slot is not in the kernel's hands (only frames between TX
        // submission and completion are), and `&mut self` makes this the only reference.
        unsafe {
            std::slice::from_raw_parts_mut(
                self.umem.ptr.as_ptr().add(frame),
                self.frame_len as usize,
            )
        }
    }

    /// Hands slots `0..count` (capped at [`max_batch`](Self::max_batch)) to the kernel with
    /// one producer update, kicks it when it asks for a kick, and gives those slots fresh
    /// frames from the completion ring. Copy mode: returns once the kernel has taken them all.
    pub fn send(&mut self, count: usize) -> io::Result<()> {
        let count = count.min(self.slots.len());
        if count == 0 {
            return Ok(());
        }
        let n = count as u32;
        self.reap();
        if self.tx.free(n) < n {
            self.wait_until("room in the TX ring", |s| s.tx.free(n) >= n)?;
        }
        for (i, (&addr, &len)) in self.slots[..count]
            .iter()
            .zip(&self.lens[..count])
            .enumerate()
        {
            self.tx.write(
                i as u32,
                libc::xdp_desc {
                    addr,
                    len,
                    options: 0,
                },
            );
        }
        self.tx.submit(n);
        self.outstanding += n;
        if self.kick()? {
            // Copy mode stopped early (budget, full completion ring, skb memory, busy device).
            self.wait_until("the kernel to take the batch", |s| s.tx.unconsumed() == 0)?;
        }
        for i in 0..count {
            self.slots[i] = match self.free.pop() {
                Some(frame) => frame,
                None => self.wait_for_frame()?,
            };
        }
        Ok(())
    }

    /// Waits until the completion ring has returned every frame handed over.
    pub fn flush(&mut self) -> io::Result<()> {
        self.reap();
        if self.outstanding == 0 {
            return Ok(());
        }
        self.wait_until("the completion ring to return every frame", |s| {
            s.outstanding == 0
        })
    }

    /// Moves completed frames to the free stack.
    #[inline]
    fn reap(&mut self) {
        let tx_area = self.tx_area;
        let free = &mut self.free;
        let reaped = self.completion.consume(|frame| {
            // The kernel returns the offsets we submitted; anything else would break `slot`.
            assert!(
                frame < tx_area && frame.is_multiple_of(FRAME_SIZE as u64),
                "AF_XDP: the completion ring returned a frame we never sent ({frame:#x})"
            );
            free.push(frame);
        });
        self.outstanding -= reaped;
    }

    /// Tells the kernel about new descriptors if it wants to be told. Returns whether the kernel
    /// left some in the TX ring (copy mode stops at its budget, on a full completion ring, out
    /// of skb memory, when the driver is busy (EAGAIN: the frame stays in the ring), or when
    /// it dropped a frame (EBUSY: counted in [`dropped`](Self::dropped))).
    fn kick(&mut self) -> io::Result<bool> {
        // Copy mode sends only inside this call: always kick. Zero-copy: only when the driver
        // asks (XDP_USE_NEED_WAKEUP); the fence orders our producer store before the flag load,
        // pairing with the driver's barrier between setting the flag and checking the ring
        // once more, so one of us sees the other.
        if self.mode == XdpMode::ZeroCopy {
            fence(Ordering::SeqCst);
            if !self.tx.needs_wakeup() {
                return Ok(false);
            }
        }
        // SAFETY: a zero-length send without address on our own socket.
        let rc = unsafe {
            libc::sendto(
                self.fd.as_raw_fd(),
                ptr::null(),
                0,
                libc::MSG_DONTWAIT,
                ptr::null(),
                0,
            )
        };
        if rc >= 0 {
            return Ok(false);
        }
        let err = io::Error::last_os_error();
        match err.raw_os_error() {
            Some(libc::EBUSY) if self.mode == XdpMode::Copy => {
                // __xsk_generic_xmit stops at the first frame the driver drops: a veth whose
                // peer's XDP ring is full, before Linux 6.16 taught veth to stop its queue (and
                // the kernel to leave the frame in the ring) instead. Pace to what the peer
                // takes: give it time to drain before the next frame.
                self.dropped += 1;
                thread::sleep(DROP_BACKOFF);
                Ok(true)
            }
            Some(libc::EAGAIN | libc::EBUSY | libc::ENOBUFS | libc::EINTR) => Ok(true),
            _ => Err(io::Error::new(
                err.kind(),
                format!(
                    "AF_XDP on {} queue {}: sendto: {err}",
                    self.ifname, self.queue
                ),
            )),
        }
    }

    /// A free frame, once the completion ring returns one.
    #[cold]
    fn wait_for_frame(&mut self) -> io::Result<u64> {
        self.wait_until("a frame from the completion ring", |s| s.free.len > 0)?;
        Ok(self.free.pop().expect("checked above"))
    }

    /// Kicks (when descriptors wait or the driver needs it) and reaps until `ready`; fails after
    /// [`STALL`] without any progress of either ring.
    #[cold]
    fn wait_until(
        &mut self,
        what: &str,
        mut ready: impl FnMut(&mut Self) -> bool,
    ) -> io::Result<()> {
        let mut spins = 0u32;
        let mut last = (self.tx.consumer(), self.completion.producer());
        let mut since = None;
        loop {
            if self.mode == XdpMode::ZeroCopy || self.tx.unconsumed() > 0 {
                self.kick()?;
            }
            self.reap();
            if ready(self) {
                return Ok(());
            }
            let now = (self.tx.consumer(), self.completion.producer());
            if now != last {
                last = now;
                spins = 0;
                since = None;
                continue;
            }
            spins += 1;
            if spins < 64 {
                std::hint::spin_loop();
                continue;
            }
            let started = *since.get_or_insert_with(Instant::now);
            if started.elapsed() > STALL {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!(
                        "AF_XDP on {} queue {}: no progress for {STALL:?} waiting for {what} \
                         ({} frames outstanding, {} descriptors not taken)",
                        self.ifname,
                        self.queue,
                        self.outstanding,
                        self.tx.unconsumed()
                    ),
                ));
            }
            if spins < 1024 {
                thread::yield_now();
            } else {
                thread::sleep(Duration::from_micros(20));
            }
        }
    }
}

impl super::FrameSender for XdpSender {
    #[inline]
    fn slot(&mut self, index: usize) -> &mut [u8] {
        XdpSender::slot(self, index)
    }

    #[inline]
    fn set_len(&mut self, index: usize, len: usize) {
        XdpSender::set_len(self, index, len);
    }

    #[inline]
    fn frame(&self, index: usize) -> &[u8] {
        XdpSender::frame(self, index)
    }

    #[inline]
    fn send(&mut self, count: usize) -> io::Result<()> {
        XdpSender::send(self, count)
    }

    fn flush(&mut self) -> io::Result<()> {
        XdpSender::flush(self)
    }

    fn max_batch(&self) -> usize {
        self.slots.len()
    }
}

fn no_such_queue(ifname: &str, queue: u32, count: u32) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!(
            "AF_XDP: {ifname} has {count} TX queue(s), so there is no queue {queue} to bind \
             (use queues 0..{count}; a veth gets more with `numtxqueues N numrxqueues N` when \
             created)"
        ),
    )
}

/// The free frames: a stack (the most recently completed frame, still warm in the caches, is
/// reused first) with room for every frame, so pushing never allocates.
struct FrameStack {
    frames: Box<[u64]>,
    len: usize,
}

impl FrameStack {
    fn new(capacity: usize) -> Self {
        FrameStack {
            frames: vec![0; capacity].into_boxed_slice(),
            len: 0,
        }
    }

    #[inline]
    fn push(&mut self, frame: u64) {
        // Indexing panics if more frames come back than exist, which would be a bug.
        self.frames[self.len] = frame;
        self.len += 1;
    }

    #[inline]
    fn pop(&mut self) -> Option<u64> {
        self.len = self.len.checked_sub(1)?;
        Some(self.frames[self.len])
    }
}

/// An owned memory mapping, unmapped on drop.
struct Mapping {
    ptr: NonNull<u8>,
    len: usize,
}

impl Mapping {
    /// Private anonymous memory, page-aligned, populated up front.
    fn anonymous(len: usize) -> io::Result<Self> {
        Self::map(
            len,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_POPULATE,
            -1,
            0,
        )
    }

    fn map(len: usize, flags: libc::c_int, fd: RawFd, offset: libc::off_t) -> io::Result<Self> {
        // SAFETY: a fresh mapping chosen by the kernel; nothing else is touched.
        let ptr = unsafe {
            libc::mmap(
                ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                flags,
                fd,
                offset,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let ptr = NonNull::new(ptr.cast()).ok_or_else(|| io::Error::other("mmap returned null"))?;
        Ok(Mapping { ptr, len })
    }

    fn bytes_mut(&mut self) -> &mut [u8] {
        // SAFETY: the mapping is `len` readable and writable bytes owned by `self`.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the mapping we made; no reference into it outlives `self`.
        unsafe { libc::munmap(self.ptr.as_ptr().cast(), self.len) };
    }
}

/// One of the socket's rings, mapped: a producer and a consumer index (free-running u32s
/// shared with the kernel), flags, and `size` entries of `T`. The side we play decides which
/// index we write: TX and fill we produce, completion we consume.
struct Ring<T> {
    producer: NonNull<AtomicU32>,
    consumer: NonNull<AtomicU32>,
    flags: NonNull<AtomicU32>,
    entries: NonNull<T>,
    mask: u32,
    size: u32,
    /// Our copy of the index we write, and the last value seen of the kernel's.
    cached_prod: u32,
    cached_cons: u32,
    /// Last, so the pointers above never outlive it.
    _map: Mapping,
}

impl<T> Ring<T> {
    fn map(
        fd: &OwnedFd,
        offsets: &libc::xdp_ring_offset,
        size: u32,
        pgoff: libc::off_t,
    ) -> io::Result<Self> {
        let len = offsets.desc as usize + size as usize * size_of::<T>();
        let map = Mapping::map(
            len,
            libc::MAP_SHARED | libc::MAP_POPULATE,
            fd.as_raw_fd(),
            pgoff,
        )?;
        let base = map.ptr.as_ptr();
        let fits = |offset: u64, bytes: usize| offset as usize + bytes <= len;
        if !(fits(offsets.producer, 4) && fits(offsets.consumer, 4) && fits(offsets.flags, 4))
            || [offsets.producer, offsets.consumer, offsets.flags]
                .iter()
                .any(|offset| !offset.is_multiple_of(4))
            || !(offsets.desc as usize).is_multiple_of(align_of::<T>())
        {
            return Err(io::Error::other("ring offsets outside the mapping"));
        }
        // SAFETY: the kernel's offsets were checked to lie inside the mapping and to be aligned
        // for their types; the mapping is non-null, so are pointers into it.
        let at = |offset: u64| unsafe { NonNull::new_unchecked(base.add(offset as usize)) };
        let mut ring = Ring {
            producer: at(offsets.producer).cast(),
            consumer: at(offsets.consumer).cast(),
            flags: at(offsets.flags).cast(),
            entries: at(offsets.desc).cast(),
            mask: size - 1,
            size,
            cached_prod: 0,
            cached_cons: 0,
            _map: map,
        };
        ring.cached_prod = ring.producer_word().load(Ordering::Acquire);
        ring.cached_cons = ring.consumer_word().load(Ordering::Acquire);
        Ok(ring)
    }

    fn producer_word(&self) -> &AtomicU32 {
        // SAFETY: an aligned u32 inside our mapping, alive as long as `self`; the kernel
        // accesses it atomically too (READ_ONCE/smp_store_release), so AtomicU32 is the right view.
        unsafe { self.producer.as_ref() }
    }

    fn consumer_word(&self) -> &AtomicU32 {
        // SAFETY: as for `producer_word`.
        unsafe { self.consumer.as_ref() }
    }

    /// The kernel-side index, for progress checks.
    fn producer(&self) -> u32 {
        self.producer_word().load(Ordering::Relaxed)
    }

    fn consumer(&self) -> u32 {
        self.consumer_word().load(Ordering::Relaxed)
    }

    /// Writes entry `cached_prod + i` (producer side), not yet visible to the kernel.
    #[inline]
    fn write(&mut self, i: u32, entry: T) {
        let index = self.cached_prod.wrapping_add(i) & self.mask;
        // SAFETY: index <= mask < size, inside the mapped entries. Callers write only entries
        // between the producer and the consumer index plus `size` (see `free`), which the kernel
        // does not read until `submit` publishes them.
        unsafe { self.entries.as_ptr().add(index as usize).write(entry) };
    }

    /// Publishes `n` written entries: Release orders the entry writes before the index store
    /// (the kernel reads the producer index with acquire semantics).
    #[inline]
    fn submit(&mut self, n: u32) {
        self.cached_prod = self.cached_prod.wrapping_add(n);
        self.producer_word()
            .store(self.cached_prod, Ordering::Release);
    }

    /// Free entries (producer side); reloads the kernel's consumer index only when the cached
    /// one shows fewer than `want`. Acquire: the kernel finished reading the entries it released.
    #[inline]
    fn free(&mut self, want: u32) -> u32 {
        let free = self.size - self.cached_prod.wrapping_sub(self.cached_cons);
        if free >= want {
            return free;
        }
        self.cached_cons = self.consumer_word().load(Ordering::Acquire);
        self.size - self.cached_prod.wrapping_sub(self.cached_cons)
    }

    /// Entries published but not yet taken by the kernel (producer side).
    fn unconsumed(&mut self) -> u32 {
        self.cached_cons = self.consumer_word().load(Ordering::Acquire);
        self.cached_prod.wrapping_sub(self.cached_cons)
    }

    /// Whether the kernel asks for a kick (`XDP_RING_NEED_WAKEUP`).
    #[inline]
    fn needs_wakeup(&self) -> bool {
        // SAFETY: as for `producer_word`.
        let flags = unsafe { self.flags.as_ref() };
        flags.load(Ordering::Relaxed) & libc::XDP_RING_NEED_WAKEUP != 0
    }
}

impl<T: Copy> Ring<T> {
    /// Takes every entry the kernel produced (consumer side), then releases them: Acquire on
    /// the producer index makes the entries visible; Release on the consumer index keeps the
    /// kernel from overwriting them before we read them. Returns how many.
    #[inline]
    fn consume(&mut self, mut take: impl FnMut(T)) -> u32 {
        let produced = self.producer_word().load(Ordering::Acquire);
        let n = produced.wrapping_sub(self.cached_cons);
        if n == 0 {
            return 0;
        }
        for i in 0..n {
            let index = self.cached_cons.wrapping_add(i) & self.mask;
            // SAFETY: index < size, inside the mapped entries, published by the kernel before
            // its producer store (acquired above) and not reused before our consumer store.
            take(unsafe { self.entries.as_ptr().add(index as usize).read() });
        }
        self.cached_cons = produced;
        self.consumer_word().store(produced, Ordering::Release);
        n
    }
}

fn set_xdp_option<T>(fd: &OwnedFd, name: libc::c_int, value: &T) -> io::Result<()> {
    set_option(fd, libc::SOL_XDP, name, value)
}

fn set_option<T>(fd: &OwnedFd, level: libc::c_int, name: libc::c_int, value: &T) -> io::Result<()> {
    // SAFETY: `value` is a valid T for the length given.
    let rc = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            name,
            ptr::from_ref(value).cast(),
            size_of::<T>() as libc::socklen_t,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Where the rings' indices and entries sit in their mappings (Linux 5.4+ layout, with flags).
fn mmap_offsets(fd: &OwnedFd) -> io::Result<libc::xdp_mmap_offsets> {
    // SAFETY: all-zero is a valid xdp_mmap_offsets (plain integers).
    let mut offsets: libc::xdp_mmap_offsets = unsafe { std::mem::zeroed() };
    let mut len = size_of::<libc::xdp_mmap_offsets>() as libc::socklen_t;
    // SAFETY: the kernel writes at most `len` bytes into `offsets` and updates `len`.
    let rc = unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            libc::SOL_XDP,
            libc::XDP_MMAP_OFFSETS,
            (&raw mut offsets).cast(),
            &raw mut len,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    if len as usize != size_of::<libc::xdp_mmap_offsets>() {
        return Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "the kernel's ring layout has no flags (AF_XDP needs Linux 5.4 or later)",
        ));
    }
    Ok(offsets)
}

/// `XDP_OPTIONS` flags of a bound socket (`XDP_OPTIONS_ZEROCOPY`).
fn xdp_options(fd: &OwnedFd) -> io::Result<u32> {
    let mut options = libc::xdp_options { flags: 0 };
    let mut len = size_of::<libc::xdp_options>() as libc::socklen_t;
    // SAFETY: the kernel writes at most `len` bytes into `options`.
    let rc = unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            libc::SOL_XDP,
            libc::XDP_OPTIONS,
            (&raw mut options).cast(),
            &raw mut len,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(options.flags)
}

/// AF_XDP charges its UMEM to RLIMIT_MEMLOCK unless the process has CAP_IPC_LOCK (root has):
/// with only the scanning capabilities, 20 MiB of packet buffers exceed Debian's 8 MiB default.
pub mod memlock {
    use std::io;

    /// Raises the soft locked-memory limit to hold `bytes` more, as far as allowed: up to the
    /// hard limit, or beyond with CAP_SYS_RESOURCE. Returns the soft limit now in force.
    pub fn make_room(bytes: u64) -> u64 {
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: a valid rlimit to fill in.
        if unsafe { libc::getrlimit(libc::RLIMIT_MEMLOCK, &mut limit) } != 0 {
            return 0;
        }
        if limit.rlim_cur == libc::RLIM_INFINITY {
            return limit.rlim_cur;
        }
        let wanted = limit.rlim_cur.saturating_add(bytes);
        for raised in [
            libc::rlimit {
                rlim_cur: wanted.max(limit.rlim_max),
                rlim_max: wanted.max(limit.rlim_max),
            },
            libc::rlimit {
                rlim_cur: limit.rlim_max,
                rlim_max: limit.rlim_max,
            },
        ] {
            // SAFETY: a valid rlimit; failure leaves the limit as it was.
            if unsafe { libc::setrlimit(libc::RLIMIT_MEMLOCK, &raised) } == 0 {
                return raised.rlim_cur;
            }
        }
        limit.rlim_cur
    }

    /// The soft locked-memory limit in force.
    pub fn soft_limit() -> u64 {
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: a valid rlimit to fill in.
        match unsafe { libc::getrlimit(libc::RLIMIT_MEMLOCK, &mut limit) } {
            0 => limit.rlim_cur,
            _ => 0,
        }
    }

    /// ENOBUFS from UMEM_REG: the limit, and the ways to raise it.
    pub fn explain(err: &io::Error, bytes: u64, limit: u64) -> String {
        format!(
            "{err}: its {} MiB of packet buffers exceed the locked-memory limit ({} KiB, \
             `ulimit -l`), which this process cannot raise; raise it (`ulimit -l unlimited`, \
             LimitMEMLOCK=infinity in a systemd unit, memlock in /etc/security/limits.conf) or \
             grant the binary cap_ipc_lock as well",
            bytes >> 20,
            limit >> 10
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn halving_keeps_the_sizes_consistent_down_to_two_batches() {
        let sizes: Vec<u64> = std::iter::successors(Some(XdpConfig::default()), |c| c.halved())
            .map(|config| {
                config.validate().unwrap();
                config.umem_bytes() >> 20
            })
            .collect();
        // 20 MiB, then halves down to 512 TX frames (two batches of 256).
        assert_eq!(sizes, [20, 10, 5, 2]);
    }

    #[test]
    fn default_sizes_are_consistent() {
        XdpConfig::default().validate().unwrap();
        let bad = XdpConfig {
            ring_entries: 1000,
            ..XdpConfig::default()
        };
        assert!(bad.validate().is_err());
        let bad = XdpConfig {
            tx_frames: 300,
            ..XdpConfig::default()
        };
        assert!(bad.validate().is_err());
    }

    #[test]
    fn the_frame_stack_is_lifo_and_bounded() {
        let mut stack = FrameStack::new(2);
        assert_eq!(stack.pop(), None);
        stack.push(4096);
        stack.push(8192);
        assert_eq!(stack.pop(), Some(8192));
        assert_eq!(stack.pop(), Some(4096));
        assert_eq!(stack.pop(), None);
    }

    #[test]
    fn oversized_templates_are_refused() {
        let err = XdpSender::open(1, 0, &[0; FRAME_SIZE + 1]).err().unwrap();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    }
}
