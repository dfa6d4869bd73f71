//! Tree paths (`set`, `unset`, `decrypt --extract`) against the real sops, case by case,
//! on one file of ints, floats, bools, nulls, strings and nested lists and maps with
//! comments (issue 12: the CLI and the library each had a path module, and they
//! disagreed with sops and with each other).
//!
//! Every case runs both tools on copies of the same sops-made file and compares exit
//! codes, output and the encrypted result up to random bytes (so value types count).
//! Where sops panics or prints its own Go structs, lockstep refuses cleanly instead
//! ([`Expect::Refused`]); where sops refuses a list as a `set` value, lockstep sets it
//! ([`Expect::Extends`]) and sops must read the result. All disagreements are collected
//! and reported together.

use super::{Env, normalise, ok};

/// The plaintext every case starts from.
const PLAIN: &str = "\
int: 7
float: 0.5
bool: true
nothing: null
text: hello
list:
    # a comment inside a list
    - first
    - - 1
      - 2.5
    # another comment
    - k: v
      n: 3
map:
    # a comment inside a map
    inner: x
    deep:
        - null
        - false
only:
    # the only comment
    entry: 1
";

/// What lockstep must do where sops does something else.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Expect {
    /// Exactly what sops does: exit code, output, file.
    Same,
    /// sops panics, prints a Go struct or silently does nothing: lockstep exits with
    /// 1 (and `set` with 7) with a one-line error and leaves the file alone.
    Refused,
    /// sops refuses (a list as a `set` value); lockstep does it, and sops reads the file.
    Extends,
}

use Expect::{Extends, Refused, Same};

