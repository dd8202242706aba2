package io.rtcgate

import java.io.File
import java.nio.ByteBuffer
import java.nio.ByteOrder
import kotlinx.coroutines.channels.Channel
import kotlinx.coroutines.withTimeout

/** The repository root (surefire passes it; the tests read clips from it). */
val repo: File = File(System.getProperty("rtcgate.repo") ?: "..").canonicalFile

/** Fails at once, pointing at docs/testing.md, outside `.ci/with-netns`. */
fun requireNetns() {
    check(System.getenv("RTCGATE_NETNS") != null) {
        "this test needs real interfaces: run it inside .ci/with-netns (docs/testing.md)"
    }
}

/** Items a listener delivers on library threads, read by a test with a time limit. */
class Inbox<T> {
    private val channel = Channel<T>(Channel.UNLIMITED)

    fun put(item: T) {
        channel.trySend(item)
    }

    /** The first item for which [pick] returns non-null, within [seconds]. */
    suspend fun <R : Any> next(what: String, seconds: Long = 30, pick: (T) -> R?): R =
        try {
            withTimeout(seconds * 1000) {
                while (true) {
                    val item = channel.receive()
                    pick(item)?.let { return@withTimeout it }
                }
                @Suppress("UNREACHABLE_CODE")
                error("unreachable")
            }
        } catch (e: kotlinx.coroutines.TimeoutCancellationException) {
            throw AssertionError("timed out after $seconds s waiting for $what", e)
        }
}

class CallInbox : CallListener {
    val events = Inbox<CallEvent>()
    override fun onEvent(event: CallEvent) = events.put(event)
}

class FrameInbox : FrameListener {
    val frames = Inbox<Frame?>()
    override fun onFrame(frame: Frame) = frames.put(frame)
    override fun onEnded() = frames.put(null)
}

class LowInbox : BufferedAmountLowListener {
    val amounts = Inbox<ULong>()
    /** Events delivered so far. */
    val count = java.util.concurrent.atomic.AtomicInteger()
    override fun onBufferedAmountLow(bufferedAmount: ULong) {
        count.incrementAndGet()
        amounts.put(bufferedAmount)
    }
}

class MessageInbox : DataChannelListener {
    val messages = Inbox<DataMessage?>()
    override fun onMessage(message: DataMessage) = messages.put(message)
    override fun onClosed() = messages.put(null)
}

/**
 * A synthetic encoded frame, as core's tests make them: a VP8-style key bit
 * in byte 0 (keyframe every 30 frames), the index in bytes 1..5, then a
 * pattern derived from the index.
 */
fun syntheticFrame(index: Int, size: Int = 500 + (index % 7) * 900): ByteArray {
    val data = ByteArray(size)
    data[0] = if (index % 30 == 0) 0x10 else 0x11
    ByteBuffer.wrap(data, 1, 4).order(ByteOrder.BIG_ENDIAN).putInt(index)
    for (i in 5 until size) data[i] = (i * 31 + index).toByte()
    return data
}

/** The index a synthetic frame carries if [data] is exactly one. */
fun syntheticIndex(data: ByteArray): Int? {
    if (data.size < 5) return null
    val index = ByteBuffer.wrap(data, 1, 4).order(ByteOrder.BIG_ENDIAN).int
    return index.takeIf { syntheticFrame(it, data.size).contentEquals(data) }
}

/** The frames of an IVF file (VP8/VP9/AV1 clips in examples/media). */
fun ivfFrames(file: File): List<ByteArray> {
    val bytes = file.readBytes()
    val buffer = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN)
    val headerSize = buffer.getShort(6).toInt()
    val frames = mutableListOf<ByteArray>()
    var at = headerSize
    while (at + 12 <= bytes.size) {
        val size = buffer.getInt(at)
        frames += bytes.copyOfRange(at + 12, at + 12 + size)
        at += 12 + size
    }
    return frames
}

/** Runs a program and returns its standard output (fails on a non-zero exit). */
fun run(vararg command: String): String {
    val process = ProcessBuilder(*command).redirectErrorStream(false).start()
    val out = process.inputStream.bufferedReader().readText()
    val err = process.errorStream.bufferedReader().readText()
    check(process.waitFor() == 0) { "${command.joinToString(" ")} failed: $err" }
    return out
}
