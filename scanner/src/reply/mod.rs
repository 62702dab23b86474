//! The reply path: the XDP program ([`xdp`]) validates and records replies in the kernel, the
//! ring buffer carries them here ([`ring`]), and [`classify`] turns them into results.

pub mod classify;
pub mod kernel;
pub mod occupied;
pub mod ring;
pub mod xdp;
