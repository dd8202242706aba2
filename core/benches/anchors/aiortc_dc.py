#!/usr/bin/env python3
"""aiortc data-channel anchor: the same transfer, join and memory measurements as
core/benches/overhead/ makes for rtcgate and raw webrtc-rs, for aiortc.

Two RTCPeerConnections in one asyncio loop, no ICE servers, direct in-process
signalling (aiortc puts the gathered host candidates in the descriptions, as the
raw webrtc-rs baseline does). Run it inside .ci/with-netns. See README.md.
"""

import asyncio
import sys
import time

import aiortc
from aiortc import RTCConfiguration, RTCPeerConnection

import common
from common import log

STACK = "aiortc"
VERSION = aiortc.__version__


class Pair:
    def __init__(self, offerer, answerer, created, accepted):
        self.offerer = offerer
        self.answerer = answerer
        self.created = created
        self.accepted = accepted

    async def close(self):
        await asyncio.gather(self.offerer.close(), self.answerer.close())


def channel_open(channel):
    """A future that completes when `channel` is open."""
    fut = asyncio.get_running_loop().create_future()
    if channel.readyState == "open":
        fut.set_result(None)
    else:
        @channel.on("open")
        def _():
            if not fut.done():
                fut.set_result(None)
    return fut


async def _connect(reliable):
    # iceServers=[]: without it aiortc adds a Google STUN server (the others use none).
    offerer = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    answerer = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    accepted = asyncio.get_running_loop().create_future()

    @answerer.on("datachannel")
    def _(channel):
        if not accepted.done():
            accepted.set_result(channel)

    if reliable:
        created = offerer.createDataChannel("bench", ordered=True)
    else:
        created = offerer.createDataChannel("bench", ordered=False, maxRetransmits=0)
    await offerer.setLocalDescription(await offerer.createOffer())
    await answerer.setRemoteDescription(offerer.localDescription)
    await answerer.setLocalDescription(await answerer.createAnswer())
    await offerer.setRemoteDescription(answerer.localDescription)
    remote = await accepted
    await asyncio.gather(channel_open(created), channel_open(remote))
    return Pair(offerer, answerer, created, remote)


async def connect(reliable):
    """A connected pair with one open channel, and the setup time in ms."""
    start = time.monotonic()
    try:
        pair = await asyncio.wait_for(_connect(reliable), common.CONNECT_TIMEOUT_S)
    except asyncio.TimeoutError:
        raise common.ConnectError(
            f"aiortc pair did not open its data channel within {common.CONNECT_TIMEOUT_S:.0f} s")
    return pair, (time.monotonic() - start) * 1e3


async def throughput(args):
    pair, setup_ms = await connect(args.reliable)
    log(f"connected in {setup_ms:.0f} ms")
    messages = common.Messages(args.message_size)
    count = args.total_bytes // args.message_size
    sender, receiver = pair.created, pair.accepted
    low_event = asyncio.Event()

    @sender.on("bufferedamountlow")
    def _():
        low_event.set()

    tally = None

    @receiver.on("message")
    def _(message):
        if isinstance(message, str):
            message = message.encode()
        tally.on_message(message)

    sender.bufferedAmountLowThreshold = args.low_water
    cpu_start = common.cpu_time()
    drops_start = common.udp_receive_buffer_errors()
    start = time.monotonic()
    deadline = start + args.timeout
    tally = common.Tally(messages, count, start)
    state = {"sender_done": False}

    async def wait_buffered_below(limit):
        while sender.bufferedAmount > limit:
            if sender.readyState != "open":
                raise RuntimeError("data channel closed")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise RuntimeError("transfer timed out")
            low_event.clear()
            try:
                await asyncio.wait_for(low_event.wait(), min(common.RECHECK_S, remaining))
            except asyncio.TimeoutError:
                pass

    async def send_all():
        try:
            for seq in range(count):
                sender.send(messages.make(seq))
                if sender.bufferedAmount > args.high_water:
                    await wait_buffered_below(args.low_water)
            await wait_buffered_below(0)
            return None
        except Exception as err:  # reported, like the Rust sender's error
            return str(err) or type(err).__name__
        finally:
            state["sender_done"] = True

    async def receive():
        timed_out = False
        while not tally.complete():
            now = time.monotonic()
            if now >= deadline:
                timed_out = True
                break
            if tally.tail_over(state["sender_done"], now):
                break
            # The tally timestamps every message itself: checking the end
            # conditions every 10 ms costs less than waking up per message.
            await asyncio.sleep(0.01)
        return timed_out

    sender_error, timed_out = await asyncio.gather(send_all(), receive())
    cpu_s = common.cpu_time() - cpu_start
    drops_end = common.udp_receive_buffer_errors()
    udp_drops = None if drops_start is None or drops_end is None else max(drops_end - drops_start, 0)
    elapsed_s = (tally.last_delivery - start) if tally.last_delivery is not None else 0.0
    timed_out = timed_out or time.monotonic() >= deadline
    result = common.transfer_json(STACK, VERSION, args, tally, elapsed_s, cpu_s, udp_drops,
                                  timed_out, sender_error, setup_ms)
    await pair.close()
    return result


async def join(args):
    # One uncounted pair first (lazy imports and first-use costs), as for webrtcbin.
    warm, warmup_ms = await connect(True)
    await warm.close()
    log(f"warm-up pair: {warmup_ms:.1f} ms (not counted)")
    samples = []
    for i in range(args.samples):
        pair, ms = await connect(True)
        samples.append(ms)
        log(f"join {i}: {ms:.1f} ms")
        await pair.close()
    return {"stack": STACK, "version": VERSION, "samples_ms": samples, "warmup_ms": warmup_ms}


async def memory(args):
    common.raise_fd_limit()
    warm, _ = await connect(True)
    await asyncio.sleep(common.SETTLE_S)
    before = common.rss_bytes()
    held = []
    start = time.monotonic()
    batch = 4  # pairs connected at once
    while len(held) < args.pairs:
        n = min(batch, args.pairs - len(held))
        pairs = await asyncio.gather(*(connect(True) for _ in range(n)))
        held.extend(pair for pair, _ in pairs)
    setup_s = time.monotonic() - start
    await asyncio.sleep(common.SETTLE_S)
    after = common.rss_bytes()
    log(f"{args.pairs} pairs connected in {setup_s:.1f} s")
    mib = 1024 * 1024
    result = {
        "stack": STACK,
        "version": VERSION,
        "pairs": args.pairs,
        "rss_before_mib": before / mib,
        "rss_after_mib": after / mib,
        "per_pair_mib": (after - before) / mib / max(args.pairs, 1),
    }
    await asyncio.gather(*(pair.close() for pair in held + [warm]))
    return result


def main():
    args = common.parse_args()
    if not common.has_non_loopback_interface():
        log("warning: no non-loopback interface (run inside .ci/with-netns)")
    run = {"throughput": throughput, "join": join, "memory": memory}[args.command]
    try:
        result = asyncio.run(run(args))
    except common.ConnectError as err:
        log(f"error: {err}")
        return 2
    log(common.summary(result))
    common.emit(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
