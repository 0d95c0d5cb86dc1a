//! The plan format as a JSON Schema (draft-07, which taplo / Even Better TOML read), generated
//! from the types that parse plans ([`super::raw`]) and from the workloads' parameter tables
//! ([`super::params`]), so that editors complete and check exactly what `benchplan check`
//! accepts. `benchplan schema` prints it; `plans/plan.schema.json` is it, committed, and a test
//! fails when the two differ. [`reference_markdown`] renders it as the book's plan reference (docs/src/plan-reference.md).

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::marker::PhantomData;

use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde_json::{json, Map, Value};

use super::params::{DefaultValue, ParamKind, WorkloadKind};
use super::raw::{RawMatrix, RawPlan};
use super::value::ParamValue;

/// Where the committed schema lives, beside the plans that name it in `#:schema`.
pub const SCHEMA_PATH: &str = "plans/plan.schema.json";
/// The first line of every shipped plan: taplo's directive naming the schema.
pub const SCHEMA_DIRECTIVE: &str = "#:schema ./plan.schema.json";

/// A span of time: a number and a unit.
pub struct Duration;
impl JsonSchema for Duration {
    fn schema_name() -> Cow<'static, str> {
        "Duration".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            // What `measure::parse_duration` accepts (tests/interop/validate_plans.py checks both agree).
            "pattern": "^\\s*([0-9]+(\\.[0-9]*)?|\\.[0-9]+)\\s*(us|µs|ms|s|m|min|h)\\s*$",
            "description": "A duration: a number and a unit, `us`, `ms`, `s`, `m` (or `min`) or `h` (e.g. `\"500ms\"`, `\"2s\"`, `\"10m\"`)."
        })
    }
}

/// A count of iterations, or a span of time.
pub struct CountOrDuration;
impl JsonSchema for CountOrDuration {
    fn schema_name() -> Cow<'static, str> {
        "CountOrDuration".into()
    }
    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "anyOf": [
                {"type": "integer", "minimum": 0, "description": "A count of iterations."},
                generator.subschema_for::<Duration>()
            ]
        })
    }
}

/// A whole number ≥ 1.
pub struct Positive;
impl JsonSchema for Positive {
    fn schema_name() -> Cow<'static, str> {
        "Positive".into()
    }
    fn inline_schema() -> bool {
        true
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({"type": "integer", "minimum": 1})
    }
}

/// `mlp`, `lstm` or `transformer`.
pub struct ModelKindName;
impl JsonSchema for ModelKindName {
    fn schema_name() -> Cow<'static, str> {
        "ModelKind".into()
    }
    fn inline_schema() -> bool {
        true
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({"type": "string", "enum": ["mlp", "lstm", "transformer"]})
    }
}

/// A workload's name, from the workloads benchplan has.
pub struct WorkloadName;
impl JsonSchema for WorkloadName {
    fn schema_name() -> Cow<'static, str> {
        "Workload".into()
    }
    fn inline_schema() -> bool {
        true
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        let names: Vec<&str> = WorkloadKind::ALL.iter().map(|w| w.name()).collect();
        json_schema!({"type": "string", "enum": names})
    }
}

/// What a `command` experiment measures (`measures`).
pub struct MeasuresName;
impl JsonSchema for MeasuresName {
    fn schema_name() -> Cow<'static, str> {
        "Measures".into()
    }
    fn inline_schema() -> bool {
        true
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        let names: Vec<&str> = super::validate::experiments::MEASURES.to_vec();
        json_schema!({"type": "string", "enum": names})
    }
}

/// A TOML table of named entries (`[models.NAME]`).
pub struct NamedTable<T>(PhantomData<T>);
impl<T: JsonSchema> JsonSchema for NamedTable<T> {
    fn schema_name() -> Cow<'static, str> {
        format!("Table_of_{}", T::schema_name()).into()
    }
    fn inline_schema() -> bool {
        true
    }
    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "object",
            "propertyNames": {"pattern": "^[A-Za-z0-9_.-]+$"},
            "additionalProperties": generator.subschema_for::<T>()
        })
    }
}

impl JsonSchema for ParamValue {
    fn schema_name() -> Cow<'static, str> {
        "Value".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A parameter value: a string, a whole number, a number or a boolean.",
            "type": ["string", "integer", "number", "boolean"]
        })
    }
}

