//! JSON Schema to GBNF, for the part of JSON Schema that people write for a model's output:
//! `type` (object, array, string, number, integer, boolean, null, or a list of them),
//! `properties`, `required`, `additionalProperties: false`, `enum`, `const`, `items`,
//! `minItems`/`maxItems`, `minLength`/`maxLength`, integer `minimum`/`maximum` (and the
//! exclusive ones), `anyOf`, nested to any depth. The rules take llama.cpp's shapes
//! (`common/json-schema-to-grammar.cpp`), which is not compiled into ember's llama.cpp.
//!
//! A keyword outside this part is an error naming it, never silently ignored: the output would
//! then not be what the schema promises. An object's properties come in alphabetical order,
//! required ones always, optional ones when the model writes them; no others.

use std::collections::BTreeSet;
use std::fmt::Write;

use serde_json::{Map, Value};

/// Keywords that describe and do not constrain.
const ANNOTATIONS: &[&str] =
    &["$schema", "$id", "$comment", "title", "description", "default", "examples", "deprecated", "readOnly"];

/// llama.cpp's shapes for JSON's primitives.
const PRIMITIVES: &[(&str, &str)] = &[
    ("space", r#"| " " | "\n"{1,2} [ \t]{0,20}"#),
    ("boolean", r#"("true" | "false") space"#),
    ("null", r#""null" space"#),
    ("integral-part", r#"[0] | [1-9] [0-9]{0,15}"#),
    ("decimal-part", r#"[0-9]{1,16}"#),
    ("integer", r#"("-"? integral-part) space"#),
    ("number", r#"("-"? integral-part) ("." decimal-part)? ([eE] [-+]? integral-part)? space"#),
    ("char", r#"[^"\\\x7F\x00-\x1F] | [\\] (["\\bfnrt] | "u" [0-9a-fA-F]{4})"#),
    ("string", r#""\"" char* "\"" space"#),
    ("value", "object | array | string | number | boolean | null"),
    ("object", r#""{" space ( string ":" space value ("," space string ":" space value)* )? "}" space"#),
    ("array", r#""[" space ( value ("," space value)* )? "]" space"#),
];

/// The GBNF grammar of the documents `schema` allows; the error names the keyword or value it
/// cannot express and where it is (a JSON pointer).
pub fn to_gbnf(schema: &Value) -> Result<String, String> {
    let mut grammar = Grammar::default();
    let root = grammar.visit(schema, "root", "")?;
    if root != "root" {
        grammar.add("root", &root);
    }
    let mut out = String::new();
    for (name, body) in &grammar.rules {
        let _ = writeln!(out, "{name} ::= {body}");
    }
    Ok(out)
}

#[derive(Default)]
struct Grammar {
    rules: Vec<(String, String)>,
    names: BTreeSet<String>,
}

impl Grammar {
    /// Adds `name ::= body` (a fresh name if taken) and returns the name used.
    fn add(&mut self, name: &str, body: &str) -> String {
        let mut unique = name.to_string();
        let mut n = 1;
        while self.names.contains(&unique) {
            n += 1;
            unique = format!("{name}-{n}");
        }
        self.names.insert(unique.clone());
        self.rules.push((unique.clone(), body.to_string()));
        unique
    }

    /// A primitive rule by name, added (with the rules it uses) the first time.
    fn primitive(&mut self, name: &str) -> String {
        if !self.names.contains(name) {
            if let Some(&(_, body)) = PRIMITIVES.iter().find(|(n, _)| *n == name) {
                self.names.insert(name.to_string());
                self.rules.push((name.to_string(), body.to_string()));
                for dep in PRIMITIVES.iter().map(|(n, _)| *n).filter(|dep| mentions(body, dep)) {
                    self.primitive(dep);
                }
            }
        }
        name.to_string()
    }

    /// The rule (or expression) for the value `schema` describes, found at `pointer`.
    fn visit(&mut self, schema: &Value, name: &str, pointer: &str) -> Result<String, String> {
        let map = match schema {
            Value::Bool(true) => return Ok(self.primitive("value")),
            Value::Object(map) if map.keys().all(|k| ANNOTATIONS.contains(&k.as_str())) => {
                return Ok(self.primitive("value"))
            }
            Value::Object(map) => map,
            _ => return Err(at(pointer, "a schema must be an object (or `true`)")),
        };
        if let Some(keyword) = map.keys().find(|k| !known(k)) {
            return Err(at(pointer, &format!("the keyword `{keyword}` is not supported here")));
        }
        let body = if let Some(value) = map.get("const") {
            self.literal_value(value)
        } else if let Some(values) = map.get("enum") {
            let Value::Array(values) = values else { return Err(at(pointer, "`enum` must be a list")) };
            if values.is_empty() {
                return Err(at(pointer, "`enum` lists no value"));
            }
            let alts: Vec<String> = values.iter().map(|v| self.literal_value(v)).collect();
            format!("({})", alts.join(" | "))
        } else if let Some(branches) = map.get("anyOf") {
            let Value::Array(branches) = branches else { return Err(at(pointer, "`anyOf` must be a list")) };
            let mut alts = Vec::new();
            for (i, branch) in branches.iter().enumerate() {
                alts.push(self.visit(branch, &format!("{name}-{i}"), &format!("{pointer}/anyOf/{i}"))?);
            }
            format!("({})", alts.join(" | "))
        } else {
            self.typed(map, name, pointer)?
        };
        Ok(self.add(name, &body))
    }

    /// The body for a schema that says its `type`.
    fn typed(&mut self, map: &Map<String, Value>, name: &str, pointer: &str) -> Result<String, String> {
        let types: Vec<&str> = match map.get("type") {
            Some(Value::String(t)) => vec![t.as_str()],
            Some(Value::Array(list)) => list.iter().filter_map(Value::as_str).collect(),
            Some(_) => return Err(at(pointer, "`type` must be a name or a list of names")),
            None if map.contains_key("properties") => vec!["object"],
            None if map.contains_key("items") => vec!["array"],
            None => return Err(at(pointer, "say the value's `type` (or `enum`, `const`, `anyOf`)")),
        };
        let mut alts = Vec::new();
        for t in &types {
            alts.push(match *t {
                "object" => self.object(map, name, pointer)?,
                "array" => self.array(map, name, pointer)?,
                "string" => self.string(map, pointer)?,
                "integer" => self.integer(map, pointer)?,
                "number" => {
                    no_bounds(map, pointer)?;
                    self.primitive("number")
                }
                "boolean" => self.primitive("boolean"),
                "null" => self.primitive("null"),
                other => return Err(at(pointer, &format!("unknown type `{other}`"))),
            });
        }
        Ok(if alts.len() == 1 { alts.remove(0) } else { format!("({})", alts.join(" | ")) })
    }

    fn object(&mut self, map: &Map<String, Value>, name: &str, pointer: &str) -> Result<String, String> {
        let empty = Map::new();
        let properties = match map.get("properties") {
            Some(Value::Object(p)) => p,
            Some(_) => return Err(at(pointer, "`properties` must be an object")),
            None => &empty,
        };
        match map.get("additionalProperties") {
            None | Some(Value::Bool(false)) => {}
            Some(Value::Bool(true)) if properties.is_empty() => return Ok(self.primitive("object")),
            Some(_) => {
                return Err(at(
                    pointer,
                    "`additionalProperties` other than false is not supported: list the properties",
                ))
            }
        }
        let required: BTreeSet<&str> = match map.get("required") {
            Some(Value::Array(r)) => r.iter().filter_map(Value::as_str).collect(),
            Some(_) => return Err(at(pointer, "`required` must be a list of names")),
            None => BTreeSet::new(),
        };
        if let Some(missing) = required.iter().find(|r| !properties.contains_key(**r)) {
            return Err(at(pointer, &format!("`required` names `{missing}`, which `properties` does not define")));
        }
        if properties.is_empty() {
            return Ok(self.primitive("object"));
        }
        let mut kvs = Vec::new();
        for (key, schema) in properties {
            let rule =
                self.visit(schema, &format!("{name}-{}", rule_name(key)), &format!("{pointer}/properties/{key}"))?;
            let kv = format!("{} space \":\" space {rule}", literal(&Value::String(key.clone()).to_string()));
            kvs.push((required.contains(key.as_str()), self.add(&format!("{name}-{}-kv", rule_name(key)), &kv)));
        }
        let (req, opt): (Vec<_>, Vec<_>) = kvs.into_iter().partition(|(r, _)| *r);
        let req: Vec<String> = req.into_iter().map(|(_, kv)| kv).collect();
        let opt: Vec<String> = opt.into_iter().map(|(_, kv)| kv).collect();
        let mut body = String::from("\"{\" space ");
        body.push_str(&req.join(" \",\" space "));
        if !opt.is_empty() {
            if req.is_empty() {
                body.push_str(&format!("( {} )?", optional_chain(&opt)));
            } else {
                for kv in &opt {
                    body.push_str(&format!(" ( \",\" space {kv} )?"));
                }
            }
        }
        body.push_str(" \"}\" space");
        Ok(body)
    }

    fn array(&mut self, map: &Map<String, Value>, name: &str, pointer: &str) -> Result<String, String> {
        let item = match map.get("items") {
            None => self.primitive("value"),
            Some(items @ (Value::Object(_) | Value::Bool(true))) => {
                self.visit(items, &format!("{name}-item"), &format!("{pointer}/items"))?
            }
            Some(_) => return Err(at(pointer, "`items` must be one schema (tuples are not supported)")),
        };
        let min = count(map, "minItems", pointer)?.unwrap_or(0);
        let max = count(map, "maxItems", pointer)?;
        if max.is_some_and(|max| max < min) {
            return Err(at(pointer, "`maxItems` is less than `minItems`"));
        }
        let rest = format!("\",\" space {item}");
        let list = match (min, max) {
            (_, Some(0)) => String::new(),
            (0, max) => format!("( {item} {} )?", repeat(&rest, 0, max.map(|m| m - 1))),
            (min, max) => format!("{item} {}", repeat(&rest, min - 1, max.map(|m| m - 1))),
        };
        Ok(format!("\"[\" space {list} \"]\" space"))
    }

    fn string(&mut self, map: &Map<String, Value>, pointer: &str) -> Result<String, String> {
        let min = count(map, "minLength", pointer)?.unwrap_or(0);
        let max = count(map, "maxLength", pointer)?;
        if min == 0 && max.is_none() {
            return Ok(self.primitive("string"));
        }
        let ch = self.primitive("char");
        self.primitive("space");
        Ok(format!("\"\\\"\" {} \"\\\"\" space", repeat(&ch, min, max)))
    }

    fn integer(&mut self, map: &Map<String, Value>, pointer: &str) -> Result<String, String> {
        let bound = |key: &str, shift: i64| -> Result<Option<i64>, String> {
            match map.get(key) {
                None => Ok(None),
                Some(v) => match v.as_i64().or_else(|| v.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64)) {
                    Some(n) => Ok(Some(n.saturating_add(shift))),
                    None => Err(at(pointer, &format!("`{key}` must be a whole number for an integer"))),
                },
            }
        };
        let lo = max_of(bound("minimum", 0)?, bound("exclusiveMinimum", 1)?);
        let hi = min_of(bound("maximum", 0)?, bound("exclusiveMaximum", -1)?);
        if lo.is_none() && hi.is_none() {
            return Ok(self.primitive("integer"));
        }
        if let (Some(lo), Some(hi)) = (lo, hi) {
            if lo > hi {
                return Err(at(pointer, "no integer lies between its `minimum` and `maximum`"));
            }
        }
        self.primitive("space");
        Ok(format!("({}) space", int_range(lo, hi)))
    }

    /// A JSON value as a literal.
    fn literal_value(&mut self, value: &Value) -> String {
        self.primitive("space");
        format!("{} space", literal(&value.to_string()))
    }
}

fn known(keyword: &str) -> bool {
    ANNOTATIONS.contains(&keyword)
        || [
            "type",
            "properties",
            "required",
            "additionalProperties",
            "enum",
            "const",
            "anyOf",
            "items",
            "minItems",
            "maxItems",
            "minLength",
            "maxLength",
            "minimum",
            "maximum",
            "exclusiveMinimum",
            "exclusiveMaximum",
        ]
        .contains(&keyword)
}

fn at(pointer: &str, problem: &str) -> String {
    if pointer.is_empty() {
        problem.to_string()
    } else {
        format!("{problem} (at {pointer})")
    }
}

fn no_bounds(map: &Map<String, Value>, pointer: &str) -> Result<(), String> {
    match ["minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"].iter().find(|k| map.contains_key(**k)) {
        Some(k) => Err(at(pointer, &format!("`{k}` is supported on integers only (a grammar cannot bound a decimal)"))),
        None => Ok(()),
    }
}

fn count(map: &Map<String, Value>, key: &str, pointer: &str) -> Result<Option<u64>, String> {
    match map.get(key) {
        None => Ok(None),
        Some(v) => match v.as_u64() {
            Some(n) if n <= 1000 => Ok(Some(n)),
            _ => Err(at(pointer, &format!("`{key}` must be a whole number from 0 to 1000"))),
        },
    }
}

fn max_of(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    a.into_iter().chain(b).max()
}

fn min_of(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    a.into_iter().chain(b).min()
}

/// Whether the rule `body` refers to the rule `name` (as a whole word).
fn mentions(body: &str, name: &str) -> bool {
    body.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-')).any(|word| word == name)
}

/// A rule name made of a property's name: letters, digits and dashes.
fn rule_name(key: &str) -> String {
    let name: String =
        key.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '-' }).collect();
    if name.is_empty() {
        "empty".into()
    } else {
        name
    }
}

/// `text` as a GBNF literal.
pub fn literal(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || c == '\u{7F}' => {
                let _ = write!(out, "\\x{:02X}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `item` repeated `min` to `max` times (no limit when `max` is none).
fn repeat(item: &str, min: u64, max: Option<u64>) -> String {
    match max {
        None if min == 0 => format!("({item})*"),
        None => format!("({item}){{{min},}}"),
        Some(max) if max == min => format!("({item}){{{min}}}"),
        Some(max) => format!("({item}){{{min},{max}}}"),
    }
}

/// The optional key-values of an object with no required ones: any of them, in order, with
/// commas between.
fn optional_chain(kvs: &[String]) -> String {
    let alts: Vec<String> = (0..kvs.len())
        .map(|i| {
            let rest: String = kvs[i + 1..].iter().map(|kv| format!(" ( \",\" space {kv} )?")).collect();
            format!("{}{rest}", kvs[i])
        })
        .collect();
    alts.join(" | ")
}

/// The integers from `lo` to `hi` (either open), written without leading zeros.
fn int_range(lo: Option<i64>, hi: Option<i64>) -> String {
    let mut alts = Vec::new();
    // The negative part: "-" then the magnitudes from max(1, -hi) to -lo.
    if lo.is_none_or(|lo| lo < 0) {
        let from = hi.map_or(1, |hi| (-hi.min(-1)).max(1) as u64);
        let to = lo.map(|lo| lo.unsigned_abs());
        if to.is_none_or(|to| to >= from) {
            alts.push(format!("\"-\" ({})", natural_range(from, to)));
        }
    }
    // The non-negative part.
    if hi.is_none_or(|hi| hi >= 0) {
        let from = lo.map_or(0, |lo| lo.max(0) as u64);
        alts.push(natural_range(from, hi.map(|hi| hi as u64)));
    }
    alts.join(" | ")
}

/// The whole numbers from `from` to `to` (no limit when none; then at most 16 digits, as
/// llama.cpp's integers).
fn natural_range(from: u64, to: Option<u64>) -> String {
    let len = |n: u64| n.to_string().len();
    let mut alts = Vec::new();
    let last = to.map_or(len(from), len);
    for digits in len(from)..=last {
        let low = if digits == 1 { 0 } else { 10u64.pow(digits as u32 - 1) };
        let high = 10u64.saturating_pow(digits as u32).saturating_sub(1);
        let (a, b) = (from.max(low), to.map_or(high, |t| t.min(high)));
        if a <= b {
            alts.push(same_length(&a.to_string(), &b.to_string()));
        }
    }
    if to.is_none() && last < 16 {
        alts.push(format!("[1-9] [0-9]{{{last},15}}"));
    }
    alts.join(" | ")
}

/// The numbers from `a` to `b`, both written with the same number of digits.
fn same_length(a: &str, b: &str) -> String {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.is_empty() {
        return String::new();
    }
    let (x, y) = (a[0], b[0]);
    let rest = a.len() - 1;
    if x == y {
        let tail = same_length(&String::from_utf8_lossy(&a[1..]), &String::from_utf8_lossy(&b[1..]));
        return format!("\"{}\" {tail}", x as char).trim_end().to_string();
    }
    let any = |n: usize| if n == 0 { String::new() } else { format!("[0-9]{{{n}}}") };
    let nines = "9".repeat(rest);
    let zeros = "0".repeat(rest);
    let mut alts = Vec::new();
    let tail_a = String::from_utf8_lossy(&a[1..]).into_owned();
    let tail_b = String::from_utf8_lossy(&b[1..]).into_owned();
    let (first, last) = if tail_a == zeros && tail_b == nines {
        (x, y)
    } else {
        let first = if tail_a == zeros { x } else { x + 1 };
        let last = if tail_b == nines { y } else { y - 1 };
        if tail_a != zeros {
            alts.push(format!("\"{}\" ({})", x as char, same_length(&tail_a, &nines)));
        }
        if tail_b != nines {
            alts.push(format!("\"{}\" ({})", y as char, same_length(&zeros, &tail_b)));
        }
        (first, last)
    };
    if first <= last {
        alts.push(format!("[{}-{}] {}", first as char, last as char, any(rest)).trim_end().to_string());
    }
    if alts.len() == 1 {
        alts.remove(0)
    } else {
        format!("({})", alts.join(" | "))
    }
}
