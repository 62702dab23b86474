//! The nmap-os-db format: a MatchPoints block (how many points each attribute is worth),
//! then reference fingerprints (`Fingerprint` name, `Class` and `CPE` lines, test lines),
//! blocks separated by blank lines, `#` comments (osscan.cc: parse_fingerprint_file).
//!
//! Stricter than nmap, which skips or aborts on odd lines: every problem is an error naming
//! the line, and nothing in the input can make the parser panic.

use std::path::Path;

use thiserror::Error;

use super::expr::{Expr, ExprError};
use super::fingerprint::{Fingerprint, Test, TestName};

/// Where Debian (and nmap's default install) keeps the database.
pub const SYSTEM_DB_PATH: &str = "/usr/share/nmap/nmap-os-db";

/// How a test line without an R attribute reads, which changed between nmap releases and
/// changes scores: R is worth up to 100 points.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    /// nmap up to 7.93: the reference simply has no R, which is then not scored; and values
    /// match by 7.93's rules ([`Expr::nmap793`]).
    Nmap793,
    /// nmap 7.94 and later: R=Y when the line has other attributes, R=N when it has none.
    Nmap794,
}

/// Points per attribute; an attribute the MatchPoints block leaves out is worth nothing.
pub type MatchPoints = Fingerprint<u32>;

#[derive(Clone, Debug)]
pub struct OsDb {
    pub match_points: MatchPoints,
    pub references: Vec<Reference>,
}

/// One `Fingerprint` block.
#[derive(Clone, Debug)]
pub struct Reference {
    pub name: String,
    /// Line of the `Fingerprint` line, 1-based (nmap's FingerMatch::line).
    pub line: usize,
    pub classes: Vec<OsClass>,
    pub fingerprint: Fingerprint<Expr>,
    /// Points of every attribute the reference has (nmap's numprints).
    pub max_points: u32,
}

/// A `Class vendor | family | generation | device type` line and the CPE lines under it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OsClass {
    pub vendor: String,
    pub family: String,
    pub generation: Option<String>,
    pub device_type: String,
    pub cpe: Vec<String>,
}

#[derive(Debug, Error)]
pub enum DbError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("nmap-os-db line {line}: {problem}")]
    Syntax { line: usize, problem: Problem },
}

/// What is wrong with a line.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum Problem {
    #[error("a second MatchPoints block")]
    DuplicateMatchPoints,
    #[error("a Fingerprint before the MatchPoints block")]
    FingerprintBeforeMatchPoints,
    #[error("no MatchPoints block in the file")]
    NoMatchPoints,
    #[error("Fingerprint without a name")]
    UnnamedFingerprint,
    #[error("a line outside any Fingerprint or MatchPoints block: {0:?}")]
    Stray(String),
    #[error("Class line needs 4 fields separated by '|': {0:?}")]
    BadClass(String),
    #[error("CPE line before any Class line")]
    CpeWithoutClass,
    #[error("CPE line without a CPE name")]
    EmptyCpe,
    #[error("not a test line (NAME(...)): {0:?}")]
    NotATest(String),
    #[error("truncated test line, no closing ')': {0:?}")]
    Truncated(String),
    #[error("text after the closing ')': {0:?}")]
    TrailingText(String),
    #[error("unknown test {0:?}")]
    UnknownTest(String),
    #[error("test {0} appears twice in one block")]
    DuplicateTest(TestName),
    #[error("test {test} has no attribute {attr:?}")]
    UnknownAttribute { test: TestName, attr: String },
    #[error("attribute {test}.{attr} given twice")]
    DuplicateAttribute { test: TestName, attr: String },
    #[error("missing '=' in {0:?}")]
    MissingEquals(String),
    #[error("{test}.{attr}: {error}")]
    BadExpression {
        test: TestName,
        attr: String,
        error: ExprError,
    },
    #[error("{test}.{attr}: points must be a positive integer, not {value:?}")]
    BadPoints {
        test: TestName,
        attr: String,
        value: String,
    },
    #[error("{test} has attributes but R={value} (expected Y)")]
    ResponseWithoutY { test: TestName, value: String },
}

