//! A kustomize overlay over SOPS files: an encrypted resource in the base (renamed by a
//! `namePrefix`, patched by an encrypted strategic-merge patch), and `secretGenerator` sources (`files:` and `envs:`) that are encrypted
//! files, read by kustomize as ciphertext and rewritten in memory afterwards.

use std::process::Command;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use lockstep_engine::decrypt::decrypt;
use lockstep_engine::keys::{Ambient, Keys};
use secrecy::ExposeSecret;

use super::{Repo, all_text, assert_no_leak};

#[tokio::test]
async fn an_overlay_with_encrypted_generator_sources_decrypts_without_plaintext_on_disk() {
    let Some(repo) = Repo::new(&[]) else { return };
    let (recipient, identity) = lockstep_keys::age::generate();
    let age = ["--age", recipient.as_str()];
    let canaries = [
        "canary-base-1001",
        "canary-file-2002",
        "canary-env-3003",
        "canary-patch-4004",
    ];
    repo.write(
        "base/db.yaml",
        &format!(
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\nstringData:\n  password: {}\n",
            canaries[0]
        ),
    );
    repo.write("base/kustomization.yaml", "resources:\n- db.yaml\n");
    repo.write(
        "overlay/config.yaml",
        &format!(
            "database:\n    url: postgres://app:{}@db/app\n",
            canaries[1]
        ),
    );
    repo.write(
        "overlay/app.env",
        &format!("API_TOKEN={}\nMODE=prod\n", canaries[2]),
    );
    repo.write(
        "overlay/patch.yaml",
        &format!(
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\nstringData:\n  extra: {}\n",
            canaries[3]
        ),
    );
    repo.write(
        "overlay/kustomization.yaml",
        "resources:\n- ../base\nnamePrefix: prod-\npatches:\n- path: patch.yaml\nsecretGenerator:\n- name: app-files\n  files:\n  - config.yaml\n- name: app-env\n  envs:\n  - app.env\n",
    );
    repo.encrypt(
        "base/db.yaml",
        &[&["--encrypted-regex", "^(data|stringData)$"][..], &age].concat(),
    );
    repo.encrypt(
        "overlay/patch.yaml",
        &[&["--encrypted-regex", "^(data|stringData)$"][..], &age].concat(),
    );
    repo.encrypt("overlay/config.yaml", &age);
    repo.encrypt("overlay/app.env", &age);
    // What `sops -d` makes of the generator file, to compare byte for byte.
    let expected_file = Command::new(lockstep_testenv::tool("sops").unwrap())
        .current_dir(repo.root())
        .env("SOPS_AGE_KEY", identity.expose_secret())
        .args(["--decrypt", "overlay/config.yaml"])
        .output()
        .unwrap()
        .stdout;
    assert!(String::from_utf8_lossy(&expected_file).contains(canaries[1]));

    let rendered = repo.render("overlay");
    let before = serde_json::to_string(
        &rendered
            .manifests
            .iter()
            .map(|m| &m.object)
            .collect::<Vec<_>>(),
    )
    .unwrap();
    assert_no_leak(&before, &canaries);
    let keys = Keys::from_secret(
        [("age.agekey", identity.expose_secret().as_bytes())],
        Ambient::none(),
    )
    .unwrap();
    let out = decrypt(rendered, keys).await.unwrap();
    assert_eq!(out.files.len(), 4, "{:?}", out.files);

    let by_prefix = |prefix: &str| {
        &out.manifests
            .iter()
            .find(|m| m.kind() == "Secret" && m.name().starts_with(prefix))
            .unwrap_or_else(|| panic!("no Secret {prefix}*"))
            .object
    };
    let db = by_prefix("prod-db");
    assert_eq!(db["stringData"]["password"], canaries[0]);
    assert_eq!(db["stringData"]["extra"], canaries[3]);
    assert!(db.get("sops").is_none());
    assert_eq!(db["metadata"]["namespace"], "team-a");

    let files = by_prefix("prod-app-files-");
    let config = STANDARD
        .decode(files["data"]["config.yaml"].as_str().unwrap())
        .unwrap();
    assert_eq!(config, expected_file);

    let env = by_prefix("prod-app-env-");
    let data = env["data"].as_object().unwrap();
    let mut keys: Vec<_> = data.keys().cloned().collect();
    keys.sort();
    assert_eq!(keys, ["API_TOKEN", "MODE"]);
    assert_eq!(data["API_TOKEN"], STANDARD.encode(canaries[2]));
    assert_eq!(data["MODE"], STANDARD.encode("prod"));

    // Nothing decrypted was written anywhere under the artifact.
    for entry in walk(repo.root()) {
        let text = String::from_utf8_lossy(&std::fs::read(&entry).unwrap()).into_owned();
        assert_no_leak(&text, &canaries);
    }
    assert_no_leak(&format!("{out:?}"), &canaries);
}

