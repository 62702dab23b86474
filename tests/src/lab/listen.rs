//! The target's open ports: real TCP listeners on 0.0.0.0 in the target namespace (so every
//! AnyIP address answers SYN-ACK), created in-process, plus one thread that accepts and closes
//! whatever completes a handshake, so connect scans never fill an accept queue.

use std::{
    io,
    os::fd::{AsRawFd, FromRawFd, OwnedFd},
    sync::Arc,
    thread::{self, JoinHandle},
};

use anyhow::{Context, Result};

use super::netns;

/// The listen backlog (the kernel caps it at the namespace's `net.core.somaxconn`).
pub const BACKLOG: i32 = 65535;

pub struct Listeners {
    /// Held, not read: the last `Arc` closes the listening sockets.
    _sockets: Arc<Vec<(u16, OwnedFd)>>,
    /// An eventfd: written once to stop the acceptor.
    stop: OwnedFd,
    acceptor: Option<JoinHandle<()>>,
}

impl Listeners {
    /// Listens on each of `ports` in namespace `ns`.
    pub fn open(ns: &str, ports: &[u16]) -> Result<Listeners> {
        let sockets = netns::run_in(ns, || {
            ports
                .iter()
                .map(|&port| Ok((port, listen(port)?)))
                .collect::<Result<Vec<_>>>()
        })??;
        let sockets = Arc::new(sockets);
        // SAFETY: plain syscall; the result is checked.
        let stop = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
        if stop < 0 {
            return Err(io::Error::last_os_error()).context("eventfd");
        }
        // SAFETY: a fresh fd we own.
        let stop = unsafe { OwnedFd::from_raw_fd(stop) };
        let acceptor = {
            let sockets = Arc::clone(&sockets);
            let stop = stop.as_raw_fd();
            thread::Builder::new()
                .name(format!("accept-{ns}"))
                // The thread ends before `stop` is closed: see `close`.
                .spawn(move || accept_until_stopped(&sockets, stop))
                .context("spawning the acceptor thread")?
        };
        Ok(Listeners {
            _sockets: sockets,
            stop,
            acceptor: Some(acceptor),
        })
    }
}

impl Drop for Listeners {
    /// Stops the acceptor, then closes the listening sockets (the last `Arc`).
    fn drop(&mut self) {
        let one: u64 = 1;
        // SAFETY: writes 8 bytes from a valid u64 to our eventfd.
        unsafe { libc::write(self.stop.as_raw_fd(), (&raw const one).cast(), 8) };
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
    }
}

/// A non-blocking listening socket on 0.0.0.0:`port` in the calling thread's namespace.
fn listen(port: u16) -> Result<OwnedFd> {
    let context = || format!("listening on 0.0.0.0:{port}");
    // SAFETY: plain syscalls on a fd we own; every result is checked.
    unsafe {
        let fd = libc::socket(
            libc::AF_INET,
            libc::SOCK_STREAM | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
            0,
        );
        if fd < 0 {
            return Err(io::Error::last_os_error()).with_context(context);
        }
        let fd = OwnedFd::from_raw_fd(fd);
        let one: libc::c_int = 1;
        if libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_REUSEADDR,
            (&raw const one).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        ) != 0
        {
            return Err(io::Error::last_os_error()).with_context(context);
        }
        let address = libc::sockaddr_in {
            sin_family: libc::AF_INET as libc::sa_family_t,
            sin_port: port.to_be(),
            sin_addr: libc::in_addr {
                s_addr: libc::INADDR_ANY,
            },
            sin_zero: [0; 8],
        };
        if libc::bind(
            fd.as_raw_fd(),
            (&raw const address).cast(),
            size_of::<libc::sockaddr_in>() as libc::socklen_t,
        ) != 0
        {
            return Err(io::Error::last_os_error()).with_context(context);
        }
        if libc::listen(fd.as_raw_fd(), BACKLOG) != 0 {
            return Err(io::Error::last_os_error()).with_context(context);
        }
        Ok(fd)
    }
}

fn accept_until_stopped(sockets: &[(u16, OwnedFd)], stop: i32) {
    let mut polled: Vec<libc::pollfd> = sockets
        .iter()
        .map(|(_, fd)| fd.as_raw_fd())
        .chain([stop])
        .map(|fd| libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    loop {
        // SAFETY: a valid array of pollfds.
        let ready = unsafe { libc::poll(polled.as_mut_ptr(), polled.len() as libc::nfds_t, -1) };
        if ready < 0 {
            if io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return;
        }
        let (stop, listeners) = polled.split_last().expect("the stop fd is last");
        if stop.revents != 0 {
            return;
        }
        for listener in listeners.iter().filter(|p| p.revents != 0) {
            // Accept everything queued; dropping the fd closes the connection.
            loop {
                // SAFETY: a listening socket; we take ownership of the returned fd.
                let fd = unsafe {
                    libc::accept4(
                        listener.fd,
                        std::ptr::null_mut(),
                        std::ptr::null_mut(),
                        libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
                    )
                };
                if fd < 0 {
                    let err = io::Error::last_os_error();
                    match err.raw_os_error() {
                        Some(libc::ECONNABORTED | libc::EINTR | libc::EPROTO) => continue,
                        // Out of fds or memory: back off instead of spinning on poll.
                        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM) => {
                            thread::sleep(std::time::Duration::from_millis(10));
                            break;
                        }
                        _ => break,
                    }
                }
                // SAFETY: a fresh fd from accept4.
                drop(unsafe { OwnedFd::from_raw_fd(fd) });
            }
        }
    }
}
