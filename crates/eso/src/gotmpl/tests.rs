//! Expected outputs from Go's documented `text/template` behaviour and Sprig v3.3.0's
//! source. Every `run` case was also executed by Go 1.26's `text/template` with the Sprig
//! fork ESO v0.16.2 builds with, on ESO's options (`missingkey=error`, `env` removed), and
//! gives the same bytes there; the `fails` cases fail in Go too (in Go's wording, with
//! 0-based columns), except the two limits, which Go does not have.

use std::collections::BTreeMap;

use super::*;

fn data() -> Value {
    let pairs = [
        ("user", "admin"),
        ("pass", "s3cr&t"),
        (
            "config",
            r#"{"host":"db.example","port":5432,"tags":["a","b"],"nil":null}"#,
        ),
        ("empty", ""),
        ("b64", "aGVsbG8="),
    ];
    Value::map(
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), Value::str(*v)))
            .collect::<BTreeMap<_, _>>(),
        true,
    )
}

fn run(text: &str) -> String {
    Template::parse(text)
        .unwrap_or_else(|e| panic!("parse {text:?}: {e}"))
        .execute(data(), MissingKey::Error)
        .unwrap_or_else(|e| panic!("execute {text:?}: {e}"))
        .to_string()
}

fn fails(text: &str) -> TemplateError {
    match Template::parse(text) {
        Err(e) => e,
        Ok(t) => t.execute(data(), MissingKey::Error).expect_err(text),
    }
}

