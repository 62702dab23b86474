//! Which shard this run scans: `--shard`, or the index a scheduler gives each of its tasks — a
//! Kubernetes Indexed Job's `JOB_COMPLETION_INDEX`, a Slurm job array's `SLURM_ARRAY_TASK_ID`
//! — so one job template starts every shard.

/// Kubernetes Indexed Job: 0 to completions - 1.
const KUBERNETES_INDEX: &str = "JOB_COMPLETION_INDEX";
/// Slurm job array: the task's id, counted from `SLURM_ARRAY_TASK_MIN` (`--array=1-4` starts
/// at 1), with `SLURM_ARRAY_TASK_COUNT` tasks.
const SLURM_TASK_ID: &str = "SLURM_ARRAY_TASK_ID";
const SLURM_TASK_MIN: &str = "SLURM_ARRAY_TASK_MIN";
const SLURM_TASK_COUNT: &str = "SLURM_ARRAY_TASK_COUNT";

/// This run's shard of `shards`, and a note saying where it came from when a scheduler gave it.
/// Shards of one scan must walk one permutation, so more than one needs `--seed` (ZMap's rule).
pub fn pick(
    flag: Option<u32>,
    shards: u32,
    seeded: bool,
    env: impl Fn(&str) -> Option<String>,
) -> Result<(u32, Option<String>), String> {
    if shards > 1 && !seeded {
        return Err(format!(
            "--shards {shards} needs --seed: every shard must walk the same permutation, so give \
             them all one seed"
        ));
    }
    let (shard, note) = match flag {
        Some(shard) => (shard, None),
        None if shards == 1 => (0, None),
        None => from_scheduler(shards, &env)?,
    };
    if shard >= shards {
        return Err(format!(
            "--shard {shard} is out of range: shards are numbered 0 to {}",
            shards - 1
        ));
    }
    Ok((shard, note))
}

fn from_scheduler(
    shards: u32,
    env: &impl Fn(&str) -> Option<String>,
) -> Result<(u32, Option<String>), String> {
    let number = |name: &str| -> Result<Option<u32>, String> {
        env(name)
            .map(|value| {
                value.trim().parse::<u32>().map_err(|_| {
                    format!("{name}={value:?} is not a shard index (a whole number, 0 or more)")
                })
            })
            .transpose()
    };
    if let Some(index) = number(KUBERNETES_INDEX)? {
        return Ok((
            index,
            Some(format!(
                "shard {index} of {shards}, from the Kubernetes Indexed Job's {KUBERNETES_INDEX}"
            )),
        ));
    }
    if let Some(id) = number(SLURM_TASK_ID)? {
        let first = number(SLURM_TASK_MIN)?.unwrap_or(0);
        if let Some(count) = number(SLURM_TASK_COUNT)?
            && count != shards
        {
            return Err(format!(
                "the Slurm job array has {count} tasks ({SLURM_TASK_COUNT}) but --shards is \
                 {shards}: one task per shard"
            ));
        }
        let index = id
            .checked_sub(first)
            .ok_or_else(|| format!("{SLURM_TASK_ID}={id} is below {SLURM_TASK_MIN}={first}"))?;
        return Ok((
            index,
            Some(format!(
                "shard {index} of {shards}, from the Slurm job array's {SLURM_TASK_ID}={id} \
                 (first task {first})"
            )),
        ));
    }
    Err(format!(
        "--shards {shards} without --shard: give --shard, or run the shards as a Kubernetes \
         Indexed Job ({KUBERNETES_INDEX}) or a Slurm job array ({SLURM_TASK_ID})"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            vars.iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| (*value).to_owned())
        }
    }

    #[test]
    fn the_flag_wins_and_one_shard_needs_nothing() {
        let k8s = [(KUBERNETES_INDEX, "3")];
        assert_eq!(pick(Some(1), 4, true, env(&k8s)), Ok((1, None)));
        assert_eq!(pick(None, 1, false, env(&[])), Ok((0, None)));
        // One shard ignores a scheduler's index: the scan is the whole.
        assert_eq!(pick(None, 1, false, env(&k8s)), Ok((0, None)));
    }

    #[test]
    fn a_scheduler_gives_the_index_and_says_so() {
        let (shard, note) = pick(None, 4, true, env(&[(KUBERNETES_INDEX, "2")])).unwrap();
        assert_eq!(shard, 2);
        assert!(
            note.unwrap()
                .contains("Kubernetes Indexed Job's JOB_COMPLETION_INDEX")
        );
        // Slurm counts from the array's first id: --array=1-4 is shards 0-3.
        let slurm = [
            (SLURM_TASK_ID, "4"),
            (SLURM_TASK_MIN, "1"),
            (SLURM_TASK_COUNT, "4"),
        ];
        let (shard, note) = pick(None, 4, true, env(&slurm)).unwrap();
        assert_eq!(shard, 3);
        assert!(
            note.unwrap()
                .contains("SLURM_ARRAY_TASK_ID=4 (first task 1)")
        );
        assert_eq!(
            pick(None, 4, true, env(&[(SLURM_TASK_ID, "0")])).unwrap().0,
            0
        );
    }

    #[test]
    fn what_cannot_be_a_shard_is_one_clear_line() {
        let err = |flag, shards, seeded, vars: &[(&str, &str)]| {
            pick(flag, shards, seeded, env(vars)).unwrap_err()
        };
        assert!(err(None, 4, true, &[]).contains("--shards 4 without --shard"));
        assert!(err(Some(0), 4, false, &[]).contains("--shards 4 needs --seed"));
        assert!(err(Some(4), 4, true, &[]).contains("--shard 4 is out of range"));
        assert!(
            err(None, 4, true, &[(KUBERNETES_INDEX, "4")]).contains("--shard 4 is out of range")
        );
        assert!(
            err(None, 4, true, &[(KUBERNETES_INDEX, "x")])
                .contains(r#"JOB_COMPLETION_INDEX="x" is not a shard index"#)
        );
        assert!(
            err(
                None,
                4,
                true,
                &[(SLURM_TASK_ID, "2"), (SLURM_TASK_COUNT, "3")]
            )
            .contains("the Slurm job array has 3 tasks")
        );
        assert!(
            err(
                None,
                4,
                true,
                &[(SLURM_TASK_ID, "0"), (SLURM_TASK_MIN, "1")]
            )
            .contains("is below SLURM_ARRAY_TASK_MIN=1")
        );
    }
}
