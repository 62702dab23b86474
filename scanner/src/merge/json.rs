//! JSON lines: every line an object, kept in input order; a result line is one per
//! (ip, proto, port), an OS line one per ip.

use std::collections::HashSet;

use serde_json::Value;

use super::{Input, Merged};

pub fn merge(inputs: &[Input], out: &mut Vec<u8>) -> Result<Merged, String> {
    let mut seen: HashSet<String> = HashSet::new();
    let mut merged = Merged::default();
    for input in inputs {
        for (number, line) in input.text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let value: Value = serde_json::from_str(line)
                .map_err(|err| format!("{}:{}: not a JSON line: {err}", input.name, number + 1))?;
            let Value::Object(fields) = &value else {
                return Err(format!("{}:{}: not a JSON object", input.name, number + 1));
            };
            let key = match fields.get("os") {
                Some(_) => format!("os {}", fields.get("ip").unwrap_or(&Value::Null)),
                None => format!(
                    "{} {} {}",
                    fields.get("ip").unwrap_or(&Value::Null),
                    fields.get("proto").unwrap_or(&Value::Null),
                    fields.get("port").unwrap_or(&Value::Null)
                ),
            };
            if !seen.insert(key) {
                merged.duplicates += 1;
                continue;
            }
            out.extend_from_slice(line.as_bytes());
            out.push(b'\n');
            merged.records += 1;
        }
    }
    Ok(merged)
}

#[cfg(test)]
mod tests {
    use super::{super::tests::input, *};

    #[test]
    fn lines_join_once_each_and_a_broken_line_is_named() {
        let a = r#"{"ip":"198.18.128.1","port":22,"proto":"tcp","state":"open"}
{"ip":"198.18.128.1","os":{"verdict":"x"}}
"#;
        let b = r#"{"ip":"198.18.128.2","port":22,"proto":"tcp","state":"closed"}
{"ip":"198.18.128.1","port":22,"proto":"tcp","state":"open"}
"#;
        let mut out = Vec::new();
        let merged = merge(&[input("a", a), input("b", b)], &mut out).unwrap();
        assert_eq!(
            merged,
            Merged {
                records: 3,
                duplicates: 1
            }
        );
        assert_eq!(String::from_utf8(out).unwrap().lines().count(), 3);
        let err = merge(&[input("a", a), input("c", "{\"ip\":\n")], &mut Vec::new()).unwrap_err();
        assert!(err.starts_with("c:1: not a JSON line: "), "{err}");
    }
}
