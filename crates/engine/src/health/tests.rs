//! The rules on objects shaped as the API server returns them (status fields and
//! condition reasons as the 1.34 controllers write them).

use serde_json::{Value, json};

use super::{Status, compute};

fn status_of(object: Value) -> Status {
    compute(&object).status
}

fn deployment(spec_replicas: i64, status: Value) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "apps", "generation": 2},
        "spec": {"replicas": spec_replicas, "progressDeadlineSeconds": 600},
        "status": status,
    })
}

fn cond(type_: &str, status: &str, reason: &str) -> Value {
    json!({"type": type_, "status": status, "reason": reason, "message": format!("{type_} is {status}")})
}

#[test]
fn deployment_rollout() {
    let done = json!({
        "observedGeneration": 2, "replicas": 3, "updatedReplicas": 3, "readyReplicas": 3,
        "availableReplicas": 3,
        "conditions": [
            cond("Available", "True", "MinimumReplicasAvailable"),
            cond("Progressing", "True", "NewReplicaSetAvailable"),
        ],
    });
    assert_eq!(status_of(deployment(3, done.clone())), Status::Current);

    // Not yet observed: the controller has not seen generation 2.
    let mut stale = done.clone();
    stale["observedGeneration"] = json!(1);
    let health = compute(&deployment(3, stale));
    assert_eq!(health.status, Status::InProgress);
    assert!(
        health.message.contains("generation 2"),
        "{}",
        health.message
    );

    // Mid-rollout: one new pod of three, then all new but one not available.
    let mut mid = done.clone();
    mid["updatedReplicas"] = json!(1);
    mid["conditions"][1] = cond("Progressing", "True", "ReplicaSetUpdated");
    let health = compute(&deployment(3, mid));
    assert_eq!(
        (health.status, health.message.as_str()),
        (Status::InProgress, "Updated: 1/3")
    );
    let mut unavailable = done.clone();
    unavailable["availableReplicas"] = json!(2);
    assert_eq!(
        compute(&deployment(3, unavailable)).message,
        "Available: 2/3"
    );

    // Scaled down, old pods still terminating.
    let health = compute(&deployment(2, done.clone()));
    assert_eq!(health.message, "Pending termination: 1");

    // Complete counters but the controller has not said the new ReplicaSet is available.
    let mut no_progress = done.clone();
    no_progress["conditions"][1] = cond("Progressing", "True", "ReplicaSetUpdated");
    assert_eq!(status_of(deployment(3, no_progress)), Status::InProgress);

    // Past its progress deadline: failed, whatever the counters.
    let mut stuck = done;
    stuck["updatedReplicas"] = json!(1);
    stuck["conditions"][1] = cond("Progressing", "False", "ProgressDeadlineExceeded");
    let health = compute(&deployment(3, stuck));
    assert_eq!(health.status, Status::Failed);
    assert!(
        health.message.contains("ProgressDeadlineExceeded"),
        "{}",
        health.message
    );
}

#[test]
fn deployment_scaled_to_zero_and_fresh() {
    let zero = json!({
        "observedGeneration": 2,
        "conditions": [
            cond("Available", "True", "MinimumReplicasAvailable"),
            cond("Progressing", "True", "NewReplicaSetAvailable"),
        ],
    });
    assert_eq!(status_of(deployment(0, zero)), Status::Current);
    // Just created: no status at all.
    assert_eq!(status_of(deployment(0, json!({}))), Status::InProgress);
}

