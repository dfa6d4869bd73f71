//! Building a kustomization with the external `kustomize`, the way `kubectl apply -k` does.
//!
//! The program is the first of: `kustomize` on `PATH`; `kustomize` in
//! `$LOCKSTEP_CACHE/bin` (default `~/.cache/lockstep/bin`, where
//! `scripts/install-testenv.sh` puts v5.7.1, the version kubectl 1.34 embeds); `kubectl
//! kustomize`. It runs as `kustomize build --load-restrictor LoadRestrictionsRootOnly DIR`
//! with plugins, exec functions and Helm off (kustomize's defaults), an empty environment
//! (no `git` on its `PATH`, and every HTTP proxy pointed at a closed local port), and is
//! killed after [`TIMEOUT`]. Before it runs, every `resources`/`bases`/`components` entry
//! of the kustomization and of the folders it names must be a file or folder inside the
//! source: remote bases are never fetched, and one source cannot read another's files.
//!
//! Kustomize's error messages can quote the input (an object dump, a literal that lacks
//! its `=`), so only its first line is kept, and [`sanitize`] removes everything in it
//! that could be data.

use std::collections::HashSet;
use std::io::Read;
use std::path::{Component, Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{KUSTOMIZATION_FILES, Manifest, RenderError, yaml};

/// How long one `kustomize build` may run.
pub const TIMEOUT: Duration = Duration::from_secs(60);

/// Where kustomize's HTTP requests go: a local port nothing listens on, so a remote
/// resource or patch URL fails instead of being fetched.
const NO_NETWORK_PROXY: &str = "http://127.0.0.1:9";

/// Builds the kustomization `file` (relative name `relative`) and appends its objects.
pub(super) fn build(
    root: &Path,
    file: &Path,
    relative: &Path,
    out: &mut Vec<Manifest>,
) -> Result<(), RenderError> {
    let dir = file.parent().unwrap_or(root);
    check_references(root, dir, relative, &mut HashSet::new())?;
    let mut command = program().ok_or_else(|| RenderError::KustomizeMissing {
        path: relative.to_path_buf(),
    })?;
    command
        .args(["--load-restrictor", "LoadRestrictionsRootOnly"])
        .arg(dir)
        .env_clear()
        .env("PATH", "")
        .env("HOME", dir);
    for proxy in ["HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"] {
        command.env(proxy, NO_NETWORK_PROXY);
    }
    let output = run(command, TIMEOUT).map_err(|err| match err {
        RunError::Timeout => RenderError::KustomizeTimeout {
            path: relative.to_path_buf(),
            after: TIMEOUT,
        },
        RunError::Io(source) => RenderError::Read {
            path: relative.to_path_buf(),
            source,
        },
    })?;
    if !output.success {
        let stderr = String::from_utf8_lossy(&output.stderr);
        return Err(RenderError::Kustomize {
            path: relative.to_path_buf(),
            reason: sanitize(stderr.lines().next().unwrap_or("no message"), root),
        });
    }
    let stdout = String::from_utf8(output.stdout).map_err(|_| RenderError::Kustomize {
        path: relative.to_path_buf(),
        reason: "output is not UTF-8".into(),
    })?;
    yaml::parse_file(relative, &stdout, false, out)
}

/// `kustomize build`, or `kubectl kustomize`, as found first.
fn program() -> Option<Command> {
    let on_path = |name: &str| {
        std::env::split_paths(&std::env::var_os("PATH")?)
            .map(|dir| dir.join(name))
            .find(|path| path.is_file())
    };
    let cache = std::env::var_os("LOCKSTEP_CACHE")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| Path::new(&home).join(".cache/lockstep")));
    let cached = cache
        .map(|c| c.join("bin/kustomize"))
        .filter(|p| p.is_file());
    if let Some(kustomize) = on_path("kustomize").or(cached) {
        let mut command = Command::new(kustomize);
        command.arg("build");
        return Some(command);
    }
    let mut command = Command::new(on_path("kubectl")?);
    command.arg("kustomize");
    Some(command)
}

/// What [`walk`] shows its visitor.
pub(crate) enum Visit<'a> {
    /// A kustomization: its folder and its parsed content.
    Kustomization(&'a Path, &'a Value),
    /// A `resources`/`bases`/`components` entry that is a file, checked to be inside the
    /// source (its real path).
    Resource(&'a Path),
}

