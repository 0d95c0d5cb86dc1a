//! A matrix value as the plan wrote it: a string, an integer, a float or a boolean.
//!
//! Deserialized with a hand-written visitor rather than `#[serde(untagged)]`, so that the
//! `toml` crate keeps the value's span for error messages.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, Visitor};

/// One value of a matrix axis or of an include/exclude entry.
#[derive(Debug, Clone, PartialEq)]
pub enum ParamValue {
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
}

impl ParamValue {
    /// The name of this value's type, as a user reads it in an error message.
    pub fn type_name(&self) -> &'static str {
        match self {
            ParamValue::Str(_) => "a string",
            ParamValue::Int(_) => "an integer",
            ParamValue::Float(_) => "a float",
            ParamValue::Bool(_) => "a boolean",
        }
    }

    /// The value as JSON (for `list --format json` and programs' environment).
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            ParamValue::Str(s) => serde_json::Value::from(s.as_str()),
            ParamValue::Int(i) => serde_json::Value::from(*i),
            ParamValue::Float(x) => serde_json::Value::from(*x),
            ParamValue::Bool(b) => serde_json::Value::from(*b),
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            ParamValue::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_int(&self) -> Option<i64> {
        match self {
            ParamValue::Int(i) => Some(*i),
            _ => None,
        }
    }

    pub fn as_float(&self) -> Option<f64> {
        match self {
            ParamValue::Float(x) => Some(*x),
            _ => None,
        }
    }

    /// The value as TOML would write it (strings quoted), for messages and `list`.
    pub fn to_toml(&self) -> String {
        match self {
            ParamValue::Str(s) => format!("{s:?}"),
            other => other.to_string(),
        }
    }
}

/// Plain form, used in cell keys, filters and Parquet string columns: strings unquoted,
/// floats in shortest round-trip form so that the same value always prints the same way.
impl fmt::Display for ParamValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParamValue::Str(s) => f.write_str(s),
            ParamValue::Int(i) => write!(f, "{i}"),
            ParamValue::Float(x) => write!(f, "{x:?}"),
            ParamValue::Bool(b) => write!(f, "{b}"),
        }
    }
}

impl<'de> Deserialize<'de> for ParamValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ValueVisitor;
        impl<'de> Visitor<'de> for ValueVisitor {
            type Value = ParamValue;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string, an integer, a float or a boolean")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<ParamValue, E> {
                Ok(ParamValue::Str(v.to_owned()))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<ParamValue, E> {
                Ok(ParamValue::Str(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<ParamValue, E> {
                Ok(ParamValue::Int(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<ParamValue, E> {
                i64::try_from(v)
                    .map(ParamValue::Int)
                    .map_err(|_| E::custom("integer is too large"))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<ParamValue, E> {
                Ok(ParamValue::Float(v))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<ParamValue, E> {
                Ok(ParamValue::Bool(v))
            }
        }
        deserializer.deserialize_any(ValueVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_is_plain_and_toml_is_quoted() {
        let s = ParamValue::Str("mlp-small".into());
        assert_eq!(s.to_string(), "mlp-small");
        assert_eq!(s.to_toml(), "\"mlp-small\"");
        assert_eq!(ParamValue::Float(0.5).to_string(), "0.5");
        assert_eq!(ParamValue::Float(1.0).to_string(), "1.0");
        assert_eq!(ParamValue::Int(32).to_string(), "32");
    }
}
