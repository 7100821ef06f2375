//! Numbers as relaysim's tables and charts show them: whole numbers grouped by
//! thousands (`32,500`), others to three decimals, a minus sign as `−`.

/// `12345678` → `12,345,678`.
pub fn group_thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A figure: whole numbers grouped (`−1,771`), others to three decimals (`333.823`).
pub fn figure(x: f64) -> String {
    let body = if x.fract() == 0.0 && x.abs() < 1e15 {
        group_thousands(x.abs() as u64)
    } else {
        format!("{:.3}", x.abs())
    };
    if x < 0.0 { format!("−{body}") } else { body }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_are_grouped() {
        assert_eq!(group_thousands(0), "0");
        assert_eq!(group_thousands(999), "999");
        assert_eq!(group_thousands(32_500), "32,500");
        assert_eq!(group_thousands(4_600_000), "4,600,000");
    }

    #[test]
    fn figures_read_as_in_the_tables() {
        assert_eq!(figure(32500.0), "32,500");
        assert_eq!(figure(-1771.0), "−1,771");
        assert_eq!(figure(1.5), "1.500");
        assert_eq!(figure(-333.823), "−333.823");
    }
}
