//! The value expressions of nmap-os-db (`8|A`, `3B-47`, `>10`, `<5`, empty) and how an
//! observed value matches them (osscan.cc: expr_match).
//!
//! nmap compares numbers as hex strings: leading zeros stripped, then longer is larger and
//! equal lengths compare byte-wise (upper-case hex sorts like its value). Whether a value is
//! "numeric" is decided by its first character only, as nmap does, so `A+` or `BI` take the
//! numeric path and still match their literal alternatives.
//!
//! In OPS and O values nmap (since 7.94) also accepts bracketed sub-expressions over the hex
//! digits of an option string, e.g. `M[>500]ST11W[1-5]`; [`Expr::matches`] takes that as a flag.

use std::cmp::Ordering;
use std::fmt;

use thiserror::Error;

/// One `|`-separated alternative.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Alt {
    /// A literal (possibly empty); numeric literals compare without leading zeros.
    Exact(String),
    /// `A-B`, inclusive.
    Range(String, String),
    Greater(String),
    Less(String),
}

/// A parsed reference value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Expr {
    source: String,
    alts: Vec<Alt>,
    /// Matched by nmap 7.93's rules (see [`Expr::nmap793`]) instead of today's.
    nmap793: bool,
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum ExprError {
    #[error("'{0}' needs a hex number after '{1}'")]
    MissingBound(String, char),
    #[error("range '{0}' needs hex numbers on both sides of '-'")]
    BadRange(String),
    #[error("range '{0}' runs backwards")]
    BackwardRange(String),
    #[error("unbalanced brackets in '{0}'")]
    Brackets(String),
    #[error("unexpected character {1:?} in '{0}'")]
    BadChar(String, char),
}

impl Expr {
    pub fn parse(source: &str) -> Result<Expr, ExprError> {
        let alts = split_alternatives(source)
            .ok_or_else(|| ExprError::Brackets(source.to_owned()))?
            .into_iter()
            .map(parse_alt)
            .collect::<Result<_, _>>()?;
        Ok(Expr {
            source: source.to_owned(),
            alts,
            nmap793: false,
        })
    }

    /// This expression as nmap up to 7.93 matched it (osscan.cc: expr_match before 7.94):
    /// a value is numeric when all of it parses as hex; `<`, `>` and ranges apply only to
    /// numeric values (a range is tried wherever a '-' follows in the expression); any other
    /// alternative followed by '|' matches every value it is a prefix of (so an empty one
    /// matches anything), and the last one matches only itself. Scores of nmap 7.93 depend on
    /// these rules, e.g. `O1=|M5B4NNS` accepts every O1.
    pub fn nmap793(mut self) -> Expr {
        self.nmap793 = true;
        self
    }

    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// Whether `value` (an observed value) satisfies this expression. `nested` enables the
    /// bracket syntax (nmap enables it for the OPS test and the O attributes).
    pub fn matches(&self, value: &str, nested: bool) -> bool {
        if self.nmap793 {
            return legacy_matches(self.source.as_bytes(), value.as_bytes());
        }
        self.alts.iter().any(|alt| {
            if nested
                && let Alt::Exact(text) = alt
                && text.contains('[')
            {
                return nested_matches(value, text);
            }
            alt_matches(alt, value)
        })
    }

