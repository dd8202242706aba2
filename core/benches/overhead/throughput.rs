//! The throughput section: each transfer plan runs several rounds on both
//! stacks, and the medians go into the table.

use crate::BenchResult;
use crate::config::{Config, TransferPlan};
use crate::report::Row;
use crate::stack::Contender;
use crate::transfer::{self, TransferResult};

/// Transfer results per table column ([`Contender::COLUMNS`] order).
pub type Results = [Vec<TransferResult>; 4];

/// Runs the reliable and the unreliable plan and returns their table rows.
pub async fn run(config: &Config, url: &str, contenders: &[Contender]) -> Vec<Row> {
    let mut rows = Vec::new();
    for plan in [config.reliable, config.unreliable] {
        println!(
            "\n{} {} KiB messages, {} MiB, pause above {} KiB buffered, resume at {} KiB",
            kind(plan),
            plan.message_size / 1024,
            plan.total_bytes >> 20,
            plan.high_water / 1024,
            plan.low_water / 1024
        );
        let results = transfers(config, url, plan, contenders, kind(plan)).await;
        rows.extend(table_rows(plan, &results, kind(plan)));
    }
    rows
}

/// The column of `contender` in the table.
pub fn column(contender: Contender) -> usize {
    Contender::COLUMNS
        .iter()
        .position(|&c| c == contender)
        .expect("every contender has a column")
}

/// Runs `plan` `plan.rounds` times on each contender (the order rotates from
/// round to round, so that none always goes first) and returns the results.
pub async fn transfers(
    config: &Config,
    url: &str,
    plan: TransferPlan,
    contenders: &[Contender],
    room_prefix: &str,
) -> Results {
    let mut results = Results::default();
    for round in 0..plan.rounds {
        let mut order = contenders.to_vec();
        let shift = round % order.len().max(1);
        order.rotate_left(shift);
        for contender in order {
            let room = format!("throughput-{room_prefix}-{round}");
            match transfer(config, url, &room, contender, plan).await {
                Ok(result) => {
                    print_transfer(contender, round, &result);
                    results[column(contender)].push(result);
                }
                Err(err) => println!("  {:<10} round {round}: failed: {err}", contender.name()),
            }
        }
    }
    results
}

async fn transfer(
    config: &Config,
    url: &str,
    room: &str,
    contender: Contender,
    plan: TransferPlan,
) -> BenchResult<TransferResult> {
    let stack = match contender {
        Contender::Local(stack) => stack,
        Contender::Anchor(anchor) => return anchor.transfer(plan).await,
    };
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

fn print_transfer(contender: Contender, round: usize, r: &TransferResult) {
    println!(
        "  {:<10} round {round}: {:>6.1} MB/s, {}/{} messages in {:.2} s, CPU {:.2} s, \
         {} stalls > {} ms ({:.1} s), {} UDP receive-buffer drops, corrupt {}, out of order {}, duplicates {}{}{}",
        contender.name(),
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

/// The table rows of `plan`'s results, labelled with `what`.
pub fn table_rows(plan: TransferPlan, results: &Results, what: &str) -> Vec<Row> {
    let size = format!("{} KiB", plan.message_size / 1024);
    let stat = |f: fn(&TransferResult) -> f64| {
        move |c: Contender| median(results[column(c)].iter().map(f).collect())
    };
    let mut rows = vec![Row::of(
        format!("{what} {size} throughput (MB/s)"),
        stat(TransferResult::mb_per_s),
    )];
    rows.push(Row::of(
        format!("{what} {size} throughput outside stalls (MB/s)"),
        stat(TransferResult::active_mb_per_s),
    ));
    rows.push(Row::of(
        format!(
            "{what} {size} time in stalls > {} ms (s)",
            transfer::STALL.as_millis()
        ),
        stat(|r| r.stalled.as_secs_f64()),
    ));
    rows.push(
        Row::of(format!("{what} {size} UDP receive-buffer drops"), |c| {
            median(
                results[column(c)]
                    .iter()
                    .filter_map(|r| r.udp_drops.map(|d| d as f64))
                    .collect(),
            )
        })
        .decimals(0),
    );
    if plan.reliable {
        let rounds = results.iter().map(Vec::len).max().unwrap_or(0);
        rows.push(
            Row::of(format!("{what}: clean transfers of {rounds}"), |c| {
                let done = &results[column(c)];
                (!done.is_empty()).then(|| done.iter().filter(|r| r.is_clean()).count() as f64)
            })
            .decimals(0),
        );
    } else {
        rows.push(Row::of(
            format!("{what} delivered (%)"),
            stat(|r| r.delivered_fraction() * 100.0),
        ));
    }
    rows.push(
        Row::of(
            format!("{what} {size} CPU per MB delivered (ms)"),
            stat(|r| r.cpu.as_secs_f64() * 1e3 / (r.delivered_bytes as f64 / 1e6).max(1e-9)),
        )
        .decimals(1),
    );
    rows
}