impl Dialect {
    /// The dialect of the nmap release a file came with, by the date of its `$Id` line (nmap
    /// 7.94 came out in 2023); a file without one (the scanner's own) reads as 7.94.
    pub fn of_file(text: &str) -> Dialect {
        let year = text
            .lines()
            .take_while(|line| line.starts_with('#') || line.trim().is_empty())
            .find_map(|line| {
                let id = line.split("$Id: ").nth(1)?;
                let date = id.split_whitespace().nth(2)?;
                date.get(..4)?.parse::<u32>().ok()
            });
        match year {
            Some(year) if year < 2023 => Dialect::Nmap793,
            _ => Dialect::Nmap794,
        }
    }
}

/// The built-in fingerprints (measured in the lab, see os-db/README.md), used without --os-db.
pub const BUILTIN: &str = include_str!("../../os-db/scanner-os-db");

impl OsDb {
    /// The database [`BUILTIN`] holds.
    pub fn builtin() -> Result<OsDb, DbError> {
        OsDb::parse(BUILTIN, Dialect::Nmap794)
    }

    /// Reads and parses a database file.
    pub fn load(path: impl AsRef<Path>, dialect: Dialect) -> Result<OsDb, DbError> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|source| DbError::Io {
            path: path.display().to_string(),
            source,
        })?;
        // The file is ASCII; a stray byte must not stop the parse (nmap reads bytes too).
        OsDb::parse(&String::from_utf8_lossy(&bytes), dialect)
    }

    pub fn parse(text: &str, dialect: Dialect) -> Result<OsDb, DbError> {
        Parser {
            dialect,
            match_points: None,
            references: Vec::new(),
        }
        .run(text)
    }
}

/// What the current block is.
enum Block {
    None,
    MatchPoints,
    Reference(Box<Reference>),
}

struct Parser {
    dialect: Dialect,
    match_points: Option<MatchPoints>,
    references: Vec<Reference>,
}

impl Parser {
    fn run(mut self, text: &str) -> Result<OsDb, DbError> {
        let mut block = Block::None;
        let mut last_line = 0;
        for (index, raw) in text.lines().enumerate() {
            let line = index + 1;
            last_line = line;
            let syntax = |problem| DbError::Syntax { line, problem };
            let content = raw.trim_end();
            // Newer databases name the nmap release they need; the reader picks the dialect.
            if content.starts_with('#') || content.starts_with("This nmap-os-db") {
                continue;
            }
            if content.is_empty() {
                self.close(std::mem::replace(&mut block, Block::None));
                continue;
            }
            if let Some(rest) = keyword(content, "Fingerprint") {
                self.close(std::mem::replace(&mut block, Block::None));
                if self.match_points.is_none() {
                    return Err(syntax(Problem::FingerprintBeforeMatchPoints));
                }
                // nmap ends the name at a '#' comment.
                let name = rest.split('#').next().unwrap_or_default().trim();
                if name.is_empty() {
                    return Err(syntax(Problem::UnnamedFingerprint));
                }
                block = Block::Reference(Box::new(Reference {
                    name: name.to_owned(),
                    line,
                    classes: Vec::new(),
                    fingerprint: Fingerprint::default(),
                    max_points: 0,
                }));
                continue;
            }
            if content == "MatchPoints" {
                if self.match_points.is_some() {
                    return Err(syntax(Problem::DuplicateMatchPoints));
                }
                self.close(std::mem::replace(&mut block, Block::MatchPoints));
                self.match_points = Some(MatchPoints::default());
                continue;
            }
            match &mut block {
                Block::None => return Err(syntax(Problem::Stray(content.to_owned()))),
                Block::MatchPoints => {
                    let points = self.match_points.as_mut().expect("set with the block");
                    let test = parse_test_line(content, parse_points).map_err(syntax)?;
                    if points.insert(test).is_some() {
                        let name = test_name(content);
                        return Err(syntax(Problem::DuplicateTest(name)));
                    }
                }
                Block::Reference(reference) => {
                    let points = self.match_points.as_ref().expect("checked at Fingerprint");
                    reference_line(reference, points, self.dialect, content).map_err(syntax)?;
                }
            }
        }
        self.close(block);
        let match_points = self.match_points.ok_or(DbError::Syntax {
            line: last_line,
            problem: Problem::NoMatchPoints,
        })?;
        Ok(OsDb {
            match_points,
            references: self.references,
        })
    }

