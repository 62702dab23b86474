//! Times as nmap writes them: ctime(3) in local time (`Sun Dec  6 09:32:15 2026`), and Unix
//! seconds.

use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds since the epoch (0 for a time before it).
pub fn unix_seconds(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs())
}

/// `Sun Dec  6 09:32:15 2026` in the local time zone, as nmap's `startstr` and headers.
pub fn ctime(time: SystemTime) -> String {
    let Ok(seconds) = libc::time_t::try_from(unix_seconds(time)) else {
        return String::new();
    };
    // SAFETY: localtime_r fills `tm` from `seconds`; strftime writes at most `buf.len()` bytes
    // and returns how many.
    unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        if libc::localtime_r(&seconds, &mut tm).is_null() {
            return String::new();
        }
        let mut buf = [0u8; 64];
        let len = libc::strftime(
            buf.as_mut_ptr().cast(),
            buf.len(),
            c"%a %b %e %H:%M:%S %Y".as_ptr(),
            &tm,
        );
        String::from_utf8_lossy(&buf[..len]).into_owned()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn ctime_has_nmaps_shape() {
        let text = ctime(UNIX_EPOCH + Duration::from_secs(1_765_013_535));
        // The zone is the machine's: check the shape, not the hour.
        let words: Vec<&str> = text.split_whitespace().collect();
        assert_eq!(words.len(), 5, "{text}");
        assert!(text.ends_with(" 2025"), "{text}");
        assert_eq!(words[3].len(), 8, "{text}");
        assert_eq!(unix_seconds(UNIX_EPOCH + Duration::from_secs(7)), 7);
    }
}
