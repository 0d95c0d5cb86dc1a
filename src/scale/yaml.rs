//! A JSON value written as block-style YAML, for Kubernetes manifests people read and edit.
//! Strings are always double-quoted with JSON's escapes, which YAML reads the same way, so no
//! value can turn into a number, a boolean or a null by accident (`"no"`, `"1.10"`).

use serde_json::Value;

/// `value` as YAML lines, without a document marker.
pub fn to_yaml(value: &Value) -> String {
    let mut out = String::new();
    for line in lines(value) {
        out.push_str(&line);
        out.push('\n');
    }
    out
}

fn scalar(value: &Value) -> Option<String> {
    match value {
        Value::Null => Some("null".into()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        Value::String(s) => Some(Value::String(s.clone()).to_string()),
        Value::Array(a) if a.is_empty() => Some("[]".into()),
        Value::Object(o) if o.is_empty() => Some("{}".into()),
        _ => None,
    }
}

fn lines(value: &Value) -> Vec<String> {
    if let Some(s) = scalar(value) {
        return vec![s];
    }
    let mut out = Vec::new();
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                let key = Value::String(k.clone()).to_string();
                let key = if k
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c))
                    && !k.is_empty()
                {
                    k.clone()
                } else {
                    key
                };
                match scalar(v) {
                    Some(s) => out.push(format!("{key}: {s}")),
                    None => {
                        out.push(format!("{key}:"));
                        // Lists sit at their key's indentation, as kubectl writes them.
                        let pad = if v.is_array() { "" } else { "  " };
                        out.extend(lines(v).into_iter().map(|l| format!("{pad}{l}")));
                    }
                }
            }
        }
        Value::Array(items) => {
            for item in items {
                for (i, l) in lines(item).into_iter().enumerate() {
                    out.push(if i == 0 {
                        format!("- {l}")
                    } else {
                        format!("  {l}")
                    });
                }
            }
        }
        _ => unreachable!("scalars returned above"),
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn nested_maps_and_lists_in_block_style() {
        let v = json!({
            "kind": "Job",
            "spec": {"completions": 4, "template": {"containers": [
                {"name": "a", "command": ["sh", "-c", "echo \"$X\""]},
                {"name": "b", "args": []}
            ]}},
            "labels": {"app.kubernetes.io/name": "no"}
        });
        let text = to_yaml(&v);
        let want = r#"kind: "Job"
spec:
  completions: 4
  template:
    containers:
    - name: "a"
      command:
      - "sh"
      - "-c"
      - "echo \"$X\""
    - name: "b"
      args: []
labels:
  app.kubernetes.io/name: "no"
"#;
        assert_eq!(text, want);
    }
}
