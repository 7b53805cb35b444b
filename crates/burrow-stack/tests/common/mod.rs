//! Helpers shared by the stack tests.

/// Anonymous resident memory (`RssAnon`): what stacks cost, without the
/// file-backed pages of the test binary that fault in as the test runs.
pub fn rss_bytes() -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap();
    let kb: u64 = s
        .lines()
        .find_map(|l| l.strip_prefix("RssAnon:"))
        .unwrap()
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .unwrap();
    kb * 1024
}
