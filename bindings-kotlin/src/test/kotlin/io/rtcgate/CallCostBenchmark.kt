package io.rtcgate

import com.sun.jna.Native
import com.sun.jna.Pointer

/**
 * Where the cost of one uniffi call from Kotlin goes: an empty uniffi method
 * (`LocalTrack.samplesWritten`: two JNA direct-mapped calls, the handle
 * clone and the method, each with a new `UniffiRustCallStatus` JNA
 * `Structure` that holds a `RustBuffer.ByValue` Structure) against a JNA
 * direct-mapped call of the same library without any Structure
 * (`rtcgate_version` of the C ABI) and against allocating the call-status
 * Structure alone. No network; run outside the namespace:
 *
 *   mvn -q test-compile exec:java -Dexec.classpathScope=test \
 *       -Dexec.mainClass=io.rtcgate.CallCostBenchmarkKt
 *
 * (RTCGATE_LIB_DIR for another build of the library; docs/benchmarks-jni.md)
 */
fun main() {
    val seconds = (System.getenv("BENCH_SECONDS") ?: "2").toDouble()
    println("| call | ns/call | calls/s |")
    println("|---|---:|---:|")
    LocalTrack(Codec.VP8, "bench", "bench").use { track ->
        measure("uniffi method `samplesWritten()` (2 JNA calls, 2 call-status Structures)", seconds) {
            track.samplesWritten().toLong()
        }
    }
    measure("uniffi free function `version()` (1 JNA call, 1 Structure, a RustBuffer back)", seconds) {
        version().length.toLong()
    }
    measure("JNA direct call `rtcgate_version()` (C ABI, no Structure)", seconds) {
        Pointer.nativeValue(CAbi.rtcgate_version())
    }
    measure("allocating `UniffiRustCallStatus()` alone (no call)", seconds) {
        UniffiRustCallStatus().code.toLong()
    }
}

/** The C ABI's `rtcgate_version`, bound the way uniffi binds its functions (JNA direct mapping). */
internal object CAbi {
    init {
        Native.register(CAbi::class.java, System.getProperty("jna.library.path") + "/librtcgate.so")
    }

    external fun rtcgate_version(): Pointer
}

private fun measure(what: String, seconds: Double, call: () -> Long) {
    var sink = 0L
    val warmUntil = System.nanoTime() + 500_000_000L
    while (System.nanoTime() < warmUntil) sink += call()
    val start = System.nanoTime()
    val end = start + (seconds * 1e9).toLong()
    var n = 0L
    while (System.nanoTime() < end) {
        sink += call()
        n++
    }
    val ns = (System.nanoTime() - start).toDouble() / n
    println("| $what | %.0f | %.0f |".format(ns, 1e9 / ns) + if (sink == 42L) " " else "")
}
