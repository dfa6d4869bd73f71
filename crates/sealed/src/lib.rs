//! The SealedSecret wire format.
