//! Data-channel throughput and per-call overhead through the C API against
//! rtcgate-core directly, side by side in one run (issue 4: goal ratio ≥ 0.95).
//!
//! Both stacks run the same transfers as core's `overhead` benchmark
//! (core/benches/overhead): reliable/ordered 16 KiB messages and
//! unordered/unreliable 1 KiB messages, with the sender pausing above 1 MiB
//! buffered and resuming at 512 KiB, every message numbered and checked.
//!
//! - **core**: two `rtcgate_core::Call`s on a tokio runtime, written as a Rust
//!   application would (`send().await`, `wait_buffered_below`, `recv()`).
//! - **C API**: two calls driven only through the `extern "C"` functions of
//!   librtcgate (`rtcgate_call_join`, `rtcgate_call_create_data_channel`,
//!   `rtcgate_data_channel_send`, `…_buffered_amount`,
//!   `…_wait_buffered_below`, the message callback), written as a C
//!   application would: a plain sender thread that blocks while the buffer is
//!   high, the receiver in the message callback.
//!
//! Both use the same signalling server and the same number of runtime
//! threads; stacks alternate which goes first each round.
//!
//! ```text
//! cargo bench -p rtcgate-ffi --bench c_vs_core --no-run
//! .ci/with-netns cargo bench -p rtcgate-ffi --offline --bench c_vs_core
//! RTCGATE_BENCH_QUICK=1 .ci/with-netns cargo bench -p rtcgate-ffi --offline --bench c_vs_core
//! ```
//!
//! `RTCGATE_BENCH_ROUNDS` overrides the rounds per transfer. Results: docs/benchmarks.md.

use std::ffi::{CStr, CString, c_void};
use std::net::SocketAddr;
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use rtcgate::call::{
    rtcgate_call, rtcgate_call_config, rtcgate_call_create_data_channel, rtcgate_call_destroy,
    rtcgate_call_event, rtcgate_call_event_type, rtcgate_call_join,
};
use rtcgate::data_channel::{
    rtcgate_data_channel, rtcgate_data_channel_buffered_amount, rtcgate_data_channel_options,
    rtcgate_data_channel_send, rtcgate_data_channel_set_message_callback,
    rtcgate_data_channel_wait_buffered_below,
};
use rtcgate::{rtcgate_init, rtcgate_last_error, rtcgate_options, rtcgate_shutdown};
use rtcgate_core::signalling::{ServerConfig, SignallingServer};
use rtcgate_core::{
    Call, CallEvent, CallEvents, CallOptions, DataChannel, DataChannelOptions, DataMessage,
};

type BenchResult<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

const KIB: usize = 1024;
const MIB: usize = 1024 * KIB;
/// A pause between deliveries longer than this counts as a stall.
const STALL: Duration = Duration::from_millis(100);
/// An unreliable transfer ends after this much silence once the sender drained.
const TAIL_IDLE: Duration = Duration::from_millis(500);

#[derive(Debug, Clone, Copy)]
struct Plan {
    reliable: bool,
    message_size: usize,
    total_bytes: usize,
    high_water: usize,
    low_water: usize,
    timeout: Duration,
    rounds: usize,
}

impl Plan {
    fn messages(&self) -> usize {
        self.total_bytes / self.message_size
    }
    fn name(&self) -> String {
        let kind = if self.reliable {
            "reliable"
        } else {
            "unreliable"
        };
        format!("{kind} {} KiB", self.message_size / KIB)
    }
}

struct Config {
    quick: bool,
    plans: [Plan; 2],
    joins: usize,
    threads: usize,
}