#[test]
fn stateful_set() {
    let sts = |strategy: Value, status: Value| {
        json!({
            "apiVersion": "apps/v1", "kind": "StatefulSet",
            "metadata": {"name": "db", "namespace": "apps", "generation": 1},
            "spec": {"replicas": 2, "updateStrategy": strategy},
            "status": status,
        })
    };
    let done = json!({
        "observedGeneration": 1, "replicas": 2, "readyReplicas": 2, "currentReplicas": 2,
        "updatedReplicas": 2, "currentRevision": "db-7c9", "updateRevision": "db-7c9",
    });
    let rolling = json!({"type": "RollingUpdate"});
    assert_eq!(
        status_of(sts(rolling.clone(), done.clone())),
        Status::Current
    );
    let mut updating = done.clone();
    updating["updateRevision"] = json!("db-5f1");
    let health = compute(&sts(rolling.clone(), updating));
    assert_eq!(health.status, Status::InProgress);
    assert!(health.message.contains("db-5f1"));
    let mut not_ready = done.clone();
    not_ready["readyReplicas"] = json!(1);
    assert_eq!(
        compute(&sts(rolling, not_ready.clone())).message,
        "Ready: 1/2"
    );
    // OnDelete: the user rolls pods by hand, so there is nothing to wait for.
    assert_eq!(
        status_of(sts(json!({"type": "OnDelete"}), not_ready)),
        Status::Current
    );
    // Partition 1: one updated pod of two is the whole rollout.
    let mut partitioned = done;
    partitioned["updatedReplicas"] = json!(1);
    partitioned["updateRevision"] = json!("db-5f1");
    let strategy = json!({"type": "RollingUpdate", "rollingUpdate": {"partition": 1}});
    assert_eq!(status_of(sts(strategy, partitioned)), Status::Current);
}

#[test]
fn daemon_set_needs_its_controller() {
    let ds = |status: Value| {
        json!({
            "apiVersion": "apps/v1", "kind": "DaemonSet",
            "metadata": {"name": "agent", "namespace": "kube-system", "generation": 3},
            "spec": {}, "status": status,
        })
    };
    // Unlike other kinds, no observedGeneration means "not seen yet".
    assert_eq!(status_of(ds(json!({}))), Status::InProgress);
    let done = json!({
        "observedGeneration": 3, "desiredNumberScheduled": 2, "currentNumberScheduled": 2,
        "updatedNumberScheduled": 2, "numberAvailable": 2, "numberReady": 2,
    });
    assert_eq!(status_of(ds(done.clone())), Status::Current);
    let mut rolling = done;
    rolling["updatedNumberScheduled"] = json!(1);
    assert_eq!(compute(&ds(rolling)).message, "Updated: 1/2");
}

#[test]
fn replica_set() {
    let rs = |status: Value| {
        json!({
            "apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {"name": "web-6d4", "namespace": "apps", "generation": 1},
            "spec": {"replicas": 2}, "status": status,
        })
    };
    let done = json!({"observedGeneration": 1, "replicas": 2, "fullyLabeledReplicas": 2,
        "readyReplicas": 2, "availableReplicas": 2});
    assert_eq!(status_of(rs(done.clone())), Status::Current);
    let mut quota = done;
    quota["conditions"] = json!([cond("ReplicaFailure", "True", "FailedCreate")]);
    assert_eq!(status_of(rs(quota)), Status::InProgress);
}

fn job(spec: Value, status: Value) -> Value {
    json!({
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": "migrate", "namespace": "apps", "generation": 1},
        "spec": spec, "status": status,
    })
}

#[test]
fn jobs_follow_flux_not_kstatus() {
    assert_eq!(
        compute(&job(json!({}), json!({}))).message,
        "Job not started"
    );
    // Running: kstatus would call this current; Flux (and we) wait for completion.
    let running = json!({"startTime": "2026-01-01T00:00:00Z", "active": 1});
    assert_eq!(status_of(job(json!({}), running)), Status::InProgress);
    let complete = json!({"startTime": "2026-01-01T00:00:00Z", "succeeded": 1,
        "completionTime": "2026-01-01T00:00:09Z",
        "conditions": [cond("SuccessCriteriaMet", "True", "CompletionsReached"),
                       cond("Complete", "True", "CompletionsReached")]});
    assert_eq!(status_of(job(json!({}), complete)), Status::Current);
    let failed = json!({"startTime": "2026-01-01T00:00:00Z", "failed": 1,
        "conditions": [cond("FailureTarget", "True", "DeadlineExceeded"),
                       cond("Failed", "True", "DeadlineExceeded")]});
    let health = compute(&job(json!({}), failed));
    assert_eq!(health.status, Status::Failed);
    assert!(health.message.contains("DeadlineExceeded"));
    assert_eq!(
        status_of(job(json!({"suspend": true}), json!({}))),
        Status::Current
    );
}

