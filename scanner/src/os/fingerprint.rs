//! Fingerprints: the thirteen tests of nmap's IPv4 OS detection, each an ordered list of
//! attribute=value, and their text form (osscan.cc: test2str, mergeFPs, WriteSInfo).
//!
//! One generic shape serves both sides: a subject fingerprint holds observed strings
//! (`Fingerprint<String>`), a reference from nmap-os-db holds match expressions
//! (`Fingerprint<Expr>`, see [`super::expr`]).

use std::fmt::{self, Write as _};

/// nmap's tests, in the order nmap prints them (FingerPrintDef::TestID).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TestName {
    Seq,
    Ops,
    Win,
    Ecn,
    T1,
    T2,
    T3,
    T4,
    T5,
    T6,
    T7,
    U1,
    Ie,
}

/// The attributes of T2-T7, which share one layout.
const T_ATTRS: &[&str] = &["R", "DF", "T", "TG", "W", "S", "A", "F", "O", "RD", "Q"];

impl TestName {
    pub const ALL: [TestName; 13] = [
        TestName::Seq,
        TestName::Ops,
        TestName::Win,
        TestName::Ecn,
        TestName::T1,
        TestName::T2,
        TestName::T3,
        TestName::T4,
        TestName::T5,
        TestName::T6,
        TestName::T7,
        TestName::U1,
        TestName::Ie,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            TestName::Seq => "SEQ",
            TestName::Ops => "OPS",
            TestName::Win => "WIN",
            TestName::Ecn => "ECN",
            TestName::T1 => "T1",
            TestName::T2 => "T2",
            TestName::T3 => "T3",
            TestName::T4 => "T4",
            TestName::T5 => "T5",
            TestName::T6 => "T6",
            TestName::T7 => "T7",
            TestName::U1 => "U1",
            TestName::Ie => "IE",
        }
    }

    pub fn parse(name: &str) -> Option<TestName> {
        TestName::ALL.into_iter().find(|t| t.as_str() == name)
    }

    /// T1..T7 by number (1-7).
    pub fn t(number: u8) -> Option<TestName> {
        let index = usize::from(number).checked_sub(1)?;
        (index < 7).then(|| TestName::ALL[TestName::T1.index() + index])
    }

    pub fn index(self) -> usize {
        self as usize
    }

    /// The attributes in nmap's print order (FingerPrintDef::test_attrs).
    pub fn attributes(self) -> &'static [&'static str] {
        match self {
            TestName::Seq => &["SP", "GCD", "ISR", "TI", "CI", "II", "SS", "TS"],
            TestName::Ops => &["O1", "O2", "O3", "O4", "O5", "O6"],
            TestName::Win => &["W1", "W2", "W3", "W4", "W5", "W6"],
            TestName::Ecn => &["R", "DF", "T", "TG", "W", "O", "CC", "Q"],
            TestName::T1 => &["R", "DF", "T", "TG", "S", "A", "F", "RD", "Q"],
            TestName::T2
            | TestName::T3
            | TestName::T4
            | TestName::T5
            | TestName::T6
            | TestName::T7 => T_ATTRS,
            TestName::U1 => &[
                "R", "DF", "T", "TG", "IPL", "UN", "RIPL", "RID", "RIPCK", "RUCK", "RUD",
            ],
            TestName::Ie => &["R", "DFI", "T", "TG", "CD"],
        }
    }

    /// Tests whose first attribute is R (response received); the others (SEQ, OPS, WIN) are
    /// simply absent when nothing came back.
    pub fn has_response_attr(self) -> bool {
        self.attributes()[0] == "R"
    }

    pub fn attribute_index(self, attr: &str) -> Option<usize> {
        self.attributes().iter().position(|a| *a == attr)
    }
}

impl fmt::Display for TestName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One test's values, aligned with [`TestName::attributes`]; `None` means the attribute is
/// not part of this test instance (nmap leaves it out of the text and out of scoring).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Test<V> {
    name: TestName,
    values: Vec<Option<V>>,
}