impl Config {
    fn from_env() -> Config {
        let quick = std::env::args().any(|a| a == "--quick")
            || std::env::var("RTCGATE_BENCH_QUICK").is_ok_and(|v| !v.is_empty() && v != "0");
        let rounds = std::env::var("RTCGATE_BENCH_ROUNDS")
            .ok()
            .and_then(|v| v.parse().ok());
        let plan = |reliable: bool, size, full: usize, quick_total: usize, full_rounds| Plan {
            reliable,
            message_size: size,
            total_bytes: if quick { quick_total } else { full },
            high_water: MIB,
            low_water: 512 * KIB,
            timeout: Duration::from_secs(if quick { 15 } else { 90 }),
            rounds: rounds.unwrap_or(if quick { 1 } else { full_rounds }),
        };
        Config {
            quick,
            plans: [
                plan(true, 16 * KIB, 64 * MIB, 4 * MIB, 7),
                plan(false, KIB, 32 * MIB, 2 * MIB, 9),
            ],
            joins: if quick { 3 } else { 30 },
            threads: std::thread::available_parallelism().map_or(2, |n| n.get()),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stack {
    Core,
    CApi,
}

impl Stack {
    fn name(self) -> &'static str {
        match self {
            Stack::Core => "core",
            Stack::CApi => "C API",
        }
    }
}

// ---------------------------------------------------------------- messages

fn pattern(seq: u32) -> u8 {
    (seq as u8) ^ 0xA5
}

fn fill(message: &mut [u8], seq: u32) {
    message[..4].copy_from_slice(&seq.to_le_bytes());
    message[4..].fill(pattern(seq));
}

/// What the receiver saw; the same checks for both stacks.
#[derive(Debug, Clone)]
struct Tally {
    size: usize,
    seen: Vec<bool>,
    next_seq: u32,
    delivered: u64,
    bytes: u64,
    corrupt: u64,
    out_of_order: u64,
    duplicates: u64,
    start: Instant,
    last: Option<Instant>,
    stalled: Duration,
}

impl Tally {
    fn new(plan: Plan) -> Tally {
        Tally {
            size: plan.message_size,
            seen: vec![false; plan.messages()],
            next_seq: 0,
            delivered: 0,
            bytes: 0,
            corrupt: 0,
            out_of_order: 0,
            duplicates: 0,
            start: Instant::now(),
            last: None,
            stalled: Duration::ZERO,
        }
    }

    fn complete(&self) -> bool {
        self.delivered as usize >= self.seen.len()
    }

    fn on_message(&mut self, message: &[u8]) {
        let seq = (message.len() == self.size)
            .then(|| u32::from_le_bytes(message[..4].try_into().unwrap()))
            .filter(|&s| (s as usize) < self.seen.len())
            .filter(|&s| message[4..].iter().all(|&b| b == pattern(s)));
        let Some(seq) = seq else {
            self.corrupt += 1;
            return;
        };
        if std::mem::replace(&mut self.seen[seq as usize], true) {
            self.duplicates += 1;
            return;
        }
        if seq != self.next_seq {
            self.out_of_order += 1;
        }
        self.next_seq = seq.wrapping_add(1);
        self.delivered += 1;
        self.bytes += message.len() as u64;
        let now = Instant::now();
        let gap = now.duration_since(self.last.unwrap_or(self.start));
        if gap > STALL {
            self.stalled += gap;
        }
        self.last = Some(now);
    }
}

#[derive(Debug, Clone)]
struct Transfer {
    tally: Tally,
    offered: u64,
    cpu: Duration,
    timed_out: bool,
    sender_error: Option<String>,
}

impl Transfer {
    fn elapsed(&self) -> Duration {
        self.tally
            .last
            .map_or(Duration::ZERO, |l| l.duration_since(self.tally.start))
    }
    fn mb_per_s(&self) -> f64 {
        self.tally.bytes as f64 / 1e6 / self.elapsed().as_secs_f64().max(1e-9)
    }
    fn active_mb_per_s(&self) -> f64 {
        let active = self.elapsed().saturating_sub(self.tally.stalled);
        self.tally.bytes as f64 / 1e6 / active.as_secs_f64().max(1e-9)
    }
    fn delivered_percent(&self) -> f64 {
        self.tally.delivered as f64 * 100.0 / (self.offered as f64).max(1.0)
    }
    fn cpu_per_mb_ms(&self) -> f64 {
        self.cpu.as_secs_f64() * 1e3 / (self.tally.bytes as f64 / 1e6).max(1e-9)
    }
    fn clean(&self) -> bool {
        self.tally.delivered == self.offered
            && self.tally.corrupt == 0
            && self.tally.out_of_order == 0
            && self.tally.duplicates == 0
            && self.sender_error.is_none()
    }
}

/// User + system CPU time of the whole process.
fn cpu_time() -> Duration {
    // SAFETY: `getrusage` only writes into the zeroed struct we pass.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        usage
    };
    let micros = |t: libc::timeval| t.tv_sec as u64 * 1_000_000 + t.tv_usec as u64;
    Duration::from_micros(micros(usage.ru_utime) + micros(usage.ru_stime))
}

// -------------------------------------------------------------------- core

struct CorePair {
    first: Call,
    second: Call,
    _events: [CallEvents; 2],
    created: DataChannel,
    accepted: DataChannel,
}

async fn next_event<T>(
    events: &mut CallEvents,
    mut pick: impl FnMut(&CallEvent) -> Option<T>,
) -> BenchResult<T> {
    while let Some(event) = events.recv().await {
        if let Some(value) = pick(&event) {
            return Ok(value);
        }
    }
    Err("call events ended".into())
}

fn opened(event: &CallEvent) -> Option<DataChannel> {
    match event {
        CallEvent::DataChannelOpened(c) if c.label() == "bench" => Some(c.clone()),
        _ => None,
    }
}

/// Like core's overhead bench: first joins, then (timed) the second joins,
/// opens a channel to the first, and both see it open.
async fn core_connect(url: &str, room: &str, reliable: bool) -> BenchResult<(CorePair, Duration)> {
    let options = if reliable {
        DataChannelOptions::reliable()
    } else {
        DataChannelOptions::unreliable()
    };
    let (first, mut first_events) =
        Call::join_url(url, room, "first", CallOptions::default()).await?;
    let start = Instant::now();
    let (second, mut second_events) =
        Call::join_url(url, room, "second", CallOptions::default()).await?;
    let first_id = next_event(&mut second_events, |e| match e {
        CallEvent::MemberJoined(m) => Some(m.id.clone()),
        _ => None,
    })
    .await?;
    let created = second
        .create_data_channel(&first_id, "bench", options)
        .await?;
    let (_, accepted) = tokio::try_join!(
        next_event(&mut second_events, opened),
        next_event(&mut first_events, opened)
    )?;
    let setup = start.elapsed();
    Ok((
        CorePair {
            first,
            second,
            _events: [first_events, second_events],
            created,
            accepted,
        },
        setup,
    ))
}

async fn core_close(pair: CorePair) {
    let _ = tokio::join!(pair.first.leave(), pair.second.leave());
}

async fn core_transfer(plan: Plan, pair: &CorePair) -> Transfer {
    let sender = pair.created.clone();
    let receiver = pair.accepted.clone();
    let deadline = Instant::now() + plan.timeout;
    let cpu_start = cpu_time();
    let mut tally = Tally::new(plan);
    let sending = tokio::spawn(async move {
        let result: BenchResult<()> = async {
            sender
                .set_buffered_amount_low_threshold(plan.low_water)
                .await?;
            let mut message = vec![0u8; plan.message_size];
            for seq in 0..plan.messages() as u32 {
                fill(&mut message, seq);
                sender.send(message.clone()).await?;
                if sender.buffered_amount() > plan.high_water {
                    tokio::time::timeout_at(
                        deadline.into(),
                        sender.wait_buffered_below(plan.low_water),
                    )
                    .await
                    .map_err(|_| "transfer timed out")??;
                }
            }
            tokio::time::timeout_at(deadline.into(), sender.wait_buffered_below(0))
                .await
                .map_err(|_| "transfer timed out")??;
            Ok(())
        }
        .await;
        result.map_err(|e| e.to_string())
    });
    let mut timed_out = false;
    while !tally.complete() {
        if Instant::now() >= deadline {
            timed_out = true;
            break;
        }
        match tokio::time::timeout(TAIL_IDLE, receiver.recv()).await {
            Ok(Some(DataMessage::Binary(data))) => tally.on_message(&data),
            Ok(Some(DataMessage::Text(_))) => {}
            Ok(None) => break,
            Err(_) if sending.is_finished() => break,
            Err(_) => {}
        }
    }
    let sender_error = sending
        .await
        .map_err(|e| e.to_string())
        .and_then(|r| r)
        .err();
    Transfer {
        offered: plan.messages() as u64,
        tally,
        cpu: cpu_time().saturating_sub(cpu_start),
        timed_out,
        sender_error,
    }
}

// ------------------------------------------------------------------- C API

/// What a C application keeps per call: the events it waits for.
#[derive(Default)]
struct CallState {
    members: Vec<String>,
    /// (label, handle) of every DATA_CHANNEL_OPEN.
    open: Vec<(String, rtcgate_data_channel)>,
    errors: Vec<String>,
}

type Shared<T> = (Mutex<T>, Condvar);

unsafe fn text(p: *const std::ffi::c_char) -> String {
    if p.is_null() {
        String::new()
    } else {
        // SAFETY: the library passes NUL-terminated strings valid during the callback.
        unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
    }
}

unsafe extern "C" fn on_call_event(
    _call: rtcgate_call,
    event: *const rtcgate_call_event,
    user_data: *mut c_void,
) {
    // SAFETY: `user_data` is the `Shared<CallState>` that outlives the call
    // (destroy waits for running callbacks); `event` is valid during the call.
    let (state, changed) = unsafe { &*(user_data as *const Shared<CallState>) };
    let event = unsafe { &*event };
    let mut state = state.lock().unwrap();
    match event.type_ {
        rtcgate_call_event_type::RTCGATE_CALL_EVENT_MEMBER_JOINED => {
            state.members.push(unsafe { text(event.member_id) })
        }
        rtcgate_call_event_type::RTCGATE_CALL_EVENT_DATA_CHANNEL_OPEN => state
            .open
            .push((unsafe { text(event.label) }, event.data_channel)),
        rtcgate_call_event_type::RTCGATE_CALL_EVENT_ERROR => {
            state.errors.push(unsafe { text(event.message) })
        }
        _ => {}
    }
    changed.notify_all();
}

fn wait_for<T, R>(
    shared: &Shared<T>,
    deadline: Instant,
    mut pick: impl FnMut(&T) -> Option<R>,
) -> BenchResult<R> {
    let (state, changed) = shared;
    let mut state = state.lock().unwrap();
    loop {
        if let Some(value) = pick(&state) {
            return Ok(value);
        }
        let now = Instant::now();
        if now >= deadline {
            return Err("timed out waiting for a call event".into());
        }
        state = changed.wait_timeout(state, deadline - now).unwrap().0;
    }
}

fn last_error() -> String {
    // SAFETY: the library returns a NUL-terminated per-thread string.
    unsafe { CStr::from_ptr(rtcgate_last_error()) }
        .to_string_lossy()
        .into_owned()
}

struct CPair {
    first: rtcgate_call,
    second: rtcgate_call,
    created: rtcgate_data_channel,
    accepted: rtcgate_data_channel,
    // Boxed so that the pointers handed to the library stay put.
    _states: [Box<Shared<CallState>>; 2],
}

fn c_join(url: &CStr, room: &CStr, name: &CStr, state: &Shared<CallState>) -> BenchResult<i32> {
    // SAFETY: all-zero is the documented default of the config struct.
    let mut config: rtcgate_call_config = unsafe { std::mem::zeroed() };
    config.url = url.as_ptr();
    config.room = room.as_ptr();
    config.display_name = name.as_ptr();
    let call = rtcgate_call_join(
        &config,
        Some(on_call_event),
        state as *const Shared<CallState> as *mut c_void,
    );
    if call < 0 {
        return Err(format!("rtcgate_call_join: {}", last_error()).into());
    }
    Ok(call)
}

/// The same steps as [`core_connect`], through the C API only (blocking).
fn c_connect(url: &str, room: &str, reliable: bool) -> BenchResult<(CPair, Duration)> {
    let deadline = Instant::now() + Duration::from_secs(30);
    let (url, room) = (CString::new(url)?, CString::new(room)?);
    let states: [Box<Shared<CallState>>; 2] = Default::default();
    let first = c_join(&url, &room, c"first", &states[0])?;
    let start = Instant::now();
    let second = match c_join(&url, &room, c"second", &states[1]) {
        Ok(call) => call,
        Err(err) => {
            rtcgate_call_destroy(first);
            return Err(err);
        }
    };
    let pair = CPair {
        first,
        second,
        created: 0,
        accepted: 0,
        _states: states,
    };
    match c_open_channel(pair, deadline, reliable) {
        Ok(pair) => Ok((pair, start.elapsed())),
        Err((pair, err)) => {
            c_close(pair);
            Err(err)
        }
    }
}

type Failed = (CPair, Box<dyn std::error::Error + Send + Sync>);

fn c_open_channel(mut pair: CPair, deadline: Instant, reliable: bool) -> Result<CPair, Failed> {
    let member = match wait_for(&pair._states[1], deadline, |s| s.members.first().cloned()) {
        Ok(member) => CString::new(member).unwrap_or_default(),
        Err(err) => return Err((pair, err)),
    };
    let options = rtcgate_data_channel_options {
        unordered: !reliable,
        max_retransmits: 0,
        unreliable: !reliable,
        protocol: std::ptr::null(),
    };
    let created =
        rtcgate_call_create_data_channel(pair.second, member.as_ptr(), c"bench".as_ptr(), &options);
    if created < 0 {
        let err = format!("rtcgate_call_create_data_channel: {}", last_error()).into();
        return Err((pair, err));
    }
    pair.created = created;
    let opened = |s: &CallState| s.open.iter().find(|(l, _)| l == "bench").map(|o| o.1);
    if let Err(err) = wait_for(&pair._states[1], deadline, |s| {
        s.open.iter().any(|o| o.1 == created).then_some(())
    }) {
        return Err((pair, err));
    }
    match wait_for(&pair._states[0], deadline, opened) {
        Ok(accepted) => pair.accepted = accepted,
        Err(err) => return Err((pair, err)),
    }
    Ok(pair)
}

fn c_close(pair: CPair) {
    rtcgate_call_destroy(pair.second);
    rtcgate_call_destroy(pair.first);
}

unsafe extern "C" fn on_message(
    _channel: rtcgate_data_channel,
    data: *const u8,
    size: usize,
    is_text: bool,
    user_data: *mut c_void,
) {
    if is_text {
        return;
    }
    // SAFETY: `user_data` is the `Shared<Tally>` kept alive until the
    // callback is removed; `data` holds `size` bytes during the call.
    let (tally, changed) = unsafe { &*(user_data as *const Shared<Tally>) };
    let message = unsafe { std::slice::from_raw_parts(data, size) };
    let mut tally = tally.lock().unwrap();
    tally.on_message(message);
    if tally.complete() {
        changed.notify_all();
    }
}

/// A C application's sender: send, and while more than `high_water` is
/// buffered, block in `rtcgate_data_channel_wait_buffered_below(low_water)`.
fn c_send_all(plan: Plan, channel: rtcgate_data_channel, deadline: Instant) -> Result<(), String> {
    let wait_below = |level: usize| -> Result<(), String> {
        let left = deadline.saturating_duration_since(Instant::now());
        let ms = i32::try_from(left.as_millis()).unwrap_or(i32::MAX);
        if rtcgate_data_channel_wait_buffered_below(channel, level as u32, ms) < 0 {
            return Err(format!("wait_buffered_below: {}", last_error()));
        }
        Ok(())
    };
    let mut message = vec![0u8; plan.message_size];
    for seq in 0..plan.messages() as u32 {
        fill(&mut message, seq);
        if rtcgate_data_channel_send(channel, message.as_ptr(), message.len()) < 0 {
            return Err(format!("send: {}", last_error()));
        }
        let amount = rtcgate_data_channel_buffered_amount(channel);
        if amount < 0 {
            return Err(format!("buffered_amount: {}", last_error()));
        }
        if amount as usize > plan.high_water {
            wait_below(plan.low_water)?;
        }
    }
    wait_below(0)
}

fn c_transfer(plan: Plan, pair: &CPair) -> Transfer {
    let deadline = Instant::now() + plan.timeout;
    let cpu_start = cpu_time();
    let shared: Box<Shared<Tally>> = Box::new((Mutex::new(Tally::new(plan)), Condvar::new()));
    let user_data = &*shared as *const Shared<Tally> as *mut c_void;
    rtcgate_data_channel_set_message_callback(pair.accepted, Some(on_message), user_data);
    let created = pair.created;
    let sending = std::thread::spawn(move || c_send_all(plan, created, deadline));
    let mut timed_out = false;
    {
        let (tally, changed) = &*shared;
        let mut guard = tally.lock().unwrap();
        let mut sender_done_at: Option<Instant> = None;
        loop {
            if guard.complete() {
                break;
            }
            let now = Instant::now();
            if now >= deadline {
                timed_out = true;
                break;
            }
            if sending.is_finished() {
                // Unreliable: stop after TAIL_IDLE without a new delivery.
                let since = sender_done_at.get_or_insert(now);
                let quiet_since = guard.last.map_or(*since, |l| l.max(*since));
                if now.duration_since(quiet_since) >= TAIL_IDLE {
                    break;
                }
            }
            guard = changed
                .wait_timeout(guard, Duration::from_millis(50))
                .unwrap()
                .0;
        }
    }
    // Returns once no message callback of the channel is running.
    rtcgate_data_channel_set_message_callback(pair.accepted, None, std::ptr::null_mut());
    let sender_error = sending
        .join()
        .unwrap_or(Err("sender panicked".into()))
        .err();
    let tally = shared.0.lock().unwrap().clone();
    Transfer {
        offered: plan.messages() as u64,
        tally,
        cpu: cpu_time().saturating_sub(cpu_start),
        timed_out,
        sender_error,
    }
}

// ------------------------------------------------------------------ report

fn median(mut values: Vec<f64>) -> Option<f64> {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied()
}

fn percentile(values: &[Duration], p: f64) -> Option<f64> {
    let mut sorted = values.to_vec();
    sorted.sort();
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted
        .get(rank.clamp(1, sorted.len().max(1)) - 1)
        .map(|d| d.as_secs_f64() * 1e3)
}

struct Row {
    name: String,
    core: Option<f64>,
    c: Option<f64>,
    /// Ratio C/core when higher is better, core/C when lower is better.
    higher_is_better: bool,
}

fn print_table(rows: &[Row]) {
    println!("\n{:<46} {:>10} {:>10} {:>8}", "", "core", "C API", "ratio");
    let fmt = |v: Option<f64>| v.map_or("-".to_owned(), |v| format!("{v:.2}"));
    for row in rows {
        let ratio = match (row.core, row.c) {
            (Some(core), Some(c)) if row.higher_is_better && core > 0.0 => {
                format!("{:.3}", c / core)
            }
            (Some(core), Some(c)) if !row.higher_is_better && c > 0.0 => {
                format!("{:.3}", core / c)
            }
            _ => "-".to_owned(),
        };
        println!(
            "{:<46} {:>10} {:>10} {:>8}",
            row.name,
            fmt(row.core),
            fmt(row.c),
            ratio
        );
    }
    println!(
        "(ratio: C API / core for throughput, core / C API for times and CPU; ≥ 1 = C API as good or better)"
    );
}

fn print_transfer(stack: Stack, round: usize, t: &Transfer) {
    println!(
        "  {:<5} round {round}: {:>6.1} MB/s ({:.1} outside stalls), {}/{} messages in {:.2} s, \
         CPU {:.2} s, stalled {:.1} s, corrupt {}, out of order {}, duplicates {}{}{}",
        stack.name(),
        t.mb_per_s(),
        t.active_mb_per_s(),
        t.tally.delivered,
        t.offered,
        t.elapsed().as_secs_f64(),
        t.cpu.as_secs_f64(),
        t.tally.stalled.as_secs_f64(),
        t.tally.corrupt,
        t.tally.out_of_order,
        t.tally.duplicates,
        if t.timed_out { ", TIMED OUT" } else { "" },
        t.sender_error
            .as_ref()
            .map(|e| format!(", sender: {e}"))
            .unwrap_or_default()
    );
}

// -------------------------------------------------------------------- main

fn has_non_loopback_interface() -> bool {
    std::net::UdpSocket::bind("0.0.0.0:0")
        .and_then(|s| s.connect("10.99.0.1:9").map(|_| s))
        .and_then(|s| s.local_addr())
        .is_ok_and(|a| !a.ip().is_loopback())
}

fn main() {
    if !has_non_loopback_interface() {
        eprintln!(
            "this benchmark needs a non-loopback interface: run it through \
             `.ci/with-netns cargo bench -p rtcgate-ffi --offline --bench c_vs_core`"
        );
        std::process::exit(2);
    }
    let config = Config::from_env();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(config.threads)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let options = rtcgate_options {
        log_level: 0,
        log_filter: std::ptr::null(),
        log_callback: None,
        log_user_data: std::ptr::null_mut(),
        worker_threads: config.threads as i32,
    };
    assert_eq!(rtcgate_init(&options), 0, "rtcgate_init: {}", last_error());
    let started = Instant::now();
    println!(
        "rtcgate C API vs core ({} mode), {} runtime threads each",
        if config.quick { "quick" } else { "full" },
        config.threads
    );
    let server = runtime
        .block_on(SignallingServer::bind(
            SocketAddr::from(([127, 0, 0, 1], 0)),
            ServerConfig::default(),
        ))
        .expect("signalling server");
    let url = server.url();
    let mut rows = Vec::new();
    let mut room = 0;
    let mut next_room = || {
        room += 1;
        format!("bench-{room}")
    };

    for plan in config.plans {
        println!(
            "\n{} messages, {} MiB, pause above {} KiB buffered, resume at {} KiB",
            plan.name(),
            plan.total_bytes / MIB,
            plan.high_water / KIB,
            plan.low_water / KIB
        );
        let (mut core, mut c) = (Vec::new(), Vec::new());
        for round in 0..plan.rounds {
            let mut order = [Stack::Core, Stack::CApi];
            if round % 2 == 1 {
                order.reverse();
            }
            for stack in order {
                let room = next_room();
                let result = match stack {
                    Stack::Core => runtime.block_on(async {
                        let (pair, _) = core_connect(&url, &room, plan.reliable).await?;
                        let transfer = core_transfer(plan, &pair).await;
                        core_close(pair).await;
                        BenchResult::Ok(transfer)
                    }),
                    Stack::CApi => c_connect(&url, &room, plan.reliable).map(|(pair, _)| {
                        let transfer = c_transfer(plan, &pair);
                        c_close(pair);
                        transfer
                    }),
                };
                match result {
                    Ok(t) => {
                        print_transfer(stack, round, &t);
                        match stack {
                            Stack::Core => core.push(t),
                            Stack::CApi => c.push(t),
                        }
                    }
                    Err(err) => println!("  {:<5} round {round}: failed: {err}", stack.name()),
                }
            }
        }
        let stat = |ts: &[Transfer], f: fn(&Transfer) -> f64| median(ts.iter().map(f).collect());
        let row = |name: &str, f: fn(&Transfer) -> f64, higher_is_better| Row {
            name: format!("{} {name}", plan.name()),
            core: stat(&core, f),
            c: stat(&c, f),
            higher_is_better,
        };
        rows.push(row("throughput (MB/s)", Transfer::mb_per_s, true));
        rows.push(row(
            "outside stalls (MB/s)",
            Transfer::active_mb_per_s,
            true,
        ));
        rows.push(row(
            "CPU per MB delivered (ms)",
            Transfer::cpu_per_mb_ms,
            false,
        ));
        if plan.reliable {
            let clean = |ts: &[Transfer]| Some(ts.iter().filter(|t| t.clean()).count() as f64);
            rows.push(Row {
                name: format!("{} clean transfers", plan.name()),
                core: clean(&core),
                c: clean(&c),
                higher_is_better: true,
            });
        } else {
            rows.push(row("delivered (%)", Transfer::delivered_percent, true));
        }
    }

    println!(
        "\njoin → data channel open ({} samples per stack)",
        config.joins
    );
    let (mut core_joins, mut c_joins) = (Vec::new(), Vec::new());
    let (mut core_cpu, mut c_cpu) = (Duration::ZERO, Duration::ZERO);
    for i in 0..config.joins {
        let mut order = [Stack::Core, Stack::CApi];
        if i % 2 == 1 {
            order.reverse();
        }
        for stack in order {
            let room = next_room();
            let cpu_start = cpu_time();
            let result = match stack {
                Stack::Core => runtime.block_on(async {
                    let (pair, setup) = core_connect(&url, &room, true).await?;
                    core_close(pair).await;
                    BenchResult::Ok(setup)
                }),
                Stack::CApi => c_connect(&url, &room, true).map(|(pair, setup)| {
                    c_close(pair);
                    setup
                }),
            };
            let cpu = cpu_time().saturating_sub(cpu_start);
            match (result, stack) {
                (Ok(setup), Stack::Core) => {
                    core_joins.push(setup);
                    core_cpu += cpu;
                }
                (Ok(setup), Stack::CApi) => {
                    c_joins.push(setup);
                    c_cpu += cpu;
                }
                (Err(err), _) => println!("  join {i} on {}: {err}", stack.name()),
            }
        }
    }
    for (stack, joins) in [(Stack::Core, &core_joins), (Stack::CApi, &c_joins)] {
        println!(
            "  {:<5} {} samples: min {:.0} ms, p50 {:.0} ms, p95 {:.0} ms, max {:.0} ms",
            stack.name(),
            joins.len(),
            percentile(joins, 0.0).unwrap_or(f64::NAN),
            percentile(joins, 50.0).unwrap_or(f64::NAN),
            percentile(joins, 95.0).unwrap_or(f64::NAN),
            percentile(joins, 100.0).unwrap_or(f64::NAN),
        );
    }
    for p in [50.0, 95.0] {
        rows.push(Row {
            name: format!("join → channel open p{p:.0} (ms)"),
            core: percentile(&core_joins, p),
            c: percentile(&c_joins, p),
            higher_is_better: false,
        });
    }
    let per_pair = |cpu: Duration, n: usize| (n > 0).then(|| cpu.as_secs_f64() * 1e3 / n as f64);
    rows.push(Row {
        name: "CPU per pair join+open+leave (ms)".into(),
        core: per_pair(core_cpu, core_joins.len()),
        c: per_pair(c_cpu, c_joins.len()),
        higher_is_better: false,
    });

    runtime.block_on(server.shutdown());
    rtcgate_shutdown();
    print_table(&rows);
    println!("total time {:.0} s", started.elapsed().as_secs_f64());
}
