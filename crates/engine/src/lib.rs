//! The Git-to-cluster sync engine.
