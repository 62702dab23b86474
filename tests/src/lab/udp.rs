//! The target's UDP services: real sockets on 0.0.0.0 in the target namespace, each served by
//! a thread until the lab closes: an echo (RFC 862) and a DNS responder that refuses every
//! query, echoing its id and question as a real server does. Unconnected sockets answer from
//! the address the kernel routes by, so they serve the target's own address, not AnyIP ones.

use std::{
    net::UdpSocket,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    thread::{self, JoinHandle},
    time::Duration,
};

use anyhow::{Context, Result};

use super::netns;

/// What a UDP port of the target runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UdpService {
    /// Sends every datagram back.
    Echo,
    /// Answers DNS queries with REFUSED; ignores what is not one.
    Dns,
}

impl UdpService {
    /// The answer to `query`, if any.
    pub fn answer(self, query: &[u8]) -> Option<Vec<u8>> {
        match self {
            Self::Echo => Some(query.to_vec()),
            // A header, not an answer itself (QR clear).
            Self::Dns if query.len() >= 12 && query[2] & 0x80 == 0 => {
                let mut answer = query.to_vec();
                answer[2] |= 0x80; // QR
                answer[3] = (answer[3] & 0xf0) | 5; // RCODE REFUSED
                Some(answer)
            }
            Self::Dns => None,
        }
    }
}

pub struct UdpServers {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl UdpServers {
    /// Binds each of `services` in namespace `ns` and serves it.
    pub fn open(ns: &str, services: &[(u16, UdpService)]) -> Result<Self> {
        let sockets = netns::run_in(ns, || {
            services
                .iter()
                .map(|&(port, service)| {
                    let socket = UdpSocket::bind(("0.0.0.0", port))
                        .with_context(|| format!("binding UDP port {port}"))?;
                    socket.set_read_timeout(Some(Duration::from_millis(50)))?;
                    Ok((socket, service))
                })
                .collect::<Result<Vec<_>>>()
        })??;
        let stop = Arc::new(AtomicBool::new(false));
        let threads = sockets
            .into_iter()
            .map(|(socket, service)| {
                let stop = Arc::clone(&stop);
                thread::Builder::new()
                    .name(format!("udp-{ns}"))
                    .spawn(move || serve(&socket, service, &stop))
                    .context("spawning a UDP server thread")
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self { stop, threads })
    }
}

fn serve(socket: &UdpSocket, service: UdpService, stop: &AtomicBool) {
    let mut buffer = [0u8; 2048];
    while !stop.load(Ordering::Relaxed) {
        let Ok((len, peer)) = socket.recv_from(&mut buffer) else {
            continue;
        };
        if let Some(answer) = service.answer(&buffer[..len]) {
            let _ = socket.send_to(&answer, peer);
        }
    }
}

impl Drop for UdpServers {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dns_answers_echo_the_id_and_refuse() {
        let query = b"\xab\xcd\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x00\x01\x00\x01";
        let answer = UdpService::Dns.answer(query).unwrap();
        assert_eq!(&answer[..2], b"\xab\xcd");
        assert_eq!((answer[2], answer[3]), (0x81, 0x05));
        assert_eq!(
            UdpService::Dns.answer(&answer),
            None,
            "answers are not answered"
        );
        assert_eq!(UdpService::Dns.answer(b"\r\n"), None);
        assert_eq!(UdpService::Echo.answer(b"x").unwrap(), b"x");
    }
}
