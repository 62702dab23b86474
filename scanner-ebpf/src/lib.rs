//! What the XDP programs of this crate share: header views and the bounds checks the verifier
//! needs. The programs are the binaries: `scanner` (src/main.rs) classifies replies to our
//! probes; `responder` (src/bin/responder/) answers probes in the lab from a ground truth.
#![no_std]

pub mod headers;
