//! A day's digests: [`plan`] which papers each subscriber gets, [`render`]
//! the HTML and text parts, [`run`] reserve, send and record them; [`due`]
//! who is due which digest at an instant.

pub mod due;
pub mod limits;
pub mod owner;
pub mod plan;
mod send;
pub mod top_papers;

pub mod run;
