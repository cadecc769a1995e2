//! Card numbers: the Luhn check and the masking of a primary account number.

use super::*;

/// Whether a digit string passes the Luhn check (the card number's check digit).
pub fn luhn_valid(digits: &[u8]) -> bool {
    let mut sum = 0u32;
    for (i, d) in digits.iter().rev().enumerate() {
        let mut v = u32::from(*d);
        if i % 2 == 1 {
            v *= 2;
            if v > 9 {
                v -= 9;
            }
        }
        sum += v;
    }
    sum % 10 == 0
}

pub(super) fn looks_like_card(digits: &[u8]) -> bool {
    (13..=19).contains(&digits.len()) && (2..=6).contains(&digits[0]) && luhn_valid(digits)
}

/// The shown form of a card number: first six (four for 13–15 digits) and last four digits.
pub fn mask_pan(digits: &[u8]) -> String {
    let head = if digits.len() >= 16 { 6 } else { 4 };
    let tail = 4;
    digits
        .iter()
        .enumerate()
        .map(|(i, d)| {
            if i < head || i >= digits.len() - tail {
                char::from(b'0' + d)
            } else {
                '*'
            }
        })
        .collect()
}

/// Masks every card number in a text (see the module comment for what counts as one).
/// Whether the text span touches a letter on either side.
pub(super) fn glued(text: &str, start: usize, end: usize) -> bool {
    let before = text[..start].chars().next_back();
    let after = text[end..].chars().next();
    before.is_some_and(|c| c.is_ascii_alphabetic())
        || after.is_some_and(|c| c.is_ascii_alphabetic())
}

pub fn mask_card_numbers(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for m in DIGIT_RUN.find_iter(text) {
        let run = m.as_str();
        // Groups of digits and where they sit in the text.
        let mut groups: Vec<(usize, usize, Vec<u8>)> = Vec::new();
        let mut i = 0;
        let bytes = run.as_bytes();
        while i < bytes.len() {
            if bytes[i].is_ascii_digit() {
                let start = i;
                while i < bytes.len() && bytes[i].is_ascii_digit() {
                    i += 1;
                }
                let digits = bytes[start..i].iter().map(|b| b - b'0').collect();
                groups.push((m.start() + start, m.start() + i, digits));
            } else if bytes[i..].starts_with(b"%20") {
                i += 3;
            } else {
                i += 1;
            }
        }
        // Longest span of whole groups first, so `4111 1111 1111 1111 2024` masks the card
        // and keeps the year.
        let mut g = 0;
        while g < groups.len() {
            let mut matched = None;
            for end in (g..groups.len()).rev() {
                let digits: Vec<u8> = groups[g..=end]
                    .iter()
                    .flat_map(|(_, _, d)| d.iter().copied())
                    .collect();
                // A card number stands alone: digits glued to letters are part of an id
                // (a UUID's `…-3975-1234-5678-1343ee1b…`), not a PAN.
                let alone = !glued(text, groups[g].0, groups[end].1);
                if alone && looks_like_card(&digits) {
                    matched = Some((end, digits));
                    break;
                }
            }
            match matched {
                Some((end, digits)) => {
                    out.push_str(&text[last..groups[g].0]);
                    out.push_str(&mask_pan(&digits));
                    last = groups[end].1;
                    g = end + 1;
                }
                None => g += 1,
            }
        }
    }
    out.push_str(&text[last..]);
    out
}
