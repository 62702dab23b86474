//! Properties of the permutation and its parts, over lengths, seeds and layouts proptest picks.

use std::collections::HashSet;

use proptest::prelude::*;

use super::{Part, Permutation};

proptest! {
    #[test]
    fn the_walk_is_a_bijection_of_the_index_space(len in 0u64..3_000, seed: u64) {
        let mut seen: Vec<u64> = Permutation::new(len, seed).iter().collect();
        seen.sort_unstable();
        prop_assert_eq!(seen, (0..len).collect::<Vec<_>>());
    }

    #[test]
    fn shards_and_threads_cover_each_index_once(
        len in 0u64..2_000,
        seed: u64,
        shards in 1u32..6,
        threads in 1u32..5,
    ) {
        let permutation = Permutation::new(len, seed);
        let mut count = vec![0u8; len as usize];
        for shard in 0..shards {
            let mut of_shard = HashSet::new();
            for thread in 0..threads {
                let part = Part::for_shard_thread(shard, shards, thread, threads).unwrap();
                for index in permutation.part(part) {
                    count[index as usize] += 1;
                    of_shard.insert(index);
                }
            }
            // A shard scans the same indices whatever its thread count (ZMap 2.1's split).
            let alone = Part::for_shard_thread(shard, shards, 0, 1).unwrap();
            prop_assert_eq!(of_shard, permutation.part(alone).collect::<HashSet<_>>());
        }
        prop_assert!(count.iter().all(|&c| c == 1));
    }

    #[test]
    fn a_restarted_walk_replays_what_was_walked(len in 1u64..5_000, seed: u64, k in 0usize..5_000) {
        let mut walk = Permutation::new(len, seed).iter();
        let first: Vec<u64> = walk.by_ref().take(k).collect();
        prop_assert_eq!(walk.yielded(), first.len() as u64);
        let again: Vec<u64> = walk.restarted().take(first.len()).collect();
        prop_assert_eq!(again, first);
    }

    #[test]
    fn huge_spaces_walk_distinct_indices_inside_them(len in 1u64 << 32..1u64 << 48, seed: u64) {
        let first: Vec<u64> = Permutation::new(len, seed).iter().take(2_000).collect();
        prop_assert!(first.iter().all(|&index| index < len));
        prop_assert_eq!(first.iter().collect::<HashSet<_>>().len(), first.len());
    }
}
