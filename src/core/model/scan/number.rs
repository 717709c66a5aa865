//! The number tokens of JSON text as the scanner ([`super::Scan`]) reads them: validated, and
//! measured as serde_json writes them back (exactly where it writes them as given).

use super::Scan;

/// The most bytes serde_json writes for one `f64` (ryu's shortest form, e.g.
/// `-2.2250738585072014e-308`).
const MAX_FLOAT_TEXT: usize = 24;

impl Scan<'_> {
    /// A number token; returns an upper bound of its length as serde_json writes it back, and
    /// whether serde_json writes it as given: integers that fit 64 bits, and decimals in ryu's
    /// own form ([`ryu_decimal`]) (the bound is then its length). Any other float is written by
    /// ryu in at most 24 bytes. A token whose magnitude could reach `f64::MAX` (serde_json
    /// refuses those) is left to serde_json.
    pub(super) fn number(&mut self) -> Option<(usize, bool)> {
        let bytes = self.bytes();
        let start = self.at;
        let negative = bytes.get(self.at) == Some(&b'-');
        if negative {
            self.at += 1;
        }
        let int_digits = self.digits();
        let first = bytes.get(self.at - int_digits).copied();
        if int_digits == 0 || (int_digits > 1 && first == Some(b'0')) {
            return None;
        }
        let mut fraction = None;
        if bytes.get(self.at) == Some(&b'.') {
            self.at += 1;
            let at = self.at;
            if self.digits() == 0 {
                return None;
            }
            fraction = bytes.get(at..self.at);
        }
        let mut exponent = None;
        if let Some(b'e' | b'E') = bytes.get(self.at) {
            self.at += 1;
            let minus = bytes.get(self.at) == Some(&b'-');
            if let Some(b'+' | b'-') = bytes.get(self.at) {
                self.at += 1;
            }
            let digits_at = self.at;
            if !(1..=3).contains(&self.digits()) {
                return None;
            }
            let e: i64 = self.text.get(digits_at..self.at)?.parse().ok()?;
            exponent = Some(if minus { -e } else { e });
        }
        // The value is below 10^(int_digits + exponent): finite while that is at most 10^308.
        if int_digits as i64 + exponent.unwrap_or(0) > 308 {
            return None;
        }
        let zero = first == Some(b'0');
        let exact = match (fraction, exponent) {
            // `-0` is read as the float -0.0; 19 digits always fit a u64, 18 an i64.
            (None, None) => {
                if negative {
                    int_digits <= 18 && !zero
                } else {
                    int_digits <= 19
                }
            }
            (Some(fraction), None) => ryu_decimal(int_digits, zero, fraction),
            _ => false,
        };
        Some((if exact { self.at - start } else { MAX_FLOAT_TEXT }, exact))
    }

    fn digits(&mut self) -> usize {
        let start = self.at;
        while self.bytes().get(self.at).is_some_and(u8::is_ascii_digit) {
            self.at += 1;
        }
        self.at - start
    }
}

/// Whether serde_json writes the float token `<int>.<fraction>` (no exponent; `int_digits`
/// digits, `zero`: the integer part is `0`) back as it is. serde_json writes floats with ryu,
/// the shortest text that reads back as the same double, in decimal notation from 1e-5 to below
/// 1e16. A decimal of at most 15 significant digits is that shortest text for the double nearest
/// to it: two decimals of 15 digits never read as the same double, so no shorter or closer one
/// does. An integral value keeps one `.0`.
fn ryu_decimal(int_digits: usize, zero: bool, fraction: &[u8]) -> bool {
    const MAX_DIGITS: usize = 15;
    if fraction == b"0" {
        return int_digits <= MAX_DIGITS;
    }
    if fraction.last() == Some(&b'0') {
        return false;
    }
    if !zero {
        return int_digits + fraction.len() <= MAX_DIGITS;
    }
    let leading = fraction.iter().take_while(|&&b| b == b'0').count();
    leading <= 4 && fraction.len() - leading <= MAX_DIGITS
}

#[cfg(test)]
mod tests {
    use super::super::tests::measure;
    use super::*;
    use crate::core::wire::json;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn measures_numbers_exactly_where_serde_json_writes_them_as_given() {
        let mut tokens: Vec<String> = [
            "0",
            "-0",
            "7",
            "-12",
            "18446744073709551615",
            "18446744073709551616",
            "-9223372036854775808",
            "0.0",
            "-0.0",
            "1.0",
            "1.50",
            "1.5",
            "100.0",
            "0.1",
            "0.001",
            "0.00001",
            "0.000001",
            "1e3",
            "1E3",
            "-2.5",
            "123456789012345.0",
            "1234567890123456.0",
            "0.123456789012345",
            "0.1234567890123456",
            "12345.6789012345",
            "9007199254740993.0",
            "52.371",
            "4.89",
        ]
        .map(String::from)
        .to_vec();
        // Doubles of every size and precision, in serde_json's own form and in `{:.N}` forms.
        let mut x = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let mantissa = (x >> 11) as f64 / (1u64 << 53) as f64;
            let value = mantissa * 10f64.powi((x % 40) as i32 - 12);
            tokens.push(json::text(&serde_json::Value::from(value)));
            tokens.push(format!("{value:.*}", (x % 18) as usize));
            tokens.push(format!("{:.*}", (x % 6) as usize, (x % 100_000) as f64 / 100.0));
        }
        let mut exact = 0;
        for text in &tokens {
            let written = json::text(&json::parse(text).unwrap());
            let size = measure(text).unwrap().size;
            assert!(size >= written.len(), "{text}: {size} < {}", written.len());
            if size == text.len() && size < MAX_FLOAT_TEXT {
                // Measured as given (no such token is 24 bytes long): serde_json writes it so.
                assert_eq!(&written, text);
                exact += 1;
            }
            // serde_json's own text of a decimal of at most 15 digits is measured exactly.
            let digits = text.bytes().filter(u8::is_ascii_digit).skip_while(|&b| b == b'0').count();
            if written == *text && !text.contains('e') && digits <= 15 {
                assert_eq!(size, text.len(), "{text}");
            }
        }
        assert!(exact > tokens.len() / 5, "{exact} of {}", tokens.len());
    }
}
