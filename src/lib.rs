//! paperboy: daily email digests of new research papers, per subscriber topic.
//!
//! Data flows one way: **sources → store → matching → digest → mail**,
//! driven by the scheduler (`paperboy serve`) or the CLI (one-shot commands).
//!
//! - [`domain`]: parsed types shared by every layer (papers, ids, addresses).
//! - [`sources`]: fetching and parsing upstream paper lists (Hugging Face, arXiv, feeds).
pub mod domain;
pub mod sources;
