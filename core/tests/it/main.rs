//! Integration tests of the public API (one binary, modules by area).

mod calls;
mod driver;
mod graph_props;
mod hardening;
mod resume;
mod rules;
mod scenarios;
mod scenarios_tokio;
mod scheduler_props;
mod sizes;
