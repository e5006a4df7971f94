//! The runbook's YAML front matter: only `limits` is read, as a map from key to capacity —
//! inline (`limits: {db: 2, api: 10}`) or as a block of indented `key: n` lines. Everything
//! else in the front matter is left to other tools.

use super::ParseError;

/// The key capacities of the front matter's `limits`, in order; empty without one. `lines`
/// are the front matter's lines (without the `---` fences), `first` the line number of the
/// first.
pub(super) fn limits(lines: &[&str], first: usize) -> Result<Vec<(String, u32)>, ParseError> {
    let err = |line: usize, message: String| ParseError {
        line,
        message,
        duplicate: None,
    };
    let Some(at) = lines.iter().position(|l| l.starts_with("limits:")) else {
        return Ok(Vec::new());
    };
    let mut entries: Vec<(usize, &str)> = Vec::new();
    let rest = lines[at]["limits:".len()..].trim();
    if rest.is_empty() {
        for (i, l) in lines.iter().enumerate().skip(at + 1) {
            if l.trim().is_empty() || l.trim_start().starts_with('#') {
                continue;
            }
            if !l.starts_with([' ', '\t']) {
                break;
            }
            entries.push((first + i, l.trim()));
        }
    } else {
        let inner = rest
            .strip_prefix('{')
            .and_then(|r| r.strip_suffix('}'))
            .ok_or_else(|| {
                err(
                    first + at,
                    format!("limits must be a map of key: capacity, like {{db: 2}}, got {rest}"),
                )
            })?;
        entries.extend(
            inner
                .split(',')
                .filter(|e| !e.trim().is_empty())
                .map(|e| (first + at, e.trim())),
        );
    }
    let mut out: Vec<(String, u32)> = Vec::new();
    for (line, entry) in entries {
        let Some((key, value)) = entry.split_once(':') else {
            return Err(err(
                line,
                format!("limits: expected key: capacity, got {entry:?}"),
            ));
        };
        let key = unquote(key.trim());
        if key.is_empty() {
            return Err(err(line, "limits: a key must not be empty".into()));
        }
        let value = value.trim();
        let n: f64 = value.parse().map_err(|_| {
            err(
                line,
                format!("limits[{key:?}] must be a whole number >= 1, got {value}"),
            )
        })?;
        let capacity = legato::policy::capacity(&key, n).map_err(|e| err(line, e.to_string()))?;
        match out.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = capacity,
            None => out.push((key, capacity)),
        }
    }
    Ok(out)
}

/// A key without its quotes (`"db"` or `'db'`).
fn unquote(s: &str) -> String {
    for q in ['"', '\''] {
        if let Some(inner) = s.strip_prefix(q).and_then(|r| r.strip_suffix(q)) {
            return inner.to_owned();
        }
    }
    s.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_and_block_maps() {
        assert_eq!(
            limits(&["title: x", "limits: {db: 2, \"api\": 10}"], 2).unwrap(),
            [("db".to_string(), 2), ("api".to_string(), 10)]
        );
        assert_eq!(
            limits(
                &[
                    "limits:",
                    "  db: 2",
                    "  # a comment",
                    "  'net': 1",
                    "owner: me"
                ],
                2
            )
            .unwrap(),
            [("db".to_string(), 2), ("net".to_string(), 1)]
        );
        assert_eq!(limits(&["title: x"], 2).unwrap(), []);
    }

    #[test]
    fn bad_capacities_name_the_key_and_line() {
        let e = limits(&["title: x", "limits:", "  db: 0"], 2).unwrap_err();
        assert_eq!(e.line, 4);
        assert_eq!(
            e.message,
            "limits[\"db\"] must be a whole number >= 1, got 0"
        );
        let e = limits(&["limits: {db: two}"], 2).unwrap_err();
        assert_eq!(
            e.message,
            "limits[\"db\"] must be a whole number >= 1, got two"
        );
        let e = limits(&["limits: 3"], 2).unwrap_err();
        assert!(
            e.message.starts_with("limits must be a map"),
            "{}",
            e.message
        );
        let e = limits(&["limits:", "  db"], 2).unwrap_err();
        assert!(
            e.message.contains("expected key: capacity"),
            "{}",
            e.message
        );
    }
}