    fn close(&mut self, block: Block) {
        if let Block::Reference(reference) = block {
            self.references.push(*reference);
        }
    }
}

/// `rest` of `line` if it starts with the word `word` (followed by space or nothing).
fn keyword<'a>(line: &'a str, word: &str) -> Option<&'a str> {
    let rest = line.strip_prefix(word)?;
    (rest.is_empty() || rest.starts_with(char::is_whitespace)).then_some(rest)
}

/// The test name of a line already parsed successfully once.
fn test_name(line: &str) -> TestName {
    line.split('(')
        .next()
        .and_then(TestName::parse)
        .expect("parsed before")
}

fn reference_line(
    reference: &mut Reference,
    match_points: &MatchPoints,
    dialect: Dialect,
    line: &str,
) -> Result<(), Problem> {
    if let Some(rest) = keyword(line, "Class") {
        let fields: Vec<&str> = rest.split('|').map(str::trim).collect();
        let [vendor, family, generation, device_type] = fields[..] else {
            return Err(Problem::BadClass(line.to_owned()));
        };
        reference.classes.push(OsClass {
            vendor: vendor.to_owned(),
            family: family.to_owned(),
            generation: (!generation.is_empty()).then(|| generation.to_owned()),
            device_type: device_type.to_owned(),
            cpe: Vec::new(),
        });
        return Ok(());
    }
    if let Some(rest) = keyword(line, "CPE") {
        let class = reference
            .classes
            .last_mut()
            .ok_or(Problem::CpeWithoutClass)?;
        // Flags such as "auto" may follow the name.
        let cpe = rest.split_whitespace().next().ok_or(Problem::EmptyCpe)?;
        class.cpe.push(cpe.to_owned());
        return Ok(());
    }
    let test = parse_test_line(line, |test, attr, value| {
        let expr = Expr::parse(value).map_err(|error| Problem::BadExpression {
            test,
            attr: attr.to_owned(),
            error,
        })?;
        Ok(match dialect {
            Dialect::Nmap793 => expr.nmap793(),
            Dialect::Nmap794 => expr,
        })
    })?;
    let test = with_response_default(test, dialect)?;
    let name = test.name();
    if let Some(points) = match_points.test(name) {
        reference.max_points += test
            .values()
            .iter()
            .zip(points.values())
            .filter(|(value, _)| value.is_some())
            .map(|(_, points)| points.unwrap_or(0))
            .sum::<u32>();
    }
    if reference.fingerprint.insert(test).is_some() {
        return Err(Problem::DuplicateTest(name));
    }
    Ok(())
}

/// R as the dialect reads a line without it (str2AVal), and a check that a line with
/// attributes does not claim R=N.
fn with_response_default(mut test: Test<Expr>, dialect: Dialect) -> Result<Test<Expr>, Problem> {
    let name = test.name();
    if !name.has_response_attr() {
        return Ok(test);
    }
    let others = test.values()[1..].iter().any(Option::is_some);
    match test.get("R") {
        None if dialect == Dialect::Nmap793 => {}
        None if others => test.set("R", literal("Y")),
        None => test.set("R", literal("N")),
        Some(r) if others && !r.as_str().contains('Y') => {
            return Err(Problem::ResponseWithoutY {
                test: name,
                value: r.as_str().to_owned(),
            });
        }
        Some(_) => {}
    }
    Ok(test)
}

fn literal(text: &str) -> Expr {
    Expr::parse(text).expect("a plain literal")
}