/// The JSON Schema of one value of a parameter of this kind.
fn value_schema(kind: ParamKind, name: &str) -> Value {
    match kind {
        ParamKind::PositiveInt { max } => json!({"type": "integer", "minimum": 1, "maximum": max}),
        ParamKind::Seed => json!({"type": "integer", "minimum": 0}),
        ParamKind::Count { max } => json!({"type": "integer", "minimum": 0, "maximum": max}),
        ParamKind::Dtype => json!({"type": "string", "enum": ["f32", "bf16", "f16"]}),
        ParamKind::Device | ParamKind::DeviceName => json!({
            "type": "string",
            "pattern": "^(cpu|auto|(cuda|metal|gpu)(:[0-9]+)?)$"
        }),
        ParamKind::Model | ParamKind::Data | ParamKind::Dataset => json!({"type": "string"}),
        ParamKind::NonNegative => json!({"type": "number", "minimum": 0}),
        ParamKind::Bool => json!({"type": "boolean"}),
        ParamKind::Choice(choices) => json!({"type": "string", "enum": choices}),
        ParamKind::Measure => match name {
            "warmup" | "iterations" => json!({"$ref": "#/definitions/CountOrDuration"}),
            "timeout" => json!({"$ref": "#/definitions/Duration"}),
            "target_ci" => json!({"type": "number", "minimum": 0, "maximum": 1}),
            _ => json!({"type": "integer", "minimum": 1}),
        },
        ParamKind::Free => json!({"$ref": "#/definitions/Value"}),
    }
}

fn default_json(d: DefaultValue) -> Option<Value> {
    match d {
        DefaultValue::Int(i) => Some(json!(i)),
        DefaultValue::Str(s) => Some(json!(s)),
        DefaultValue::Float(x) => Some(json!(x)),
        DefaultValue::Bool(b) => Some(json!(b)),
        DefaultValue::Required | DefaultValue::FromSettings => None,
    }
}

/// Every matrix parameter of every workload: its value schema, description, workloads and
/// defaults, in first-seen order.
fn matrix_properties() -> Map<String, Value> {
    // name, value schema, help, and each workload that takes it with its default
    type Seen = (
        &'static str,
        Value,
        &'static str,
        Vec<(&'static str, DefaultValue)>,
    );
    let mut seen: Vec<Seen> = Vec::new();
    for w in WorkloadKind::ALL {
        for def in w.params() {
            match seen.iter_mut().find(|(n, ..)| *n == def.name) {
                Some((_, _, _, uses)) => uses.push((w.name(), def.default)),
                None => seen.push((
                    def.name,
                    value_schema(def.kind, def.name),
                    def.help,
                    vec![(w.name(), def.default)],
                )),
            }
        }
    }
    let mut props = Map::new();
    for (name, item, help, uses) in seen {
        let workloads: Vec<&str> = uses.iter().map(|(w, _)| *w).collect();
        let defaults: BTreeMap<String, Vec<&str>> =
            uses.iter().fold(BTreeMap::new(), |mut m, (w, d)| {
                let text = match d {
                    DefaultValue::Required => "required".to_owned(),
                    DefaultValue::FromSettings => "from the measurement settings".to_owned(),
                    other => default_json(*other)
                        .map(|v| v.to_string())
                        .unwrap_or_default(),
                };
                m.entry(text).or_default().push(w);
                m
            });
        let default_text = if defaults.len() == 1 {
            defaults.keys().next().cloned().unwrap_or_default()
        } else {
            defaults
                .iter()
                .map(|(d, ws)| format!("{d} ({})", ws.join(", ")))
                .collect::<Vec<_>>()
                .join("; ")
        };
        let mut schema = json!({
            "description": format!(
                "{help} Workloads: {}. Default: {default_text}.",
                workloads.join(", ")
            ),
            "type": "array",
            "items": item,
            "minItems": 1
        });
        // An editor inserts the default when all workloads that take the key share one.
        if let [(_, d)] | [(_, d), ..] = uses.as_slice() {
            if defaults.len() == 1 {
                if let Some(v) = default_json(*d) {
                    schema["default"] = json!([v]);
                }
            }
        }
        props.insert(name.to_owned(), schema);
    }
    props.insert(
        "include".into(),
        json!({
            "description": "Entries (`{ key = value, … }`) that extend every combination they match with their other keys, or, matching none, are added as combinations of their own (GitHub Actions matrix semantics). Default: none.",
            "type": "array",
            "items": {"type": "object", "additionalProperties": {"$ref": "#/definitions/Value"}}
        }),
    );
    props.insert(
        "exclude".into(),
        json!({
            "description": "Entries (`{ key = value, … }`) removing every combination they match. Default: none.",
            "type": "array",
            "items": {"type": "object", "additionalProperties": {"$ref": "#/definitions/Value"}}
        }),
    );
    props.insert(
        "zip".into(),
        json!({
            "description": "Groups of parameters that vary together (`[[experiments.matrix.zip]]` with `n = [500, 4000]` and `iterations = [50, 5]`): each group counts as one axis whose i-th value sets the i-th value of every key. Default: none.",
            "type": "array",
            "items": {"type": "object", "additionalProperties": {"type": "array", "items": {"$ref": "#/definitions/Value"}}}
        }),
    );
    props
}

impl JsonSchema for RawMatrix {
    fn schema_name() -> Cow<'static, str> {
        "Matrix".into()
    }
    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        // Make sure the definitions the properties refer to exist.
        generator.subschema_for::<CountOrDuration>();
        generator.subschema_for::<ParamValue>();
        let mut schema = json_schema!({
            "type": "object",
            "description": "Each key is a parameter and lists its values (`batch = [1, 32]`); the workload decides which keys exist and `benchplan check` says which it lacks. A `command` experiment may add parameters of its own.",
            "additionalProperties": {"type": "array", "items": {"$ref": "#/definitions/Value"}}
        });
        schema.insert("properties".into(), Value::Object(matrix_properties()));
        schema
    }
}

