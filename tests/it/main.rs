mod ppaas;
mod report;