#[test]
fn pods_by_phase() {
    let pod = |status: Value| {
        json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "p", "namespace": "apps"}, "spec": {}, "status": status})
    };
    assert_eq!(status_of(pod(json!({}))), Status::InProgress);
    assert_eq!(
        status_of(pod(json!({"phase": "Pending"}))),
        Status::InProgress
    );
    assert_eq!(
        status_of(pod(json!({"phase": "Succeeded"}))),
        Status::Current
    );
    assert_eq!(status_of(pod(json!({"phase": "Failed"}))), Status::Failed);
    let ready = json!({"phase": "Running", "conditions": [cond("Ready", "True", "")]});
    assert_eq!(status_of(pod(ready)), Status::Current);
    let crashing = json!({"phase": "Running",
    "conditions": [cond("Ready", "False", "ContainersNotReady")],
    "containerStatuses": [
        {"name": "sidecar", "ready": true, "state": {"running": {}}},
        {"name": "app", "ready": false, "restartCount": 5,
         "state": {"waiting": {"reason": "CrashLoopBackOff"}}},
    ]});
    let health = compute(&pod(crashing));
    assert_eq!(health.status, Status::Failed);
    assert_eq!(health.message, "containers in CrashLoopBackOff: app");
}

#[test]
fn pvc_service_namespace() {
    let pvc = |phase: &str| {
        json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
            "metadata": {"name": "data", "namespace": "apps"}, "status": {"phase": phase}})
    };
    assert_eq!(status_of(pvc("Bound")), Status::Current);
    assert_eq!(status_of(pvc("Pending")), Status::InProgress);

    let lb = |cluster_ip: &str| {
        json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
            "spec": {"type": "LoadBalancer", "clusterIP": cluster_ip},
            "status": {"loadBalancer": {}}})
    };
    assert_eq!(status_of(lb("")), Status::InProgress);
    assert_eq!(status_of(lb("10.0.0.7")), Status::Current);

    let ns = |phase: &str| {
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "apps"},
            "status": {"phase": phase}})
    };
    assert_eq!(status_of(ns("Active")), Status::Current);
    assert_eq!(status_of(ns("Terminating")), Status::Terminating);
}

#[test]
fn crds_until_established() {
    let crd = |conditions: Value| {
        json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": "widgets.example.com", "generation": 1},
            "status": {"conditions": conditions}})
    };
    assert_eq!(status_of(crd(json!([]))), Status::InProgress);
    let installing = json!([
        cond("NamesAccepted", "True", "NoConflicts"),
        cond("Established", "False", "Installing")
    ]);
    assert_eq!(status_of(crd(installing)), Status::InProgress);
    let established = json!([
        cond("NamesAccepted", "True", "NoConflicts"),
        cond("Established", "True", "InitialNamesAccepted")
    ]);
    assert_eq!(status_of(crd(established)), Status::Current);
    let conflict = json!([
        cond("NamesAccepted", "False", "ListKindConflict"),
        cond("Established", "False", "NotAccepted")
    ]);
    assert_eq!(status_of(crd(conflict)), Status::Failed);
}

#[test]
fn generic_conditions() {
    let widget = |status: Value| {
        json!({"apiVersion": "example.com/v1", "kind": "Widget",
            "metadata": {"name": "w", "namespace": "apps", "generation": 4}, "status": status})
    };
    // No status at all: assumed healthy.
    assert_eq!(status_of(widget(Value::Null)), Status::Current);
    assert_eq!(
        status_of(widget(json!({"conditions": []}))),
        Status::Current
    );
    let ready =
        |s: &str| json!({"observedGeneration": 4, "conditions": [cond("Ready", s, "Test")]});
    assert_eq!(status_of(widget(ready("True"))), Status::Current);
    // Ready=False is in progress, never failed: controllers retry.
    assert_eq!(status_of(widget(ready("False"))), Status::InProgress);
    assert_eq!(status_of(widget(ready("Unknown"))), Status::InProgress);
    // Stalled wins over Ready.
    let stalled = json!({"conditions": [cond("Ready", "True", "Old"),
        cond("Stalled", "True", "InvalidSpec")]});
    let health = compute(&widget(stalled));
    assert_eq!(health.status, Status::Failed);
    assert_eq!(health.message, "stalled: InvalidSpec: Stalled is True");
    let reconciling = json!({"conditions": [cond("Ready", "True", "Old"),
        cond("Reconciling", "True", "Progressing")]});
    assert_eq!(status_of(widget(reconciling)), Status::InProgress);
    // Ready, but for an older generation.
    let mut old = ready("True");
    old["observedGeneration"] = json!(3);
    assert_eq!(status_of(widget(old)), Status::InProgress);
}

