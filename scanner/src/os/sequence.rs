//! The SEQ test (osscan2.cc: makeTSeqFP): how the SYN-ACKs to the six SEQ probes choose
//! their initial sequence numbers (GCD, ISR, SP) and timestamps (TS), and the IP ID classes
//! of the TCP, closed-port TCP and ICMP replies (TI, CI, II, SS).
//!
//! The arithmetic follows nmap's types where they change results: per-sample rates are
//! `f32`, differences are the shorter way round the 32-bit circle.

use std::time::Duration;

use super::fingerprint::{Test, TestName};
use super::ipid;

/// What one SYN-ACK to a SEQ probe tells.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SeqSample {
    /// When the probe was sent (any fixed origin).
    pub sent_at: Duration,
    /// The reply's initial sequence number.
    pub isn: u32,
    /// The reply's TCP timestamp (TSval), if it had the option.
    pub timestamp: Option<u32>,
}

/// The inputs of the SEQ test for one round.
#[derive(Clone, Debug, Default)]
pub struct SeqInputs {
    /// SYN-ACK replies to SEQ1-SEQ6, in probe order (gaps removed).
    pub samples: Vec<SeqSample>,
    /// IP IDs of those SYN-ACKs, in probe order.
    pub tcp_ip_ids: Vec<u16>,
    /// IP IDs of the T5-T7 replies (closed port), in probe order.
    pub closed_ip_ids: Vec<u16>,
    /// IP IDs of the IE1 and IE2 replies.
    pub icmp_ip_ids: Vec<u16>,
}

/// nmap's MOD_DIFF: the distance between two 32-bit counters, either way round.
fn mod_diff(a: u32, b: u32) -> u32 {
    a.wrapping_sub(b).min(b.wrapping_sub(a))
}

fn gcd(values: &[u32]) -> u32 {
    values.iter().fold(0, |mut a, &b| {
        let mut b = b;
        while b != 0 {
            (a, b) = (b, a % b);
        }
        a
    })
}

/// C's `(unsigned int)` of a double as x86-64 compilers do it (through a 64-bit integer).
fn c_unsigned(x: f64) -> u32 {
    x as i64 as u32
}

pub fn seq_test(inputs: &SeqInputs) -> Test<String> {
    let mut test = Test::new(TestName::Seq);
    // An ISN of 0 is nmap's "no reply" marker: such samples are dropped here, although
    // their IP ID and timestamp class still count.
    let samples: Vec<&SeqSample> = inputs.samples.iter().filter(|s| s.isn != 0).collect();
    let pairs: Vec<(u32, u32, u64)> = samples
        .windows(2)
        .map(|w| {
            let micros = w[1].sent_at.saturating_sub(w[0].sent_at).as_micros();
            let micros = u64::try_from(micros).unwrap_or(u64::MAX).max(1); // nmap divides by it
            let ts = mod_diff(w[1].timestamp.unwrap_or(0), w[0].timestamp.unwrap_or(0));
            (mod_diff(w[1].isn, w[0].isn), ts, micros)
        })
        .collect();

    if samples.len() >= 4 {
        isn_attributes(&mut test, &pairs);
    }

    let tcp = ipid_class(&inputs.tcp_ip_ids, 3);
    let closed = ipid_class(&inputs.closed_ip_ids, 2);
    let icmp = ipid_class(&inputs.icmp_ip_ids, 2);
    for (attr, class, ids) in [
        ("TI", tcp, &inputs.tcp_ip_ids),
        ("CI", closed, &inputs.closed_ip_ids),
        ("II", icmp, &inputs.icmp_ip_ids),
    ] {
        if let Some(class) = class {
            test.set(attr, ipid::encode(class, ids));
        }
    }
    if let Some(ss) = ipid::shared_sequence(&inputs.tcp_ip_ids, tcp, &inputs.icmp_ip_ids, icmp) {
        test.set("SS", ss);
    }

    if let Some(ts) = timestamp_attribute(&inputs.samples, samples.len(), &pairs) {
        test.set("TS", ts);
    }
    test
}

fn ipid_class(ids: &[u16], needed: usize) -> Option<ipid::IpIdClass> {
    if ids.len() >= needed {
        ipid::classify(ids)
    } else {
        None
    }
}

/// GCD, ISR and SP from consecutive (ISN difference, _, microseconds) pairs.
fn isn_attributes(test: &mut Test<String>, pairs: &[(u32, u32, u64)]) {
    let rates: Vec<f32> = pairs
        .iter()
        .map(|&(diff, _, micros)| (f64::from(diff) * 1_000_000.0 / micros as f64) as f32)
        .collect();
    let average = rates.iter().map(|&r| f64::from(r)).sum::<f64>() / rates.len() as f64;
    let diffs: Vec<u32> = pairs.iter().map(|p| p.0).collect();
    let gcd = gcd(&diffs);
    let (rate, index) = if gcd == 0 {
        (0, 0) // constant ISN
    } else {
        let rate = c_unsigned(average.log2() * 8.0 + 0.5);
        // nmap divides by the GCD only when it is large, so that even-only ISNs do not
        // lower the deviation by chance.
        let divisor = if gcd > 9 { gcd } else { 1 };
        let variance = rates
            .iter()
            .map(|&r| {
                let d = f64::from(r / divisor as f32) - average / f64::from(divisor);
                d * d
            })
            .sum::<f64>()
            / (rates.len() - 1) as f64;
        let deviation = variance.sqrt();
        let index = if deviation <= 1.0 {
            0
        } else {
            (deviation.log2() * 8.0 + 0.5) as i32
        };
        (rate, index)
    };
    test.set("SP", format!("{:X}", index as u32));
    test.set("GCD", format!("{gcd:X}"));
    test.set("ISR", format!("{rate:X}"));
}