impl<V> Test<V> {
    pub fn new(name: TestName) -> Self {
        Test {
            name,
            values: name.attributes().iter().map(|_| None).collect(),
        }
    }

    pub fn name(&self) -> TestName {
        self.name
    }

    /// Sets an attribute of this test's layout. The names are constants of this crate, so an
    /// attribute outside the layout is a programming error.
    pub fn set(&mut self, attr: &str, value: impl Into<V>) {
        let index = self
            .name
            .attribute_index(attr)
            .unwrap_or_else(|| panic!("{} has no attribute {attr}", self.name));
        self.values[index] = Some(value.into());
    }

    /// Sets by position in the layout; `false` if the attribute was already set.
    pub(crate) fn set_new(&mut self, index: usize, value: V) -> bool {
        let slot = &mut self.values[index];
        if slot.is_some() {
            return false;
        }
        *slot = Some(value);
        true
    }

    pub fn remove(&mut self, attr: &str) -> Option<V> {
        let index = self.name.attribute_index(attr)?;
        self.values[index].take()
    }

    pub fn get(&self, attr: &str) -> Option<&V> {
        self.values[self.name.attribute_index(attr)?].as_ref()
    }

    /// The values by position in [`TestName::attributes`].
    pub fn values(&self) -> &[Option<V>] {
        &self.values
    }

    /// The attributes present, in print order.
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, &V)> {
        self.name
            .attributes()
            .iter()
            .zip(&self.values)
            .filter_map(|(name, value)| Some((*name, value.as_ref()?)))
    }
}

impl<V: fmt::Display> fmt::Display for Test<V> {
    /// `T1(R=Y%DF=Y%...)`; a test without values prints as `T1()`, as test2str does.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}(", self.name)?;
        for (i, (attr, value)) in self.iter().enumerate() {
            if i > 0 {
                f.write_char('%')?;
            }
            write!(f, "{attr}={value}")?;
        }
        f.write_char(')')
    }
}

/// A fingerprint: at most one instance of each test.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fingerprint<V> {
    tests: [Option<Test<V>>; 13],
}

impl<V> Default for Fingerprint<V> {
    fn default() -> Self {
        Fingerprint {
            tests: std::array::from_fn(|_| None),
        }
    }
}

impl<V> Fingerprint<V> {
    pub fn test(&self, name: TestName) -> Option<&Test<V>> {
        self.tests[name.index()].as_ref()
    }

    pub fn test_mut(&mut self, name: TestName) -> Option<&mut Test<V>> {
        self.tests[name.index()].as_mut()
    }

    /// Replaces the test of the same name, returning the old one.
    pub fn insert(&mut self, test: Test<V>) -> Option<Test<V>> {
        self.tests[test.name.index()].replace(test)
    }

    /// The tests present, in print order.
    pub fn tests(&self) -> impl Iterator<Item = &Test<V>> {
        self.tests.iter().flatten()
    }

    /// The same tests with every value mapped (a reference's expressions as subject values).
    pub fn map_values<W>(&self, mut f: impl FnMut(&V) -> W) -> Fingerprint<W> {
        let mut mapped = Fingerprint::default();
        for test in self.tests() {
            let mut copy = Test::new(test.name());
            for (attr, value) in test.iter() {
                copy.set(attr, f(value));
            }
            mapped.insert(copy);
        }
        mapped
    }
}

impl<V: fmt::Display> fmt::Display for Fingerprint<V> {
    /// One test per line, as fp2ascii prints.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for test in self.tests() {
            writeln!(f, "{test}")?;
        }
        Ok(())
    }
}

/// A subject fingerprint: what was observed.
pub type SubjectFingerprint = Fingerprint<String>;

/// How the hop distance in the SCAN line was learnt (dist_calc_method).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DistanceMethod {
    Localhost,
    Direct,
    Icmp,
    Traceroute,
}

impl DistanceMethod {
    fn code(self) -> char {
        match self {
            DistanceMethod::Localhost => 'L',
            DistanceMethod::Direct => 'D',
            DistanceMethod::Icmp => 'I',
            DistanceMethod::Traceroute => 'T',
        }
    }
}

