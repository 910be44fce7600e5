//! A tiny JSON scanner that finds the top-level `"resourceType"` of one
//! NDJSON line without building a tree.
//!
//! It walks the members of the outer object, skipping values (strings with
//! escapes, nested objects and arrays, scalars) until it meets the key
//! `resourceType` at depth 1. Keys written with escapes
//! (`"resource\u0054ype"`) are decoded before comparing, so the answer is the
//! one a full JSON parser would give. It does not validate the rest of the
//! line; [`is_complete_object`] checks that brackets and strings balance.

use std::borrow::Cow;

use memchr::memchr2;

use crate::error::NdjsonErrorKind;

#[inline]
fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && matches!(b[i], b' ' | b'\t' | b'\n' | b'\r') {
        i += 1;
    }
    i
}

/// `i` points at the opening quote; returns the index after the closing one
/// and whether the string held a backslash.
#[inline]
fn skip_string(b: &[u8], i: usize) -> Result<(usize, bool), usize> {
    let mut j = i + 1;
    let mut escaped = false;
    loop {
        match memchr2(b'"', b'\\', &b[j.min(b.len())..]) {
            None => return Err(b.len()),
            Some(p) => {
                let k = j + p;
                if b[k] == b'"' {
                    return Ok((k + 1, escaped));
                }
                escaped = true;
                // Backslash: skip it and the escaped byte.
                j = k + 2;
                if j > b.len() {
                    return Err(b.len());
                }
            }
        }
    }
}

/// Skips one JSON value starting at `i` (after whitespace); returns the index
/// after it. Scalars are skipped up to the next delimiter without checking
/// their spelling.
fn skip_value(b: &[u8], i: usize) -> Result<usize, usize> {
    match b.get(i) {
        None => Err(i),
        Some(b'"') => skip_string(b, i).map(|(e, _)| e),
        Some(b'{') | Some(b'[') => {
            let mut depth = 0usize;
            let mut j = i;
            while j < b.len() {
                match b[j] {
                    b'"' => {
                        j = skip_string(b, j)?.0;
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return Ok(j + 1);
                        }
                    }
                    _ => {}
                }
                j += 1;
            }
            Err(b.len())
        }
        Some(_) => {
            let mut j = i;
            while j < b.len() && !matches!(b[j], b',' | b'}' | b']' | b' ' | b'\t' | b'\r' | b'\n')
            {
                j += 1;
            }
            if j == i {
                Err(i)
            } else {
                Ok(j)
            }
        }
    }
}

/// True if `name` is a plausible FHIR resource type name: an ASCII capital
/// letter followed by ASCII letters or digits, at most 64 bytes.
pub fn is_valid_type_name(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && b.len() <= 64
        && b[0].is_ascii_uppercase()
        && b[1..].iter().all(|c| c.is_ascii_alphanumeric())
}

fn decode_json_string(raw_with_quotes: &str) -> Option<String> {
    serde_json::from_str::<String>(raw_with_quotes).ok()
}

