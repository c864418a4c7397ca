//! Timestamps as people read them. Always UTC, always spelled out, so two people looking
//! at one page see the same times. Pure arithmetic, no time-zone database.

const MILLIS_PER_DAY: u64 = 86_400_000;

/// `(year, month, day)` of a count of days since 1970-01-01 (Howard Hinnant's
/// `civil_from_days`, restricted to dates after the epoch).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

/// `2026-11-22 07:08:12.123 UTC`.
pub(crate) fn format_utc_ms(timestamp_ms: u64) -> String {
    let (year, month, day) = civil_from_days(timestamp_ms / MILLIS_PER_DAY);
    let in_day = timestamp_ms % MILLIS_PER_DAY;
    let (h, m, s, ms) = (
        in_day / 3_600_000,
        in_day / 60_000 % 60,
        in_day / 1000 % 60,
        in_day % 1000,
    );
    format!("{year:04}-{month:02}-{day:02} {h:02}:{m:02}:{s:02}.{ms:03} UTC")
}

/// A duration in microseconds, in the largest unit that keeps it readable:
/// `850 µs`, `12.3 ms`, `3.50 s`, `2 min 5 s`, `2 h 0 min`; nothing is `0`, as LogView's
/// start offsets and time axis write it, since a zero needs no unit.
pub(crate) fn format_duration_us(duration_us: u64) -> String {
    match duration_us {
        0 => "0".to_owned(),
        1..=999 => format!("{duration_us} µs"),
        1_000..=99_999 => format!("{:.1} ms", duration_us as f64 / 1e3),
        100_000..=999_999 => format!("{} ms", duration_us / 1000),
        1_000_000..=59_999_999 => format!("{:.2} s", duration_us as f64 / 1e6),
        60_000_000..=3_599_999_999 => {
            let seconds = duration_us / 1_000_000;
            format!("{} min {} s", seconds / 60, seconds % 60)
        }
        _ => {
            let minutes = duration_us / 60_000_000;
            format!("{} h {} min", minutes / 60, minutes % 60)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_utc_ms_spells_out_date_and_time() {
        assert_eq!(format_utc_ms(0), "1970-01-01 00:00:00.000 UTC");
        assert_eq!(
            format_utc_ms(1_700_000_000_123),
            "2023-11-14 22:13:20.123 UTC"
        );
        assert_eq!(
            format_utc_ms(4_102_444_800_123),
            "2100-01-01 00:00:00.123 UTC"
        );
        // A leap day.
        assert_eq!(
            format_utc_ms(951_782_400_000),
            "2000-02-29 00:00:00.000 UTC"
        );
    }

    #[test]
    fn format_duration_us_picks_a_readable_unit() {
        assert_eq!(format_duration_us(0), "0");
        assert_eq!(format_duration_us(850), "850 µs");
        assert_eq!(format_duration_us(12_345), "12.3 ms");
        assert_eq!(format_duration_us(200_000), "200 ms");
        assert_eq!(format_duration_us(3_500_000), "3.50 s");
        assert_eq!(format_duration_us(125_000_000), "2 min 5 s");
        assert_eq!(format_duration_us(3_599_999_999), "59 min 59 s");
        assert_eq!(format_duration_us(3_600_000_000), "1 h 0 min");
        assert_eq!(format_duration_us(7_200_000_000), "2 h 0 min");
        assert_eq!(format_duration_us(7_265_000_000), "2 h 1 min");
    }
}
