//! End-to-end tests across crates, built as one test binary so they share one control
//! plane. Each module is one area; servers come from `lockstep-testenv`, and the binaries
//! under test (`lockstep`, `lockstep-controller`) are the ones cargo built for this run.

use built::{built_binary, controller_binary};

// The controller harness is shared with the controller's own tests (it allows the items
// each binary leaves unused).
#[path = "../controller/tests/support/mod.rs"]
mod support;

mod built;
mod sealed;
mod secrets;
mod ui;
mod verbs;