/// The SCAN pseudo-test heading a printed fingerprint: the conditions of the scan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScanInfo {
    /// `V`, e.g. "7.93".
    pub version: String,
    /// `D`: month (1-12) and day of the scan, local time.
    pub month: u8,
    pub day: u8,
    pub open_tcp_port: Option<u16>,
    pub closed_tcp_port: Option<u16>,
    pub closed_udp_port: Option<u16>,
    /// `PV`: the target address is private/reserved.
    pub private_address: bool,
    pub distance: Option<(u8, DistanceMethod)>,
    /// `G`: the fingerprint is good enough to submit.
    pub good: bool,
    /// `M`: the first three bytes of the target's MAC address, when on-link.
    pub mac_prefix: Option<[u8; 3]>,
    /// `TM`: the Unix time of the scan.
    pub unix_time: u32,
    /// `P`, e.g. "x86_64-pc-linux-gnu".
    pub platform: String,
}

impl fmt::Display for ScanInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn port(p: Option<u16>) -> String {
            p.map(|p| p.to_string()).unwrap_or_default()
        }
        // E=4: nmap's engine id for IPv4 OS detection.
        write!(
            f,
            "SCAN(V={}%E=4%D={}/{}%OT={}%CT={}%CU={}%PV={}",
            self.version,
            self.month,
            self.day,
            port(self.open_tcp_port),
            port(self.closed_tcp_port),
            port(self.closed_udp_port),
            yes_no(self.private_address),
        )?;
        if let Some((hops, method)) = self.distance {
            write!(f, "%DS={hops}%DC={}", method.code())?;
        }
        write!(f, "%G={}", yes_no(self.good))?;
        if let Some([a, b, c]) = self.mac_prefix {
            write!(f, "%M={a:02X}{b:02X}{c:02X}")?;
        }
        write!(f, "%TM={:X}%P={})", self.unix_time, self.platform)
    }
}

fn yes_no(flag: bool) -> char {
    if flag { 'Y' } else { 'N' }
}

/// The fingerprint text nmap prints after "TCP/IP fingerprint:" (mergeFPs): the SCAN line,
/// then the tests of every round, identical tests once, ordered by test then values.
/// `wrapped` gives the submission form, `OS:`-prefixed lines of 72 characters of text.
/// (nmap 7.93 compared only attribute names when merging, so it printed the first round's
/// test of each name; 7.94 and later compare values, as this does.)
pub fn render_submission(scan: &ScanInfo, rounds: &[SubjectFingerprint], wrapped: bool) -> String {
    let mut tests: Vec<&Test<String>> = rounds.iter().flat_map(Fingerprint::tests).collect();
    tests.sort_by(|a, b| a.name.cmp(&b.name).then_with(|| a.values.cmp(&b.values)));
    tests.dedup_by(|a, b| a == b);

    let separator = if wrapped { "" } else { "\n" };
    let mut text = format!("{scan}{separator}");
    for test in tests {
        write!(text, "{test}{separator}").expect("writing to a String");
    }
    if wrapped { wrap(&text) } else { text }
}

/// Text of one line of a wrapped fingerprint, after the `OS:` prefix (FP_RESULT_WRAP_LINE_LEN
/// is 74 but nmap's loop copies while its count, prefix included, is <= 74: 72 characters).
const WRAP_TEXT_LEN: usize = 72;

fn wrap(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / WRAP_TEXT_LEN * 4 + 4);
    // The text is ASCII (nmap's alphabet); chunk by chars so hostile input cannot split one.
    let chars: Vec<char> = text.chars().collect();
    for line in chars.chunks(WRAP_TEXT_LEN) {
        out.push_str("OS:");
        out.extend(line);
        out.push('\n');
    }
    out
}

/// Joins the `OS:` lines of a wrapped fingerprint back into one string.
pub fn unwrap(wrapped: &str) -> String {
    wrapped
        .lines()
        .filter_map(|line| line.trim_end().strip_prefix("OS:"))
        .collect()
}