/// TS: `U` if a SYN-ACK lacked timestamps, `0` if one was zero (the last such reply in probe
/// order decides, as replies arrive in that order), otherwise the binary log of the
/// timestamp rate, with bands widened around the common 2, 100 and 200 Hz.
fn timestamp_attribute(
    all: &[SeqSample],
    kept: usize,
    pairs: &[(u32, u32, u64)],
) -> Option<String> {
    let verdict = all.iter().rev().find_map(|s| match s.timestamp {
        None => Some("U"),
        Some(0) => Some("0"),
        Some(_) => None,
    });
    if let Some(verdict) = verdict {
        return Some(verdict.into());
    }
    if kept < 2 {
        return None;
    }
    let hz = pairs
        .iter()
        .map(|&(_, ts, micros)| f64::from(ts) / (micros as f64 / 1_000_000.0))
        .map(|hz| hz / pairs.len() as f64)
        .sum::<f64>();
    if hz <= 0.0 {
        return None; // timestamps that do not move: nmap leaves TS out
    }
    let value = if hz <= 5.66 {
        1
    } else if hz > 70.0 && hz <= 150.0 {
        7
    } else if hz > 150.0 && hz <= 350.0 {
        8
    } else {
        c_unsigned(0.5 + hz.log2())
    };
    Some(format!("{value:X}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn samples(isns: &[u32], ts: &[Option<u32>]) -> Vec<SeqSample> {
        isns.iter()
            .zip(ts)
            .enumerate()
            .map(|(i, (&isn, &timestamp))| SeqSample {
                sent_at: Duration::from_millis(100 * i as u64),
                isn,
                timestamp,
            })
            .collect()
    }

    fn seq(inputs: SeqInputs) -> String {
        seq_test(&inputs).to_string()
    }

    #[test]
    fn constant_isn_and_zero_ids() {
        let inputs = SeqInputs {
            samples: samples(&[5; 6], &[None; 6]),
            tcp_ip_ids: vec![0; 6],
            closed_ip_ids: vec![0; 3],
            icmp_ip_ids: vec![0; 2],
        };
        assert_eq!(seq(inputs), "SEQ(SP=0%GCD=0%ISR=0%TI=Z%CI=Z%II=Z%TS=U)");
    }

    #[test]
    fn isn_rate_and_gcd() {
        // +1000 per 100 ms: 10000/s; log2(10000) * 8 = 106.3 -> 0x6A. Identical rates: SP 0.
        let isns: Vec<u32> = (0..6).map(|i| 1_000_000 + 1000 * i).collect();
        let ts: Vec<Option<u32>> = (0..6).map(|i| Some(5000 + 100 * i)).collect();
        let inputs = SeqInputs {
            samples: samples(&isns, &ts),
            tcp_ip_ids: vec![10, 11, 12, 13, 14, 15],
            ..Default::default()
        };
        // TS: 100 per 100 ms = 1000 Hz -> log2 = 9.97 -> 0xA.
        assert_eq!(seq(inputs), "SEQ(SP=0%GCD=3E8%ISR=6A%TI=I%TS=A)");
    }

    #[test]
    fn deviation_and_wraparound() {
        // Differences 4 (wrapping through 0), 5, 2, 7: GCD 1, varying rates.
        let isns = [u32::MAX - 2, 0u32.wrapping_add(1), 6, 8, 15];
        let inputs = SeqInputs {
            samples: samples(&isns, &[Some(1); 5]),
            ..Default::default()
        };
        // Rates 40, 50, 20, 70 /s: mean 45, sd 20.8; log2(45) * 8 = 43.9 -> 0x2C,
        // log2(20.8) * 8 = 35.05 -> 0x23. The timestamps stand still: TS is omitted.
        assert_eq!(seq(inputs), "SEQ(SP=23%GCD=1%ISR=2C)");
    }

    #[test]
    fn too_few_samples_and_zero_isn() {
        let inputs = SeqInputs {
            samples: samples(&[10, 0, 30, 40], &[Some(0); 4]),
            tcp_ip_ids: vec![1, 2],
            ..Default::default()
        };
        // Three usable samples: no GCD/ISR/SP; two IP IDs are too few for TI.
        assert_eq!(seq(inputs), "SEQ(TS=0)");
        assert_eq!(seq(SeqInputs::default()), "SEQ()");
    }

    #[test]
    fn timestamp_bands() {
        let at = |hz_per_100ms: u32| {
            let ts: Vec<Option<u32>> = (0..6).map(|i| Some(1 + hz_per_100ms * i)).collect();
            let inputs = SeqInputs {
                samples: samples(&[1, 2, 3, 4, 5, 6], &ts),
                ..Default::default()
            };
            seq_test(&inputs).get("TS").cloned()
        };
        assert_eq!(at(0), None);
        assert_eq!(at(10).as_deref(), Some("7"), "100 Hz");
        assert_eq!(at(25).as_deref(), Some("8"), "250 Hz");
        assert_eq!(at(100).as_deref(), Some("A"), "1000 Hz");
    }
}
