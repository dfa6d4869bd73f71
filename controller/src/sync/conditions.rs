//! Status conditions shaped like `metav1.Condition`: set one, keeping its transition time
//! while its status stays the same, so `kubectl wait` and kstatus read them as usual.

use lockstep_api::Condition;

/// `Ready`: the last revision is applied (and healthy, when health is checked).
pub const READY: &str = "Ready";
/// `Healthy`: the objects named by `wait`/`healthChecks` are current.
pub const HEALTHY: &str = "Healthy";
/// `Stalled`: the spec cannot work as written; nothing happens until it changes.
pub const STALLED: &str = "Stalled";
/// `Reconciling`: waiting on something that resolves by itself (a dependency, a source).
pub const RECONCILING: &str = "Reconciling";

/// Sets condition `type_`, replacing any previous one of that type.
pub fn set(
    conditions: &mut Vec<Condition>,
    type_: &str,
    status: bool,
    reason: &str,
    message: String,
    generation: Option<i64>,
) {
    let status = if status { "True" } else { "False" };
    let previous = conditions.iter().position(|c| c.type_ == type_);
    let last_transition_time = match previous.map(|i| &conditions[i]) {
        Some(c) if c.status == status => c.last_transition_time.clone(),
        _ => jiff::Timestamp::now()
            .round(jiff::Unit::Second)
            .map_or_else(|_| jiff::Timestamp::now().to_string(), |t| t.to_string()),
    };
    let condition = Condition {
        type_: type_.to_owned(),
        status: status.to_owned(),
        reason: reason.to_owned(),
        message,
        last_transition_time,
        observed_generation: generation,
    };
    match previous {
        Some(i) => conditions[i] = condition,
        None => conditions.push(condition),
    }
    conditions.sort_by_key(|c| order(&c.type_));
}

/// Removes condition `type_`.
pub fn remove(conditions: &mut Vec<Condition>, type_: &str) {
    conditions.retain(|c| c.type_ != type_);
}

/// Condition `type_`, if set.
pub fn get<'a>(conditions: &'a [Condition], type_: &str) -> Option<&'a Condition> {
    conditions.iter().find(|c| c.type_ == type_)
}

/// Whether condition `type_` is `True`.
pub fn is_true(conditions: &[Condition], type_: &str) -> bool {
    get(conditions, type_).is_some_and(|c| c.status == "True")
}

fn order(type_: &str) -> usize {
    [READY, HEALTHY, RECONCILING, STALLED]
        .iter()
        .position(|t| *t == type_)
        .unwrap_or(usize::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transition_time_moves_only_when_status_changes() {
        let mut conditions = Vec::new();
        set(&mut conditions, READY, false, "A", "a".into(), Some(1));
        conditions[0].last_transition_time = "2020-01-01T00:00:00Z".into();
        set(&mut conditions, READY, false, "B", "b".into(), Some(2));
        assert_eq!(conditions[0].last_transition_time, "2020-01-01T00:00:00Z");
        assert_eq!(conditions[0].reason, "B");
        set(&mut conditions, READY, true, "C", "c".into(), Some(2));
        assert_ne!(conditions[0].last_transition_time, "2020-01-01T00:00:00Z");
        assert_eq!(conditions.len(), 1);
    }

    #[test]
    fn ready_comes_first() {
        let mut conditions = Vec::new();
        set(&mut conditions, STALLED, true, "S", String::new(), None);
        set(&mut conditions, READY, false, "R", String::new(), None);
        let types: Vec<&str> = conditions.iter().map(|c| c.type_.as_str()).collect();
        assert_eq!(types, [READY, STALLED]);
        assert!(!is_true(&conditions, READY));
        remove(&mut conditions, STALLED);
        assert_eq!(conditions.len(), 1);
    }
}
