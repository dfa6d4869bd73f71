//! [`Preview`]: what `lockstep diff` and a manual-mode plan show of a [`Preflight`].

use kube::api::DynamicObject;
use serde_json::Value;

use lockstep_api::InventoryEntry;

use super::super::Action;
use super::super::drift;
use super::super::step::Step;
use super::{Item, Preflight};
use crate::ownership::Holder;

/// One object as the preflight sees it: what `lockstep diff` and a manual-mode plan show.
/// `live` and `merged` may hold Secret values and plaintext: show them only through
/// [`crate::redact`]; `Debug` leaves them out.
pub struct Preview {
    /// The object.
    pub object: InventoryEntry,
    /// What the apply will do. For an object checked only later (`checked` false):
    /// `Created` if it does not exist, else `Configured`.
    pub action: Action,
    /// Whether the action is decided by a dry-run (false: checked just before its write).
    pub checked: bool,
    /// The live object, `Null` if there is none.
    pub live: Value,
    /// The object as the apply leaves it: the dry-run result, or the desired object when
    /// it could not be dry-run (checked later, or recreated on an immutable change).
    pub merged: Value,
    /// The owner it is taken from, when take-over was asked for.
    pub taken_from: Option<Holder>,
    /// For an object the apply changes (`Configured`): the field paths where the live
    /// object differs from what the apply leaves (`spec.replicas`, `data.password`), never
    /// their values. Empty otherwise.
    pub drift: Vec<String>,
}

impl std::fmt::Debug for Preview {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Preview")
            .field("object", &self.object)
            .field("action", &self.action)
            .field("checked", &self.checked)
            .field("taken_from", &self.taken_from)
            .field("drift", &self.drift)
            .finish_non_exhaustive()
    }
}

impl Preflight<'_> {
    /// Every object with what the apply will do to it, in apply order.
    pub fn previews(&self) -> Vec<Preview> {
        let value = |o: Option<&DynamicObject>| {
            o.and_then(|o| serde_json::to_value(o).ok())
                .unwrap_or(Value::Null)
        };
        self.stages
            .values()
            .flatten()
            .map(|item| match item {
                Item::Planned(p) => Preview {
                    object: p.target.entry(),
                    action: p.step.action(),
                    checked: true,
                    live: value(p.live.as_ref()),
                    merged: match (&p.merged, p.step) {
                        (Some(merged), step) if step != Step::Replace => value(Some(merged)),
                        _ => p.body.clone(),
                    },
                    taken_from: p.taken_from.clone(),
                    drift: match (&p.live, &p.merged, p.step) {
                        (Some(live), Some(merged), Step::Configure) => {
                            drift::differing(&p.target, live, merged, &self.options.ignore)
                        }
                        _ => Vec::new(),
                    },
                },
                Item::Deferred(d) => Preview {
                    object: item.entry(),
                    action: if d.live.is_some() {
                        Action::Configured
                    } else {
                        Action::Created
                    },
                    checked: false,
                    live: value(d.live.as_ref()),
                    merged: d.manifest.object.clone(),
                    taken_from: None,
                    drift: Vec::new(),
                },
            })
            .collect()
    }
}
