//! The throughput section: each transfer plan runs several rounds on both
//! stacks, and the medians go into the table.

use crate::BenchResult;
use crate::config::{Config, TransferPlan};
use crate::report::Row;
use crate::stack::Stack;
use crate::transfer::{self, TransferResult};

/// Runs the reliable and the unreliable plan and returns their table rows.
pub async fn run(config: &Config, url: &str) -> Vec<Row> {
    let mut rows = Vec::new();
    for plan in [config.reliable, config.unreliable] {
        let (gate, raw) = transfers(config, url, plan).await;
        rows.extend(table_rows(plan, &gate, &raw));
    }
    rows
}

/// Runs `plan` `plan.rounds` times on each stack (the stack that goes first
/// alternates) and returns the results per stack.
async fn transfers(
    config: &Config,
    url: &str,
    plan: TransferPlan,
) -> (Vec<TransferResult>, Vec<TransferResult>) {
    println!(
        "\n{} {} KiB messages, {} MiB, pause above {} KiB buffered, resume at {} KiB",
        kind(plan),
        plan.message_size / 1024,
        plan.total_bytes >> 20,
        plan.high_water / 1024,
        plan.low_water / 1024
    );
    let (mut gate, mut raw) = (Vec::new(), Vec::new());
    for round in 0..plan.rounds {
        let mut order = Stack::BOTH;
        if round % 2 == 1 {
            order.reverse();
        }
        for stack in order {
            let room = format!("throughput-{}-{round}", kind(plan));
            match transfer(config, url, &room, stack, plan).await {
                Ok(result) => {
                    print_transfer(stack, round, &result);
                    match stack {
                        Stack::Rtcgate => gate.push(result),
                        Stack::Raw => raw.push(result),
                    }
                }
                Err(err) => println!("  {:<8} round {round}: failed: {err}", stack.name()),
            }
        }
    }
    (gate, raw)
}

async fn transfer(
    config: &Config,
    url: &str,
    room: &str,
    stack: Stack,
    plan: TransferPlan,
) -> BenchResult<TransferResult> {
    let (pair, _) = stack
        .connect(url, room, plan.reliable, config.connect_timeout)
        .await?;
    let (sender, receiver) = pair.ends();
    let result = transfer::run(plan, sender, receiver).await;
    pair.close().await;
    result
}

fn kind(plan: TransferPlan) -> &'static str {
    if plan.reliable {
        "reliable"
    } else {
        "unreliable"
    }
}

fn print_transfer(stack: Stack, round: usize, r: &TransferResult) {
    println!(
        "  {:<8} round {round}: {:>6.1} MB/s, {}/{} messages in {:.2} s, CPU {:.2} s, \
         {} stalls > {} ms ({:.1} s), {} UDP receive-buffer drops, corrupt {}, out of order {}, duplicates {}{}{}",
        stack.name(),
        r.mb_per_s(),
        r.delivered_messages,
        r.offered_messages,
        r.elapsed.as_secs_f64(),
        r.cpu.as_secs_f64(),
        r.stalls,
        transfer::STALL.as_millis(),
        r.stalled.as_secs_f64(),
        r.udp_drops.map_or("?".to_owned(), |d| d.to_string()),
        r.corrupt,
        r.out_of_order,
        r.duplicates,
        if r.timed_out { ", TIMED OUT" } else { "" },
        r.sender_error
            .as_ref()
            .map(|e| format!(", sender: {e}"))
            .unwrap_or_default(),
    );
}

/// Median of `values` (upper median for an even count).
fn median(mut values: Vec<f64>) -> Option<f64> {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied()
}

fn table_rows(plan: TransferPlan, gate: &[TransferResult], raw: &[TransferResult]) -> Vec<Row> {
    let size = format!("{} KiB", plan.message_size / 1024);
    let stat = |results: &[TransferResult], f: fn(&TransferResult) -> f64| {
        median(results.iter().map(f).collect())
    };
    let mut rows = vec![Row::new(
        format!("{} {size} throughput (MB/s)", kind(plan)),
        stat(gate, TransferResult::mb_per_s),
        stat(raw, TransferResult::mb_per_s),
    )];
    rows.push(Row::new(
        format!("{} {size} throughput outside stalls (MB/s)", kind(plan)),
        stat(gate, TransferResult::active_mb_per_s),
        stat(raw, TransferResult::active_mb_per_s),
    ));
    let stalled = |r: &TransferResult| r.stalled.as_secs_f64();
    rows.push(
        Row::new(
            format!(
                "{} {size} time in stalls > {} ms (s)",
                kind(plan),
                transfer::STALL.as_millis()
            ),
            stat(gate, stalled),
            stat(raw, stalled),
        )
        .decimals(1),
    );
    let drops = |results: &[TransferResult]| {
        median(
            results
                .iter()
                .filter_map(|r| r.udp_drops.map(|d| d as f64))
                .collect(),
        )
    };
    rows.push(
        Row::new(
            format!("{} {size} UDP receive-buffer drops", kind(plan)),
            drops(gate),
            drops(raw),
        )
        .decimals(0),
    );
    if plan.reliable {
        let clean = |results: &[TransferResult]| {
            Some(results.iter().filter(|r| r.is_clean()).count() as f64)
        };
        rows.push(
            Row::new(
                format!("reliable: clean transfers of {}", gate.len().max(raw.len())),
                clean(gate),
                clean(raw),
            )
            .decimals(0),
        );
    } else {
        let percent = |r: &TransferResult| r.delivered_fraction() * 100.0;
        rows.push(Row::new(
            "unreliable delivered (%)",
            stat(gate, percent),
            stat(raw, percent),
        ));
    }
    let cpu = |r: &TransferResult| r.cpu.as_secs_f64();
    rows.push(
        Row::new(
            format!("{} {size} CPU time (s)", kind(plan)),
            stat(gate, cpu),
            stat(raw, cpu),
        )
        .decimals(2),
    );
    rows
}