/// The plan's JSON Schema.
pub fn plan_schema() -> Value {
    let settings = schemars::generate::SchemaSettings::draft07();
    let schema = settings.into_generator().into_root_schema_for::<RawPlan>();
    let mut value = schema.to_value();
    if let Some(obj) = value.as_object_mut() {
        obj.insert(
            "$comment".into(),
            json!("Generated by `benchplan schema` from the types that parse plans; do not edit. Regenerate with `benchplan schema > plans/plan.schema.json`."),
        );
    }
    value
}

/// The schema as the committed file holds it: pretty JSON and a final newline.
pub fn plan_schema_text() -> String {
    let mut text = serde_json::to_string_pretty(&plan_schema()).expect("a JSON value serializes");
    text.push('\n');
    text
}

/// Resolves `{"$ref": "#/definitions/X"}` against the root schema.
fn resolve<'a>(root: &'a Value, v: &'a Value) -> &'a Value {
    match v.get("$ref").and_then(Value::as_str) {
        Some(r) => r
            .strip_prefix("#/definitions/")
            .and_then(|name| root["definitions"].get(name))
            .unwrap_or(v),
        None => v,
    }
}

/// A short type description of a schema, for the reference table.
fn type_text(root: &Value, v: &Value) -> String {
    let v = resolve(root, v);
    if let Some(options) = v.get("anyOf").and_then(Value::as_array) {
        let parts: Vec<String> = options
            .iter()
            .filter(|o| o.get("type") != Some(&json!("null")))
            .map(|o| type_text(root, o))
            .collect();
        return parts.join(" or ");
    }
    if let Some(e) = v.get("enum").and_then(Value::as_array) {
        return e
            .iter()
            .map(|x| format!("`{}`", x.as_str().map_or(x.to_string(), str::to_owned)))
            .collect::<Vec<_>>()
            .join(", ");
    }
    if v.get("const").is_some() {
        return format!("`{}`", v["const"]);
    }
    let ty = match &v["type"] {
        Value::Array(ts) => ts
            .iter()
            .filter_map(Value::as_str)
            .filter(|t| *t != "null")
            .collect::<Vec<_>>()
            .join(" or "),
        Value::String(t) => t.clone(),
        _ => String::new(),
    };
    match ty.as_str() {
        "array" => format!("list of {}", type_text(root, &v["items"])),
        "object" => "table".to_owned(),
        "string"
            if v.get("pattern").is_some()
                && v["pattern"].as_str().is_some_and(|p| p.contains("ms|s")) =>
        {
            "duration".to_owned()
        }
        _ if ty.is_empty() => "value".to_owned(),
        _ => ty,
    }
}

fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

