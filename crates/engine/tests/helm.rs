//! Helm charts rendered by the engine (`render::helm`), against the real `helm template` of
//! the same helm: a chart made at test time with `helm create`, plus a vendored
//! dependency, a library chart, a CRD in `crds/`, `tpl`, `required`, `lookup` and `.Capabilities` (the
//! Kubernetes version and API versions); a
//! SOPS-encrypted values file decrypted in memory with the real `sops`; and the failures
//! (a broken template, an unvendored dependency, a wrong key), each named; a hook is
//! handed over apart from the objects to apply.

use std::path::{Path, PathBuf};
use std::process::Command;

use lockstep_api::{PostRenderStrategy, PostRenderer, SecretValues};
use lockstep_engine::keys::{Ambient, Keys};
use lockstep_engine::render::helm::{Chart, render_chart};
use lockstep_engine::render::{RenderError, RenderOptions};
use lockstep_testenv::{Canaries, need, tool};
use secrecy::ExposeSecret;
use serde_json::{Value, json};

/// The chart folder inside the source.
const CHART: &str = "deploy/app";
const KUBE_VERSION: &str = "v1.34.4";

/// A source folder and the real `helm`.
struct Source {
    dir: tempfile::TempDir,
    helm: PathBuf,
}

impl Source {
    /// `deploy/app`, made by `helm create`, with the features the differential covers.
    fn with_chart(helm: PathBuf) -> Source {
        let source = Source {
            dir: tempfile::tempdir().unwrap(),
            helm,
        };
        std::fs::create_dir_all(source.path("deploy/app/charts")).unwrap();
        source.helm(&["create", "deploy/app"]);
        source.helm(&["create", "deploy/app/charts/dep"]);
        let chart_yaml = source.read("deploy/app/Chart.yaml");
        source.write(
            "deploy/app/Chart.yaml",
            &format!(
                "{chart_yaml}dependencies:\n- name: dep\n  version: 0.1.0\n\
                 - name: common\n  version: 1.0.0\n"
            ),
        );
        // A library chart: named templates only, rendered into the parent's objects.
        source.write(
            "deploy/app/charts/common/Chart.yaml",
            "apiVersion: v2\nname: common\nversion: 1.0.0\ntype: library\n",
        );
        source.write(
            "deploy/app/charts/common/templates/_team.tpl",
            "{{- define \"common.team\" -}}\nfrom-library-{{ .Release.Name }}\n{{- end -}}\n",
        );
        source.write(
            "deploy/app/crds/widgets.yaml",
            "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\n\
             metadata: {name: widgets.example.test}\nspec:\n  group: example.test\n  \
             scope: Namespaced\n  names: {kind: Widget, plural: widgets, singular: widget}\n  \
             versions:\n  - name: v1\n    served: true\n    storage: true\n    schema:\n      \
             openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}\n",
        );
        source.write(
            "deploy/app/templates/extra.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-extra\ndata:\n  \
             greeting: {{ tpl .Values.greeting . | quote }}\n  \
             owner: {{ required \"owner is required\" .Values.owner | quote }}\n  \
             team: {{ include \"common.team\" . | quote }}\n  \
             kube: {{ .Capabilities.KubeVersion.Version | quote }}\n  \
             upgrade: {{ .Release.IsUpgrade | quote }}\n  \
             lookup: {{ lookup \"v1\" \"Namespace\" \"\" \"kube-system\" | toJson | quote }}\n---\n\
             apiVersion: example.test/v1\nkind: Widget\nmetadata:\n  name: {{ .Release.Name }}-w\n\
             spec:\n  size: {{ .Values.replicaCount }}\n\
             {{- if .Capabilities.APIVersions.Has \"monitoring.example.test/v1\" }}\n---\n\
             apiVersion: monitoring.example.test/v1\nkind: Monitor\nmetadata:\n  name: {{ .Release.Name }}\n\
             {{- end }}\n",
        );
        source.write(
            "deploy/app/templates/migrate.yaml",
            "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: {{ .Release.Name }}-migrate\n  \
             annotations:\n    helm.sh/hook: pre-install,pre-upgrade\n    \
             helm.sh/hook-weight: \"-1\"\nspec:\n  template:\n    spec:\n      \
             restartPolicy: Never\n      containers:\n      - name: migrate\n        \
             image: {{ .Values.image.repository }}\n",
        );
        source.write(
            "deploy/app/values-prod.yaml",
            "replicaCount: 3\ngreeting: 'hi {{ .Release.Name }}'\ndep:\n  replicaCount: 2\n",
        );
        source
    }

