//! Field paths into an object's JSON, from a JSON pointer (`/spec/replicas`) or from a
//! managed-fields entry (`fieldsV1`), and the three things done with them: read, write,
//! remove. A path is resolved against each document on its own, so a list item named by
//! its keys (`k:{"name":"app"}`) is found wherever it sits in that document's list.

use serde_json::{Map, Value};

/// One step down into a JSON value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Step {
    /// A field of an object, or (a number) an index into a list.
    Field(String),
    /// The list item whose fields have these values (`k:` in `fieldsV1`).
    Keys(Map<String, Value>),
    /// The list item equal to this value (`v:` in `fieldsV1`, a set of scalars).
    Item(Value),
}

/// A path from the object's root.
pub(super) type Path = Vec<Step>;

/// The path of a JSON pointer (RFC 6901, `~1` is `/`, `~0` is `~`); `None` when it does not
/// start at the root.
pub(super) fn pointer(pointer: &str) -> Option<Path> {
    let rest = pointer.strip_prefix('/')?;
    Some(
        rest.split('/')
            .map(|token| Step::Field(token.replace("~1", "/").replace("~0", "~")))
            .collect(),
    )
}

/// The paths of every leaf of a managed-fields entry's `fieldsV1`: the fields its manager
/// set. A list item's key fields are left out: they name the item, and an apply that left
/// them out could not name it.
pub(super) fn leaves(fields: &Value) -> Vec<Path> {
    let mut out = Vec::new();
    walk(fields, &mut Vec::new(), None, &mut out);
    out
}

fn walk(node: &Value, at: &mut Path, keys: Option<&Map<String, Value>>, out: &mut Vec<Path>) {
    let Some(children) = node.as_object() else {
        return;
    };
    let mut leaf = true;
    for (name, child) in children {
        let step = if let Some(field) = name.strip_prefix("f:") {
            if keys.is_some_and(|keys| keys.contains_key(field)) {
                continue;
            }
            Step::Field(field.to_owned())
        } else if let Some(json) = name.strip_prefix("k:") {
            match serde_json::from_str(json) {
                Ok(Value::Object(map)) => Step::Keys(map),
                _ => continue,
            }
        } else if let Some(json) = name.strip_prefix("v:") {
            match serde_json::from_str(json) {
                Ok(value) => Step::Item(value),
                Err(_) => continue,
            }
        } else if let Some(index) = name.strip_prefix("i:") {
            Step::Field(index.to_owned())
        } else {
            // `.`: the node itself, which its other entries already cover.
            continue;
        };
        leaf = false;
        let item_keys = match &step {
            Step::Keys(map) => Some(map.clone()),
            _ => None,
        };
        at.push(step);
        walk(child, at, item_keys.as_ref(), out);
        at.pop();
    }
    if leaf && !at.is_empty() {
        out.push(at.clone());
    }
}

/// The value at `path`, if there is one.
pub(super) fn get<'a>(doc: &'a Value, path: &[Step]) -> Option<&'a Value> {
    path.iter().try_fold(doc, |node, step| child(node, step))
}

/// Sets the value at `path`; nothing when its parent is not there.
pub(super) fn set(doc: &mut Value, path: &[Step], value: Value) {
    let Some((last, parent)) = path.split_last() else {
        return;
    };
    let Some(parent) = get_mut(doc, parent) else {
        return;
    };
    match (parent, last) {
        (Value::Object(map), Step::Field(name)) => {
            map.insert(name.clone(), value);
        }
        (Value::Array(items), step) => {
            if let Some(index) = position(items, step) {
                items[index] = value;
            }
        }
        _ => {}
    }
}

/// Removes the value at `path`; nothing when it is not there.
pub(super) fn remove(doc: &mut Value, path: &[Step]) {
    let Some((last, parent)) = path.split_last() else {
        return;
    };
    match (get_mut(doc, parent), last) {
        (Some(Value::Object(map)), Step::Field(name)) => {
            map.remove(name);
        }
        (Some(Value::Array(items)), step) => {
            if let Some(index) = position(items, step) {
                items.remove(index);
            }
        }
        _ => {}
    }
}

