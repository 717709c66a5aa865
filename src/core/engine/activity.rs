//! What ran on the Writer, counted for the operator's view (`GET /roster/stats`): commands by
//! kind since a start time, a one-minute window kept per second, and what the hubs' reports
//! carried. Pure: the caller passes the times.

/// A command the Writer ran: a request it served (stats reads and test hooks excluded), or one
/// hub report (any number of connects and closed connections, merged as one command).
#[derive(Clone, Copy)]
pub enum Ran {
    Request,
    HubReport,
}

/// Commands counted since the instance started, and per second over the last minute.
pub struct Activity {
    started_ms: i64,
    counts: [u64; 2],
    /// Connects and closed connections the hub reports carried (not commands of their own).
    connects: u64,
    disconnects: u64,
    /// `(second, commands)` ring: the slot of second `s` is `s % 60`.
    seconds: [(i64, u64); 60],
}

impl Activity {
    pub fn new(started_ms: i64) -> Self {
        Activity { started_ms, counts: [0; 2], connects: 0, disconnects: 0, seconds: [(0, 0); 60] }
    }
    pub fn started_ms(&self) -> i64 {
        self.started_ms
    }
    /// Requests and hub reports.
    pub fn counts(&self) -> [u64; 2] {
        self.counts
    }
    /// Connects and closed connections reported by hubs.
    pub fn connections(&self) -> [u64; 2] {
        [self.connects, self.disconnects]
    }

    pub fn record(&mut self, ran: Ran, at_ms: i64) {
        if let Some(c) = self.counts.get_mut(ran as usize) {
            *c += 1;
        }
        let second = at_ms.div_euclid(1000);
        if let Some(slot) = self.seconds.get_mut(second.rem_euclid(60) as usize) {
            *slot = if slot.0 == second { (second, slot.1 + 1) } else { (second, 1) };
        }
    }

    /// A hub report's contents: `connects` new connections and `disconnects` closed ones.
    pub fn record_connections(&mut self, connects: usize, disconnects: usize) {
        self.connects += connects as u64;
        self.disconnects += disconnects as u64;
    }

    pub fn total(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// Commands in the 60 seconds up to `at_ms`.
    pub fn last_minute(&self, at_ms: i64) -> u64 {
        let second = at_ms.div_euclid(1000);
        self.seconds.iter().filter(|(s, _)| second - s < 60 && *s <= second).map(|(_, n)| n).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn the_last_minute_counts_only_its_seconds() {
        let mut a = Activity::new(0);
        for ms in [1_000, 1_500, 30_000, 61_000, 61_999] {
            a.record(Ran::Request, ms);
        }
        assert_eq!(a.counts(), [5, 0]);
        assert_eq!(a.last_minute(61_999), 3, "second 1 is 60 s old (its slot now holds second 61)");
        a.record(Ran::HubReport, 120_500);
        a.record_connections(40, 2);
        assert_eq!(a.total(), 6, "a report is one command, whatever it carries");
        assert_eq!(a.counts(), [5, 1]);
        assert_eq!(a.connections(), [40, 2]);
        assert_eq!(a.last_minute(120_500), 3, "second 61's two and second 120's one");
        assert_eq!(a.last_minute(121_000), 1);
        assert_eq!(a.last_minute(500_000), 0);
    }
}
