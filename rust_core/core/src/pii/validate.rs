//! The checks that tell PII from lookalikes: check digits, real dates, public addresses.

use std::net::{Ipv4Addr, Ipv6Addr};

/// Luhn (mod 10) check of a digit string, as payment cards use it.
///
/// ```
/// use assay_core::pii::validate::luhn_valid;
/// assert!(luhn_valid(b"4111111111111111") && !luhn_valid(b"4111111111111112"));
/// ```
pub fn luhn_valid(digits: &[u8]) -> bool {
    let mut sum = 0u32;
    for (i, &d) in digits.iter().rev().enumerate() {
        let mut v = u32::from(d - b'0');
        if i % 2 == 1 {
            v *= 2;
            if v > 9 {
                v -= 9;
            }
        }
        sum += v;
    }
    !digits.is_empty() && sum % 10 == 0
}

/// ISO 7064 MOD 11-2 check character of the first 17 digits of a resident ID (`0`-`9` or `X`).
pub fn cn_id_check_char(first17: &[u8]) -> u8 {
    const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    let sum: u32 = first17.iter().zip(WEIGHTS).map(|(&d, w)| u32::from(d - b'0') * w).sum();
    b"10X98765432"[(sum % 11) as usize]
}

/// The province codes that open a resident ID (the first two digits of its region code).
const PROVINCES: [u8; 34] = [
    11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37, 41, 42, 43, 44, 45, 46, 50, 51, 52, 53, 54, 61, 62, 63,
    64, 65, 71, 81, 82,
];

fn is_leap(year: u32) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

/// Whether year/month/day is a real calendar date.
pub fn valid_date(year: u32, month: u32, day: u32) -> bool {
    let days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(year) => 29,
        2 => 28,
        _ => return false,
    };
    (1..=days).contains(&day)
}

fn number(digits: &[u8]) -> u32 {
    digits.iter().fold(0, |n, &d| n * 10 + u32::from(d - b'0'))
}

/// A mainland resident identity number: 18 characters (17 digits and a MOD 11-2 check
/// character) or the older 15 digits, with a known province code and a real birth date.
///
/// ```
/// use assay_core::pii::validate::cn_id_valid;
/// assert!(cn_id_valid(b"11010519491231002X"));
/// assert!(!cn_id_valid(b"110105194912310021")); // wrong check character
/// assert!(!cn_id_valid(b"110105194902300025")); // February 30th
/// ```
pub fn cn_id_valid(id: &[u8]) -> bool {
    let (digits, birth) = match id.len() {
        18 => (&id[..17], (number(&id[6..10]), &id[10..14])),
        15 => (id, (1900 + number(&id[6..8]), &id[8..12])),
        _ => return false,
    };
    if !digits.iter().all(u8::is_ascii_digit) || !PROVINCES.contains(&(number(&id[..2]) as u8)) {
        return false;
    }
    let (year, month_day) = birth;
    if !valid_date(year, number(&month_day[..2]), number(&month_day[2..])) {
        return false;
    }
    id.len() == 15 || cn_id_check_char(digits) == id[17].to_ascii_uppercase()
}

fn in_v4(ip: u32, network: [u8; 4], prefix: u32) -> bool {
    let net = u32::from_be_bytes(network);
    let mask = if prefix == 0 { 0 } else { u32::MAX << (32 - prefix) };
    ip & mask == net & mask
}

/// Whether an IPv4 address is global (public), as Python's ``ipaddress`` decides it
/// (``is_global``: not in the special-purpose ranges, not shared address space).
pub fn ipv4_is_global(ip: Ipv4Addr) -> bool {
    const NOT_GLOBAL: [([u8; 4], u32); 15] = [
        ([0, 0, 0, 0], 8),
        ([10, 0, 0, 0], 8),
        ([100, 64, 0, 0], 10),
        ([127, 0, 0, 0], 8),
        ([169, 254, 0, 0], 16),
        ([172, 16, 0, 0], 12),
        ([192, 0, 0, 0], 29),
        ([192, 0, 0, 170], 31),
        ([192, 0, 2, 0], 24),
        ([192, 168, 0, 0], 16),
        ([198, 18, 0, 0], 15),
        ([198, 51, 100, 0], 24),
        ([203, 0, 113, 0], 24),
        ([240, 0, 0, 0], 4),
        ([255, 255, 255, 255], 32),
    ];
    let value = u32::from(ip);
    !NOT_GLOBAL.iter().any(|&(net, prefix)| in_v4(value, net, prefix))
}

/// Whether an IPv6 address is global (public), as Python's ``ipaddress`` decides it.
pub fn ipv6_is_global(ip: Ipv6Addr) -> bool {
    const NOT_GLOBAL: [([u16; 8], u32); 11] = [
        ([0, 0, 0, 0, 0, 0, 0, 1], 128),
        ([0, 0, 0, 0, 0, 0, 0, 0], 128),
        ([0, 0, 0, 0, 0, 0xffff, 0, 0], 96),
        ([0x100, 0, 0, 0, 0, 0, 0, 0], 64),
        ([0x2001, 0, 0, 0, 0, 0, 0, 0], 23),
        ([0x2001, 0xdb8, 0, 0, 0, 0, 0, 0], 32),
        ([0x2001, 0x10, 0, 0, 0, 0, 0, 0], 28),
        ([0xfc00, 0, 0, 0, 0, 0, 0, 0], 7),
        ([0xfe80, 0, 0, 0, 0, 0, 0, 0], 10),
        ([0xfec0, 0, 0, 0, 0, 0, 0, 0], 10),
        ([0xff00, 0, 0, 0, 0, 0, 0, 0], 8),
    ];
    let value = u128::from(ip);
    !NOT_GLOBAL.iter().any(|&(net, prefix)| {
        let net = u128::from(Ipv6Addr::new(net[0], net[1], net[2], net[3], net[4], net[5], net[6], net[7]));
        let mask = if prefix == 0 { 0 } else { u128::MAX << (128 - prefix) };
        value & mask == net & mask
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resident_ids() {
        // GB 11643-1999's example, and the same with each other check character
        assert!(cn_id_valid(b"11010519491231002X") && cn_id_valid(b"11010519491231002x"));
        for c in b"0123456789".iter() {
            let mut id = *b"11010519491231002X";
            id[17] = *c;
            assert!(!cn_id_valid(&id));
        }
        assert!(cn_id_valid(b"110105491231002"));
        assert!(!cn_id_valid(b"990105194912310020")); // no province 99
        assert!(valid_date(2000, 2, 29) && !valid_date(1900, 2, 29) && !valid_date(2023, 13, 1));
    }

    #[test]
    fn public_addresses() {
        assert!(ipv4_is_global("8.8.8.8".parse().unwrap()));
        for private in ["10.1.2.3", "192.168.0.1", "127.0.0.1", "172.20.1.1", "100.64.0.1", "169.254.1.1", "0.1.2.3"] {
            assert!(!ipv4_is_global(private.parse().unwrap()), "{private}");
        }
        assert!(ipv6_is_global("2606:4700:4700::1111".parse().unwrap()));
        assert!(!ipv6_is_global("fe80::1".parse().unwrap()) && !ipv6_is_global("::1".parse().unwrap()));
    }
}