    /// A value this expression accepts: the first alternative, or the low end of a range.
    /// Used to turn a reference into a subject (self-match tests, examples).
    pub fn representative(&self) -> String {
        match &self.alts[0] {
            Alt::Exact(text) if text.contains('[') => representative_nested(text),
            Alt::Exact(text) | Alt::Range(text, _) => text.clone(),
            Alt::Greater(bound) => hex_add(bound, 1),
            Alt::Less(bound) => {
                if is_zero(bound) {
                    // Nothing is below zero; nmap would never match. Keep the bound.
                    bound.clone()
                } else {
                    "0".into()
                }
            }
        }
    }
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

/// nmap 7.93's expr_match, step for step (C string semantics on bytes).
fn legacy_matches(expr: &[u8], value: &[u8]) -> bool {
    let (value_num, value_end) = strtol16(value);
    let numeric = value_end == value.len();
    let value_num = value_num as u32;
    let mut p = 0;
    loop {
        let q = expr[p..].iter().position(|&b| b == b'|').map(|i| p + i);
        let first = expr.get(p).copied();
        if numeric && matches!(first, Some(b'<' | b'>')) {
            let (bound, end) = strtol16(&expr[p + 1..]);
            let end = p + 1 + end;
            if Some(end) == q || end == expr.len() {
                let bound = bound as u32;
                if (first == Some(b'<') && value_num < bound)
                    || (first == Some(b'>') && value_num > bound)
                {
                    return true;
                }
            }
        } else if let Some(dash) = expr[p..]
            .iter()
            .position(|&b| b == b'-')
            .map(|i| p + i)
            .filter(|_| numeric)
        {
            let (low, end) = strtol16(&expr[p..]);
            if p + end == dash {
                let (high, end) = strtol16(&expr[dash + 1..]);
                let end = dash + 1 + end;
                if (Some(end) == q || end == expr.len())
                    && value_num >= low as u32
                    && value_num <= high as u32
                {
                    return true;
                }
            }
        } else {
            let matched = match q {
                // strncmp(p, val, q - p) == 0: val starts with the alternative.
                Some(q) => value.starts_with(&expr[p..q]),
                None => &expr[p..] == value,
            };
            if matched {
                return true;
            }
        }
        match q {
            Some(q) => p = q + 1,
            None => return false,
        }
    }
}

/// C's `strtol(s, &end, 16)`: leading white space, a sign, an optional 0x, hex digits; the
/// value (wrapping like the C long it feeds) and where parsing stopped (0 without digits).
fn strtol16(s: &[u8]) -> (i64, usize) {
    let mut i = 0;
    while s.get(i).is_some_and(|b| b" \t\n\x0b\x0c\r".contains(b)) {
        i += 1;
    }
    let negative = s.get(i) == Some(&b'-');
    if matches!(s.get(i), Some(b'+' | b'-')) {
        i += 1;
    }
    if s.get(i) == Some(&b'0')
        && matches!(s.get(i + 1), Some(b'x' | b'X'))
        && s.get(i + 2).is_some_and(u8::is_ascii_hexdigit)
    {
        i += 2;
    }
    let start = i;
    let mut value: i64 = 0;
    while let Some(digit) = s.get(i).and_then(|b| (*b as char).to_digit(16)) {
        value = value.saturating_mul(16).saturating_add(i64::from(digit));
        i += 1;
    }
    if i == start {
        return (0, 0);
    }
    (
        if negative {
            value.wrapping_neg()
        } else {
            value
        },
        i,
    )
}

/// Splits at `|` outside brackets; `None` if brackets do not balance.
fn split_alternatives(source: &str) -> Option<Vec<&str>> {
    let mut alts = Vec::new();
    let (mut depth, mut start) = (0u32, 0);
    for (i, c) in source.char_indices() {
        match c {
            '[' if depth == 0 => depth = 1,
            ']' if depth == 1 => depth = 0,
            '[' | ']' => return None,
            '|' if depth == 0 => {
                alts.push(&source[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    (depth == 0).then(|| {
        alts.push(&source[start..]);
        alts
    })
}

fn is_hex(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_hexdigit())
}

fn starts_hex(s: &str) -> bool {
    s.bytes().next().is_some_and(|b| b.is_ascii_hexdigit())
}

fn parse_alt(text: &str) -> Result<Alt, ExprError> {
    if let Some(bad) = text
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || "+-<>[]|".contains(*c)))
    {
        return Err(ExprError::BadChar(text.to_owned(), bad));
    }
    if text.contains('[') {
        return Ok(Alt::Exact(text.to_owned()));
    }
    for (op, make) in [('>', Alt::Greater as fn(String) -> Alt), ('<', Alt::Less)] {
        if let Some(bound) = text.strip_prefix(op) {
            return if is_hex(bound) {
                Ok(make(bound.to_ascii_uppercase()))
            } else {
                Err(ExprError::MissingBound(text.to_owned(), op))
            };
        }
    }
    if let Some((low, high)) = text.split_once('-') {
        if !is_hex(low) || !is_hex(high) {
            return Err(ExprError::BadRange(text.to_owned()));
        }
        let (low, high) = (low.to_ascii_uppercase(), high.to_ascii_uppercase());
        if hex_cmp(&low, &high) == Ordering::Greater {
            return Err(ExprError::BackwardRange(text.to_owned()));
        }
        return Ok(Alt::Range(low, high));
    }
    Ok(Alt::Exact(text.to_owned()))
}

/// Leading zeros off, keeping one digit.
fn strip_zeros(s: &str) -> &str {
    let trimmed = s.trim_start_matches('0');
    if trimmed.is_empty() && !s.is_empty() {
        &s[s.len() - 1..]
    } else {
        trimmed
    }
}

fn is_zero(s: &str) -> bool {
    strip_zeros(s) == "0"
}

/// nmap's comparison of hex strings: by length without leading zeros, then byte-wise.
fn hex_cmp(a: &str, b: &str) -> Ordering {
    let (a, b) = (strip_zeros(a), strip_zeros(b));
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

fn alt_matches(alt: &Alt, value: &str) -> bool {
    if !starts_hex(value) {
        // Only literals can match a non-numeric (or empty) value, and only exactly.
        return matches!(alt, Alt::Exact(text) if text == value);
    }
    match alt {
        Alt::Exact(text) => starts_hex(text) && strip_zeros(text) == strip_zeros(value),
        Alt::Range(low, high) => {
            hex_cmp(value, low) != Ordering::Less && hex_cmp(value, high) != Ordering::Greater
        }
        Alt::Greater(bound) => hex_cmp(value, bound) == Ordering::Greater,
        Alt::Less(bound) => hex_cmp(value, bound) == Ordering::Less,
    }
}

/// `M[>500]ST11W[1-5]`: literal parts must match exactly, each bracket matches the run of hex
/// digits at that point of the value.
fn nested_matches(value: &str, pattern: &str) -> bool {
    let mut value = value;
    let mut pattern = pattern;
    while let Some(open) = pattern.find('[') {
        let Some(close) = pattern[open..].find(']').map(|c| open + c) else {
            return false;
        };
        let Some(after_literal) = value.strip_prefix(&pattern[..open]) else {
            return false;
        };
        let digits = after_literal
            .bytes()
            .take_while(u8::is_ascii_hexdigit)
            .count();
        let Ok(inner) = Expr::parse(&pattern[open + 1..close]) else {
            return false;
        };
        if digits == 0 || !inner.matches(&after_literal[..digits], false) {
            return false;
        }
        value = &after_literal[digits..];
        pattern = &pattern[close + 1..];
    }
    value == pattern
}

fn representative_nested(pattern: &str) -> String {
    let mut out = String::new();
    let mut rest = pattern;
    while let Some(open) = rest.find('[') {
        let close = rest[open..].find(']').map_or(rest.len() - 1, |c| open + c);
        out.push_str(&rest[..open]);
        match Expr::parse(&rest[open + 1..close]) {
            Ok(inner) => out.push_str(&inner.representative()),
            Err(_) => out.push('0'),
        }
        rest = &rest[close + 1..];
    }
    out.push_str(rest);
    out
}

/// `hex + n` for hex strings of any length (bounds are at most a few digits in practice).
fn hex_add(hex: &str, n: u8) -> String {
    let mut digits: Vec<u8> = strip_zeros(hex)
        .bytes()
        .map(|b| (b as char).to_digit(16).unwrap_or(0) as u8)
        .collect();
    let mut carry = n;
    for digit in digits.iter_mut().rev() {
        let sum = *digit + carry;
        *digit = sum % 16;
        carry = sum / 16;
        if carry == 0 {
            break;
        }
    }
    if carry > 0 {
        digits.insert(0, carry);
    }
    digits
        .into_iter()
        .map(|d| {
            char::from_digit(u32::from(d), 16)
                .unwrap_or('0')
                .to_ascii_uppercase()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(expr: &str, value: &str) -> bool {
        Expr::parse(expr).unwrap().matches(value, false)
    }

    #[test]
    fn alternatives_and_literals() {
        assert!(m("8|A", "A"));
        assert!(m("8|A", "8"));
        assert!(!m("8|A", "9"));
        assert!(m("Z|A", "A"));
        assert!(
            m("RI|BI", "BI"),
            "B is hex: the numeric path still matches literals"
        );
        assert!(m("S+|A", "S+"));
        assert!(!m("S+|A", "S"));
        assert!(m("M5B4ST11NW7", "M5B4ST11NW7"));
    }

    #[test]
    fn numbers_ignore_leading_zeros_and_compare_by_value() {
        assert!(m("A", "0A"));
        assert!(m("0A", "A"));
        assert!(m("3B-47", "3B"));
        assert!(m("3B-47", "47"));
        assert!(m("3B-47", "40"));
        assert!(!m("3B-47", "48"));
        assert!(!m("3B-47", "3A"));
        assert!(m("0-5", "0"));
        assert!(m(">10", "11"));
        assert!(m(">10", "100"));
        assert!(!m(">10", "10"));
        assert!(!m(">10", "F"));
        assert!(m("<10", "F"));
        assert!(!m("<10", "10"));
        assert!(m("FFF0-10000", "FFFF"));
    }

    #[test]
    fn empty_values_match_only_empty_alternatives() {
        assert!(m("", ""));
        assert!(!m("", "0"));
        assert!(m("|A", ""));
        assert!(m("A|", ""));
        assert!(!m("A|", "B"));
        assert!(!m("A", ""));
        assert!(!m("0-5", ""), "an empty value is not the number 0");
    }

    #[test]
    fn nested_option_patterns() {
        let e = Expr::parse("M[>500]ST11W[1-5]|M5B4").unwrap();
        assert!(e.matches("M5B4ST11W3", true));
        assert!(e.matches("M5B4", true));
        assert!(!e.matches("M400ST11W3", true));
        assert!(!e.matches("M5B4ST11W6", true));
        assert!(!e.matches("M5B4ST11W3N", true));
        assert!(
            !e.matches("M5B4ST11W3", false),
            "brackets are literal without nesting"
        );
        assert_eq!(e.representative(), "M501ST11W1");
    }

    #[test]
    fn malformed_expressions_are_errors() {
        assert_eq!(
            Expr::parse(">").unwrap_err(),
            ExprError::MissingBound(">".into(), '>')
        );
        assert!(matches!(
            Expr::parse("<G"),
            Err(ExprError::MissingBound(..))
        ));
        assert!(matches!(Expr::parse("5-"), Err(ExprError::BadRange(_))));
        assert!(matches!(Expr::parse("-5"), Err(ExprError::BadRange(_))));
        assert!(matches!(
            Expr::parse("9-3"),
            Err(ExprError::BackwardRange(_))
        ));
        assert!(matches!(Expr::parse("M[5"), Err(ExprError::Brackets(_))));
        assert!(matches!(Expr::parse("A]"), Err(ExprError::Brackets(_))));
        assert!(matches!(
            Expr::parse("A B"),
            Err(ExprError::BadChar(_, ' '))
        ));
    }

    #[test]
    fn representatives_match_their_expression() {
        for source in ["8|A", "3B-47", ">FF", "<10", "", "S+", "M5B4", ">0"] {
            let e = Expr::parse(source).unwrap();
            assert!(e.matches(&e.representative(), true), "{source}");
        }
        assert_eq!(Expr::parse(">FF").unwrap().representative(), "100");
    }
}

#[cfg(test)]
mod nmap793_tests {
    use super::Expr;

    fn matches(expr: &str, value: &str) -> bool {
        Expr::parse(expr).unwrap().nmap793().matches(value, false)
    }

    #[test]
    fn alternatives_before_a_bar_match_as_prefixes() {
        // An empty first alternative accepted everything in nmap 7.93.
        assert!(matches("|M5B4NNS", "M5B4NNSNWA"));
        assert!(matches("M5B4|M5B4NNS", "M5B4NWA"));
        // The last alternative must be the whole value.
        assert!(!matches("M5B4NNS", "M5B4NNSNWA"));
        assert!(matches("AS|A", "AS"));
        assert!(!matches("AS|A", "AR"));
        // Today's rules: whole alternatives only.
        assert!(!Expr::parse("|M5B4NNS").unwrap().matches("M5B4NNSNWA", true));
    }

    #[test]
    fn numbers_ranges_and_bounds() {
        assert!(matches("C6-D0", "C8"));
        assert!(!matches("C6-D0", "108"));
        assert!(matches(">10", "11") && !matches(">10", "10"));
        assert!(matches("<5|8", "4") && matches("<5|8", "8") && !matches("<5|8", "6"));
        assert!(matches("3B-45", "40"));
        // A value that is not all hex never takes the numeric paths.
        assert!(!matches("0-FF", "S+"));
        assert!(matches("Z|S+", "S+"));
        // An empty value is "numeric" (strtol reads it as 0) and matches an empty expression
        // only as a literal.
        assert!(matches("", ""));
        assert!(matches("0-5", ""));
    }

    #[test]
    fn a_range_is_looked_for_past_the_alternative() {
        // strchr(p, '-') scans the whole rest of the expression: "0" is never compared as a
        // literal here, and the range applies from the second alternative on.
        assert!(!matches("0|5-A", "0"));
        assert!(matches("0|5-A", "7"));
    }
}
