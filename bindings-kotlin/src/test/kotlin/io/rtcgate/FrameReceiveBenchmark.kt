package io.rtcgate

import java.lang.management.ManagementFactory
import java.nio.ByteBuffer
import java.util.concurrent.ConcurrentHashMap
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.delay
import kotlinx.coroutines.launch
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout

/**
 * Receive-side cost per frame, in one run, on the same frames: the JNI path
 * ([FrameReceiver]: a library thread calls Java with a direct buffer over
 * the frame) against the uniffi/JNA path ([FrameListener]: uniffi copies the
 * frame into a `RustBuffer`, JNA calls the Kotlin callback, which lifts it
 * into a `Frame` with a `ByteArray`). Both readers are subscribed to the
 * same remote track of a real call (two `Call`s over veth addresses), so
 * each gets every frame; each sink does the same trivial work (reads the
 * first and last byte).
 *
 * The cost is the CPU time of the delivery thread between its first and last
 * callback (`ThreadMXBean.getCurrentThreadCpuTime`, the OS thread's clock)
 * divided by the frames in between: the wake-up and queue read (the same on
 * both paths) plus the crossing into Java and, for uniffi, the copies.
 * Also printed: how many distinct `java.lang.Thread` objects the callbacks
 * ran on (1 = attached once; more = attached anew for each callback).
 *
 * Run inside the network namespace (real interfaces), after
 * `cargo build -p rtcgate-ffi` and `mvn -q test-compile` outside:
 *
 *   ../.ci/with-netns mvn -o -q exec:java -Dexec.classpathScope=test \
 *       -Dexec.mainClass=io.rtcgate.FrameReceiveBenchmarkKt
 *
 * BENCH_FRAMES (default 1500) frames per size, sent at BENCH_FPS (default 300).
 * docs/benchmarks-jni.md has the results.
 */
fun main() = runBlocking<Unit> {
    requireNetns()
    val frames = (System.getenv("BENCH_FRAMES") ?: "1500").toInt()
    val fps = (System.getenv("BENCH_FPS") ?: "300").toInt()
    println("| frame | path | frames | CPU µs/frame | Java threads | JNA÷JNI |")
    println("|---|---|---:|---:|---:|---:|")
    SignallingServer.start(null, null).use { server ->
        for (size in listOf(1024, 16 * 1024, 64 * 1024)) {
            val room = "bench-rx-$size"
            val alice = CallInbox()
            val bob = CallInbox()
            Call.join(server.url(), room, "alice", CallConfig(), alice).use { aliceCall ->
                val video = LocalTrack(Codec.VP8, "bench-$size", "alice")
                aliceCall.addTrack(video)
                Call.join(server.url(), room, "bob", CallConfig(), bob).use { bobCall ->
                    alice.events.next("connected") { e ->
                        (e as? CallEvent.ConnectionStateChanged)?.takeIf { it.state == ConnectionState.CONNECTED }
                    }
                    // One keyframe first, so that both readers start at once.
                    video.pushSample(syntheticFrame(0, size), 0u)
                    val remote = bob.events.next("track") { e -> (e as? CallEvent.TrackAdded)?.track }
                    val jni = Meter()
                    val jna = Meter()
                    val receiver = FrameReceiver.start(remote, object : FrameSink {
                        override fun onFrame(data: ByteBuffer, info: FrameInfo) {
                            jni.frame(data.get(0).toInt() + data.get(data.limit() - 1).toInt())
                        }
                    })
                    remote.setListener(object : FrameListener {
                        override fun onFrame(frame: Frame) {
                            jna.frame(frame.data[0].toInt() + frame.data[frame.data.size - 1].toInt())
                        }

                        override fun onEnded() {}
                    })
                    val sender = launch(Dispatchers.IO) {
                        val periodNs = 1_000_000_000L / fps
                        val start = System.nanoTime()
                        for (i in 1 until frames) {
                            // Keyframe every 30 (synthetic frames carry the VP8 key bit).
                            video.pushSampleBlocking(syntheticFrame(i, size), (i * 1_000_000L / fps).toULong())
                            val due = start + i * periodNs
                            val wait = due - System.nanoTime()
                            if (wait > 0) delay(wait / 1_000_000)
                        }
                    }
                    sender.join()
                    // Both readers drain what arrived: wait until neither moves for 500 ms.
                    withTimeout(60_000) {
                        while (true) {
                            val seen = jni.count to jna.count
                            delay(500)
                            if (seen == (jni.count to jna.count) && seen.first > 0 && seen.second > 0) break
                        }
                    }
                    receiver.close()
                    remote.setListener(null)
                    val label = "${size / 1024} KiB"
                    val ratio = jna.cpuPerFrameUs() / jni.cpuPerFrameUs()
                    println("| $label | JNI FrameReceiver (direct buffer) | ${jni.count} | %.2f | ${jni.threads.size} | |".format(jni.cpuPerFrameUs()))
                    println("| $label | uniffi/JNA FrameListener (ByteArray) | ${jna.count} | %.2f | ${jna.threads.size} | %.1f× |".format(jna.cpuPerFrameUs(), ratio))
                    bobCall.leave()
                }
                aliceCall.leave()
                video.close()
            }
        }
    }
}

/** Frames seen by one path and its delivery thread's CPU clock at the first and last. */
private class Meter {
    private val bean = ManagementFactory.getThreadMXBean()

    @Volatile var count = 0
        private set
    private var firstCpu = 0L
    private var lastCpu = 0L
    private var sink = 0
    val threads: MutableSet<Thread> = ConcurrentHashMap.newKeySet()

    /** Called on the delivery thread (one at a time) with a value read from the frame. */
    fun frame(value: Int) {
        val cpu = bean.currentThreadCpuTime
        if (count == 0) firstCpu = cpu
        lastCpu = cpu
        sink += value
        threads += Thread.currentThread()
        count++
    }

    /** CPU µs of the delivery thread per frame between the first and the last. */
    fun cpuPerFrameUs(): Double = if (count < 2) Double.NaN else (lastCpu - firstCpu) / 1e3 / (count - 1)
}
