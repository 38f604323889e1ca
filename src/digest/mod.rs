//! The digest: planning a day's run, rendering it, recording deliveries.
pub mod render;