#[tokio::test]
async fn a_generator_source_with_the_wrong_key_fails_the_overlay() {
    let Some(repo) = Repo::new(&[]) else { return };
    let (recipient, _) = lockstep_keys::age::generate();
    let (_, other) = lockstep_keys::age::generate();
    repo.write("overlay/app.env", "API_TOKEN=canary-env-4004\n");
    repo.write(
        "overlay/kustomization.yaml",
        "secretGenerator:\n- name: app-env\n  envs:\n  - app.env\n",
    );
    repo.encrypt("overlay/app.env", &["--age", &recipient]);
    let rendered = repo.render("overlay");
    let keys = Keys::from_secret(
        [("age.agekey", other.expose_secret().as_bytes())],
        Ambient::none(),
    )
    .unwrap();
    let err = decrypt(rendered, keys).await.unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("overlay/app.env") && text.contains(&recipient),
        "{text}"
    );
    assert_no_leak(&all_text(&err), &["canary-env-4004"]);
}

#[tokio::test]
async fn an_alias_bomb_as_a_generator_source_fails_naming_the_file_and_line() {
    let Some(repo) = Repo::new(&[]) else { return };
    repo.write(
        "overlay/config.yaml",
        include_str!("../../../limits/testdata/alias-bomb.yaml"),
    );
    repo.write(
        "overlay/kustomization.yaml",
        "secretGenerator:\n- name: settings\n  files: [config.yaml]\n",
    );
    // Render never parses a generator source; the decrypt stage must not expand it.
    let rendered = repo.render("overlay");
    let err = decrypt(rendered, Keys::ambient(Ambient::none()))
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.starts_with("overlay/config.yaml: not a valid SOPS file: YAML at line 7, column 18: excessive aliasing"),
        "{text}"
    );
}

#[tokio::test]
async fn a_file_that_only_mentions_sops_is_not_decrypted() {
    let Some(repo) = Repo::new(&[]) else { return };
    let (recipient, identity) = lockstep_keys::age::generate();
    repo.write(
        "overlay/db.yaml",
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\nstringData:\n  password: canary-5005\n",
    );
    repo.encrypt(
        "overlay/db.yaml",
        &["--encrypted-regex", "^stringData$", "--age", &recipient],
    );
    // Its comment mentions all three markers; kustomize drops comments, so no `ENC[` is
    // left in the render, and the file has no metadata: it is not a SOPS file.
    repo.write(
        "overlay/labels.yaml",
        "# Values are ENC[...] strings written by sops, checked by its mac.\napiVersion: v1\nkind: Secret\nmetadata:\n  name: db\n  labels: {team: a}\n",
    );
    repo.write(
        "overlay/kustomization.yaml",
        "resources: [db.yaml]\npatches:\n- path: labels.yaml\n",
    );
    let rendered = repo.render("overlay");
    let keys = Keys::from_secret(
        [("age.agekey", identity.expose_secret().as_bytes())],
        Ambient::none(),
    )
    .unwrap();
    let out = decrypt(rendered, keys).await.unwrap();
    // The file decrypted, with the key it is encrypted to and when sops last wrote it.
    let [file] = &out.files[..] else {
        panic!("one file decrypted: {:?}", out.files)
    };
    assert_eq!(file.path, "overlay/db.yaml");
    assert_eq!(file.keys, [format!("age:{recipient}")]);
    assert!(
        file.last_modified
            .as_deref()
            .is_some_and(|t| t.parse::<jiff::Timestamp>().is_ok()),
        "{file:?}"
    );
    let db = &out.manifests[0].object;
    assert_eq!(db["stringData"]["password"], "canary-5005");
    assert_eq!(db["metadata"]["labels"]["team"], "a");
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}