    fn root(&self) -> &Path {
        self.dir.path()
    }

    fn path(&self, path: &str) -> PathBuf {
        self.root().join(path)
    }

    fn write(&self, path: &str, text: &str) {
        let file = self.path(path);
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(file, text).unwrap();
    }

    fn read(&self, path: &str) -> String {
        std::fs::read_to_string(self.path(path)).unwrap()
    }

    /// Runs helm in the source; its stdout.
    fn helm(&self, args: &[&str]) -> String {
        let out = Command::new(&self.helm)
            .current_dir(self.root())
            .env_clear()
            .env("HOME", self.root())
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "helm {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    fn render(&self, chart: &Chart, keys: &Keys) -> Result<Vec<Value>, RenderError> {
        Ok(self.render_with_hooks(chart, keys)?.0)
    }

    /// The objects to apply, and the hooks.
    fn render_with_hooks(
        &self,
        chart: &Chart,
        keys: &Keys,
    ) -> Result<(Vec<Value>, Vec<Value>), RenderError> {
        let rendered = render_chart(self.root(), chart, keys, &RenderOptions::default())?;
        let objects = rendered.manifests.into_iter().map(|m| m.object).collect();
        let hooks = rendered.hooks.into_iter().map(|h| h.manifest.object);
        Ok((objects, hooks.collect()))
    }
}

fn chart(values_files: &[&str], values: Value) -> Chart {
    Chart {
        path: CHART.into(),
        release_name: "web".into(),
        namespace: "shop".into(),
        values_files: values_files.iter().map(|f| (*f).to_owned()).collect(),
        ignore_missing_values_files: false,
        file_parameters: Vec::new(),
        skip_schema_validation: false,
        values: values.as_object().cloned().unwrap_or_default(),
        include_crds: true,
        skip_tests: false,
        kube_version: Some(KUBE_VERSION.into()),
        api_versions: vec!["monitoring.example.test/v1".into()],
        is_upgrade: false,
        no_hooks: false,
        post_renderers: Vec::new(),
        post_render_strategy: PostRenderStrategy::default(),
        dependencies: Vec::new(),
        record: false,
        secret_values: SecretValues::default(),
    }
}

/// `helm template`'s objects as `helm install` writes them, which is what Lockstep renders:
/// objects naming no namespace get the release's, and every object but hooks and CRDs
/// carries Helm's claim (the managed-by label and the release annotations).
pub(crate) fn as_helm_installs(objects: &mut [Value], release: &str, namespace: &str) {
    for object in objects {
        if object["kind"] == "CustomResourceDefinition" {
            continue;
        }
        if object["metadata"]["namespace"].is_null() {
            object["metadata"]["namespace"] = namespace.into();
        }
        if object["metadata"]["annotations"]["helm.sh/hook"].is_null() {
            let metadata = &mut object["metadata"];
            metadata["labels"]["app.kubernetes.io/managed-by"] = "Helm".into();
            metadata["annotations"]["meta.helm.sh/release-name"] = release.into();
            metadata["annotations"]["meta.helm.sh/release-namespace"] = namespace.into();
        }
    }
}

fn no_keys() -> Keys {
    Keys::ambient(Ambient::none())
}

