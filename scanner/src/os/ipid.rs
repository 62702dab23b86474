//! IP ID sequence classes (osscan2.cc: get_ipid_sequence_16, identify_sequence) and their
//! encoding in the TI, CI and II attributes, and SS.

/// How a host picks IP IDs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IpIdClass {
    /// All zero (`Z`).
    Zero,
    /// Always the same non-zero value (encoded as that value).
    Constant,
    /// Increments of at most 9 (`I`).
    Incremental,
    /// Even increments (`I` too).
    IncrementalBy2,
    /// Multiples of 256 up to 5120: a byte-swapped counter (`BI`).
    BrokenIncremental,
    /// Random positive increments above 1000 (`RI`).
    RandomPositive,
    /// Random: some increment above 20000 (`RD`).
    Random,
}

/// Classifies a sequence of IP IDs (in probe order); `None` when nmap cannot tell.
pub fn classify(ids: &[u16]) -> Option<IpIdClass> {
    if ids.len() < 2 {
        return None;
    }
    // nmap subtracts in 32 bits (a decrease is a huge increment), checks for randomness,
    // then looks at the differences modulo 2^16.
    let raw: Vec<u32> = ids
        .windows(2)
        .map(|w| u32::from(w[1]).wrapping_sub(u32::from(w[0])))
        .collect();
    if ids.len() > 2 && raw.iter().any(|&d| d > 20000) {
        return Some(IpIdClass::Random);
    }
    if ids.iter().all(|&id| id == 0) {
        return Some(IpIdClass::Zero);
    }
    let diffs: Vec<u32> = raw.iter().map(|d| d & 0xffff).collect();
    if diffs.iter().all(|&d| d == 0) {
        return Some(IpIdClass::Constant);
    }
    if diffs
        .iter()
        .any(|&d| d > 1000 && (d % 256 != 0 || d >= 25600))
    {
        return Some(IpIdClass::RandomPositive);
    }
    if diffs.iter().all(|&d| d <= 5120 && d % 256 == 0) {
        return Some(IpIdClass::BrokenIncremental);
    }
    if diffs.iter().all(|&d| d % 2 == 0) {
        return Some(IpIdClass::IncrementalBy2);
    }
    if diffs.iter().all(|&d| d <= 9) {
        return Some(IpIdClass::Incremental);
    }
    None
}

/// The TI/CI/II value for a class of `ids` (make_aval_ipid_seq).
pub fn encode(class: IpIdClass, ids: &[u16]) -> String {
    match class {
        IpIdClass::Constant => format!("{:X}", ids[0]),
        IpIdClass::Incremental | IpIdClass::IncrementalBy2 => "I".into(),
        IpIdClass::BrokenIncremental => "BI".into(),
        IpIdClass::RandomPositive => "RI".into(),
        IpIdClass::Random => "RD".into(),
        IpIdClass::Zero => "Z".into(),
    }
}

/// SS: whether ICMP replies share the TCP replies' IP ID counter (`S`) or not (`O`). Only
/// defined when both sequences increase (incrementally, broken or randomly; nmap leaves
/// out the by-2 class here).
pub fn shared_sequence(
    tcp: &[u16],
    tcp_class: Option<IpIdClass>,
    icmp: &[u16],
    icmp_class: Option<IpIdClass>,
) -> Option<&'static str> {
    let increasing = |class| {
        matches!(
            class,
            Some(IpIdClass::Incremental | IpIdClass::BrokenIncremental | IpIdClass::RandomPositive)
        )
    };
    if !increasing(tcp_class) || !increasing(icmp_class) {
        return None;
    }
    let (first, last) = (u32::from(*tcp.first()?), u32::from(*tcp.last()?));
    let steps = u32::try_from(tcp.len() - 1).ok().filter(|&s| s > 0)?;
    let average = last.wrapping_sub(first) / steps;
    let next_expected = last.wrapping_add(average.wrapping_mul(3));
    Some(if u32::from(*icmp.first()?) < next_expected {
        "S"
    } else {
        "O"
    })
}

#[cfg(test)]
mod tests {
    use super::IpIdClass::*;
    use super::*;

    #[test]
    fn classes() {
        assert_eq!(classify(&[5]), None);
        assert_eq!(classify(&[0, 0, 0]), Some(Zero));
        assert_eq!(classify(&[7, 7, 7]), Some(Constant));
        assert_eq!(classify(&[100, 101, 103, 104]), Some(Incremental));
        assert_eq!(classify(&[100, 102, 104]), Some(IncrementalBy2));
        assert_eq!(classify(&[0x100, 0x200, 0x400]), Some(BrokenIncremental));
        assert_eq!(classify(&[100, 1200, 2300]), Some(RandomPositive));
        assert_eq!(classify(&[100, 30000, 200]), Some(Random));
        assert_eq!(classify(&[100, 111, 150]), None, "increments of 11 and 39");
    }

    #[test]
    fn two_samples_skip_the_randomness_check_and_wrap() {
        // A decrease between two samples wraps modulo 2^16: 65535 is a random increment.
        assert_eq!(classify(&[2, 1]), Some(RandomPositive));
        assert_eq!(classify(&[2, 1, 0]), Some(Random));
        assert_eq!(classify(&[65535, 1]), Some(IncrementalBy2));
    }

    #[test]
    fn encodings_and_shared_sequence() {
        assert_eq!(encode(Constant, &[0x1a2b, 0x1a2b]), "1A2B");
        assert_eq!(encode(IncrementalBy2, &[]), "I");
        let tcp = [100, 101, 102, 103, 104, 105];
        assert_eq!(
            shared_sequence(&tcp, Some(Incremental), &[106, 107], Some(Incremental)),
            Some("S")
        );
        assert_eq!(
            shared_sequence(&tcp, Some(Incremental), &[500, 501], Some(Incremental)),
            Some("O")
        );
        assert_eq!(
            shared_sequence(&tcp, Some(Zero), &[106, 107], Some(Incremental)),
            None
        );
        assert_eq!(
            shared_sequence(&tcp, Some(IncrementalBy2), &[106], Some(Incremental)),
            None
        );
    }
}
