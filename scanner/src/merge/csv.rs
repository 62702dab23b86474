//! CSV: one header, which every input must share, then every input's rows, each row once.

use std::collections::HashSet;

use super::{Input, Merged};

pub fn merge(inputs: &[Input], out: &mut Vec<u8>) -> Result<Merged, String> {
    let mut header: Option<(csv::StringRecord, &str)> = None;
    let mut seen: HashSet<Vec<String>> = HashSet::new();
    // A header as its line, escaped: a column may hold a newline.
    let columns = |record: &csv::StringRecord| {
        let line = record.iter().collect::<Vec<_>>().join(",");
        line.escape_debug().to_string()
    };
    let mut merged = Merged::default();
    let mut writer = csv::Writer::from_writer(Vec::new());
    for input in inputs {
        let mut reader = csv::Reader::from_reader(input.text.as_bytes());
        let fields = reader
            .headers()
            .map_err(|err| format!("{}: {err}", input.name))?
            .clone();
        match &header {
            None => {
                writer.write_record(&fields).map_err(|e| e.to_string())?;
                header = Some((fields, &input.name));
            }
            Some((first, name)) if *first != fields => {
                return Err(format!(
                    "{}: its columns ({}) are not those of {name} ({}): merge joins files of one \
                     --output-fields",
                    input.name,
                    columns(&fields),
                    columns(first)
                ));
            }
            Some(_) => {}
        }
        for row in reader.records() {
            let row = row.map_err(|err| format!("{}: {err}", input.name))?;
            if !seen.insert(row.iter().map(str::to_owned).collect()) {
                merged.duplicates += 1;
                continue;
            }
            writer.write_record(&row).map_err(|e| e.to_string())?;
            merged.records += 1;
        }
    }
    out.extend(writer.into_inner().map_err(|e| e.to_string())?);
    Ok(merged)
}

#[cfg(test)]
mod tests {
    use super::{super::tests::input, *};

    #[test]
    fn one_header_then_every_row_once() {
        let a = "saddr,sport,state\n198.18.128.1,22,open\n";
        let b = "saddr,sport,state\n198.18.128.2,23,closed\n198.18.128.1,22,open\n";
        let mut out = Vec::new();
        let merged = merge(&[input("a", a), input("b", b)], &mut out).unwrap();
        assert_eq!(
            merged,
            Merged {
                records: 2,
                duplicates: 1
            }
        );
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "saddr,sport,state\n198.18.128.1,22,open\n198.18.128.2,23,closed\n"
        );
        let err = merge(
            &[input("a", a), input("c", "saddr,state\nx,y\n")],
            &mut Vec::new(),
        )
        .unwrap_err();
        assert!(
            err.starts_with("c: its columns (saddr,state) are not those of a"),
            "{err}"
        );
        let err = merge(
            &[input("a", a), input("d", "saddr,sport,state\n1,2\n")],
            &mut Vec::new(),
        )
        .unwrap_err();
        assert!(err.starts_with("d: "), "{err}");
    }
}
