//! End-to-end tests across crates, built as one test binary so that they can share one
//! control plane. Each module is one area; servers come from `lockstep-testenv`.
