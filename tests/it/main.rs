mod report;
mod ppaas;