/// `--extract` paths and output types.
const EXTRACT: &[(&str, &str, Expect)] = &[
    (r#"["int"]"#, "yaml", Same),
    (r#"["int"]"#, "json", Same),
    (r#"["float"]"#, "yaml", Same),
    (r#"["float"]"#, "json", Same),
    (r#"["bool"]"#, "json", Same),
    (r#"["nothing"]"#, "yaml", Same),
    (r#"["nothing"]"#, "json", Same),
    (r#"["text"]"#, "yaml", Same),
    (r#"["list"]"#, "yaml", Same),
    (r#"["list"]"#, "json", Same),
    (r#"["map"]"#, "yaml", Same),
    (r#"["map"]"#, "json", Same),
    // Indexes count the comments of a list, as in sops.
    (r#"["list"][0]"#, "yaml", Refused),
    (r#"["list"][1]"#, "yaml", Same),
    (r#"["list"][2]"#, "yaml", Same),
    (r#"["list"][2]"#, "json", Same),
    (r#"["list"][2][1]"#, "yaml", Same),
    (r#"["list"][4]"#, "json", Same),
    (r#"["list"][4]["n"]"#, "yaml", Same),
    (r#"["map"]["deep"][0]"#, "yaml", Same),
    (r#"["map"]["deep"][1]"#, "json", Same),
    // Missing components.
    (r#"["nope"]"#, "yaml", Same),
    (r#"["list"][9]"#, "yaml", Same),
    (r#"["map"][0]"#, "yaml", Refused),
    (r#"["int"]["x"]"#, "yaml", Refused),
    (r#"["list"]["x"]"#, "yaml", Refused),
    (r#"[0]"#, "yaml", Refused),
    // Stores that cannot print every value (sops exit 4).
    (r#"["int"]"#, "dotenv", Same),
    (r#"["text"]"#, "dotenv", Same),
    (r#"["int"]"#, "binary", Same),
    (r#"["nothing"]"#, "ini", Same),
    (r#"["list"][2]"#, "ini", Same),
    (r#"["map"]"#, "ini", Same),
];

/// `set` paths and JSON values.
const SET: &[(&str, &str, Expect)] = &[
    // A number given to `set` is a float, as Go's encoding/json reads it...
    (r#"["int"]"#, "3", Same),
    (r#"["new"]"#, "3", Same),
    (r#"["new"]"#, "3.5", Same),
    (r#"["new"]"#, "1e3", Same),
    (r#"["new"]"#, "-7", Same),
    (r#"["new"]"#, " 4 ", Same),
    (r#"["new"]"#, "null", Same),
    (r#"["new"]"#, "false", Same),
    (r#"["new"]"#, r#""s""#, Same),
    // ...but inside an object, integers stay integers (sops' JSON store).
    (
        r#"["new"]"#,
        r#"{"a": [1, 2.5, null, true], "b": {"c": 1e3, "d": -4}}"#,
        Same,
    ),
    // Indexes count comments: [0] is the comment, [1] the first value.
    (r#"["list"][0]"#, r#""S""#, Same),
    (r#"["list"][1]"#, r#""S""#, Same),
    (r#"["list"][2][1]"#, "9", Same),
    (r#"["list"][4]["n"]"#, "4", Same),
    // Past the end: appended.
    (r#"["list"][9]"#, r#""S""#, Same),
    (r#"["list"][9][0]"#, r#""S""#, Same),
    (r#"["new"][1]"#, r#""S""#, Same),
    (r#"["new"]["a"][0]["b"]"#, "1", Same),
    // A scalar on the way is replaced.
    (r#"["int"]["x"]"#, r#""S""#, Same),
    (r#"["text"]"#, r#""hello""#, Same),
    // sops ignores an index into a mapping and panics on a key into a list.
    (r#"["map"][0]"#, r#""S""#, Refused),
    (r#"[0]"#, r#""S""#, Refused),
    (r#"["list"]["x"]"#, r#""S""#, Refused),
    // sops refuses a list as the value.
    (r#"["new"]"#, "[1, 2.5]", Extends),
    // Not JSON, not a path.
    (r#"["new"]"#, "3 4", Same),
    (r#"["new""#, "3", Same),
];

/// `unset` paths.
const UNSET: &[(&str, Expect)] = &[
    (r#"["int"]"#, Same),
    (r#"["list"][0]"#, Same),
    (r#"["list"][1]"#, Same),
    (r#"["list"][2][0]"#, Same),
    (r#"["list"][4]["k"]"#, Same),
    (r#"["map"]["inner"]"#, Same),
    (r#"["map"]["deep"][1]"#, Same),
    // Leaves a mapping that holds only a comment.
    (r#"["only"]["entry"]"#, Same),
    (r#"["nope"]"#, Same),
    (r#"["list"][9]"#, Same),
    (r#"["int"]["x"]"#, Same),
    (r#"["map"][0]"#, Same),
    (r#"["list"]["x"]"#, Refused),
];

/// One tool's result for one case: exit code, stdout, and the file afterwards.
struct Run {
    code: Option<i32>,
    stdout: Vec<u8>,
    stderr: String,
    file: Vec<u8>,
}

fn run(env: &Env, sops: bool, args: &[&str], original: &[u8]) -> Run {
    let file = env.write("case.enc.yaml", original);
    let args: Vec<&str> = args
        .iter()
        .map(|a| if *a == "F" { "case.enc.yaml" } else { a })
        .collect();
    let out = if sops {
        env.sops(&[0], &args)
    } else {
        env.ours(&[0], &args)
    };
    Run {
        code: out.status.code(),
        stdout: out.stdout,
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        file: std::fs::read(file).unwrap(),
    }
}

/// What differs between lockstep's and sops' runs of one case, if anything.
fn compare(env: &Env, args: &[&str], expect: Expect, original: &[u8]) -> Option<String> {
    let ours = run(env, false, args, original);
    let theirs = run(env, true, args, original);
    let mut problems = Vec::new();
    if ours.stderr.contains("panic") || ours.code == Some(2) && ours.stderr.contains("error:") {
        problems.push(format!("lockstep failed badly: {}", ours.stderr));
    }
    match expect {
        Same => {
            if ours.code != theirs.code {
                problems.push(format!(
                    "exit {:?}, sops {:?} ({})",
                    ours.code,
                    theirs.code,
                    theirs.stderr.lines().last().unwrap_or_default()
                ));
            }
            if ours.stdout != theirs.stdout {
                problems.push(format!(
                    "prints {:?}, sops {:?}",
                    String::from_utf8_lossy(&ours.stdout),
                    String::from_utf8_lossy(&theirs.stdout)
                ));
            }
            if normalise(&ours.file) != normalise(&theirs.file) {
                let plain = |bytes: &[u8]| {
                    env.write("read.enc.yaml", bytes);
                    String::from_utf8_lossy(&env.sops(&[0], &["decrypt", "read.enc.yaml"]).stdout)
                        .into_owned()
                };
                problems.push(format!(
                    "writes\n{}\n{}\nsops writes\n{}\n{}",
                    plain(&ours.file),
                    types(&ours.file),
                    plain(&theirs.file),
                    types(&theirs.file)
                ));
            }
        }
        Refused => {
            let expected = if args[0] == "set" { 7 } else { 1 };
            if ours.code != Some(expected) || ours.file != original || !ours.stdout.is_empty() {
                problems.push(format!(
                    "expected a clean refusal (exit {expected}, nothing written), got exit {:?}: {}",
                    ours.code, ours.stderr
                ));
            }
            if ours.stderr.lines().count() > 2 {
                problems.push(format!("more than an error and a hint: {}", ours.stderr));
            }
        }
        Extends => {
            if ours.code != Some(0) {
                problems.push(format!("exit {:?}: {}", ours.code, ours.stderr));
            }
            env.write("read.enc.yaml", &ours.file);
            let read = env.sops(&[0], &["decrypt", "read.enc.yaml"]);
            if !read.status.success() {
                problems.push("sops cannot read the result".to_owned());
            }
        }
    }
    (!problems.is_empty()).then(|| format!("{args:?}: {}", problems.join("; ")))
}

/// The types of the encrypted values, in file order.
fn types(file: &[u8]) -> String {
    let text = String::from_utf8_lossy(file);
    text.match_indices("type:")
        .map(|(i, _)| {
            text[i + 5..]
                .split(']')
                .next()
                .unwrap_or_default()
                .to_owned()
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn set_unset_and_extract_agree_with_sops() {
    let Some(env) = Env::new(1) else { return };
    env.write("plain.yaml", PLAIN.as_bytes());
    let r = env.recipient(0).to_owned();
    let original = ok(
        env.sops(&[0], &["encrypt", "--age", &r, "plain.yaml"]),
        "sops encrypt",
    );
    let mut problems = Vec::new();
    for &(path, output, expect) in EXTRACT {
        let args = ["decrypt", "--output-type", output, "--extract", path, "F"];
        problems.extend(compare(&env, &args, expect, &original));
    }
    for &(path, value, expect) in SET {
        problems.extend(compare(&env, &["set", "F", path, value], expect, &original));
    }
    // Setting the value a path already has: with --idempotent, nothing is written.
    problems.extend(compare(
        &env,
        &["set", "--idempotent", "F", r#"["text"]"#, r#""hello""#],
        Same,
        &original,
    ));
    for &(path, expect) in UNSET {
        problems.extend(compare(&env, &["unset", "F", path], expect, &original));
    }
    problems.extend(compare(
        &env,
        &["unset", "--idempotent", "F", r#"["nope"]"#],
        Same,
        &original,
    ));
    assert!(
        problems.is_empty(),
        "{} disagreement(s) with sops:\n{}",
        problems.len(),
        problems.join("\n")
    );
}