/// Checks that the directories and files a kustomization builds from are inside `root`,
/// following folders recursively (`seen` stops cycles).
fn check_references(
    root: &Path,
    dir: &Path,
    relative: &Path,
    seen: &mut HashSet<PathBuf>,
) -> Result<(), RenderError> {
    walk(root, dir, relative, seen, &mut |_| {})
}

/// The one walk over a kustomization and the local folders it builds from: every
/// `resources`/`bases`/`components` entry must be a file or folder inside `root` (remote
/// ones are refused); each kustomization and each resource file is shown to `visit`
/// (the decrypt stage finds the encrypted files kustomize reads this way).
///
/// # Errors
/// [`RenderError::KustomizeReference`] naming the entry and why.
pub(crate) fn walk(
    root: &Path,
    dir: &Path,
    relative: &Path,
    seen: &mut HashSet<PathBuf>,
    visit: &mut dyn FnMut(Visit<'_>),
) -> Result<(), RenderError> {
    let Ok(dir) = dir.canonicalize() else {
        return Ok(());
    };
    if !seen.insert(dir.clone()) {
        return Ok(());
    }
    let root = root.canonicalize().unwrap_or_else(|_| root.to_path_buf());
    let Some(text) = KUSTOMIZATION_FILES
        .iter()
        .find_map(|name| std::fs::read_to_string(dir.join(name)).ok())
    else {
        return Ok(());
    };
    // A kustomization that does not parse is left to kustomize to report.
    let Ok(kustomization) =
        serde_saphyr::from_str_with_options::<Value>(&text, lockstep_limits::yaml_options())
    else {
        return Ok(());
    };
    visit(Visit::Kustomization(&dir, &kustomization));
    let refuse = |entry: &str, reason| RenderError::KustomizeReference {
        path: relative.to_path_buf(),
        entry: entry.to_owned(),
        reason,
    };
    let entries = ["resources", "bases", "components"]
        .iter()
        .filter_map(|field| kustomization[*field].as_array())
        .flatten()
        .filter_map(Value::as_str);
    for entry in entries {
        if entry.contains("://") || entry.starts_with("git@") || entry.starts_with("github.com/") {
            return Err(refuse(
                entry,
                "is remote; only paths inside the source are built",
            ));
        }
        let lexical = normalize(&dir.join(entry));
        if !lexical.starts_with(&root) {
            return Err(refuse(entry, "leaves the source"));
        }
        let Ok(target) = lexical.canonicalize() else {
            return Err(refuse(entry, "does not exist in the source"));
        };
        if !target.starts_with(&root) {
            return Err(refuse(entry, "leaves the source (through a symlink)"));
        }
        if target.is_dir() {
            let below = target
                .strip_prefix(&root)
                .unwrap_or(&target)
                .join("kustomization.yaml");
            walk(&root, &target, &below, seen, visit)?;
        } else {
            visit(Visit::Resource(&target));
        }
    }
    Ok(())
}

/// `a/b/../c` → `a/c`, without touching the file system.
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

struct Output {
    success: bool,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
}

enum RunError {
    Timeout,
    Io(std::io::Error),
}

/// Runs `command` to completion, or kills it after `timeout`.
fn run(mut command: Command, timeout: Duration) -> Result<Output, RunError> {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(RunError::Io)?;
    let drain = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_end(&mut bytes);
            }
            bytes
        })
    };
    let stdout = drain(child.stdout.take().map(|p| Box::new(p) as _));
    let stderr = drain(child.stderr.take().map(|p| Box::new(p) as _));
    let deadline = Instant::now() + timeout;
    // Polls from 1 ms, doubling to 20 ms: a 15 ms build is noticed within a few ms.
    let mut pause = Duration::from_millis(1);
    let status = loop {
        if let Some(status) = child.try_wait().map_err(RunError::Io)? {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(RunError::Timeout);
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(20));
    };
    Ok(Output {
        success: status.success(),
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
    })
}

/// Keeps the shape of a kustomize error line and drops whatever could be data: quoted
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
            c if c.is_whitespace() || c == ',' || c == ':' || c == ';' => {
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

/// Letters (or only digits, like a line number), with `.`, `-`, `_`, `(` or `)`.
fn is_plain_word(word: &str) -> bool {
    let letters = word.chars().any(|c| c.is_ascii_alphabetic());
    let digits = word.chars().any(|c| c.is_ascii_digit());
    word.len() <= 40
        && !(letters && digits)
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || ".-_()".contains(c))
}

/// A relative or absolute path of a manifest or folder, as kustomize names them.
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