/// Finds the top-level `resourceType` of a JSON object given as one line.
///
/// Returns the (validated) type name, borrowed unless it was written with
/// escapes. Errors say what was wrong, with a column where relevant.
pub fn scan_resource_type(line: &str) -> Result<Cow<'_, str>, NdjsonErrorKind> {
    let b = line.as_bytes();
    let mut i = skip_ws(b, 0);
    if b.get(i) != Some(&b'{') {
        return Err(NdjsonErrorKind::NotAnObject { at: i });
    }
    // The line must also end like an object; this catches most truncations
    // cheaply (the full balance check is `is_complete_object`).
    let mut last = b.len();
    while last > 0 && matches!(b[last - 1], b' ' | b'\t' | b'\r' | b'\n') {
        last -= 1;
    }
    if last == 0 || b[last - 1] != b'}' {
        return Err(NdjsonErrorKind::NotAnObject { at: last });
    }
    i += 1;
    let not_obj = |at: usize| NdjsonErrorKind::NotAnObject { at };
    loop {
        i = skip_ws(b, i);
        match b.get(i) {
            Some(b'}') => return Err(NdjsonErrorKind::MissingResourceType),
            Some(b'"') => {}
            _ => return Err(not_obj(i)),
        }
        let (key_end, key_escaped) = skip_string(b, i).map_err(not_obj)?;
        let key_raw = &line[i..key_end];
        let is_rt = if key_escaped {
            decode_json_string(key_raw).as_deref() == Some("resourceType")
        } else {
            key_raw == "\"resourceType\""
        };
        i = skip_ws(b, key_end);
        if b.get(i) != Some(&b':') {
            return Err(not_obj(i));
        }
        i = skip_ws(b, i + 1);
        if is_rt {
            if b.get(i) != Some(&b'"') {
                return Err(NdjsonErrorKind::InvalidResourceType);
            }
            let (v_end, v_escaped) = skip_string(b, i).map_err(not_obj)?;
            let value: Cow<'_, str> = if v_escaped {
                Cow::Owned(
                    decode_json_string(&line[i..v_end])
                        .ok_or(NdjsonErrorKind::InvalidResourceType)?,
                )
            } else {
                Cow::Borrowed(&line[i + 1..v_end - 1])
            };
            if !is_valid_type_name(&value) {
                return Err(NdjsonErrorKind::InvalidResourceType);
            }
            return Ok(value);
        }
        i = skip_value(b, i).map_err(not_obj)?;
        i = skip_ws(b, i);
        match b.get(i) {
            Some(b',') => i += 1,
            Some(b'}') => return Err(NdjsonErrorKind::MissingResourceType),
            _ => return Err(not_obj(i)),
        }
    }
}

/// True when `line` is one JSON object whose strings, braces and brackets all
/// balance, with only whitespace after it. Scalars are not checked; this is a
/// truncation detector, not a validator.
pub fn is_complete_object(line: &str) -> bool {
    let b = line.as_bytes();
    let i = skip_ws(b, 0);
    if b.get(i) != Some(&b'{') {
        return false;
    }
    match skip_value(b, i) {
        Ok(end) => skip_ws(b, end) == b.len(),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_first_key() {
        assert_eq!(
            scan_resource_type(r#"{"resourceType":"Patient","id":"1"}"#).unwrap(),
            "Patient"
        );
    }

    #[test]
    fn skips_nested_and_decoys() {
        let line = r#"{ "id" : "x\"resourceType\":\"Bad", "meta":{"resourceType":"Nested","a":[1,{"b":"]}"}]}, "n": -1.5e3, "t": true, "resourceType" : "Observation" }"#;
        assert_eq!(scan_resource_type(line).unwrap(), "Observation");
    }

    #[test]
    fn escaped_key_and_value() {
        let line = r#"{"resource\u0054ype":"Enc\u006Funter"}"#;
        let rt = scan_resource_type(line).unwrap();
        assert_eq!(rt, "Encounter");
        assert!(matches!(rt, Cow::Owned(_)));
    }

    #[test]
    fn missing_and_invalid() {
        assert_eq!(
            scan_resource_type(r#"{"id":"1","contained":[{"resourceType":"X"}]}"#),
            Err(NdjsonErrorKind::MissingResourceType)
        );
        assert_eq!(
            scan_resource_type(r#"{"resourceType":"patient"}"#),
            Err(NdjsonErrorKind::InvalidResourceType)
        );
        assert_eq!(
            scan_resource_type(r#"{"resourceType":12}"#),
            Err(NdjsonErrorKind::InvalidResourceType)
        );
        assert!(matches!(
            scan_resource_type(r#"["resourceType","Patient"]"#),
            Err(NdjsonErrorKind::NotAnObject { .. })
        ));
        assert!(matches!(
            scan_resource_type(r#"{"resourceType":"Patient""#),
            Err(NdjsonErrorKind::NotAnObject { .. })
        ));
        assert!(matches!(
            scan_resource_type(r#"{"a" "b"}"#),
            Err(NdjsonErrorKind::NotAnObject { .. })
        ));
    }

    #[test]
    fn completeness() {
        assert!(is_complete_object(r#"{"a":{"b":[1,"}"]}} "#));
        assert!(!is_complete_object(r#"{"a":{"b":[1,"}"]}"#));
        assert!(!is_complete_object(r#"{"a":"\"}"#));
        assert!(!is_complete_object(r#"{"a":1} x"#));
    }
}
