package io.rtcgate

import java.nio.ByteBuffer
import kotlinx.coroutines.runBlocking

/**
 * Frames/s and MB/s handed to the library: the JNI path ([FramePipe.push],
 * direct buffer) against the uniffi/JNA path (`LocalTrack.pushSampleBlocking`
 * and the `suspend` `pushSample`), for 1 KiB, 16 KiB and 200 KiB VP8-shaped
 * frames, in one run. The track is in no call, so what is measured is the
 * crossing plus RTP payloading (the same for every path), not the network.
 *
 *   mvn -q test-compile exec:java -Dexec.classpathScope=test \
 *       -Dexec.mainClass=io.rtcgate.FramePipeBenchmarkKt
 * (docs/benchmarks.md; RTCGATE_LIB_DIR for another build of the library)
 */
fun main() {
    val seconds = (System.getenv("BENCH_SECONDS") ?: "2").toDouble()
    println("| frame | path | frames/s | MB/s |")
    println("|---|---|---:|---:|")
    LocalTrack(Codec.VP8, "bench-baseline", "bench").use { track ->
        // The cost of one uniffi/JNA call that does nothing (calls/s in the frames/s column).
        report(0, "uniffi/JNA empty call (samplesWritten), calls/s", seconds) { track.samplesWritten() }
    }
    for (size in listOf(1024, 16 * 1024, 200 * 1024)) {
        val bytes = syntheticFrame(1, size)
        val direct = ByteBuffer.allocateDirect(size).put(bytes).flip()
        LocalTrack(Codec.VP8, "bench-$size", "bench").use { track ->
            FramePipe.forLocal(track).use { pipe ->
                report(size, "JNI FramePipe.push (direct buffer)", seconds) { i ->
                    direct.rewind()
                    pipe.push(direct, i * 33_333L)
                }
            }
            report(size, "uniffi/JNA pushSampleBlocking (ByteArray)", seconds) { i ->
                track.pushSampleBlocking(bytes, (i * 33_333L).toULong())
            }
            report(size, "uniffi/JNA suspend pushSample (ByteArray)", seconds) { i ->
                runBlocking { track.pushSample(bytes, (i * 33_333L).toULong()) }
            }
        }
    }
}

private fun report(size: Int, path: String, seconds: Double, push: (Long) -> Unit) {
    // Warm-up (JIT, allocator), then a timed run.
    val warmUntil = System.nanoTime() + 300_000_000L
    var i = 0L
    while (System.nanoTime() < warmUntil) push(i++)
    val start = System.nanoTime()
    val end = start + (seconds * 1e9).toLong()
    var n = 0L
    while (System.nanoTime() < end) {
        push(i++)
        n++
    }
    val elapsed = (System.nanoTime() - start) / 1e9
    val fps = n / elapsed
    val label = if (size >= 1024) "${size / 1024} KiB" else "-"
    println("| $label | $path | %.0f | %.1f |".format(fps, fps * size / 1e6))
}
