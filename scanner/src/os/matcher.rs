//! Scoring a subject fingerprint against nmap-os-db (osscan.cc: compare_fingerprints,
//! match_fingerprint) and the verdict nmap prints from the scores (output.cc:
//! printosscanoutput).
//!
//! An attribute counts only when both the reference and the subject have it; it is worth its
//! MatchPoints weight, and accuracy is points matched over points counted.

use super::db::{MatchPoints, OsDb, Reference};
use super::fingerprint::{Fingerprint, TestName};

/// nmap ignores references scoring below this (OSSCAN_GUESS_THRESHOLD).
pub const GUESS_THRESHOLD: f64 = 0.85;
/// How many matches nmap keeps per fingerprint (MAX_FP_RESULTS).
pub const MAX_MATCHES: usize = 36;
/// nmap names at most this many perfect matches ("OS details") before giving up on them.
pub const MAX_PRINTED_PERFECT: usize = 8;
/// At most this many "Aggressive OS guesses", within 10 points of the best.
pub const MAX_GUESSES: usize = 10;
pub const GUESS_SPREAD: f64 = 0.10;

/// Points counted and matched between one reference and the subject.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Score {
    pub matched: u32,
    pub possible: u32,
}

impl Score {
    /// nmap's accuracy: 0 when nothing could be compared.
    pub fn accuracy(self) -> f64 {
        if self.possible == 0 {
            0.0
        } else {
            f64::from(self.matched) / f64::from(self.possible)
        }
    }
}

/// Scores every attribute both fingerprints have. O values and the OPS test use nmap's
/// bracketed option patterns.
pub fn score(
    reference: &Fingerprint<super::expr::Expr>,
    subject: &Fingerprint<String>,
    points: &MatchPoints,
) -> Score {
    score_until(reference, subject, points, u32::MAX)
}

/// [`score`], stopping once more than `max_mismatch` points are lost (the result can then
/// no longer reach the threshold that `max_mismatch` was derived from).
fn score_until(
    reference: &Fingerprint<super::expr::Expr>,
    subject: &Fingerprint<String>,
    points: &MatchPoints,
    max_mismatch: u32,
) -> Score {
    let mut score = Score::default();
    for name in TestName::ALL {
        let (Some(r), Some(s), Some(p)) =
            (reference.test(name), subject.test(name), points.test(name))
        else {
            continue;
        };
        let attrs = name.attributes();
        for (i, ((expr, value), weight)) in r
            .values()
            .iter()
            .zip(s.values())
            .zip(p.values())
            .enumerate()
        {
            let (Some(expr), Some(value)) = (expr, value) else {
                continue;
            };
            let weight = weight.unwrap_or(0);
            score.possible += weight;
            let nested = name == TestName::Ops || attrs[i] == "O";
            if expr.matches(value, nested) {
                score.matched += weight;
            }
        }
        if score.possible - score.matched > max_mismatch {
            break;
        }
    }
    score
}

/// One reference in the result list.
#[derive(Clone, Debug)]
pub struct Match<'db> {
    pub reference: &'db Reference,
    pub accuracy: f64,
}

/// match_fingerprint's result: the best matches, best first.
#[derive(Clone, Debug)]
pub struct Matches<'db> {
    /// Best first; equal accuracies keep database order; one entry per OS name.
    pub matches: Vec<Match<'db>>,
    pub perfect: usize,
    /// More than [`MAX_MATCHES`] references matched perfectly (OSSCAN_TOOMANYMATCHES).
    pub too_many_perfect: bool,
}

