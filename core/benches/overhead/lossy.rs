//! Reliable throughput over an emulated wide-area path: 20 ms round trip, 1 %
//! random loss each way (`core/tests/support/path.rs`: NFQUEUE, since this
//! kernel has no netem). Every contender runs through the same path, in turn.

use std::time::Duration;

use crate::config::Config;
use crate::report::Row;
use crate::stack::Contender;
use crate::support::path::{EmulatedPath, PathSpec};
use crate::throughput;

/// Runs the lossy plan on every contender and returns its table rows.
pub async fn run(config: &Config, url: &str, contenders: &[Contender]) -> Vec<Row> {
    let plan = config.lossy;
    println!(
        "\nreliable {} KiB messages, {} MiB, over an emulated 20 ms RTT, 1 % loss path",
        plan.message_size / 1024,
        plan.total_bytes >> 20
    );
    let path = EmulatedPath::start(PathSpec::rtt_loss(Duration::from_millis(20), 1.0));
    let results = throughput::transfers(config, url, plan, contenders, "lossy").await;
    let counts = path.remove();
    println!(
        "  path: {} datagrams passed, {} dropped ({:.2} %)",
        counts.passed,
        counts.dropped,
        100.0 * counts.dropped as f64 / (counts.passed + counts.dropped).max(1) as f64
    );
    let mut rows = throughput::table_rows(plan, &results, "20 ms RTT 1 % loss reliable");
    // CPU includes the path emulation thread for the in-process stacks: not comparable.
    rows.retain(|row| !row.label.contains("CPU"));
    rows
}
