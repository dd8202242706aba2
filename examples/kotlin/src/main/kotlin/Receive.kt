// Joins a room and prints what arrives from every other member's tracks,
// through the JNI receive path (io.rtcgate.FrameReceiver: frames pushed into
// Kotlin in direct buffers over the library's memory). See README.md beside
// this file.
//
//   receive URL ROOM [SECONDS]

import io.rtcgate.Call
import io.rtcgate.CallConfig
import io.rtcgate.CallEvent
import io.rtcgate.CallListener
import io.rtcgate.FrameInfo
import io.rtcgate.FrameReceiver
import io.rtcgate.FrameSink
import java.nio.ByteBuffer
import java.util.concurrent.ConcurrentHashMap
import kotlin.system.exitProcess
import kotlinx.coroutines.delay
import kotlinx.coroutines.runBlocking

/** What one track delivered so far (written on its receiver's thread). */
class TrackTally(val label: String) : FrameSink {
    @Volatile var frames = 0L
    @Volatile var keyframes = 0L
    @Volatile var bytes = 0L
    @Volatile var lastMs = 0L
    @Volatile var ended = false

    override fun onFrame(data: ByteBuffer, info: FrameInfo) {
        // A decoder would copy `data` into its input buffer here; it is valid only during this call.
        frames++
        if (info.keyframe) keyframes++
        bytes += data.remaining()
        lastMs = info.timestampUs / 1000
    }

    override fun onEnded() {
        ended = true
    }

    override fun onError(error: Throwable) = System.err.println("$label: $error")

    override fun toString() =
        "$label: $frames frames ($keyframes keyframes), $bytes bytes, media time $lastMs ms" + if (ended) ", ended" else ""
}

fun main(args: Array<String>) = runBlocking<Unit> {
    if (args.size !in 2..3) {
        System.err.println("usage: receive URL ROOM [SECONDS]")
        exitProcess(2)
    }
    val (url, room) = args
    val seconds = args.getOrNull(2)?.toLong() ?: 10
    val tallies = ConcurrentHashMap<String, TrackTally>()
    val receivers = ConcurrentHashMap.newKeySet<FrameReceiver>()
    val listener = object : CallListener {
        override fun onEvent(event: CallEvent) {
            when (event) {
                is CallEvent.MemberJoined -> println("member ${event.member.name} (${event.member.id})")
                is CallEvent.TrackAdded -> {
                    val track = event.track
                    val tally = TrackTally("${track.memberId()}/${track.id()} ${track.codec()}")
                    tallies[tally.label] = tally
                    receivers += FrameReceiver.start(track, tally)
                    println("receiving ${tally.label}")
                }
                else -> {}
            }
        }
    }
    val call = Call.join(url, room, "kotlin-receiver", CallConfig(), listener)
    println("joined room '$room' as ${call.selfId()} for $seconds s")
    for (elapsed in 2..seconds step 2) {
        delay(2000)
        tallies.values.sortedBy { it.label }.forEach { println("[${elapsed}s] $it") }
    }
    receivers.forEach { it.close() }
    call.leave()
    call.close()
    val total = tallies.values.sumOf { it.frames }
    println("received $total frames on ${tallies.size} track(s)")
    if (total == 0L) exitProcess(1)
}