/// Splits an unwrapped fingerprint (`SCAN(...)SEQ(...)OPS(...)...`) into its `NAME(...)`
/// pieces, without interpreting them.
pub fn split_tests(text: &str) -> Vec<&str> {
    let mut pieces = Vec::new();
    let mut rest = text.trim();
    while let Some(close) = rest.find(')') {
        pieces.push(&rest[..=close]);
        rest = rest[close + 1..].trim_start();
    }
    if !rest.is_empty() {
        pieces.push(rest);
    }
    pieces
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t1() -> Test<String> {
        let mut t = Test::new(TestName::T1);
        for (attr, value) in [("R", "Y"), ("DF", "Y"), ("T", "40"), ("S", "O")] {
            t.set(attr, value);
        }
        t.set("Q", "");
        t
    }

    #[test]
    fn test_prints_in_layout_order_skipping_absent() {
        let mut t = t1();
        t.set("A", "S+"); // set after Q, printed before it
        assert_eq!(t.to_string(), "T1(R=Y%DF=Y%T=40%S=O%A=S+%Q=)");
        assert_eq!(Test::<String>::new(TestName::Seq).to_string(), "SEQ()");
    }

    #[test]
    fn test_names_and_layouts() {
        assert_eq!(TestName::parse("IE"), Some(TestName::Ie));
        assert_eq!(TestName::parse("T8"), None);
        assert_eq!(TestName::t(7), Some(TestName::T7));
        assert_eq!(TestName::t(0), None);
        assert_eq!(TestName::t(8), None);
        assert!(TestName::U1.has_response_attr());
        assert!(!TestName::Win.has_response_attr());
        assert_eq!(TestName::T5.attributes().len(), 11);
    }

    fn scan() -> ScanInfo {
        ScanInfo {
            version: "7.93".into(),
            month: 11,
            day: 21,
            open_tcp_port: Some(80),
            closed_tcp_port: Some(81),
            closed_udp_port: None,
            private_address: false,
            distance: Some((1, DistanceMethod::Direct)),
            good: true,
            mac_prefix: Some([0x22, 0x0e, 0x7f]),
            unix_time: 0x6B015C66,
            platform: "x86_64-pc-linux-gnu".into(),
        }
    }

    #[test]
    fn scan_line() {
        assert_eq!(
            scan().to_string(),
            "SCAN(V=7.93%E=4%D=11/21%OT=80%CT=81%CU=%PV=N%DS=1%DC=D%G=Y%M=220E7F\
             %TM=6B015C66%P=x86_64-pc-linux-gnu)"
        );
        let bare = ScanInfo {
            distance: None,
            mac_prefix: None,
            ..scan()
        };
        assert!(bare.to_string().contains("%PV=N%G=Y%TM="));
    }

    #[test]
    fn submission_merges_identical_tests_and_wraps_at_72() {
        let mut a = Fingerprint::default();
        a.insert(t1());
        let mut b = a.clone();
        let mut other = t1();
        other.set("S", "A");
        b.insert(other);
        let text = render_submission(&scan(), &[a.clone(), a.clone(), b], false);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert_eq!(lines[1], "T1(R=Y%DF=Y%T=40%S=A%Q=)", "sorted by values");
        assert_eq!(lines[2], "T1(R=Y%DF=Y%T=40%S=O%Q=)");

        let wrapped = render_submission(&scan(), &[a], true);
        let lines: Vec<&str> = wrapped.lines().collect();
        assert!(lines.iter().all(|l| l.starts_with("OS:") && l.len() <= 75));
        assert_eq!(lines[0].len(), 75);
        assert_eq!(
            unwrap(&wrapped),
            render_submission(&scan(), &[], false).trim_end().to_owned()
                + "T1(R=Y%DF=Y%T=40%S=O%Q=)"
        );
        assert_eq!(
            split_tests(&unwrap(&wrapped))[1],
            "T1(R=Y%DF=Y%T=40%S=O%Q=)"
        );
    }
}