/// Sorted by kind and name, so the order objects came in does not matter.
fn normalised(mut objects: Vec<Value>) -> Vec<Value> {
    objects.sort_by_key(|o| {
        (
            o["kind"].as_str().unwrap_or_default().to_owned(),
            o["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        )
    });
    objects
}

#[test]
fn a_chart_renders_exactly_as_helm_template_renders_it() {
    let helm = need!(tool("helm"));
    let source = Source::with_chart(helm);
    let inline =
        json!({"owner": "team-a", "service": {"port": 8080}, "dep": {"service": {"port": 81}}});
    let (ours, hooks) = source
        .render_with_hooks(&chart(&["values-prod.yaml"], inline.clone()), &no_keys())
        .unwrap();
    // The hook is handed over to run around the apply, not applied with the objects.
    assert_eq!(hooks.len(), 1);
    assert_eq!(hooks[0]["metadata"]["name"], "web-migrate");
    assert_eq!(hooks[0]["metadata"]["namespace"], "shop");
    let ours_and_hooks: Vec<Value> = ours.iter().chain(&hooks).cloned().collect();
    let mut without_hooks = chart(&["values-prod.yaml"], inline.clone());
    without_hooks.no_hooks = true;
    let (objects, none) = source
        .render_with_hooks(&without_hooks, &no_keys())
        .unwrap();
    assert!(none.is_empty(), "--no-hooks");
    assert_eq!(objects.len(), ours.len());

    // Helm's own render, the inline values as one more -f file (outside the source).
    let outside = tempfile::tempdir().unwrap();
    let inline_file = outside.path().join("inline.json");
    std::fs::write(&inline_file, inline.to_string()).unwrap();
    let output = source.helm(&[
        "template",
        "web",
        CHART,
        "--namespace",
        "shop",
        "--kube-version",
        KUBE_VERSION,
        "--include-crds",
        "--api-versions",
        "monitoring.example.test/v1",
        "-f",
        "deploy/app/values-prod.yaml",
        "-f",
        inline_file.to_str().unwrap(),
    ]);
    let mut theirs: Vec<Value> =
        serde_saphyr::from_multiple_with_options(&output, lockstep_limits::yaml_options()).unwrap();
    theirs.retain(|o| !o.is_null());
    // What Lockstep does on purpose: test hooks are `helm test`'s, never applied; objects
    // naming no namespace get the release namespace, as `helm install` puts them there.
    let hooks = theirs.len();
    theirs.retain(|o| o["metadata"]["annotations"]["helm.sh/hook"] != "test");
    assert_eq!(
        hooks - theirs.len(),
        2,
        "helm create's test hooks (app, dep)"
    );
    as_helm_installs(&mut theirs, "web", "shop");
    assert_eq!(normalised(ours_and_hooks), normalised(theirs));

    // The features were exercised, not just equal.
    let find = |kind: &str, name: &str| {
        ours.iter()
            .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
            .unwrap_or_else(|| panic!("no {kind}/{name}"))
            .clone()
    };
    let extra = find("ConfigMap", "web-extra");
    assert_eq!(extra["data"]["greeting"], "hi web", "tpl");
    assert_eq!(
        extra["data"]["team"], "from-library-web",
        "a library chart's template"
    );
    assert_eq!(
        extra["data"]["owner"], "team-a",
        "required, from the inline values"
    );
    assert_eq!(extra["data"]["kube"], KUBE_VERSION, ".Capabilities");
    assert_eq!(extra["data"]["lookup"], "{}", "lookup answers empty");
    assert_eq!(extra["data"]["upgrade"], "false");
    let mut upgrade = chart(&["values-prod.yaml"], inline.clone());
    upgrade.is_upgrade = true;
    let upgraded = source.render(&upgrade, &no_keys()).unwrap();
    let extra = upgraded
        .iter()
        .find(|o| o["metadata"]["name"] == "web-extra");
    assert_eq!(extra.unwrap()["data"]["upgrade"], "true", "--is-upgrade");
    assert_eq!(find("Deployment", "web-app")["spec"]["replicas"], 3);
    assert_eq!(
        find("Deployment", "web-dep")["spec"]["replicas"],
        2,
        "dependency values"
    );
    assert_eq!(find("Service", "web-dep")["spec"]["ports"][0]["port"], 81);
    assert_eq!(find("Service", "web-app")["spec"]["ports"][0]["port"], 8080);
    assert_eq!(find("Widget", "web-w")["metadata"]["namespace"], "shop");
    find("Monitor", "web"); // .Capabilities.APIVersions
    assert!(
        find("CustomResourceDefinition", "widgets.example.test")["metadata"]["namespace"].is_null()
    );

    // Without CRDs and without tests: the CRD is gone.
    let mut without = chart(&["values-prod.yaml"], inline);
    without.include_crds = false;
    without.skip_tests = true;
    let fewer = source.render(&without, &no_keys()).unwrap();
    assert_eq!(fewer.len(), ours.len() - 1);
    assert!(
        !fewer
            .iter()
            .any(|o| o["kind"] == "CustomResourceDefinition")
    );
}

#[test]
fn a_sops_values_file_is_decrypted_in_memory_and_a_wrong_key_names_the_file() {
    let helm = need!(tool("helm"));
    need!(tool("sops"));
    let source = Source::with_chart(helm);
    let canary = "Hv4helm-values-canary-2f9d";
    source.write(
        "deploy/app/templates/db.yaml",
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\nstringData:\n  \
         password: {{ .Values.db.password | quote }}\n",
    );
    source.write(
        "deploy/app/secrets.enc.yaml",
        &format!("db:\n  password: {canary}\n"),
    );
    let (recipient, identity) = lockstep_keys::age::generate();
    lockstep_testenv::sops_encrypt_age(source.root(), &recipient, "deploy/app/secrets.enc.yaml")
        .unwrap();
    assert!(!source.read("deploy/app/secrets.enc.yaml").contains(canary));

    let keys = Keys::from_secret(
        [("identity.agekey", identity.expose_secret().as_bytes())],
        Ambient::none(),
    )
    .unwrap();
    let files = ["values-prod.yaml", "secrets.enc.yaml"];
    let values = json!({"owner": "team-a"});
    let rendered = render_chart(
        source.root(),
        &chart(&files, values.clone()),
        &keys,
        &RenderOptions::default(),
    )
    .unwrap();
    let db = rendered
        .manifests
        .iter()
        .find(|m| m.kind() == "Secret" && m.name() == "db")
        .unwrap();
    assert_eq!(db.object["stringData"]["password"], canary);
    // The render's redactor knows the value, so the secrets stage scrubs it everywhere.
    let scrubbed = rendered.redactor.scrub(&format!("refused: {canary}"));
    Canaries::new([canary]).assert_absent("a scrubbed message", &scrubbed);
    // Nothing of it was written next to the chart.
    let listing = std::fs::read_dir(source.path(CHART))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect::<Vec<_>>();
    assert!(!listing.iter().any(|f| f.contains("dec")), "{listing:?}");

    let (_, other) = lockstep_keys::age::generate();
    let wrong = Keys::from_secret(
        [("identity.agekey", other.expose_secret().as_bytes())],
        Ambient::none(),
    )
    .unwrap();
    let err = source.render(&chart(&files, values), &wrong).unwrap_err();
    let text = format!("{err} {err:?}");
    assert!(text.contains("secrets.enc.yaml"), "{text}");
    Canaries::new([canary]).assert_absent("the error", &text);
}

/// Values read from Secrets (a HelmRelease's `valuesFrom`) go between the values files and
/// the inline values, and a helm error that quotes one is scrubbed of it.
#[test]
fn secret_values_merge_before_inline_values_and_are_scrubbed_from_helm_errors() {
    let helm = need!(tool("helm"));
    let source = Source::with_chart(helm);
    let canary = "Sv4helm-secret-values-canary-81c";
    source.write(
        "deploy/app/templates/db.yaml",
        "{{- if .Values.fail }}{{ fail (printf \"cannot connect with %s\" .Values.db.password) }}\
         {{- end }}\napiVersion: v1\nkind: Secret\nmetadata:\n  name: db\nstringData:\n  \
         password: {{ .Values.db.password | quote }}\n  user: {{ .Values.db.user | quote }}\n",
    );
    let secret = json!({"db": {"password": canary, "user": "from-secret"}, "owner": "team-s"});
    let mut with_secret = chart(&["values-prod.yaml"], json!({"db": {"user": "inline"}}));
    with_secret.secret_values = SecretValues(Some(std::sync::Arc::new(zeroize::Zeroizing::new(
        serde_json::to_vec(&secret).unwrap(),
    ))));
    let rendered = render_chart(
        source.root(),
        &with_secret,
        &no_keys(),
        &RenderOptions::default(),
    )
    .unwrap();
    let db = rendered
        .manifests
        .iter()
        .find(|m| m.kind() == "Secret" && m.name() == "db")
        .unwrap();
    assert_eq!(db.object["stringData"]["password"], canary);
    assert_eq!(
        db.object["stringData"]["user"], "inline",
        "inline values win"
    );
    Canaries::new([canary]).assert_absent(
        "a scrubbed message",
        &rendered.redactor.scrub(&format!("refused: {canary}")),
    );
    assert!(
        !format!("{with_secret:?}").contains(canary),
        "Debug hides them"
    );

    with_secret.values.insert("fail".into(), true.into());
    let err = source.render(&with_secret, &no_keys()).unwrap_err();
    let text = format!("{err} {err:?}");
    assert!(text.contains("cannot connect with"), "{text}");
    Canaries::new([canary]).assert_absent("the helm error", &text);
}

#[test]
fn failures_name_the_template_the_dependency_and_the_values_file() {
    let helm = need!(tool("helm"));
    let source = Source::with_chart(helm);
    let values = || json!({"owner": "team-a", "greeting": "hi"});
    let message = |chart: &Chart| source.render(chart, &no_keys()).unwrap_err().to_string();

    // `required` unmet: helm's message, with the template and its line.
    let err = message(&chart(&[], json!({"greeting": "hi"})));
    assert!(
        err.contains("app/templates/extra.yaml:") && err.contains("owner is required"),
        "{err}"
    );

    source.write(
        "deploy/app/templates/broken.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: broken\ndata:\n  a: {{ .Values.owner | nope }}\n",
    );
    let err = message(&chart(&[], values()));
    assert!(err.contains("app/templates/broken.yaml:6"), "{err}");
    assert!(err.starts_with("deploy/app: helm template failed"), "{err}");
    std::fs::remove_file(source.path("deploy/app/templates/broken.yaml")).unwrap();

    let outside = tempfile::tempdir().unwrap();
    let elsewhere = outside.path().join("outside.yaml");
    std::fs::write(&elsewhere, "owner: someone\n").unwrap();
    let err = message(&chart(&[elsewhere.to_str().unwrap()], values()));
    assert!(err.contains("leaves the source"), "{err}");
    let err = message(&chart(&["missing.yaml"], values()));
    assert!(
        err.contains("missing.yaml")
            && err.contains("does not exist")
            && err.contains("ignoreMissingValuesFiles"),
        "{err}"
    );
    let mut ignoring = chart(&["missing.yaml", "values-prod.yaml"], values());
    ignoring.ignore_missing_values_files = true;
    let objects = source.render(&ignoring, &no_keys()).unwrap();
    let app = objects
        .iter()
        .find(|o| o["kind"] == "Deployment" && o["metadata"]["name"] == "web-app");
    assert_eq!(
        app.unwrap()["spec"]["replicas"],
        3,
        "the file that exists is read"
    );

    std::fs::remove_dir_all(source.path("deploy/app/charts/dep")).unwrap();
    let err = message(&chart(&[], values()));
    assert!(
        err.contains("dependency dep") && err.contains("charts/"),
        "{err}"
    );

    let mut not_a_chart = chart(&[], values());
    not_a_chart.path = "deploy".into();
    assert!(message(&not_a_chart).contains("Chart.yaml"));
}

/// Argo CD's `helm.parameters`, set with `set_parameter` into the inline values, render as
/// the real `helm template --set`/`--set-string` renders them after Argo CD's own comma
/// escaping: typed values, lists, escapes, dotted keys and indexes, over a values file.
#[test]
fn parameters_render_as_helm_set_renders_them() {
    let helm = need!(tool("helm"));
    let source = Source {
        dir: tempfile::tempdir().unwrap(),
        helm,
    };
    source.write(
        "deploy/app/Chart.yaml",
        "apiVersion: v2\nname: app\nversion: 0.1.0\n",
    );
    source.write(
        "deploy/app/values.yaml",
        "image: {tag: old, pull: IfNotPresent}\n",
    );
    source.write(
        "deploy/app/templates/values.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: values}\n\
         data:\n  values: {{ toJson .Values | quote }}\n",
    );
    source.write("deploy/app/prod.yaml", "image: {tag: prod}\nreplicas: 2\n");
    // A file parameter's content is one string, commas, braces and backslashes as they are.
    let script = "#!/bin/sh\necho a,b {c} \\ d\n";
    source.write("deploy/app/files/run.sh", script);
    let parameters = [
        ("image.tag", "v1.2", false),
        ("replicas", "05", false),
        ("count", "-05", false),
        ("enabled", "True", false),
        ("gone", "NULL", false),
        ("hosts[1].name", "b.example", false),
        ("list", "{a,TRUE,7}", false),
        ("strings", "{1,true}", true),
        ("note", "one, two\\, three", false),
        ("path", "C:\\\\dir", false),
        ("dotted\\.key", "x", false),
        ("port", "8080", true),
        ("quoted", "\"q\"", false),
    ];
    let mut values = serde_json::Map::new();
    for (name, value, string) in parameters
        .iter()
        .filter(|p| !p.2)
        .chain(parameters.iter().filter(|p| p.2))
    {
        lockstep_engine::render::helm::set_parameter(&mut values, name, value, *string).unwrap();
    }
    let mut ours = chart(&["prod.yaml"], Value::Object(values));
    ours.api_versions.clear();
    ours.file_parameters = vec![lockstep_api::FileParameter {
        name: "config.script".into(),
        path: "files/run.sh".into(),
    }];
    let rendered = source.render(&ours, &no_keys()).unwrap();
    let ours: Value =
        serde_json::from_str(rendered[0]["data"]["values"].as_str().unwrap()).unwrap();

    // Argo CD escapes every comma no backslash is before, unless the value is `{…}`.
    let escaped = |value: &str| {
        if value.starts_with('{') && value.ends_with('}') {
            return value.to_owned();
        }
        let mut out = String::new();
        let mut before = ' ';
        for c in value.chars() {
            if c == ',' && before != '\\' {
                out.push('\\');
            }
            out.push(c);
            before = c;
        }
        out
    };
    let mut args = vec![
        "template".to_owned(),
        "web".into(),
        CHART.into(),
        "-f".into(),
        "deploy/app/prod.yaml".into(),
    ];
    for (name, value, string) in parameters {
        args.push(if string { "--set-string" } else { "--set" }.into());
        args.push(format!("{name}={}", escaped(value)));
    }
    args.extend([
        "--set-file".into(),
        "config.script=deploy/app/files/run.sh".into(),
    ]);
    let output = source.helm(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let theirs: Value = serde_saphyr::from_str(&output).unwrap();
    let theirs: Value = serde_json::from_str(theirs["data"]["values"].as_str().unwrap()).unwrap();
    assert_eq!(ours, theirs);
    // The cases were exercised, not just equal.
    assert_eq!(
        ours["image"],
        json!({"tag": "v1.2", "pull": "IfNotPresent"})
    );
    assert_eq!(ours["note"], "one, two, three");
    assert_eq!(ours["path"], "C:\\dir");
    assert_eq!(ours["list"], json!(["a", true, 7]));
    assert_eq!(
        (&ours["replicas"], &ours["count"]),
        (&json!("05"), &json!(-5))
    );
    assert_eq!(ours["dotted.key"], "x");
    assert_eq!(ours["port"], "8080");
    assert_eq!(ours["config"]["script"], script, "--set-file");
}

/// Flux's `postRenderers`: patches and images built with kustomize over the rendered
/// objects, hooks with them unless `nohooks`, `crds/` left alone, every object keeping its
/// template; the chart's secrets never reach kustomize (a JSON 6902 `test` of a Secret's
/// value sees a placeholder), and are back in place afterwards.
#[test]
fn post_renderers_patch_the_rendered_objects_and_keep_secrets_from_kustomize() {
    let helm = need!(tool("helm"));
    need!(tool("kustomize"));
    let source = Source::with_chart(helm);
    let canary = "Pr7post-render-canary-3f1";
    source.write(
        "deploy/app/templates/db.yaml",
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\nstringData:\n  \
         password: {{ .Values.db.password | quote }}\n---\napiVersion: v1\nkind: ConfigMap\n\
         metadata:\n  name: dsn\ndata:\n  url: {{ printf \"postgres://app:%s@db\" .Values.db.password | quote }}\n",
    );
    let mut base = chart(&[], json!({"owner": "team-a", "greeting": "hi"}));
    base.secret_values = SecretValues(Some(std::sync::Arc::new(zeroize::Zeroizing::new(
        serde_json::to_vec(&json!({"db": {"password": canary}})).unwrap(),
    ))));
    let render = |chart: &Chart| {
        render_chart(source.root(), chart, &no_keys(), &RenderOptions::default()).unwrap()
    };
    let renderers = |patches: Value| -> Vec<PostRenderer> {
        serde_json::from_value(json!([{"kustomize": {
            "patches": patches,
            "images": [{"name": "nginx", "newTag": "1.27"}],
        }}]))
        .unwrap()
    };
    let mut patched = base.clone();
    patched.post_renderers = renderers(json!([
        {"patch": "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web-app\n  \
                   labels:\n    patched: \"yes\"\n"},
        {"patch": "[{\"op\": \"add\", \"path\": \"/metadata/labels\", \"value\": {\"team\": \"blue\"}}]",
         "target": {"kind": "Job"}},
    ]));
    let rendered = render(&patched);
    let find = |kind: &str, name: &str| {
        rendered
            .manifests
            .iter()
            .find(|m| m.kind() == kind && m.name() == name)
            .unwrap_or_else(|| panic!("no {kind}/{name}"))
    };
    let app = find("Deployment", "web-app");
    assert_eq!(app.object["metadata"]["labels"]["patched"], "yes");
    assert_eq!(
        app.object["spec"]["template"]["spec"]["containers"][0]["image"],
        "nginx:1.27"
    );
    assert_eq!(
        app.file,
        Path::new("app/templates/deployment.yaml"),
        "the template is kept"
    );
    assert_eq!(
        find("Secret", "db").object["stringData"]["password"],
        canary
    );
    assert_eq!(
        find("ConfigMap", "dsn").object["data"]["url"],
        format!("postgres://app:{canary}@db")
    );
    let crd = find("CustomResourceDefinition", "widgets.example.test");
    assert!(
        crd.object["metadata"]["labels"].is_null(),
        "crds/ is not post-rendered"
    );
    let everything = serde_json::to_string(
        &rendered
            .manifests
            .iter()
            .map(|m| &m.object)
            .collect::<Vec<_>>(),
    )
    .unwrap();
    assert!(
        !everything.contains("post-render.lockstep.dev"),
        "{everything}"
    );
    assert_eq!(rendered.hooks.len(), 1);
    let hook = &rendered.hooks[0].manifest.object;
    assert_eq!(
        hook["metadata"]["labels"]["team"], "blue",
        "combined: hooks too"
    );

    let mut no_hooks = patched.clone();
    no_hooks.post_render_strategy = PostRenderStrategy::NoHooks;
    let rendered = render(&no_hooks);
    assert!(
        rendered.hooks[0].manifest.object["metadata"]["labels"].is_null(),
        "nohooks"
    );
    // Separate streams: an untargeted strategic-merge patch would have to match in both
    // (kustomize fails it in the hooks' stream, as in Flux), so only the targeted one.
    let mut separate = patched.clone();
    separate.post_render_strategy = PostRenderStrategy::Separate;
    separate.post_renderers = renderers(json!([
        {"patch": "[{\"op\": \"add\", \"path\": \"/metadata/labels\", \"value\": {\"team\": \"blue\"}}]",
         "target": {"kind": "Job"}},
    ]));
    let rendered = render(&separate);
    assert_eq!(
        rendered.hooks[0].manifest.object["metadata"]["labels"]["team"],
        "blue"
    );

    // kustomize never saw the value: a `test` of it fails (while one of a plain value
    // passes), and the error names the step.
    let mut plain = base.clone();
    plain.post_renderers = renderers(json!([{
        "patch": "[{\"op\": \"test\", \"path\": \"/data/greeting\", \"value\": \"hi\"}]",
        "target": {"kind": "ConfigMap", "name": "web-extra"},
    }]));
    source.render(&plain, &no_keys()).unwrap();
    let mut testing = base;
    testing.post_renderers = renderers(json!([{
        "patch": format!("[{{\"op\": \"test\", \"path\": \"/stringData/password\", \"value\": \"{canary}\"}}]"),
        "target": {"kind": "Secret", "name": "db"},
    }]));
    let err = source.render(&testing, &no_keys()).unwrap_err().to_string();
    assert!(err.contains("deploy/app/postRenderers[0]"), "{err}");
    Canaries::new([canary]).assert_absent("the kustomize error", &err);
}
