//! RFC 3339 timestamps without a date crate.

use std::time::{SystemTime, UNIX_EPOCH};

/// Formats a wall-clock time as an RFC 3339 UTC timestamp with milliseconds,
/// `YYYY-MM-DDTHH:MM:SS.sssZ` (the shape of JavaScript's `toISOString`). Sub-millisecond digits
/// are dropped (rounded down, also before 1970).
///
/// # Examples
///
/// ```
/// use legato::report::rfc3339;
/// use std::time::{Duration, UNIX_EPOCH};
///
/// assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
/// let t = UNIX_EPOCH + Duration::from_millis(1_700_000_000_250);
/// assert_eq!(rfc3339(t), "2023-11-14T22:13:20.250Z");
/// assert_eq!(rfc3339(UNIX_EPOCH - Duration::from_millis(1)), "1969-12-31T23:59:59.999Z");
/// ```
pub fn rfc3339(t: SystemTime) -> String {
    let nanos: i128 = match t.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_nanos() as i128,
        Err(e) => -(e.duration().as_nanos() as i128),
    };
    let millis = nanos.div_euclid(1_000_000);
    let secs = millis.div_euclid(1000);
    let milli = millis.rem_euclid(1000);
    let days = secs.div_euclid(86_400) as i64;
    let sod = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{milli:03}Z",
        sod / 3600,
        sod / 60 % 60,
        sod % 60
    )
}

/// Reads back what [`rfc3339`] writes (`YYYY-MM-DDTHH:MM:SS.sssZ`; the fraction may have 0
/// to 9 digits), as a wall-clock time; `None` for anything else.
pub(super) fn parse_rfc3339(s: &str) -> Option<SystemTime> {
    let s = s.strip_suffix('Z')?;
    let (date, time) = s.split_once('T')?;
    let mut d = date.splitn(3, '-');
    let (y, m, day): (i64, u32, u32) = (
        d.next()?.parse().ok()?,
        d.next()?.parse().ok()?,
        d.next()?.parse().ok()?,
    );
    let (hms, frac) = time.split_once('.').unwrap_or((time, ""));
    let mut t = hms.splitn(3, ':');
    let (h, mi, sec): (i64, i64, i64) = (
        t.next()?.parse().ok()?,
        t.next()?.parse().ok()?,
        t.next()?.parse().ok()?,
    );
    if !(1..=12).contains(&m)
        || !(1..=31).contains(&day)
        || h > 23
        || mi > 59
        || sec > 60
        || frac.len() > 9
    {
        return None;
    }
    let nanos: i128 = if frac.is_empty() {
        0
    } else {
        if !frac.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        i128::from(frac.parse::<u32>().ok()?) * 10i128.pow(9 - frac.len() as u32)
    };
    let days = days_from_civil(y, m, day);
    let total =
        (i128::from(days) * 86_400 + i128::from(h * 3600 + mi * 60 + sec)) * 1_000_000_000 + nanos;
    let abs = std::time::Duration::from_nanos(u64::try_from(total.unsigned_abs()).ok()?);
    if total >= 0 {
        UNIX_EPOCH.checked_add(abs)
    } else {
        UNIX_EPOCH.checked_sub(abs)
    }
}

/// Days from 1970-01-01 of a proleptic Gregorian date: the inverse of [`civil_from_days`]
/// (Howard Hinnant's `days_from_civil`).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The proleptic Gregorian date `(year, month 1–12, day 1–31)` of a day counted from
/// 1970-01-01 (day 0), negative before it. Howard Hinnant's `civil_from_days`: shift to eras of
/// 400 years that start on 0000-03-01, so that leap days fall at the end of each year.
pub(super) fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468; // days from 0000-03-01
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097); // day of era, [0, 146096]
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // year of era, [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // day of year from March 1, [0, 365]
    let mp = (5 * doy + 2) / 153; // month from March, [0, 11]
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn rfc3339_reads_back() {
        for ms in [
            0i64,
            1_700_000_000_250,
            -1,
            951_782_400_000,
            4_102_444_800_999,
        ] {
            let t = if ms >= 0 {
                UNIX_EPOCH + Duration::from_millis(ms as u64)
            } else {
                UNIX_EPOCH - Duration::from_millis((-ms) as u64)
            };
            assert_eq!(parse_rfc3339(&rfc3339(t)), Some(t), "{ms}");
        }
        assert_eq!(
            parse_rfc3339("2023-11-14T22:13:20Z"),
            Some(UNIX_EPOCH + Duration::from_secs(1_700_000_000))
        );
        for bad in [
            "",
            "2023-11-14",
            "2023-13-01T00:00:00Z",
            "2023-11-14T22:13:20.25x0Z",
            "2023-11-14T22:13:20+01:00",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
    }

    /// The inverse, written the naive way: count whole years, then months.
    fn days_from_civil_naive(y: i64, m: u32, d: u32) -> i64 {
        let leap = |y: i64| (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
        let len = |y: i64| if leap(y) { 366 } else { 365 };
        let mut days = 0i64;
        if y >= 1970 {
            for yy in 1970..y {
                days += len(yy);
            }
        } else {
            for yy in y..1970 {
                days -= len(yy);
            }
        }
        let months = [
            31,
            if leap(y) { 29 } else { 28 },
            31,
            30,
            31,
            30,
            31,
            31,
            30,
            31,
            30,
            31,
        ];
        days += months[..(m - 1) as usize].iter().sum::<i64>();
        days + i64::from(d) - 1
    }

    #[test]
    fn known_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(civil_from_days(11_017), (2000, 3, 1));
        assert_eq!(civil_from_days(19_782), (2024, 2, 29));
        assert_eq!(civil_from_days(-719_468), (0, 3, 1));
        assert_eq!(civil_from_days(2_932_896), (9999, 12, 31));
    }

    #[test]
    fn every_day_from_1900_to_2100_round_trips() {
        let first = days_from_civil_naive(1900, 1, 1);
        let last = days_from_civil_naive(2100, 12, 31);
        assert_eq!((first, last), (-25_567, 47_846));
        let mut prev = (1899, 12, 31);
        for day in first..=last {
            let got = civil_from_days(day);
            assert!(got > prev && (1..=12).contains(&got.1) && (1..=31).contains(&got.2));
            assert_eq!(days_from_civil_naive(got.0, got.1, got.2), day, "{got:?}");
            prev = got;
        }
        assert_eq!(prev, (2100, 12, 31));
    }

    #[test]
    fn timestamps() {
        let at = |ms: i64| {
            if ms >= 0 {
                UNIX_EPOCH + Duration::from_millis(ms as u64)
            } else {
                UNIX_EPOCH - Duration::from_millis(ms.unsigned_abs())
            }
        };
        assert_eq!(rfc3339(at(951_782_400_000)), "2000-02-29T00:00:00.000Z");
        assert_eq!(rfc3339(at(1_709_251_199_999)), "2024-02-29T23:59:59.999Z");
        assert_eq!(rfc3339(at(-86_400_000)), "1969-12-31T00:00:00.000Z");
        assert_eq!(rfc3339(at(-1_500)), "1969-12-31T23:59:58.500Z");
        // Sub-millisecond parts round down.
        let t = UNIX_EPOCH + Duration::from_nanos(1_999_999);
        assert_eq!(rfc3339(t), "1970-01-01T00:00:00.001Z");
        let t = UNIX_EPOCH - Duration::from_nanos(1);
        assert_eq!(rfc3339(t), "1969-12-31T23:59:59.999Z");
    }
}
