//! Target files (nmap `-iL FILE`, `--excludefile FILE`).
//!
//! Format, as nmap: targets separated by any whitespace (spaces, tabs,
//! newlines), `#` starts a comment that runs to the end of the line.

use std::fs;
use std::path::Path;

use super::error::TargetError;

/// Reads the target tokens of a file, in file order.
///
/// Fails when the file cannot be read or holds no target at all (an empty
/// `-iL` file is almost certainly a mistake, so it is not silently a no-op).
pub fn read_spec_file(path: &Path) -> Result<Vec<String>, TargetError> {
    Ok(read_spec_tokens(path)?
        .into_iter()
        .map(|(_, token)| token)
        .collect())
}

/// Like [`read_spec_file`] but keeps each token's 1-based line number, so
/// parse errors can point at the line.
pub(super) fn read_spec_tokens(path: &Path) -> Result<Vec<(usize, String)>, TargetError> {
    let bytes = fs::read(path).map_err(|error| TargetError::Read {
        path: path.to_path_buf(),
        error,
    })?;
    spec_tokens(path, &bytes)
}

/// The `(line, token)` pairs of a target file's content; `path` names it in errors.
pub(super) fn spec_tokens(path: &Path, bytes: &[u8]) -> Result<Vec<(usize, String)>, TargetError> {
    // Lossy so that a stray non-UTF-8 byte becomes an "invalid target" error
    // with a line number rather than an opaque whole-file failure.
    let tokens = tokenize(&String::from_utf8_lossy(bytes));
    if tokens.is_empty() {
        return Err(TargetError::EmptyFile {
            path: path.to_path_buf(),
        });
    }
    Ok(tokens)
}

/// Splits text into `(line, token)` pairs, dropping `#` comments.
fn tokenize(text: &str) -> Vec<(usize, String)> {
    text.lines()
        .enumerate()
        .flat_map(|(i, line)| {
            let content = line.split_once('#').map_or(line, |(before, _)| before);
            content
                .split_whitespace()
                .map(move |token| (i + 1, token.to_owned()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::{SpecError, TargetSet};
    use super::*;
    use crate::targets::temp_file::TempFile;
    use std::net::Ipv4Addr;

    #[test]
    fn tokenize_whitespace_and_comments() {
        let text =
            "# header\n1.2.3.4 5.6.7.8\t9.9.9.9 # trailing\n\n  10.0.0.0/8#glued\r\n#1.1.1.1\n";
        assert_eq!(
            tokenize(text),
            vec![
                (2, "1.2.3.4".to_owned()),
                (2, "5.6.7.8".to_owned()),
                (2, "9.9.9.9".to_owned()),
                (4, "10.0.0.0/8".to_owned()),
            ]
        );
        assert!(tokenize("").is_empty());
        assert!(tokenize("   \n\t# only a comment\n").is_empty());
    }

    #[test]
    fn read_spec_file_returns_tokens_in_order() {
        let f = TempFile::new(b"198.18.0.1\n# comment\n198.18.1.0/24 198.18.2.1-5\n");
        assert_eq!(
            read_spec_file(&f.0).unwrap(),
            vec!["198.18.0.1", "198.18.1.0/24", "198.18.2.1-5"]
        );
    }

    #[test]
    fn from_file_builds_the_set() {
        let f = TempFile::new(b"# targets\n198.18.0.0/30\n198.18.0.4 # one more\n\t198.18.1,3.5\n");
        let set = TargetSet::from_file(&f.0).unwrap();
        assert_eq!(set.len(), 7);
        assert_eq!(set.get(6), Some(Ipv4Addr::new(198, 18, 3, 5)));
    }

    #[test]
    fn from_file_reports_file_and_line() {
        let f =
            TempFile::new(b"# comment\n198.18.0.1\n\n198.18.0.2 # ok\n198.18.0.3 example.com\n");
        let err = TargetSet::from_file(&f.0).unwrap_err();
        match &err {
            TargetError::InFile {
                line, spec, reason, ..
            } => {
                assert_eq!(*line, 5);
                assert_eq!(spec, "example.com");
                assert_eq!(*reason, SpecError::Hostname);
            }
            other => panic!("unexpected error {other:?}"),
        }
        assert_eq!(
            err.to_string(),
            format!(
                "{}:5: invalid target \"example.com\": hostnames are not supported (no DNS): \
                 give an IPv4 address, range or CIDR block",
                f.0.display()
            )
        );
    }

    #[test]
    fn from_file_reports_line_of_invalid_bytes() {
        let f = TempFile::new(b"1.2.3.4\n1.2.3.\xff\n");
        let err = TargetSet::from_file(&f.0).unwrap_err();
        assert!(matches!(err, TargetError::InFile { line: 2, .. }), "{err}");
        assert!(!err.to_string().contains('\n'));
    }

    #[test]
    fn empty_file_is_an_error() {
        for contents in [&b""[..], b"\n\n", b"# nothing here\n   # nor here"] {
            let f = TempFile::new(contents);
            let err = read_spec_file(&f.0).unwrap_err();
            assert!(matches!(err, TargetError::EmptyFile { .. }));
            assert_eq!(
                err.to_string(),
                format!("-iL {}: no targets in file", f.0.display())
            );
            assert!(matches!(
                TargetSet::from_file(&f.0),
                Err(TargetError::EmptyFile { .. })
            ));
        }
    }

    #[test]
    fn unreadable_file_names_path_and_os_error() {
        let path = std::env::temp_dir().join(format!(
            "targets-test-{}-does-not-exist.txt",
            std::process::id()
        ));
        let err = read_spec_file(&path).unwrap_err();
        let TargetError::Read { error, .. } = &err else {
            panic!("unexpected error {err:?}");
        };
        assert_eq!(error.kind(), std::io::ErrorKind::NotFound);
        let msg = err.to_string();
        assert!(msg.contains(&format!("{path:?}")), "{msg}");
        assert!(msg.contains(&error.to_string()), "{msg}");
        assert!(!msg.contains('\n'));
        assert!(matches!(
            TargetSet::from_file(&path),
            Err(TargetError::Read { .. })
        ));
    }

    #[test]
    fn directory_is_unreadable() {
        let err = read_spec_file(&std::env::temp_dir()).unwrap_err();
        assert!(matches!(err, TargetError::Read { .. }), "{err}");
    }
}
