//! A day's digests: [`plan`] which papers each subscriber gets, [`render`]
//! the HTML and text parts, [`run`] reserve, send and record them.

pub mod owner;
pub mod plan;
pub mod render;
pub mod run;
