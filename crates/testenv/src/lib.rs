//! Starts the real servers.
