//! The daemon's jobs and the clock that runs them.

pub mod catch_up;
pub mod fetch;
pub mod scheduler;
