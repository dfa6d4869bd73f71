//! The error line of an external renderer (kustomize, helm) without the data it may
//! quote.

use std::path::Path;

/// Keeps the shape of an error line and drops whatever could be data: quoted
/// text unless it is a file name, `{…}`/`[…]`/`map[…]` dumps, the value of `key=value`,
/// the word after "source"/"value"/"data", and any token with digits mixed into letters,
/// unusual characters or more than 40 characters. Paths under `root` become relative.
pub(super) fn sanitize(line: &str, root: &Path) -> String {
    let line = line.strip_prefix("Error: ").unwrap_or(line);
    let root = format!("{}/", root.display());
    let mut line = line.replace(&root, "");
    // "accumulation err='<cause>': must build at directory: <retry noise>": keep the cause,
    // whose own quotes would otherwise nest inside these.
    if let (Some(start), Some(end)) = (
        line.find(ACCUMULATION),
        line.rfind("': must build at directory"),
    ) && start < end
    {
        line = format!(
            "{}{}",
            &line[..start],
            &line[start + ACCUMULATION.len()..end]
        );
    }
    let mut out = String::new();
    let mut chars = line.chars().peekable();
    let mut token = String::new();
    let mut hide_next = false;
    while let Some(c) = chars.next() {
        match c {
            '\'' | '"' | '`' => {
                flush(&mut out, &mut token, &mut hide_next);
                let quoted: String = chars.by_ref().take_while(|q| *q != c).collect();
                out.push(c);
                let punctuation =
                    quoted.len() == 1 && quoted.chars().all(|q| q.is_ascii_punctuation());
                let keep = punctuation || is_file_name(&quoted);
                out.push_str(if keep { &quoted } else { "…" });
                out.push(c);
            }
            '{' | '[' => {
                flush(&mut out, &mut token, &mut hide_next);
                let close = if c == '{' { '}' } else { ']' };
                let mut depth = 1;
                for inner in chars.by_ref() {
                    depth += i32::from(inner == c) - i32::from(inner == close);
                    if depth == 0 {
                        break;
                    }
                }
                out.push_str("{…}");
            }
            // Helm puts the template's place in parentheses: `at (chart/x.yaml:6:8)`.
            c if c.is_whitespace() || ",:;()".contains(c) => {
                flush(&mut out, &mut token, &mut hide_next);
                out.push(c);
            }
            c => token.push(c),
        }
    }
    flush(&mut out, &mut token, &mut hide_next);
    let out = out.replace("map{…}", "{…}");
    let mut out = out.trim().to_owned();
    if out.len() > 300 {
        let cut = (0..=300)
            .rev()
            .find(|i| out.is_char_boundary(*i))
            .unwrap_or(0);
        out.truncate(cut);
        out.push('…');
    }
    out
}

const ACCUMULATION: &str = "accumulation err='";

/// Appends `token` to `out`, or `…` when it may be data.
fn flush(out: &mut String, token: &mut String, hide_next: &mut bool) {
    if token.is_empty() {
        return;
    }
    let word = std::mem::take(token);
    if *hide_next {
        out.push('…');
    } else if let Some((key, _)) = word.split_once('=') {
        out.push_str(key);
        out.push_str("=…");
    } else if is_file_name(&word) || is_plain_word(&word) {
        out.push_str(&word);
    } else {
        out.push('…');
    }
    *hide_next = matches!(word.as_str(), "source" | "value" | "data");
}

/// Letters (or only digits, like a line number), with `.`, `-` or `_`.
fn is_plain_word(word: &str) -> bool {
    let letters = word.chars().any(|c| c.is_ascii_alphabetic());
    let digits = word.chars().any(|c| c.is_ascii_digit());
    word.len() <= 40
        && !(letters && digits)
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || ".-_".contains(c))
}

/// A relative or absolute path of a manifest or folder, as kustomize and helm name them.
fn is_file_name(text: &str) -> bool {
    let path_chars = text
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "./_-".contains(c));
    let looks_like_path = [".yaml", ".yml", ".json", ".env", ".properties"]
        .iter()
        .any(|ext| text.ends_with(ext))
        || text.starts_with("./")
        || text.starts_with("../")
        || text.starts_with('/');
    !text.is_empty() && text.len() <= 200 && path_chars && looks_like_path
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clean(line: &str) -> String {
        sanitize(line, Path::new("/cache/artifacts/abc"))
    }

    /// Lines printed by kustomize v5.7.1 for broken kustomizations.
    #[test]
    fn kustomize_errors_keep_their_shape_and_lose_their_data() {
        assert_eq!(
            clean(
                "Error: loading KV pairs: literal sources [hunter2secret]: invalid literal source hunter2secret, expected key=value"
            ),
            "loading KV pairs: literal sources {…}: invalid literal source …, expected key=…"
        );
        assert_eq!(
            clean(
                "Error: accumulating resources: accumulation err='accumulating resources from 'x.yaml': missing metadata.name in object {{v1 Secret} {{ } map[password:aHVudGVyMg==] map[]}}': must build at directory: '/cache/artifacts/abc/app/x.yaml': file is not directory"
            ),
            "accumulating resources: accumulating resources from 'x.yaml': missing metadata.name in object {…}"
        );
        let yaml = clean(
            "Error: accumulating resources: accumulating resources from 'x.yaml': MalformedYAMLError: yaml: line 3: did not find expected ',' or '}' in File: x.yaml",
        );
        assert_eq!(
            yaml,
            "accumulating resources: accumulating resources from 'x.yaml': MalformedYAMLError: yaml: line 3: did not find expected ',' or '}' in File: x.yaml"
        );
    }

    /// Lines printed by helm v3.21.4 for broken templates: the template and line stay.
    #[test]
    fn helm_errors_keep_the_template_and_line() {
        assert_eq!(
            clean("Error: execution error at (app/templates/db.yaml:6:8): db.password is required"),
            "execution error at (app/templates/db.yaml:6:8): db.password is required"
        );
        assert_eq!(
            clean("Error: parse error at (app/templates/cm.yaml:6): function \"nope\" not defined"),
            "parse error at (app/templates/cm.yaml:6): function \"…\" not defined"
        );
        assert_eq!(
            clean(
                "Error: template: app/templates/cm.yaml:6:26: executing \"app/templates/cm.yaml\" at <.Values.token>: wrong type for value; expected string; got map[string]interface {}"
            ),
            "template: app/templates/cm.yaml:6:26: executing \"app/templates/cm.yaml\" at …: wrong type for value; … string; got {…}interface {…}"
        );
    }

    #[test]
    fn no_secret_shaped_token_survives() {
        for secret in [
            "c2VjcmV0LXZhbHVl",
            "p4ssw0rd",
            "s3cr3t!",
            "ghp_0123456789abcdefABCDEF",
        ] {
            for line in [
                format!("Error: invalid value {secret}"),
                format!("Error: bad data: {secret}"),
                format!("Error: object map[password:{secret}]"),
                format!("Error: key=\"{secret}\""),
                format!("Error: found '{secret}' here"),
            ] {
                let out = clean(&line);
                assert!(!out.contains(secret), "{line} → {out}");
            }
        }
    }
}
