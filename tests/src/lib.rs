//! End-to-end test support: locating and driving the real Scout binaries.