fn get_mut<'a>(doc: &'a mut Value, path: &[Step]) -> Option<&'a mut Value> {
    let mut node = doc;
    for step in path {
        node = match node {
            Value::Object(map) => match step {
                Step::Field(name) => map.get_mut(name)?,
                _ => return None,
            },
            Value::Array(items) => {
                let index = position(items, step)?;
                &mut items[index]
            }
            _ => return None,
        };
    }
    Some(node)
}

fn child<'a>(node: &'a Value, step: &Step) -> Option<&'a Value> {
    match node {
        Value::Object(map) => match step {
            Step::Field(name) => map.get(name),
            _ => None,
        },
        Value::Array(items) => items.get(position(items, step)?),
        _ => None,
    }
}

/// Where in `items` the step leads.
fn position(items: &[Value], step: &Step) -> Option<usize> {
    match step {
        Step::Field(index) => index.parse().ok().filter(|i| *i < items.len()),
        Step::Keys(keys) => items
            .iter()
            .position(|item| keys.iter().all(|(key, value)| item.get(key) == Some(value))),
        Step::Item(value) => items.iter().position(|item| item == value),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn pointers_unescape_and_index_lists() {
        let mut doc = json!({"metadata": {"annotations": {"a/b": "1", "c~d": "2"}},
                             "spec": {"ports": [{"port": 80}, {"port": 443}]}});
        let path = pointer("/metadata/annotations/a~1b").unwrap();
        assert_eq!(get(&doc, &path), Some(&json!("1")));
        let path = pointer("/metadata/annotations/c~0d").unwrap();
        assert_eq!(get(&doc, &path), Some(&json!("2")));
        let port = pointer("/spec/ports/1/port").unwrap();
        set(&mut doc, &port, json!(8443));
        assert_eq!(doc["spec"]["ports"][1]["port"], 8443);
        remove(&mut doc, &pointer("/spec/ports/0").unwrap());
        assert_eq!(doc["spec"]["ports"], json!([{"port": 8443}]));
        assert!(pointer("spec").is_none());
        // A missing parent: nothing set, nothing removed, no panic.
        set(
            &mut doc,
            &pointer("/spec/template/replicas").unwrap(),
            json!(2),
        );
        remove(&mut doc, &pointer("/spec/ports/7").unwrap());
        assert!(doc["spec"].get("template").is_none());
    }

    #[test]
    fn managed_field_leaves_find_list_items_by_key_and_keep_the_keys() {
        let fields = json!({
            "f:spec": {
                "f:replicas": {},
                "f:template": {"f:spec": {"f:containers": {
                    "k:{\"name\":\"app\"}": {".": {}, "f:name": {}, "f:image": {}},
                }}},
                "f:finalizers": {"v:\"keep\"": {}},
            },
        });
        let mut leaves = leaves(&fields);
        leaves.sort_by_key(|p| format!("{p:?}"));
        let containers = |last: Step| {
            let keys = json!({"name": "app"}).as_object().unwrap().clone();
            ["spec", "template", "spec", "containers"]
                .map(|f| Step::Field(f.into()))
                .into_iter()
                .chain([Step::Keys(keys), last])
                .collect::<Path>()
        };
        assert_eq!(
            leaves,
            [
                vec![
                    Step::Field("spec".into()),
                    Step::Field("finalizers".into()),
                    Step::Item(json!("keep")),
                ],
                vec![Step::Field("spec".into()), Step::Field("replicas".into())],
                containers(Step::Field("image".into())),
            ]
        );
        let mut doc = json!({"spec": {"replicas": 3, "template": {"spec": {"containers": [
            {"name": "sidecar", "image": "s:1"}, {"name": "app", "image": "a:1"},
        ]}}}});
        let image = containers(Step::Field("image".into()));
        assert_eq!(get(&doc, &image), Some(&json!("a:1")));
        remove(&mut doc, &image);
        assert_eq!(
            doc["spec"]["template"]["spec"]["containers"][1],
            json!({"name": "app"})
        );
    }
}
