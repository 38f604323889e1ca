//! paperboy: daily email digests of new research papers, per subscriber topic.
//!
//! Data flows one way: **sources → store → matching → digest → mail**,
//! driven by the scheduler (`paperboy serve`) or the CLI (one-shot commands).
//!
//! - [`domain`]: parsed types shared by every layer (papers, ids, addresses).
//! - [`matching`]: the topic filter language, the day's index and highlighting.
pub mod domain;
pub mod matching;