#[test]
fn deletion_first_and_plain_kinds() {
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "c", "deletionTimestamp": "2026-01-01T00:00:00Z"}});
    assert_eq!(status_of(cm), Status::Terminating);
    let secret = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"},
        "data": {"k": "dmFsdWU="}});
    assert_eq!(status_of(secret), Status::Current);
}

#[test]
fn external_secrets_by_their_ready_condition() {
    let es = |status: Value| {
        json!({"apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret",
            "metadata": {"name": "e", "generation": 2}, "status": status})
    };
    assert_eq!(status_of(es(json!({}))), Status::InProgress);
    let synced = json!({"syncedResourceVersion": "2-abc",
        "conditions": [cond("Ready", "True", "SecretSynced")]});
    assert_eq!(status_of(es(synced)), Status::Current);
    let stale = json!({"syncedResourceVersion": "1-abc",
        "conditions": [cond("Ready", "True", "SecretSynced")]});
    assert_eq!(status_of(es(stale)), Status::InProgress);
    let failed = json!({"conditions": [cond("Ready", "False", "SecretSyncedError")]});
    assert_eq!(status_of(es(failed)), Status::Failed);
}

#[test]
fn sealed_secrets_until_unsealed() {
    let sealed = |status: Value| {
        json!({"apiVersion": "bitnami.com/v1alpha1", "kind": "SealedSecret",
            "metadata": {"name": "s", "generation": 1}, "status": status})
    };
    assert_eq!(status_of(sealed(json!({}))), Status::InProgress);
    let synced = json!({"observedGeneration": 1, "conditions": [cond("Synced", "True", "")]});
    assert_eq!(status_of(sealed(synced)), Status::Current);
    let failed = json!({"observedGeneration": 1,
        "conditions": [cond("Synced", "False", "ErrUnsealFailed")]});
    assert_eq!(status_of(sealed(failed)), Status::Failed);
    let stale = json!({"observedGeneration": 0, "conditions": [cond("Synced", "True", "")]});
    assert_eq!(status_of(sealed(stale)), Status::InProgress);
}

mod exprs {
    //! `healthCheckExprs`, as Flux's RFC 0009 orders them, on a custom resource the
    //! built-in rules call current at once (it has no conditions).

    use lockstep_api::HealthCheckExpr;
    use serde_json::{Value, json};

    use crate::health::{RuleError, Rules, Status};

    fn rule(api_version: &str, kind: Option<&str>, current: &str) -> HealthCheckExpr {
        HealthCheckExpr {
            api_version: api_version.into(),
            kind: kind.map(Into::into),
            current: current.into(),
            ..HealthCheckExpr::default()
        }
    }

    fn database(status: Value) -> Value {
        json!({
            "apiVersion": "db.example.com/v1", "kind": "Database",
            "metadata": {"name": "orders", "namespace": "apps", "generation": 3},
            "spec": {"replicas": 3},
            "status": status,
        })
    }

    fn compile(entries: &[HealthCheckExpr]) -> Rules {
        Rules::compile(entries).unwrap()
    }

    #[test]
    fn the_first_true_expression_decides() {
        let rules = compile(&[HealthCheckExpr {
            in_progress: Some("status.phase == 'Provisioning'".into()),
            failed: Some("status.phase == 'Failed' || status.phase == 'Provisioning'".into()),
            ..rule(
                "db.example.com/v1",
                Some("Database"),
                "status.phase == 'Ready'",
            )
        }]);
        let health = |phase: &str| rules.health(&database(json!({"phase": phase})));
        assert_eq!(health("Provisioning").status, Status::InProgress);
        assert_eq!(health("Provisioning").message, "inProgress is true");
        assert_eq!(health("Failed").status, Status::Failed);
        assert_eq!(health("Ready").status, Status::Current);
        // None true: still in progress (the built-in rules would call it current).
        assert_eq!(health("Pending").status, Status::InProgress);
        assert_eq!(health("Pending").message, "no expression is true yet");
        assert_eq!(
            crate::health::compute(&database(json!({"phase": "Pending"}))).status,
            Status::Current
        );
    }