fn parse_points(test: TestName, attr: &str, value: &str) -> Result<u32, Problem> {
    match value.parse::<u32>() {
        Ok(points) if points > 0 => Ok(points),
        _ => Err(Problem::BadPoints {
            test,
            attr: attr.to_owned(),
            value: value.to_owned(),
        }),
    }
}

/// Parses `NAME(attr=value%attr=value)`; `value` turns each value text into a `V`.
/// `SEQ(R=N)` (a test without an R attribute that got no response) gives an empty test.
pub fn parse_test_line<V>(
    line: &str,
    mut value: impl FnMut(TestName, &str, &str) -> Result<V, Problem>,
) -> Result<Test<V>, Problem> {
    let (name, rest) = line
        .split_once('(')
        .ok_or_else(|| Problem::NotATest(line.to_owned()))?;
    let name = TestName::parse(name).ok_or_else(|| Problem::UnknownTest(name.to_owned()))?;
    let (body, trailing) = rest
        .split_once(')')
        .ok_or_else(|| Problem::Truncated(line.to_owned()))?;
    if !trailing.trim().is_empty() {
        return Err(Problem::TrailingText(trailing.to_owned()));
    }
    let mut test = Test::new(name);
    if body.is_empty() || (!name.has_response_attr() && body == "R=N") {
        return Ok(test);
    }
    for pair in body.split('%') {
        let (attr, text) = pair
            .split_once('=')
            .ok_or_else(|| Problem::MissingEquals(pair.to_owned()))?;
        let index = name
            .attribute_index(attr)
            .ok_or_else(|| Problem::UnknownAttribute {
                test: name,
                attr: attr.to_owned(),
            })?;
        let parsed = value(name, attr, text)?;
        if !test.set_new(index, parsed) {
            return Err(Problem::DuplicateAttribute {
                test: name,
                attr: attr.to_owned(),
            });
        }
    }
    Ok(test)
}

