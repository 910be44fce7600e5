//! A small JSON value type that keeps numbers as written and object keys in order.
//!
//! It holds unknown elements (so they can be written back unchanged) and is
//! handy for comparing documents: [`Value::equivalent`] compares objects as
//! maps and numbers by their written text.

use crate::de::Parser;
use crate::error::Error;
use crate::ser::Writer;

/// A JSON value. Numbers keep their source text (`1.50` stays `1.50`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Value {
    /// `null`
    #[default]
    Null,
    /// `true` / `false`
    Bool(bool),
    /// A number, as written.
    Number(String),
    /// A string.
    String(String),
    /// An array.
    Array(Vec<Value>),
    /// An object; keys in document order (duplicates are kept).
    Object(Vec<(String, Value)>),
}

impl Value {
    /// Parses one JSON document (numbers keep their text).
    pub fn parse(input: &[u8]) -> Result<Value, Error> {
        let mut p = Parser::new(input, &crate::ParseOptions::default())?;
        let v = p.value()?;
        p.finish()?;
        Ok(v)
    }

    /// Writes compact JSON.
    pub fn to_vec(&self) -> Vec<u8> {
        let mut w = Writer::new();
        w.value(self);
        w.into_inner()
    }

    /// Looks up a key of an object (the first one when duplicated).
    pub fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Object(m) => m.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// JSON-value equality: objects compared as maps (order ignored), arrays in
    /// order, numbers by written text. Returns the JSON path of the first
    /// difference, or `None` when equal.
    pub fn first_difference(&self, other: &Value) -> Option<String> {
        let mut path = String::from("$");
        if diff(self, other, &mut path) {
            Some(path)
        } else {
            None
        }
    }

    /// `true` when [`Value::first_difference`] finds no difference.
    pub fn equivalent(&self, other: &Value) -> bool {
        self.first_difference(other).is_none()
    }
}

fn diff(a: &Value, b: &Value, path: &mut String) -> bool {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for (i, (k, va)) in x.iter().enumerate() {
                let len = path.len();
                path.push('.');
                path.push_str(k);
                // With duplicate keys, the n-th occurrence matches the n-th.
                let nth = x[..i].iter().filter(|(k2, _)| k2 == k).count();
                match y.iter().filter(|(k2, _)| k2 == k).nth(nth) {
                    Some((_, vb)) => {
                        if diff(va, vb, path) {
                            return true;
                        }
                    }
                    None => return true,
                }
                path.truncate(len);
            }
            for (k, _) in y {
                let count = |m: &[(String, Value)]| m.iter().filter(|(k2, _)| k2 == k).count();
                if count(x) != count(y) {
                    path.push('.');
                    path.push_str(k);
                    return true;
                }
            }
            false
        }
        (Value::Array(x), Value::Array(y)) => {
            for (i, (va, vb)) in x.iter().zip(y).enumerate() {
                let len = path.len();
                path.push_str(&format!("[{i}]"));
                if diff(va, vb, path) {
                    return true;
                }
                path.truncate(len);
            }
            if x.len() != y.len() {
                path.push_str(&format!("[{}]", x.len().min(y.len())));
                return true;
            }
            false
        }
        _ => a != b,
    }
}