/// A kustomization in a subfolder of a plain folder (render builds it with kustomize): its
/// encrypted generator source is decrypted too, found by render's own walk. Before, the
/// decrypt stage listed only the folder's YAML files here and left the generated Secret
/// encrypted (`Unresolved`).
#[tokio::test]
async fn a_kustomization_inside_a_plain_folder_has_its_generator_sources_decrypted() {
    let Some(repo) = Repo::new(&[]) else { return };
    let (recipient, identity) = lockstep_keys::age::generate();
    repo.write(
        "apps/plain.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: plain}\ndata: {a: b}\n",
    );
    repo.write("apps/sub/app.env", "API_TOKEN=canary-nested-5005\n");
    repo.write(
        "apps/sub/kustomization.yaml",
        "secretGenerator:\n- name: nested\n  envs:\n  - app.env\n",
    );
    repo.encrypt("apps/sub/app.env", &["--age", recipient.as_str()]);
    let keys = Keys::from_secret(
        [("age.agekey", identity.expose_secret().as_bytes())],
        Ambient::none(),
    )
    .unwrap();
    let out = decrypt(repo.render("apps"), keys)
        .await
        .unwrap_or_else(|err| panic!("{}", all_text(&err)));
    let nested = out
        .manifests
        .iter()
        .find(|m| m.name().starts_with("nested-"))
        .expect("the generated Secret");
    let token = STANDARD
        .decode(nested.object["data"]["API_TOKEN"].as_str().unwrap())
        .unwrap();
    assert_eq!(token, b"canary-nested-5005");
}

/// The bytes this thread has read so far (Linux task I/O accounting, `rchar`): render and
/// decrypt run on the calling thread, kustomize in its own process.
fn bytes_read_by_this_thread() -> u64 {
    let io = std::fs::read_to_string("/proc/thread-self/io")
        .expect("/proc/thread-self/io (Linux task I/O accounting)");
    io.lines()
        .find_map(|line| line.strip_prefix("rchar: "))
        .and_then(|n| n.parse().ok())
        .expect("rchar in /proc/thread-self/io")
}

/// From Git to the objects to apply, each file of a path is read once: render keeps what
/// decrypt needs (the encrypted manifests it read, what the kustomizations it walked name)
/// instead of decrypt listing, walking and reading them again. Measured as the bytes this
/// thread read, with a large encrypted manifest and a large kustomization.
#[test]
fn render_and_decrypt_read_each_file_once() {
    let Some(repo) = Repo::new(&[]) else { return };
    let (recipient, identity) = lockstep_keys::age::generate();
    let age = ["--age", recipient.as_str()];
    let padding = "x".repeat(256 << 10);
    repo.write(
        "apps/big.yaml",
        &format!(
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: big\nstringData:\n  password: canary-big-{padding}\n"
        ),
    );
    repo.encrypt(
        "apps/big.yaml",
        &[&["--encrypted-regex", "^(data|stringData)$"][..], &age].concat(),
    );
    repo.write("apps/sub/app.env", "API_TOKEN=canary-env-6006\n");
    repo.encrypt("apps/sub/app.env", &age);
    repo.write(
        "apps/sub/kustomization.yaml",
        &format!("# {padding}\nsecretGenerator:\n- name: gen\n  envs:\n  - app.env\n"),
    );
    let size = |path: &str| std::fs::metadata(repo.root().join(path)).unwrap().len();
    let once =
        size("apps/big.yaml") + size("apps/sub/kustomization.yaml") + size("apps/sub/app.env");
    let keys = Keys::from_secret(
        [("age.agekey", identity.expose_secret().as_bytes())],
        Ambient::none(),
    )
    .unwrap();

    let before = bytes_read_by_this_thread();
    let rendered = repo.render("apps");
    let out = lockstep_engine::decrypt::decrypt_blocking(rendered, &keys)
        .unwrap_or_else(|err| panic!("{}", all_text(&err)));
    let read = bytes_read_by_this_thread() - before;

    assert_eq!(out.manifests.len(), 2);
    assert!(out.manifests.iter().all(|m| m.holds_secrets));
    // Slack for /proc reads and the like, far below a second read of either large file.
    assert!(
        read < once + (32 << 10),
        "read {read} bytes for {once} bytes of files"
    );
}
