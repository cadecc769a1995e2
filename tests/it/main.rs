mod report;
mod mobilepay;
