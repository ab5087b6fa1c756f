use serde_json::json;

use super::*;

fn grammar(schema: Value) -> String {
    let g = schema::to_gbnf(&schema).unwrap();
    gbnf::check(&g).unwrap_or_else(|e| panic!("{e}\n{g}"));
    g
}

#[test]
fn any_json_is_a_grammar_llama_cpp_parses() {
    let c = Constraint::json();
    gbnf::check(&c.grammar).unwrap();
    assert!(c.grammar.starts_with("value ::=") || c.grammar.contains("root ::= value"), "{}", c.grammar);
}

#[test]
fn objects_list_required_properties_and_no_others() {
    let g = grammar(json!({
        "type": "object",
        "properties": {"name": {"type": "string"}, "age": {"type": "integer"}, "tags": {"type": "array", "items": {"type": "string"}}},
        "required": ["name", "age"],
        "additionalProperties": false
    }));
    assert!(g.contains(r#"root-age-kv ::= "\"age\"" space ":" space root-age"#), "{g}");
    // Required first (alphabetical), the optional one after a comma.
    assert!(g.contains(r#""{" space root-age-kv "," space root-name-kv ( "," space root-tags-kv )? "}" space"#), "{g}");
}

#[test]
fn enums_consts_and_bounds_are_literals_and_ranges() {
    let g = grammar(json!({"enum": ["low", "high", 3, null]}));
    assert!(g.contains(r#"root ::= ("\"low\"" space | "\"high\"" space | "3" space | "null" space)"#), "{g}");
    let g = grammar(json!({"const": "x"}));
    assert!(g.contains(r#"root ::= "\"x\"" space"#), "{g}");
    let g = grammar(json!({"type": "integer", "minimum": 1, "maximum": 5}));
    assert!(g.contains("root ::= ([1-5]) space"), "{g}");
}

/// Every integer the range rule allows, by brute force over a window, against the bounds.
#[test]
fn integer_ranges_hold_exactly_their_numbers() {
    let cases: &[(Option<i64>, Option<i64>)] = &[
        (Some(0), Some(100)),
        (Some(7), Some(1234)),
        (Some(-15), Some(42)),
        (Some(-300), Some(-12)),
        (Some(18), None),
        (None, Some(-3)),
        (None, Some(250)),
        (Some(99), Some(100)),
    ];
    for &(lo, hi) in cases {
        let mut schema = json!({"type": "integer"});
        if let Some(lo) = lo {
            schema["minimum"] = json!(lo);
        }
        if let Some(hi) = hi {
            schema["maximum"] = json!(hi);
        }
        let g = grammar(schema);
        let rule = g.lines().find_map(|l| l.strip_prefix("root ::= ")).unwrap();
        let matcher = Matcher::new(rule.trim_end_matches(" space"));
        for n in -2000i64..2000 {
            let inside = lo.is_none_or(|lo| n >= lo) && hi.is_none_or(|hi| n <= hi);
            assert_eq!(matcher.matches(&n.to_string()), inside, "{n} in {lo:?}..{hi:?}: {rule}");
        }
        // No leading zeros.
        assert!(!matcher.matches("007"), "{rule}");
    }
}

/// A tiny matcher for the range rules' subset of GBNF: literals, `[a-b]`, `[0-9]{n}`, groups
/// and `|`, by turning them into a regex-like backtracking search.
struct Matcher(String);

impl Matcher {
    fn new(rule: &str) -> Matcher {
        Matcher(rule.to_string())
    }

    fn matches(&self, text: &str) -> bool {
        let alts = parse_alts(&mut self.0.as_bytes().iter().copied().filter(|c| *c != b' ').peekable());
        ends(&alts, text.as_bytes()).contains(&text.len())
    }
}

#[derive(Debug)]
enum Item {
    Lit(Vec<u8>),
    Class(u8, u8, usize, usize),
    Group(Vec<Vec<Item>>),
}

fn parse_alts(it: &mut std::iter::Peekable<impl Iterator<Item = u8>>) -> Vec<Vec<Item>> {
    let mut alts = vec![Vec::new()];
    while let Some(&c) = it.peek() {
        match c {
            b'|' => {
                it.next();
                alts.push(Vec::new());
            }
            b')' => break,
            b'(' => {
                it.next();
                let inner = parse_alts(it);
                it.next();
                alts.last_mut().unwrap().push(Item::Group(inner));
            }
            b'"' => {
                it.next();
                let lit: Vec<u8> = it.by_ref().take_while(|&c| c != b'"').collect();
                alts.last_mut().unwrap().push(Item::Lit(lit));
            }
            b'[' => {
                it.next();
                let body: Vec<u8> = it.by_ref().take_while(|&c| c != b']').collect();
                let (a, b) = if body.len() == 3 { (body[0], body[2]) } else { (body[0], body[0]) };
                let (mut min, mut max) = (1, 1);
                if it.peek() == Some(&b'{') {
                    it.next();
                    let counts: String = it.by_ref().take_while(|&c| c != b'}').map(char::from).collect();
                    let (lo, hi) = counts.split_once(',').unwrap_or((&counts, &counts));
                    (min, max) = (lo.parse().unwrap(), hi.parse().unwrap());
                }
                alts.last_mut().unwrap().push(Item::Class(a, b, min, max));
            }
            _ => panic!("unexpected {}", c as char),
        }
    }
    alts
}

/// The positions where `alts` can end, matched from the start of `text`.
fn ends(alts: &[Vec<Item>], text: &[u8]) -> Vec<usize> {
    let mut out = Vec::new();
    for seq in alts {
        let mut at = vec![0usize];
        for item in seq {
            let mut next = Vec::new();
            for &p in &at {
                match item {
                    Item::Lit(l) if text[p..].starts_with(l) => next.push(p + l.len()),
                    Item::Lit(_) => {}
                    Item::Class(a, b, min, max) => {
                        for n in *min..=*max {
                            if text.len() >= p + n && text[p..p + n].iter().all(|c| (a..=b).contains(&c)) {
                                next.push(p + n);
                            }
                        }
                    }
                    Item::Group(inner) => next.extend(ends(inner, &text[p..]).into_iter().map(|e| p + e)),
                }
            }
            at = next;
        }
        out.extend(at);
    }
    out
}

#[test]
fn arrays_keep_their_item_counts() {
    let g = grammar(json!({"type": "array", "items": {"type": "integer"}, "minItems": 1, "maxItems": 3}));
    assert!(g.contains(r#"root ::= "[" space root-item ("," space root-item){0,2} "]" space"#), "{g}");
    let g = grammar(json!({"type": "array", "items": {"type": "boolean"}}));
    assert!(g.contains(r#"root ::= "[" space ( root-item ("," space root-item)* )? "]" space"#), "{g}");
}

#[test]
fn unsupported_keywords_are_named_with_where_they_are() {
    let err = schema::to_gbnf(&json!({"type": "object", "properties": {"a": {"type": "string", "pattern": "^x"}}}))
        .unwrap_err();
    assert_eq!(err, "the keyword `pattern` is not supported here (at /properties/a)");
    let err = schema::to_gbnf(&json!({"type": "number", "minimum": 0.5})).unwrap_err();
    assert!(err.contains("`minimum` is supported on integers only"), "{err}");
    let err = schema::to_gbnf(&json!({"type": "object", "required": ["x"], "properties": {}})).unwrap_err();
    assert!(err.contains("`required` names `x`"), "{err}");
    let err = schema::to_gbnf(&json!({"type": "thing"})).unwrap_err();
    assert_eq!(err, "unknown type `thing`");
}

#[test]
fn a_schema_given_inline_or_as_a_file_becomes_a_constraint() {
    let c = Constraint::schema(r#"{"type": "boolean"}"#).unwrap();
    assert_eq!(c.label, "the schema");
    let dir = std::env::temp_dir().join(format!("ember-constraint-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("s.json");
    std::fs::write(&file, "{\"type\": \"object\",}").unwrap();
    let err = Constraint::schema(file.to_str().unwrap()).unwrap_err().to_string();
    assert!(err.starts_with(&format!("the schema in {} is not valid JSON", file.display())), "{err}");
    let err = Constraint::schema("/nonexistent/s.json").unwrap_err().to_string();
    assert!(err.starts_with("cannot read /nonexistent/s.json"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn grammars_llama_cpp_would_refuse_are_refused_with_the_line() {
    let ok = "root ::= answer\nanswer ::= (\"yes\" | \"no\") \"\\n\"?  # a comment\n";
    gbnf::check(ok).unwrap();
    gbnf::check("root ::= [0-9]+ \".\" [0-9]{1,3}\n").unwrap();
    let cases = [
        ("root ::= \"yes\" | maybe\n", "line 1: the rule `maybe` is used but never defined"),
        ("answer ::= \"yes\"\n", "it has no `root` rule"),
        ("root ::= \"yes\n", "unexpected end of the grammar"),
        ("root = \"yes\"\n", "line 1: expected `::=` after `root`"),
        ("root ::= \"a\"\nx ::= (\"b\"\n", "expected `)` at the end"),
        ("root ::= * \"a\"\n", "a repetition with nothing before it"),
        ("root ::= \"\\q\"\n", "unknown escape"),
    ];
    for (text, expected) in cases {
        let err = gbnf::check(text).unwrap_err();
        assert!(err.contains(expected), "{text:?}: {err}");
    }
}
