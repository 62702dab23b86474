//! The target-set algebra against a model (a `BTreeSet` of addresses), over ranges near both
//! ends of the address space, where merging and overflow go wrong first.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::ops::RangeInclusive;

use proptest::prelude::*;

use super::TargetSet;

/// Ranges of up to 64 addresses in the first or the last 512 of the space.
fn range() -> impl Strategy<Value = RangeInclusive<u32>> {
    (any::<bool>(), 0u32..512, 0u32..64).prop_map(|(high, offset, width)| {
        let start = if high {
            u32::MAX - 511 + offset
        } else {
            offset
        };
        start..=start.saturating_add(width)
    })
}

fn ranges() -> impl Strategy<Value = Vec<RangeInclusive<u32>>> {
    prop::collection::vec(range(), 0..12)
}

fn model(ranges: &[RangeInclusive<u32>]) -> BTreeSet<u32> {
    ranges.iter().flat_map(|r| r.clone()).collect()
}

fn addresses(set: &TargetSet) -> Vec<u32> {
    set.iter().map(u32::from).collect()
}

proptest! {
    #[test]
    fn a_set_holds_exactly_its_ranges_addresses(ranges in ranges()) {
        let set: TargetSet = ranges.iter().cloned().collect();
        let model = model(&ranges);
        prop_assert_eq!(set.len(), model.len() as u64);
        prop_assert_eq!(addresses(&set), model.iter().copied().collect::<Vec<_>>());
        // Merged: sorted, disjoint and never adjacent.
        let merged: Vec<_> = set.ranges().collect();
        prop_assert!(merged.windows(2).all(|w| w[0].end().checked_add(1).unwrap() < *w[1].start()));
        for (index, &address) in model.iter().enumerate() {
            prop_assert_eq!(set.get(index as u64), Some(Ipv4Addr::from(address)));
            prop_assert_eq!(set.index_of(Ipv4Addr::from(address)), Some(index as u64));
        }
        prop_assert_eq!(set.get(model.len() as u64), None);
        for probe in [0, 1, 511, 600, u32::MAX - 512, u32::MAX - 1, u32::MAX] {
            prop_assert_eq!(set.contains(Ipv4Addr::from(probe)), model.contains(&probe));
        }
    }

    #[test]
    fn union_and_difference_are_the_models(a in ranges(), b in ranges()) {
        let (set_a, set_b): (TargetSet, TargetSet) =
            (a.iter().cloned().collect(), b.iter().cloned().collect());
        let (model_a, model_b) = (model(&a), model(&b));
        prop_assert_eq!(
            addresses(&set_a.union(&set_b)),
            model_a.union(&model_b).copied().collect::<Vec<_>>()
        );
        prop_assert_eq!(
            addresses(&set_a.difference(&set_b)),
            model_a.difference(&model_b).copied().collect::<Vec<_>>()
        );
        prop_assert_eq!(addresses(&set_a.union(&set_b)), addresses(&set_b.union(&set_a)));
        // a = (a - b) + (a - (a - b)).
        let only_a = set_a.difference(&set_b);
        prop_assert_eq!(addresses(&only_a.union(&set_a.difference(&only_a))), addresses(&set_a));
    }
}