    #[test]
    fn an_unobserved_spec_or_a_deletion_wins_over_the_expressions() {
        let rules = compile(&[rule("db.example.com/v1", Some("Database"), "true")]);
        let behind = database(json!({"observedGeneration": 2}));
        assert_eq!(rules.health(&behind).status, Status::InProgress);
        let seen = database(json!({"observedGeneration": 3}));
        assert_eq!(rules.health(&seen).status, Status::Current);
        let mut deleted = seen;
        deleted["metadata"]["deletionTimestamp"] = json!("2026-12-06T18:00:00Z");
        assert_eq!(rules.health(&deleted).status, Status::Terminating);
    }

    /// Flux's cheat-sheet shapes: macros over conditions, integers as `int`, the strings
    /// extension, `has`.
    #[test]
    fn expressions_as_people_write_them() {
        let rules = compile(&[rule(
            "db.example.com/v1",
            Some("Database"),
            "status.conditions.filter(e, e.type == 'Synced').all(e, e.status == 'True') \
             && status.readyReplicas == spec.replicas && status.readyReplicas - 1 == 2 \
             && metadata.name.lowerAscii().startsWith('ord') && has(status.endpoint)",
        )]);
        let ready = json!({"readyReplicas": 3, "endpoint": "db:5432",
                           "conditions": [{"type": "Synced", "status": "True"}]});
        assert_eq!(
            rules.health(&database(ready.clone())).status,
            Status::Current
        );
        let mut syncing = ready;
        syncing["conditions"][0]["status"] = json!("False");
        assert_eq!(rules.health(&database(syncing)).status, Status::InProgress);
    }

    #[test]
    fn a_kind_is_matched_before_its_group_and_others_keep_the_built_in_rules() {
        let rules = compile(&[
            rule("db.example.com/v1", None, "false"),
            rule("db.example.com/v1beta1", Some("Database"), "true"),
        ]);
        assert_eq!(rules.health(&database(json!({}))).status, Status::Current);
        let mut backup = database(json!({}));
        backup["kind"] = json!("Backup");
        assert_eq!(rules.health(&backup).status, Status::InProgress);
        let failed_job = json!({"apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": "j"}, "spec": {},
            "status": {"conditions": [{"type": "Failed", "status": "True"}]}});
        assert_eq!(rules.health(&failed_job).status, Status::Failed);
    }

    /// An expression that cannot be evaluated yet (no status) keeps it in progress and
    /// says why; what it says never holds a value of the object.
    #[test]
    fn evaluation_errors_are_in_progress_and_name_no_value() {
        let rules = compile(&[
            rule(
                "db.example.com/v1",
                Some("Database"),
                "status.phase == 'Ready'",
            ),
            rule("v1", Some("Secret"), "data.password + 1 == 2"),
        ]);
        let mut fresh = database(json!({}));
        fresh.as_object_mut().unwrap().remove("status");
        let health = rules.health(&fresh);
        assert_eq!(health.status, Status::InProgress);
        assert!(health.message.contains("status"), "{}", health.message);
        let secret = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"},
                            "data": {"password": "aHVudGVyMi1jYW5hcnk="}});
        let health = rules.health(&secret);
        assert_eq!(health.status, Status::InProgress);
        assert!(
            health.message.starts_with("current: cannot evaluate"),
            "{}",
            health.message
        );
        assert!(!health.message.contains("aHVudGVy"), "{}", health.message);
    }

    #[test]
    fn bad_entries_are_named() {
        let err = |entries: &[HealthCheckExpr]| Rules::compile(entries).unwrap_err().to_string();
        let empty = rule("v1", Some("ConfigMap"), " ");
        assert_eq!(err(&[empty]), "spec.healthCheckExprs[0].current: empty");
        let unparsed = HealthCheckExpr {
            failed: Some("status.(".into()),
            ..rule("v1", Some("ConfigMap"), "true")
        };
        let message = err(&[rule("v1", Some("Pod"), "true"), unparsed]);
        assert!(
            message.starts_with("spec.healthCheckExprs[1].failed: does not parse"),
            "{message}"
        );
        let twice = [
            rule("db.example.com/v1", None, "true"),
            rule("db.example.com/v2", None, "true"),
        ];
        assert!(matches!(
            Rules::compile(&twice),
            Err(RuleError::Duplicate { index: 1, .. })
        ));
        assert_eq!(
            err(&twice),
            "spec.healthCheckExprs[1]: a second entry for *.db.example.com; keep one per kind"
        );
    }
}