/// Parses a subject fingerprint as nmap prints it (one test per line or the unwrapped
/// `OS:` text); the SCAN pseudo-test is skipped.
pub fn parse_subject(text: &str) -> Result<Fingerprint<String>, Problem> {
    let mut fingerprint = Fingerprint::default();
    for piece in text.lines().flat_map(super::fingerprint::split_tests) {
        if piece.starts_with("SCAN(") {
            continue;
        }
        let test = parse_test_line(piece, |_, _, v| Ok(v.to_owned()))?;
        let name = test.name();
        if fingerprint.insert(test).is_some() {
            return Err(Problem::DuplicateTest(name));
        }
    }
    Ok(fingerprint)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    const POINTS: &str = "MatchPoints
SEQ(SP=25%GCD=75%ISR=25%TI=100%CI=50%II=100%SS=80%TS=100)
OPS(O1=20%O2=20%O3=20%O4=20%O5=20%O6=20)
T1(R=100%DF=20%T=15%TG=15%S=20%A=20%F=30%RD=20%Q=20)
IE(R=50%DFI=40%T=15%TG=15%CD=100)
";

    fn db(body: &str) -> Result<OsDb, DbError> {
        OsDb::parse(&format!("# comment\n{POINTS}\n{body}"), Dialect::Nmap794)
    }

    fn problem(body: &str) -> (usize, Problem) {
        match db(body) {
            Err(DbError::Syntax { line, problem }) => (line, problem),
            other => panic!("expected a syntax error, got {other:?}"),
        }
    }

    /// The first line of `body` is line 8 of the file.
    const BODY_LINE: usize = 8;

    #[test]
    fn parses_a_reference() {
        let db = db("This nmap-os-db requires Nmap 7.94 or later.
Fingerprint Linux 5.0 - 5.4 # a comment
Class Linux | Linux | 5.X | general purpose
CPE cpe:/o:linux:linux_kernel:5 auto
Class Linux | Linux || router
SEQ(SP=FA-10E%GCD=1-6%ISR=100-110%TI=Z%TS=A)
OPS(R=N)
T1(DF=Y%T=3B-45%S=O|A%Q=)
IE(R=N)

Fingerprint Other
T1(R=Y%F=AS)
")
        .unwrap();
        assert_eq!(db.references.len(), 2);
        let r = &db.references[0];
        assert_eq!(r.name, "Linux 5.0 - 5.4");
        assert_eq!(r.line, BODY_LINE + 1);
        assert_eq!(r.classes.len(), 2);
        assert_eq!(r.classes[0].cpe, ["cpe:/o:linux:linux_kernel:5"]);
        assert_eq!(r.classes[1].generation, None);
        assert_eq!(r.classes[1].device_type, "router");
        let t1 = r.fingerprint.test(TestName::T1).unwrap();
        assert_eq!(t1.get("R").unwrap().as_str(), "Y", "R=Y implied");
        let old = OsDb::parse(
            &format!("{POINTS}\nFingerprint X\nT1(DF=Y)\nIE()\n"),
            Dialect::Nmap793,
        )
        .unwrap();
        let old = &old.references[0].fingerprint;
        assert_eq!(
            old.test(TestName::T1).unwrap().get("R"),
            None,
            "7.93 implies nothing"
        );
        assert_eq!(old.test(TestName::Ie).unwrap().get("R"), None);
        assert_eq!(t1.get("Q").unwrap().as_str(), "");
        let ie = r.fingerprint.test(TestName::Ie).unwrap();
        assert_eq!(ie.get("R").unwrap().as_str(), "N");
        let ops = r.fingerprint.test(TestName::Ops).unwrap();
        assert!(
            ops.values().iter().all(Option::is_none),
            "OPS(R=N): present, empty"
        );
        // SEQ 25+75+25+100+100, T1 R+DF+T+S+Q = 100+20+15+20+20, IE R = 50
        assert_eq!(r.max_points, 325 + 175 + 50);
        assert_eq!(
            db.match_points.test(TestName::Seq).unwrap().get("GCD"),
            Some(&75)
        );
    }

    #[test]
    fn errors_name_the_line_and_the_problem() {
        assert_eq!(
            problem("Fingerprint X\nT1(R=Y%DF=Y"),
            (BODY_LINE + 1, Problem::Truncated("T1(R=Y%DF=Y".into()))
        );
        assert_eq!(
            problem("Fingerprint X\nT9(R=Y)"),
            (BODY_LINE + 1, Problem::UnknownTest("T9".into()))
        );
        assert_eq!(
            problem("Fingerprint X\nT1(R=Y%W=5)").1,
            Problem::UnknownAttribute {
                test: TestName::T1,
                attr: "W".into()
            }
        );
        assert_eq!(
            problem("Fingerprint X\nT1(R=Y%DF=Y%DF=N)").1,
            Problem::DuplicateAttribute {
                test: TestName::T1,
                attr: "DF".into()
            }
        );
        assert!(matches!(
            problem("Fingerprint X\nSEQ(SP=>)").1,
            Problem::BadExpression { .. }
        ));
        assert!(matches!(
            problem("Fingerprint X\nSEQ(SP=9-1)").1,
            Problem::BadExpression { .. }
        ));
        assert_eq!(
            problem("Fingerprint X\nT1(R=Y)\nT1(R=N)").1,
            Problem::DuplicateTest(TestName::T1)
        );
        assert_eq!(
            problem("Fingerprint X\nT1(R=Y)x").1,
            Problem::TrailingText("x".into())
        );
        assert_eq!(
            problem("Fingerprint X\nT1(DFY)").1,
            Problem::MissingEquals("DFY".into())
        );
        assert!(matches!(
            problem("Fingerprint X\nT1(R=N%DF=Y)").1,
            Problem::ResponseWithoutY { .. }
        ));
        assert!(matches!(
            problem("Fingerprint X\nClass Linux | Linux").1,
            Problem::BadClass(_)
        ));
        assert_eq!(
            problem("Fingerprint X\nCPE cpe:/o:x").1,
            Problem::CpeWithoutClass
        );
        assert_eq!(
            problem("Fingerprint X\nbogus").1,
            Problem::NotATest("bogus".into())
        );
        assert_eq!(
            problem("Fingerprint   \nT1(R=Y)"),
            (BODY_LINE, Problem::UnnamedFingerprint)
        );
        assert!(matches!(problem("T1(R=Y)").1, Problem::Stray(_)));
        assert_eq!(problem("MatchPoints\n").1, Problem::DuplicateMatchPoints);
    }

    #[test]
    fn match_points_must_come_first_and_be_positive() {
        let err = OsDb::parse("Fingerprint X\nT1(R=Y)\n", Dialect::Nmap794).unwrap_err();
        assert!(matches!(
            err,
            DbError::Syntax {
                line: 1,
                problem: Problem::FingerprintBeforeMatchPoints
            }
        ));
        assert!(err.to_string().starts_with("nmap-os-db line 1: "), "{err}");
        let err = OsDb::parse("# nothing\n", Dialect::Nmap794).unwrap_err();
        assert!(matches!(
            err,
            DbError::Syntax {
                problem: Problem::NoMatchPoints,
                ..
            }
        ));
        let err = OsDb::parse("MatchPoints\nT1(R=0)\n", Dialect::Nmap794).unwrap_err();
        assert!(matches!(
            err,
            DbError::Syntax {
                line: 2,
                problem: Problem::BadPoints { .. }
            }
        ));
        let err = OsDb::parse("MatchPoints\nT1(R=x)\n", Dialect::Nmap794).unwrap_err();
        assert!(matches!(
            err,
            DbError::Syntax {
                line: 2,
                problem: Problem::BadPoints { .. }
            }
        ));
    }

    #[test]
    fn hostile_input_never_panics() {
        // Every prefix of a valid file either parses or gives an error.
        let text = format!(
            "{POINTS}\nFingerprint X\nClass a | b | c | d\nCPE cpe:/o:x auto\nT1(R=Y%DF=Y|N%T=3B-45)\n"
        );
        for end in 0..=text.len() {
            let _ = OsDb::parse(&text[..end], Dialect::Nmap794);
        }
        for junk in [
            "(",
            ")",
            "()",
            "=(",
            "T1((",
            "T1(=)",
            "T1(%)",
            "SEQ(SP=[)",
            "\u{0}",
        ] {
            let _ = db(&format!("Fingerprint X\n{junk}"));
        }
    }

    #[test]
    fn subject_text_round_trips() {
        let text = "SCAN(V=7.93%E=4)SEQ(SP=102%GCD=1%TI=Z)T2(R=N)U1(R=Y%DF=N%RIPL=G)";
        let fp = parse_subject(text).unwrap();
        assert_eq!(
            fp.to_string(),
            "SEQ(SP=102%GCD=1%TI=Z)\nT2(R=N)\nU1(R=Y%DF=N%RIPL=G)\n"
        );
    }

    /// The real database: nmap 7.93's, as Debian installs it.
    #[test]
    fn parses_the_system_database() {
        let Some(db) = system_db() else { return };
        assert!(db.references.len() > 5000, "{}", db.references.len());
        eprintln!(
            "{SYSTEM_DB_PATH}: {} reference fingerprints",
            db.references.len()
        );
        assert!(db.references.iter().all(|r| !r.classes.is_empty()));
    }

    /// The system database, or `None` (with a note) when it is absent outside CI.
    pub(crate) fn system_db() -> Option<OsDb> {
        if !Path::new(SYSTEM_DB_PATH).exists() {
            assert!(
                std::env::var_os("CI").is_none_or(|v| v != "true"),
                "{SYSTEM_DB_PATH} is required when CI=true (apt-get install nmap)"
            );
            eprintln!("skipping: {SYSTEM_DB_PATH} not installed");
            return None;
        }
        // Debian's nmap is 7.93; its database goes with that release's reading.
        Some(OsDb::load(SYSTEM_DB_PATH, Dialect::Nmap793).unwrap_or_else(|e| panic!("{e}")))
    }
}
