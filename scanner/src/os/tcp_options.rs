//! nmap's encoding of a reply's TCP options (the O, O1-O6 attributes; osscan2.cc:
//! get_tcpopt_string): one letter per option in order, with values in upper-case hex:
//! `L` end of list, `N` no-op, `M`*mss*, `W`*shift*, `S` SACK permitted, `T` + two digits
//! (1 if TSval / TSecr is non-zero). Other options are skipped. E.g. `M5B4ST11NW7`.

/// The option string, or `None` if the options are malformed (an option running past the
/// end, a length below 2, or shorter than its kind requires); nmap then records `O=` (empty).
/// Bytes after an end-of-list are read as options too, as nmap does (zero padding gives `L`s).
pub fn option_string(options: &[u8]) -> Option<String> {
    let mut out = String::new();
    let mut rest = options;
    while let Some(&kind) = rest.first() {
        let len = match kind {
            0 | 1 => 1,
            _ => {
                let len = usize::from(*rest.get(1)?);
                if len < 2 || len > rest.len() {
                    return None;
                }
                len
            }
        };
        let value = &rest[2.min(len)..len];
        match kind {
            0 => out.push('L'),
            1 => out.push('N'),
            2 => {
                let [a, b, ..] = *value else { return None };
                out.push_str(&format!("M{:X}", u16::from_be_bytes([a, b])));
            }
            3 => {
                let [shift, ..] = *value else { return None };
                out.push_str(&format!("W{shift:X}"));
            }
            4 => out.push('S'),
            8 => {
                if value.len() < 8 {
                    return None;
                }
                let non_zero = |bytes: &[u8]| {
                    if bytes.iter().any(|&b| b != 0) {
                        '1'
                    } else {
                        '0'
                    }
                };
                out.push('T');
                out.push(non_zero(&value[..4]));
                out.push(non_zero(&value[4..8]));
            }
            _ => {}
        }
        rest = &rest[len..];
    }
    Some(out)
}

/// The TCP timestamp value (TSval) of the first timestamp option, if there is one
/// (tcpip.cc: gettcpopt_ts). Parsing stops at the first malformed option.
pub fn timestamp(options: &[u8]) -> Option<u32> {
    let mut rest = options;
    while let Some(&kind) = rest.first() {
        let len = match kind {
            0 | 1 => 1,
            _ => usize::from(*rest.get(1)?),
        };
        if kind > 1 && (len < 2 || len > rest.len()) {
            return None;
        }
        if kind == 8 && len == 10 {
            return Some(u32::from_be_bytes([rest[2], rest[3], rest[4], rest[5]]));
        }
        rest = &rest[len..];
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linux_syn_ack() {
        // MSS 1460, SACK permitted, timestamps, NOP, window scale 7
        let options = [
            2, 4, 5, 0xb4, 4, 2, 8, 10, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff, 1, 3, 3, 7,
        ];
        assert_eq!(option_string(&options).as_deref(), Some("M5B4ST11NW7"));
        assert_eq!(timestamp(&options), Some(1));
    }

    #[test]
    fn zero_timestamps_padding_and_unknown_options() {
        let options = [8, 10, 0, 0, 0, 0, 0, 0, 0, 0, 30, 4, 1, 2, 0, 0];
        assert_eq!(option_string(&options).as_deref(), Some("T00LL"));
        assert_eq!(timestamp(&options), Some(0));
        assert_eq!(option_string(&[]).as_deref(), Some(""));
        assert_eq!(timestamp(&[1, 1, 0]), None);
    }

    #[test]
    fn malformed_options_give_none() {
        assert_eq!(option_string(&[2]), None, "no length byte");
        assert_eq!(option_string(&[2, 1, 0, 0]), None, "length below 2");
        assert_eq!(option_string(&[2, 6, 0, 0]), None, "past the end");
        assert_eq!(option_string(&[2, 3, 5]), None, "MSS needs 4 bytes");
        assert_eq!(option_string(&[3, 2]), None, "window scale needs 3");
        assert_eq!(
            option_string(&[8, 6, 0, 0, 0, 0]),
            None,
            "timestamp needs 10"
        );
        assert_eq!(timestamp(&[2, 0, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0]), None);
    }

    #[test]
    fn all_short_inputs_are_safe() {
        for kind in 0..=255u8 {
            for len in 0..=12u8 {
                let bytes = [kind, len, 1, 2, 3, 4, 5, 6, 7, 8];
                for end in 0..=bytes.len() {
                    let _ = option_string(&bytes[..end]);
                    let _ = timestamp(&bytes[..end]);
                }
            }
        }
    }
}