/// One table of keys: key, type, default, description.
fn key_table(root: &Value, object: &Value, prefix: &str, out: &mut String) {
    let object = resolve(root, object);
    let required: Vec<&str> = object["required"]
        .as_array()
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    out.push_str("| key | type | default | description |\n|---|---|---|---|\n");
    if let Some(props) = object["properties"].as_object() {
        for (key, v) in props {
            let default = if required.contains(&key.as_str()) {
                "required".to_owned()
            } else {
                v.get("default")
                    .filter(|d| !d.is_null())
                    .map_or("–".to_owned(), |d| format!("`{d}`"))
            };
            let description = v
                .get("description")
                .or_else(|| resolve(root, v).get("description"))
                .and_then(Value::as_str)
                .unwrap_or_default();
            out.push_str(&format!(
                "| `{prefix}{key}` | {} | {} | {} |\n",
                cell(&type_text(root, v)),
                cell(&default),
                cell(description)
            ));
        }
    }
    out.push('\n');
}

/// The plan reference as Markdown, from the schema: every key, its type, default and meaning.
pub fn reference_markdown() -> String {
    let root = plan_schema();
    let mut out = String::from(
        "<!-- Generated from the plan schema by `benchplan schema --format markdown`; a test fails when it differs. -->\n\n",
    );
    let sections: [(&str, &str, Value); 9] = [
        ("Top level", "", root.clone()),
        (
            "`[measure]` (and an experiment's `measure`)",
            "measure.",
            json!({"$ref": "#/definitions/RawMeasure"}),
        ),
        (
            "`[models.NAME]`",
            "",
            json!({"$ref": "#/definitions/RawModel"}),
        ),
        (
            "`[sources.NAME]`",
            "",
            json!({"$ref": "#/definitions/RawSource"}),
        ),
        (
            "`[datasets.NAME]`",
            "",
            json!({"$ref": "#/definitions/RawDataset"}),
        ),
        (
            "`[devices.NAME]`",
            "",
            json!({"$ref": "#/definitions/RawDevice"}),
        ),
        (
            "`[[experiments]]`",
            "",
            json!({"$ref": "#/definitions/RawExperiment"}),
        ),
        (
            "`[experiments.matrix]`: parameters by workload",
            "",
            json!({"$ref": "#/definitions/Matrix"}),
        ),
        (
            "`[[claims]]`",
            "",
            json!({"$ref": "#/definitions/RawClaim"}),
        ),
    ];
    for (title, prefix, object) in &sections {
        out.push_str(&format!("## {title}\n\n"));
        key_table(&root, object, prefix, &mut out);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::measure::MeasureSettings;

    #[test]
    fn every_key_has_a_description() {
        let root = plan_schema();
        let mut objects = vec![root.clone()];
        objects.extend(root["definitions"].as_object().unwrap().values().cloned());
        for o in objects {
            if let Some(props) = o["properties"].as_object() {
                for (k, v) in props {
                    let d = v
                        .get("description")
                        .or_else(|| resolve(&root, v).get("description"));
                    assert!(
                        d.is_some_and(|d| !d.as_str().unwrap().is_empty()),
                        "`{k}` has no description"
                    );
                }
            }
        }
    }

    #[test]
    fn measurement_defaults_in_the_schema_are_the_codes_defaults() {
        let root = plan_schema();
        let m = &root["definitions"]["RawMeasure"]["properties"];
        let d = MeasureSettings::default();
        assert_eq!(m["warmup"]["default"], json!(3));
        assert_eq!(d.warmup.to_string(), "3");
        assert_eq!(m["iterations"]["default"], json!(d.iterations.to_string()));
        assert_eq!(m["min_iterations"]["default"], json!(d.min_iterations));
        assert_eq!(m["max_iterations"]["default"], json!(d.max_iterations));
        assert_eq!(
            m["timeout"]["default"],
            json!(crate::plan::measure::format_duration(d.timeout))
        );
    }

    #[test]
    fn matrix_keys_come_from_the_workloads() {
        let root = plan_schema();
        let props = &root["definitions"]["Matrix"]["properties"];
        for w in WorkloadKind::ALL {
            for def in w.params() {
                assert!(props.get(def.name).is_some(), "{} lacks `{}`", w, def.name);
            }
        }
        assert_eq!(
            props["dtype"]["items"]["enum"],
            json!(["f32", "bf16", "f16"])
        );
    }
}
