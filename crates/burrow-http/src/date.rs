//! The `Date` response header (RFC 9110 §6.6.1), formatted once a second.
//!
//! Every response carries the current time as an IMF-fixdate
//! (`Sun, 06 Nov 1994 08:49:37 GMT`, always 29 bytes). Formatting it per
//! response is wasted work, so the last value is cached with its second.
//! The cache is process-wide, not a thread-local: a goroutine may move to
//! another thread between any two calls, and the runtime forbids
//! thread-locals on paths a goroutine runs (see the facade's crate docs).
//! Every response on every P reads it, so it is crossbeam's `AtomicCell`,
//! a sequence lock for a value this size, rather than a mutex: a reader
//! writes nothing shared (a mutex would move its cache line between the
//! CPUs on every response), and the value is copied out as plain bytes,
//! not a reference-counted `HeaderValue`. We format it ourselves (thirty
//! lines, tested against known dates) rather than add a dependency for it.

use std::time::{SystemTime, UNIX_EPOCH};

use crossbeam_utils::atomic::AtomicCell;

/// An IMF-fixdate: `Sun, 06 Nov 1994 08:49:37 GMT`.
pub(crate) type Date = [u8; DATE_LEN];

/// The length of every IMF-fixdate of the years 1000 to 9999.
const DATE_LEN: usize = 29;

/// The cached value and the Unix second it is for (`u64::MAX`: none yet).
static CACHE: AtomicCell<(u64, Date)> = AtomicCell::new((u64::MAX, [0; DATE_LEN]));

/// The `Date` header value for now.
pub(crate) fn now() -> Date {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (cached, date) = CACHE.load();
    if cached == secs {
        return date;
    }
    let date = format_date(secs);
    CACHE.store((secs, date));
    date
}

/// The date for Unix time `secs`; the epoch's if `secs` is past the year
/// 9999 (whose dates would not be 29 bytes).
fn format_date(secs: u64) -> Date {
    let text = imf_fixdate(secs);
    let text = if text.len() == DATE_LEN {
        text.as_bytes()
    } else {
        b"Thu, 01 Jan 1970 00:00:00 GMT"
    };
    let mut date = [0; DATE_LEN];
    date.copy_from_slice(text);
    date
}

/// Formats Unix time `secs` as an IMF-fixdate.
pub(crate) fn imf_fixdate(secs: u64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let (year, month, day) = civil_from_days(days);
    format!(
        "{}, {:02} {} {} {:02}:{:02}:{:02} GMT",
        DAYS[(days % 7) as usize],
        day,
        MONTHS[(month - 1) as usize],
        year,
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// Parses an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`) into Unix
/// seconds: the form every current client sends in `If-Modified-Since`.
/// The obsolete RFC 850 and asctime forms, which Go also accepts, are not
/// understood; a header in them is ignored as a malformed one would be.
pub(crate) fn parse_imf_fixdate(s: &str) -> Option<u64> {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let b = s.as_bytes();
    if b.len() != 29 || &b[3..5] != b", " || &b[25..] != b" GMT" {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u64> {
        let t = s.get(r)?;
        t.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| t.parse().ok())?
    };
    let day = num(5..7)?;
    let month = MONTHS.iter().position(|m| s.get(8..11) == Some(*m))? as u64 + 1;
    let year = num(12..16)?;
    let (h, m, sec) = (num(17..19)?, num(20..22)?, num(23..25)?);
    if b[7] != b' ' || b[11] != b' ' || b[16] != b' ' || b[19] != b':' || b[22] != b':' {
        return None;
    }
    if year < 1970 || !(1..=31).contains(&day) || h > 23 || m > 59 || sec > 60 {
        return None;
    }
    Some(days_from_civil(year, month, day) * 86_400 + h * 3600 + m * 60 + sec)
}

/// (year ≥ 1970, month, day) → days since 1970-01-01: the inverse of
/// [`civil_from_days`], by the same algorithm.
fn days_from_civil(year: u64, month: u64, day: u64) -> u64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y / 400;
    let yoe = y - era * 400;
    let mp = if month > 2 { month - 3 } else { month + 9 };
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Days since 1970-01-01 → (year, month 1..=12, day 1..=31), by Howard
/// Hinnant's `civil_from_days` (eras of 400 years starting in March).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_known_dates() {
        assert_eq!(imf_fixdate(0), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(imf_fixdate(784_111_777), "Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(imf_fixdate(951_782_400), "Tue, 29 Feb 2000 00:00:00 GMT");
        assert_eq!(imf_fixdate(4_107_542_399), "Sun, 28 Feb 2100 23:59:59 GMT");
        assert_eq!(imf_fixdate(4_107_542_400), "Mon, 01 Mar 2100 00:00:00 GMT");
        assert_eq!(imf_fixdate(4_133_980_799), "Fri, 31 Dec 2100 23:59:59 GMT");
    }

    #[test]
    fn parses_what_it_formats() {
        for secs in [0, 784_111_777, 951_782_400, 4_107_542_399, 4_133_980_799] {
            assert_eq!(parse_imf_fixdate(&imf_fixdate(secs)), Some(secs));
        }
        for bad in [
            "",
            "Sun, 06 Nov 1994 08:49:37 UTC",
            "Sunday, 06-Nov-94 08:49:37 GMT",
            "Sun Nov  6 08:49:37 1994",
            "Sun, 06 Foo 1994 08:49:37 GMT",
            "Sun, 6x Nov 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 24:49:37 GMT",
        ] {
            assert_eq!(parse_imf_fixdate(bad), None, "{bad:?}");
        }
    }

    fn unix_now() -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs()
    }

    #[test]
    fn now_is_the_current_date() {
        let before = unix_now();
        let d = now();
        let after = unix_now();
        let s = std::str::from_utf8(&d).expect("ASCII");
        let secs = parse_imf_fixdate(s).unwrap_or_else(|| panic!("not an IMF-fixdate: {s:?}"));
        assert!((before..=after).contains(&secs), "{s} is not now");
    }

    #[test]
    fn the_epoch_stands_in_past_the_year_9999() {
        assert_eq!(format_date(0), *b"Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(format_date(253_402_300_800), format_date(0));
        assert_eq!(
            &format_date(253_402_300_799),
            b"Fri, 31 Dec 9999 23:59:59 GMT"
        );
    }

    /// Readers on several threads while the cache is rewritten under them
    /// (the second changes, or another thread wins the update) never see
    /// a mix of two values: every date read is a whole, current one.
    #[test]
    fn concurrent_readers_see_whole_dates() {
        let threads: Vec<_> = (0..4)
            .map(|_| {
                std::thread::spawn(|| {
                    for i in 0..20_000 {
                        if i % 100 == 0 {
                            // Force a rewrite: a cached second that is
                            // never now.
                            CACHE.store((1, format_date(1)));
                        }
                        let before = unix_now();
                        let d = now();
                        let after = unix_now();
                        let s = std::str::from_utf8(&d).expect("ASCII");
                        let secs = parse_imf_fixdate(s)
                            .unwrap_or_else(|| panic!("torn or malformed date: {s:?}"));
                        assert!((before..=after).contains(&secs), "{s} is not now");
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().expect("reader thread");
        }
    }
}
