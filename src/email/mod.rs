//! Every mail paperboy sends, rendered from view models.

pub mod digest;
