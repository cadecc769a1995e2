//! golive's integration tests: one binary (as ripgrep does), one module per area. Every test
//! drives real HTTP servers on loopback: the sandbox, the built-in reference shops, and
//! misbehaving targets made here.

mod accuracy;
mod cli;
mod editor;
mod examples;
mod fuzz;
mod hostile;
mod init;
mod installed;
mod kontocloud;
mod load;
mod mobilepay;
mod partition;
mod ppaas_example;
mod report;
mod smartpay;
mod standalone;
mod support;
mod validate;