#[test]
fn text_actions_and_trim_markers() {
    assert_eq!(run("plain"), "plain");
    assert_eq!(run("{{ .user }}:{{ .pass }}"), "admin:s3cr&t");
    assert_eq!(run("a  {{- .user -}}  b"), "aadminb");
    assert_eq!(run("a\n  {{- /* comment */ -}}\n  b"), "ab");
    assert_eq!(run("{{/* c */}}x"), "x");
    // `{{-3}}` is the number -3, not a trim marker.
    assert_eq!(run("a {{-3}}"), "a -3");
    assert_eq!(run(r#"{{ "a\tb\u00e9" }}{{ `r\n` }}"#), "a\tbér\\n");
    assert_eq!(
        run("{{ 0x1F }} {{ 1.5 }} {{ 1e3 }} {{ 'a' }}"),
        "31 1.5 1000 97"
    );
}

#[test]
fn pipelines_variables_and_control() {
    assert_eq!(run("{{ .user | upper | printf \"%s!\" }}"), "ADMIN!");
    assert_eq!(run("{{ $u := .user }}{{ $u = upper $u }}{{ $u }}"), "ADMIN");
    assert_eq!(
        run("{{ if .empty }}y{{ else if .user }}u{{ else }}n{{ end }}"),
        "u"
    );
    assert_eq!(
        run("{{ with .empty }}y{{ else with .user }}{{ . }}{{ end }}"),
        "admin"
    );
    // Maps range in key order; `$` is the data inside a range.
    assert_eq!(
        run("{{ range $k, $v := . }}{{ $k }}{{ if eq $k \"pass\" }}{{ break }}{{ end }},{{ end }}"),
        "b64,config,empty,pass"
    );
    assert_eq!(run("{{ range list }}x{{ else }}none{{ end }}"), "none");
    assert_eq!(
        run("{{ range $i, $e := list \"a\" \"b\" }}{{ $i }}{{ $e }}{{ $.user }} {{ end }}"),
        "0aadmin 1badmin "
    );
    assert_eq!(
        run("{{ range 3 }}{{ if eq . 1 }}{{ continue }}{{ end }}{{ . }}{{ end }}"),
        "02"
    );
    assert_eq!(
        run(
            r#"{{ define "pair" }}{{ .a }}={{ .b }}{{ end }}{{ template "pair" dict "a" .user "b" "x" }}"#
        ),
        "admin=x"
    );
    assert_eq!(run(r#"{{ block "b" .user }}[{{ . }}]{{ end }}"#), "[admin]");
    assert_eq!(
        run("{{ and .user .empty 1 }}|{{ or .empty .user }}|{{ not .empty }}"),
        "|admin|true"
    );
    assert_eq!(
        run("{{ (index . \"user\") }} {{ index . \"nope\" }}."),
        "admin ."
    );
    assert_eq!(run("{{ len .user }} {{ slice (list 1 2 3) 1 }}"), "5 [2 3]");
}

#[test]
fn printing_follows_fmt() {
    assert_eq!(
        run("{{ list 1 \"a\" 2.5 true nil }}"),
        "[1 a 2.5 true <nil>]"
    );
    assert_eq!(run("{{ dict \"b\" 1 \"a\" (list 2) }}"), "map[a:[2] b:1]");
    // go: fromJson numbers are float64, printed with %v.
    assert_eq!(
        run("{{ $c := fromJson .config }}{{ $c.port }} {{ $c.tags }} {{ $c.nil }}"),
        "5432 [a b] <no value>"
    );
    assert_eq!(run("{{ print 1 2 \"a\" \"b\" 3 }}"), "1 2ab3");
    assert_eq!(run("{{ println 1 \"a\" }}"), "1 a\n");
    assert_eq!(
        run(
            r#"{{ printf "%5d|%-4s|%05d|%q|%v|%x|%.2f|%%" 42 "ab" -7 "a\"b" .user "hi" 3.14159 }}"#
        ),
        "   42|ab  |-0007|\"a\\\"b\"|admin|6869|3.14|%"
    );
    assert_eq!(run(r#"{{ printf "%d" "x" }}"#), "%!d(string=x)");
}

#[test]
fn sprig_functions() {
    assert_eq!(
        run("{{ .user | b64enc }} {{ .b64 | b64dec }}"),
        "YWRtaW4= hello"
    );
    assert_eq!(
        run("{{ \"!!\" | b64dec }}"),
        "illegal base64 data at input byte 0"
    );
    // go: json.Marshal sorts keys and escapes HTML characters.
    assert_eq!(
        run(
            r#"{{ dict "auths" (dict "r.io" (dict "auth" (printf "%s:%s" .user .pass | b64enc))) "z" "<&>" | toJson }}"#
        ),
        r#"{"auths":{"r.io":{"auth":"YWRtaW46czNjciZ0"}},"z":"\u003c\u0026\u003e"}"#
    );
    assert_eq!(
        run("{{ (fromJson .config).host }} {{ fromJson .config | toJson }}"),
        r#"db.example {"host":"db.example","nil":null,"port":5432,"tags":["a","b"]}"#
    );
    assert_eq!(run("{{ fromJson \"{bad\" }}"), "<no value>");
    assert_eq!(
        run(
            "{{ \"  x \" | trim }}|{{ trimPrefix \"ad\" .user }}|{{ trimSuffix \"in\" .user }}|{{ trimAll \"a\" \"aaxaa\" }}"
        ),
        "x|min|adm|x"
    );
    assert_eq!(
        run("{{ replace \"a\" \"A\" \"banana\" }} {{ lower \"AB\" }}"),
        "bAnAnA ab"
    );
    assert_eq!(
        run("{{ quote .user \"a\\\"\" }} {{ squote .user }}"),
        "\"admin\" \"a\\\"\" 'admin'"
    );
    assert_eq!(
        run(
            "{{ default \"d\" .empty }} {{ default \"d\" .user }} {{ empty .empty }} {{ coalesce .empty .user }}"
        ),
        "d admin true admin"
    );
    assert_eq!(
        run("{{ indent 2 \"a\\nb\" }}|{{ nindent 1 \"c\" }}"),
        "  a\n  b|\n c"
    );
    assert_eq!(
        run(
            "{{ $d := dict \"a\" 1 }}{{ $_ := set $d \"b\" 2 }}{{ hasKey $d \"b\" }} {{ get $d \"a\" }} {{ keys $d | sortAlpha | join \",\" }} {{ $_ := unset $d \"a\" }}{{ $d }}"
        ),
        "true 1 a,b map[b:2]"
    );
    assert_eq!(
        run(
            "{{ split \",\" \"a,b\" }} {{ splitList \",\" \"a,b\" | join \"+\" }} {{ (split \",\" \"a,b\")._1 }}"
        ),
        "map[_0:a _1:b] a+b b"
    );
    assert_eq!(
        run(
            "{{ contains \"dm\" .user }} {{ hasPrefix \"ad\" .user }} {{ hasSuffix \"x\" .user }} {{ repeat 3 \"ab\" }} {{ toString 5 }}"
        ),
        "true true false ababab 5"
    );
    assert_eq!(
        run("{{ ternary \"y\" \"n\" true }} {{ sha256sum \"abc\" }}"),
        "y ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
}

#[test]
fn errors_name_the_place_and_no_value() {
    let lenient = Template::parse("{{ .missing }}|{{ .user }}").unwrap();
    let out = lenient.execute(data(), MissingKey::NoValue).unwrap();
    assert_eq!(out.as_str(), "<no value>|admin");
    let e = fails("ok\n  {{ .missing }}");
    assert_eq!((e.line, e.column), (2, 6));
    assert_eq!(e.reason, "map has no entry for key \"missing\"");
    let e = fails("{{ .user | nosuch }}");
    assert!(
        e.reason.starts_with("function \"nosuch\" not defined"),
        "{e}"
    );
    // ESO has no `required` (it is Helm's), nor `env`.
    assert!(
        fails("{{ required \"x\" .user }}")
            .reason
            .contains("not defined")
    );
    assert!(fails("{{ env \"HOME\" }}").reason.contains("not defined"));
    assert!(fails("{{ if .user }}").reason.contains("EOF"));
    assert!(fails("{{ $x }}").reason.contains("undefined variable"));
    assert!(
        fails("{{ .user.name }}")
            .reason
            .contains("can't evaluate field name in type string")
    );
    // Values never reach a message, whatever the function does with them.
    for text in [
        "{{ .pass | upper | fail }}",
        "{{ len (.pass | b64enc | int) }}",
        "{{ index (list .pass) 5 }}",
        "{{ keys . }}",
        "{{ .pass | indent .pass }}",
        "{{ eq .pass 1 }}",
        "{{ range .pass }}{{ end }}",
        "{{ template \"nope\" .pass }}",
        "{{ mustFromJson .pass }}",
    ] {
        let e = fails(text);
        let shown = e.to_string();
        assert!(
            !shown.contains("s3cr") && !shown.contains("S3CR"),
            "{text}: {shown}"
        );
    }
}

#[test]
fn runaway_templates_stop() {
    let e = fails(r#"{{ define "r" }}{{ template "r" . }}{{ end }}{{ template "r" . }}"#);
    assert!(e.reason.contains("maximum template depth"), "{e}");
    let e = fails(r#"{{ range 200000 }}xxxxxxxxxx{{ end }}"#);
    assert!(e.reason.contains("larger than a Secret"), "{e}");
    let e = fails(r#"{{ range 100000000 }}{{ end }}"#);
    assert!(e.reason.contains("million steps"), "{e}");
}
