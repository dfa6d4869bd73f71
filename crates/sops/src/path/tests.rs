use super::*;
use crate::error::EmitError;
use crate::stores::{self, Format};
use crate::tree::{Scalar, Tree};

fn yaml(text: &str) -> Tree {
    stores::load(text.as_bytes(), Format::Yaml).unwrap()
}

fn text(tree: &Tree) -> String {
    String::from_utf8(stores::emit(tree, Format::Yaml, &Default::default()).unwrap()).unwrap()
}

fn p(s: &str) -> Vec<PathStep> {
    parse(s).unwrap()
}

#[test]
fn parses_paths() {
    assert_eq!(
        p(r#"["a"][0]['b c']"#),
        [
            PathStep::Key("a".into()),
            PathStep::Index(0),
            PathStep::Key("b c".into())
        ]
    );
    for bad in [r#"["a""#, "a", "", "[-1]", "[ 0]", r#"["a"] "#] {
        assert!(matches!(parse(bad), Err(PathError::Syntax { .. })), "{bad}");
    }
    assert_eq!(p(r#"["a"][12]"#)[1].to_string(), "[12]");
    assert_eq!(p(r#"['a']"#)[0].to_string(), r#"["a"]"#);
}

/// sops keeps comments as list items, so they count.
#[test]
fn list_indexes_count_comments() {
    let mut tree = yaml("l:\n    # c\n    - a\n    - b\n");
    assert_eq!(
        extract(&tree, &p(r#"["l"][1]"#)).unwrap().as_str(),
        Some("a")
    );
    assert!(matches!(
        extract(&tree, &p(r#"["l"][0]"#)),
        Err(PathError::Comment { .. })
    ));
    assert!(set(&mut tree, &p(r#"["l"][2]"#), Value::str("B")).unwrap());
    unset(&mut tree, &p(r#"["l"][0]"#)).unwrap();
    assert_eq!(text(&tree), "l:\n    - a\n    - B\n");
}

#[test]
fn set_creates_appends_and_replaces_scalars() {
    let mut tree = yaml("a:\n    b: 1\nl:\n    - x\ns: text\n");
    let two = value_from_json("2").unwrap();
    assert!(
        set(
            &mut tree,
            &p(r#"["a"]["c"]["d"]"#),
            value_from_json("2").unwrap()
        )
        .unwrap()
    );
    assert!(!set(&mut tree, &p(r#"["a"]["c"]["d"]"#), two).unwrap());
    assert!(set(&mut tree, &p(r#"["l"][5][0]"#), Value::str("w")).unwrap());
    assert!(set(&mut tree, &p(r#"["s"]["k"]"#), Value::str("v")).unwrap());
    assert_eq!(
        text(&tree),
        "a:\n    b: 1\n    c:\n        d: 2\nl:\n    - x\n    - - w\ns:\n    k: v\n"
    );
}

#[test]
fn set_refuses_what_sops_ignores_or_panics_on() {
    let mut tree = yaml("m:\n    k: v\nl:\n    - x\n");
    for path in [r#"[0]"#, r#"["m"][0]"#, r#"["l"]["k"]"#] {
        assert!(
            matches!(
                set(&mut tree, &p(path), Value::str("S")),
                Err(PathError::Mismatch { .. })
            ),
            "{path}"
        );
    }
    assert_eq!(text(&tree), "m:\n    k: v\nl:\n    - x\n");
}

#[test]
fn unset_tells_missing_from_mismatched() {
    let mut tree = yaml("s: 1\nl:\n    - x\nm:\n    k: v\n");
    for missing in [r#"["nope"]"#, r#"["l"][3]"#, r#"["m"][0]"#, r#"["m"]["x"]"#] {
        assert!(
            matches!(
                unset(&mut tree, &p(missing)),
                Err(PathError::NotFound { .. })
            ),
            "{missing}"
        );
    }
    for mismatched in [r#"["s"]["x"]"#, r#"["l"]["x"]"#, r#"["s"][0]"#] {
        assert!(
            matches!(
                unset(&mut tree, &p(mismatched)),
                Err(PathError::Mismatch { .. })
            ),
            "{mismatched}"
        );
    }
    unset(&mut tree, &p(r#"["m"]["k"]"#)).unwrap();
    assert_eq!(text(&tree), "s: 1\nl:\n    - x\nm: {}\n");
}

/// A number alone is a float (Go's encoding/json); inside an object, integers stay ints.
#[test]
fn json_values_are_typed_like_sops() {
    assert!(matches!(
        value_from_json(" 3 ").unwrap(),
        Value::Scalar(Scalar::Float(f)) if f == 3.0
    ));
    let Value::Map(items) = value_from_json(r#"{"i": 3, "f": 1.5, "e": 1e3}"#).unwrap() else {
        panic!("a map")
    };
    let types: Vec<&str> = items
        .iter()
        .map(|i| match i {
            Item::Entry(_, Value::Scalar(Scalar::Int(_))) => "int",
            Item::Entry(_, Value::Scalar(Scalar::Float(_))) => "float",
            _ => "other",
        })
        .collect();
    assert_eq!(types, ["int", "float", "float"]);
    assert!(matches!(
        value_from_json("nope"),
        Err(PathError::Value { line: 1, .. })
    ));
}

#[test]
fn extracted_output_like_sops() {
    let tree = yaml("s: text\nn: 3\nz: null\nm:\n    k: v\nl:\n    - a\n    - 1.5\n");
    let get = |path: &str, f: Format| {
        let path = p(path);
        let v = extract(&tree, &path).unwrap();
        emit_extracted(v, &path, f, &Default::default()).map(|b| String::from_utf8(b).unwrap())
    };
    assert_eq!(get(r#"["s"]"#, Format::Yaml).unwrap(), "text");
    assert_eq!(get(r#"["s"]"#, Format::Dotenv).unwrap(), "text");
    assert_eq!(get(r#"["n"]"#, Format::Yaml).unwrap(), "3\n");
    assert_eq!(get(r#"["n"]"#, Format::Json).unwrap(), "3");
    assert_eq!(get(r#"["z"]"#, Format::Yaml).unwrap(), "null\n");
    assert_eq!(get(r#"["z"]"#, Format::Ini).unwrap(), "null");
    assert_eq!(get(r#"["m"]"#, Format::Yaml).unwrap(), "k: v\n");
    assert_eq!(
        get(r#"["m"]"#, Format::Json).unwrap(),
        "{\n\t\"k\": \"v\"\n}\n"
    );
    assert_eq!(get(r#"["l"]"#, Format::Yaml).unwrap(), "- a\n- 1.5\n");
    // As `sops decrypt --extract` prints them (checked with sops 3.13.3).
    assert_eq!(
        get(r#"["l"]"#, Format::Json).unwrap(),
        "[\n\t\"a\",\n\t1.5\n]"
    );
    assert_eq!(get(r#"["l"]"#, Format::Ini).unwrap(), "[\"a\",1.5]");
    for f in [Format::Dotenv, Format::Binary] {
        assert!(matches!(
            get(r#"["n"]"#, f),
            Err(EmitError::Unrepresentable { .. })
        ));
    }
}

/// A mapping left with only a comment is written as go-yaml writes it, and reads back as
/// a mapping (block style read back as `null` plus a comment at the top level).
#[test]
fn a_mapping_of_comments_stays_a_mapping() {
    let mut tree = yaml("m:\n    # only\n    k: v\nx: 1\n");
    unset(&mut tree, &p(r#"["m"]["k"]"#)).unwrap();
    let written = text(&tree);
    assert_eq!(written, "m: {\n    # only\n}\nx: 1\n");
    assert!(matches!(
        extract(&yaml(&written), &p(r#"["m"]"#)).unwrap(),
        Value::Map(items) if items.len() == 1
    ));
}
