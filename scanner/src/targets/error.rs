//! Errors for target specifications and target files.
//!
//! Every `Display` is a single line that quotes the offending input, so the
//! scanner can print it as is after `error: `. Inputs are quoted with Rust
//! string escaping (`{:?}`) so that a stray newline or control character in
//! an argument or file cannot break the message over several lines. The wrapped reason is part of
//! the message and deliberately *not* exposed through `Error::source`: error
//! reporters that walk the source chain would otherwise print it twice.

use std::io;
use std::net::Ipv4Addr;
use std::path::PathBuf;

use thiserror::Error;

/// Why one target specification (e.g. `198.18.0.0/15`) was rejected.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SpecError {
    /// The specification is the empty string.
    #[error("empty target")]
    Empty,
    /// Specifications are single tokens; whitespace means two were glued.
    #[error("contains whitespace (give one target per argument)")]
    Whitespace,
    /// Looks like a DNS name; the scanner never resolves names.
    #[error("hostnames are not supported (no DNS): give an IPv4 address, range or CIDR block")]
    Hostname,
    /// Parses as an IPv6 address or network.
    #[error("IPv6 is not supported: give an IPv4 address, range or CIDR block")]
    Ipv6,
    /// A character that has no meaning in any target syntax.
    #[error("unexpected character {0:?}")]
    InvalidChar(char),
    /// An address part without exactly four dot-separated octets.
    #[error("expected 4 dot-separated octets in {part:?}, found {found}")]
    OctetCount {
        /// The address part that was examined.
        part: String,
        /// How many octets it had.
        found: usize,
    },
    /// Two dots in a row, or a leading/trailing dot.
    #[error("octet {position} is empty")]
    EmptyOctet {
        /// 1-based position of the empty octet.
        position: usize,
    },
    /// An octet item that is neither a number, `*`, nor a range.
    #[error("invalid octet {0:?}: expected a number 0-255, '*', a range a-b or a comma list")]
    InvalidOctet(String),
    /// A number above 255 in an octet.
    #[error("octet {0:?} is out of range: must be 0-255")]
    OctetOutOfRange(String),
    /// An octet range such as `9-3`.
    #[error("octet range {0:?} is reversed (start is after end)")]
    ReversedOctetRange(String),
    /// Octet ranges in front of a partial last octet that would make more separate ranges
    /// than a target may (`1-.1-.*.10`: 14 million): a line of a file must not cost
    /// gigabytes.
    #[error(
        "expands to {0} separate address ranges, more than the {MAX_SPEC_RANGES} one target may \
         (octet ranges before a partial octet multiply): give CIDR blocks or fewer octet ranges"
    )]
    TooManyRanges(u64),
    /// A comma list with an empty item, such as `1,,2` or `1,`.
    #[error("empty item in octet list {0:?}")]
    EmptyListItem(String),
    /// `a.b.c.d/` with nothing after the slash.
    #[error("missing prefix length after \"/\"")]
    MissingPrefix,
    /// A prefix length that is not a number in 0..=32.
    #[error("prefix length {0:?} is invalid: must be a number 0-32")]
    InvalidPrefix(String),
    /// `a.b.c.d/x/y`.
    #[error("more than one \"/\"")]
    MultipleSlashes,
    /// Octet ranges where only a plain address makes sense.
    #[error(
        "{0:?} must be a plain IPv4 address here (octet ranges cannot be combined with a CIDR prefix or an address range)"
    )]
    NotPlainAddress(String),
    /// `start-end` with start after end.
    #[error("range is reversed: {start} is after {end}")]
    ReversedRange {
        /// First address as written.
        start: Ipv4Addr,
        /// Last address as written.
        end: Ipv4Addr,
    },
}

/// Error building a [`TargetSet`](super::TargetSet) from arguments or files.
#[derive(Debug, Error)]
pub enum TargetError {
    /// A target given on the command line is invalid.
    #[error("invalid target {spec:?}: {reason}")]
    Invalid {
        /// The specification as given.
        spec: String,
        /// What is wrong with it.
        reason: SpecError,
    },
    /// A target inside a file is invalid; names the file and line.
    #[error("{path}:{line}: invalid target {spec:?}: {reason}", path = .path.display())]
    InFile {
        /// The file that was read.
        path: PathBuf,
        /// 1-based line number of the target.
        line: usize,
        /// The specification as written in the file.
        spec: String,
        /// What is wrong with it.
        reason: SpecError,
    },
    /// The file could not be read.
    #[error("cannot read target file {path:?}: {error}")]
    Read {
        /// The file that was read.
        path: PathBuf,
        /// The OS error (included in the message, not a `source`).
        error: io::Error,
    },
    /// The file held only whitespace and comments.
    #[error("-iL {path}: no targets in file", path = .path.display())]
    EmptyFile {
        /// The file that was read.
        path: PathBuf,
    },
}

impl TargetError {
    /// Wraps a [`SpecError`] with the specification it was found in.
    pub(crate) fn invalid(spec: &str, reason: SpecError) -> Self {
        Self::Invalid {
            spec: spec.to_owned(),
            reason,
        }
    }

    /// The underlying [`SpecError`], when the error is about one specification.
    pub fn spec_error(&self) -> Option<&SpecError> {
        match self {
            Self::Invalid { reason, .. } | Self::InFile { reason, .. } => Some(reason),
            Self::Read { .. } | Self::EmptyFile { .. } => None,
        }
    }
}

/// The most separate ranges one target spec may expand to (8 MiB of ranges): `10.*.*.1` (65536)
/// passes, `*.*.*.1` (16.7 million) does not.
pub const MAX_SPEC_RANGES: u64 = 1 << 20;