/// Ranks the references as match_fingerprint does: only accuracies of at least `threshold`
/// (nmap: [`GUESS_THRESHOLD`]), one entry per OS name (the better one, the earlier on a
/// tie), at most [`MAX_MATCHES`], the entry bar rising once the list is full.
pub fn match_fingerprint<'db>(
    subject: &Fingerprint<String>,
    db: &'db OsDb,
    threshold: f64,
) -> Matches<'db> {
    let mut result = Matches {
        matches: Vec::with_capacity(MAX_MATCHES),
        perfect: 0,
        too_many_perfect: false,
    };
    let mut entrance = threshold;
    for reference in &db.references {
        // nmap truncates to whole points.
        let max_mismatch = ((1.0 - entrance) * f64::from(reference.max_points)) as u32;
        let accuracy = score_until(
            &reference.fingerprint,
            subject,
            &db.match_points,
            max_mismatch,
        )
        .accuracy();
        if accuracy < entrance && accuracy != 1.0 {
            continue;
        }
        if let Some(i) = result
            .matches
            .iter()
            .position(|m| m.reference.name == reference.name)
        {
            if result.matches[i].accuracy >= accuracy {
                continue;
            }
            result.matches.remove(i);
        }
        if accuracy == 1.0 {
            if result.perfect == MAX_MATCHES {
                result.too_many_perfect = true;
                return result;
            }
            result.perfect += 1;
        }
        let at = result
            .matches
            .iter()
            .position(|m| m.accuracy < accuracy)
            .unwrap_or(result.matches.len());
        result.matches.insert(
            at,
            Match {
                reference,
                accuracy,
            },
        );
        result.matches.truncate(MAX_MATCHES);
        if result.matches.len() == MAX_MATCHES {
            entrance = (result.matches[MAX_MATCHES - 1].accuracy + 0.00001).min(1.0);
        }
    }
    result
}

/// Which round's matches nmap reports when no round matched perfectly (osscan2.cc:
/// findBestFPs): the first round with the best top accuracy (a perfect one ends the search).
pub fn best_round(rounds: &[Matches]) -> Option<usize> {
    let mut best: Option<(usize, f64)> = None;
    for (i, round) in rounds.iter().enumerate() {
        if round.too_many_perfect {
            continue;
        }
        let Some(top) = round.matches.first() else {
            continue;
        };
        if best.is_none_or(|(_, accuracy)| top.accuracy > accuracy) {
            best = Some((i, top.accuracy));
            if round.perfect > 0 {
                break;
            }
        }
    }
    best.map(|(i, _)| i)
}

/// What nmap prints about the OS (the plain-text lines of printosscanoutput).
#[derive(Clone, Debug, PartialEq)]
pub enum Verdict {
    /// "OS details: a, b": references that matched every compared attribute.
    Exact(Vec<String>),
    /// "Aggressive OS guesses: a (96%), b (94%)": percentages rounded down.
    Guesses(Vec<(String, u8)>),
    /// "Too many fingerprints match this host to give specific OS details".
    TooManyMatches,
    /// "No OS matches for host".
    NoMatches,
}

impl std::fmt::Display for Verdict {
    /// The line as nmap prints it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Verdict::Exact(names) => write!(f, "OS details: {}", names.join(", ")),
            Verdict::Guesses(guesses) => {
                f.write_str("Aggressive OS guesses: ")?;
                for (i, (name, percent)) in guesses.iter().enumerate() {
                    let separator = if i == 0 { "" } else { ", " };
                    write!(f, "{separator}{name} ({percent}%)")?;
                }
                Ok(())
            }
            Verdict::TooManyMatches => {
                f.write_str("Too many fingerprints match this host to give specific OS details")
            }
            Verdict::NoMatches => f.write_str("No OS matches for host"),
        }
    }
}

