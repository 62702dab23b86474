//! The probe path's last step: frames leave through a batched send ring.

pub mod af_packet;
