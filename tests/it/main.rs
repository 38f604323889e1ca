//! paperboy's one integration-test binary: every module here drives the real app (or, for
//! `harness_selftest`, the test servers themselves) over real sockets on loopback.

// The support toolkit is shared by test modules added over time; not every helper has a caller
// in every build, and that is not a defect.
#[allow(dead_code, unused_imports)]
mod support;

mod harness_selftest;

mod attacks;
mod bad_input;
mod bounce_corpus;
mod browser;
mod catchup;
mod cli;
mod crash;
mod daemons;
mod data_care;
mod db_copy;
mod digest;
mod env;
mod feed_reference;
mod feeds;
mod fetch;
mod fuzz;
mod late_bounces;
mod limits;
mod load;
mod notify;
mod ops;
mod papers;
mod pipelining;
mod postfix;
mod proxy;
mod ranking;
mod schedule;
mod serve;
mod smtp_faults;
mod source_faults;
mod trending;
mod web;
mod webhooks;