impl<'db> Matches<'db> {
    /// The verdict as nmap prints it without debugging (with -d, nmap lists all perfect
    /// matches instead of giving up above [`MAX_PRINTED_PERFECT`]).
    pub fn verdict(&self) -> Verdict {
        if self.too_many_perfect || self.perfect > MAX_PRINTED_PERFECT {
            return Verdict::TooManyMatches;
        }
        if self.matches.is_empty() {
            return Verdict::NoMatches;
        }
        if self.perfect > 0 {
            return Verdict::Exact(
                self.matches[..self.perfect]
                    .iter()
                    .map(|m| m.reference.name.clone())
                    .collect(),
            );
        }
        let best = self.matches[0].accuracy;
        Verdict::Guesses(
            self.matches
                .iter()
                .enumerate()
                .take_while(|(i, m)| *i == 0 || m.accuracy > best - GUESS_SPREAD)
                .take(MAX_GUESSES)
                .map(|(_, m)| (m.reference.name.clone(), (m.accuracy * 100.0).floor() as u8))
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::os::db::{Dialect, OsDb, parse_subject};

    const DB: &str = "MatchPoints
SEQ(SP=25%GCD=75%ISR=25%TI=100%CI=50%II=100%SS=80%TS=100)
OPS(O1=20%O2=20%O3=20%O4=20%O5=20%O6=20)
T1(R=100%DF=20%T=15%TG=15%S=20%A=20%F=30%RD=20%Q=20)

Fingerprint Alpha
T1(R=Y%DF=Y%T=40%S=O%A=S+%F=AS%RD=0%Q=)

Fingerprint Beta
T1(R=Y%DF=N%T=40%S=O%A=S+%F=AS%RD=0%Q=)

Fingerprint Alpha
T1(R=Y%DF=Y%T=80%S=O%A=S+%F=AS%RD=0%Q=)

Fingerprint Gamma
SEQ(TI=Z|I%GCD=1-6)
OPS(O1=M[>500]ST11)
";

    fn subject(text: &str) -> Fingerprint<String> {
        parse_subject(text).unwrap()
    }

    #[test]
    fn weights_count_only_shared_attributes() {
        let db = OsDb::parse(DB, Dialect::Nmap794).unwrap();
        let s = subject("T1(R=Y%DF=N%T=40%S=O%A=S+%F=AS%RD=0%Q=)");
        let alpha = &db.references[0];
        let sc = score(&alpha.fingerprint, &s, &db.match_points);
        assert_eq!(
            sc,
            Score {
                matched: 225,
                possible: 245
            }
        ); // DF (20) differs
        let gamma = &db.references[3];
        assert_eq!(
            score(&gamma.fingerprint, &s, &db.match_points),
            Score::default()
        );
        assert_eq!(Score::default().accuracy(), 0.0);
        let s = subject("SEQ(TI=I%GCD=2%SP=5)\nOPS(O1=M5B4ST11)");
        assert_eq!(
            score(&gamma.fingerprint, &s, &db.match_points),
            Score {
                matched: 195,
                possible: 195
            },
            "nested O pattern matches"
        );
    }

    #[test]
    fn ranking_dedups_names_and_orders_by_accuracy() {
        let db = OsDb::parse(DB, Dialect::Nmap794).unwrap();
        let s = subject("T1(R=Y%DF=N%T=40%S=O%A=S+%F=AS%RD=0%Q=)");
        let m = match_fingerprint(&s, &db, GUESS_THRESHOLD);
        let names: Vec<_> = m
            .matches
            .iter()
            .map(|m| m.reference.name.as_str())
            .collect();
        assert_eq!(names, ["Beta", "Alpha"]);
        assert_eq!(m.perfect, 1);
        assert!((m.matches[1].accuracy - 225.0 / 245.0).abs() < 1e-9);
        assert_eq!(m.verdict(), Verdict::Exact(vec!["Beta".into()]));
        assert_eq!(m.verdict().to_string(), "OS details: Beta");

        let s = subject("T1(R=Y%DF=Y%T=3F%S=O%A=S+%F=AS%RD=0%Q=)");
        let m = match_fingerprint(&s, &db, GUESS_THRESHOLD);
        // Alpha (230/245 twice: the first entry stays), Beta 210/245 = 85.7%.
        let names: Vec<_> = m.matches.iter().map(|m| m.reference.line).collect();
        assert_eq!(names, [6, 9]);
        assert_eq!(
            m.verdict(),
            Verdict::Guesses(vec![("Alpha".into(), 93), ("Beta".into(), 85)])
        );
        assert_eq!(
            m.verdict().to_string(),
            "Aggressive OS guesses: Alpha (93%), Beta (85%)"
        );
    }

    #[test]
    fn best_round_is_the_first_with_the_best_top_match() {
        let db = OsDb::parse(DB, Dialect::Nmap794).unwrap();
        let round = |text| match_fingerprint(&subject(text), &db, GUESS_THRESHOLD);
        let none = round("T1(R=N)");
        let good = round("T1(R=Y%DF=Y%T=3F%S=O%A=S+%F=AS%RD=0%Q=)");
        let perfect = round("T1(R=Y%DF=N%T=40%S=O%A=S+%F=AS%RD=0%Q=)");
        assert_eq!(best_round(&[]), None);
        assert_eq!(best_round(std::slice::from_ref(&none)), None);
        assert_eq!(
            best_round(&[none.clone(), good.clone(), good.clone()]),
            Some(1)
        );
        assert_eq!(
            best_round(&[good.clone(), perfect.clone(), perfect]),
            Some(1)
        );
    }

    #[test]
    fn verdict_without_matches() {
        let db = OsDb::parse(DB, Dialect::Nmap794).unwrap();
        let s = subject("T1(R=N)");
        assert_eq!(
            match_fingerprint(&s, &db, GUESS_THRESHOLD).verdict(),
            Verdict::NoMatches
        );
    }

    /// Every reference of the real database, turned into a subject, matches itself fully by
    /// today's rules; by nmap 7.93's, exactly the three whose literal alternative precedes a
    /// range (`T=79|B0-BA`, `TS=1|5-7`) cannot (7.93 tries only the range there).
    #[test]
    fn every_system_reference_matches_itself() {
        let Some(db) = crate::os::db::tests::system_db() else {
            return;
        };
        let text = std::fs::read_to_string(crate::os::db::SYSTEM_DB_PATH).unwrap();
        let current = crate::os::db::OsDb::parse(&text, Dialect::Nmap794).unwrap();
        let failures = |db: &OsDb| {
            let mut failures = Vec::new();
            for reference in &db.references {
                let subject = representative_subject(&reference.fingerprint);
                let sc = score(&reference.fingerprint, &subject, &db.match_points);
                if sc.matched != sc.possible || sc.possible == 0 {
                    failures.push(format!(
                        "line {}: {} {sc:?}",
                        reference.line, reference.name
                    ));
                }
            }
            failures
        };
        assert_eq!(failures(&current), Vec::<String>::new());
        let legacy = failures(&db);
        assert_eq!(legacy.len(), 3, "{legacy:?}");
        for failure in &legacy {
            let line: usize = failure[5..failure.find(':').unwrap()].parse().unwrap();
            let block: Vec<&str> = text.lines().skip(line - 1).take(20).collect();
            assert!(
                block.iter().any(|l| l.split('%').any(|pair| {
                    let value = pair.split_once('=').map_or("", |(_, v)| v);
                    value.split('|').skip(1).any(|alt| alt.contains('-'))
                })),
                "{failure}: no literal before a range"
            );
        }
        // And the ranking puts a perfect match first.
        let reference = &db.references[db.references.len() / 2];
        let m = match_fingerprint(
            &representative_subject(&reference.fingerprint),
            &db,
            GUESS_THRESHOLD,
        );
        assert!(m.perfect >= 1);
        assert_eq!(m.matches[0].accuracy, 1.0);
        assert!(
            m.matches[..m.perfect]
                .iter()
                .any(|m| m.reference.name == reference.name)
        );
    }

    fn representative_subject(
        reference: &Fingerprint<crate::os::expr::Expr>,
    ) -> Fingerprint<String> {
        reference.map_values(|expr| expr.representative())
    }
}
