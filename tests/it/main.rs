mod report;
mod smartpay;
