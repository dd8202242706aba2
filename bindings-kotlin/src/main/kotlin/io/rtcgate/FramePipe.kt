package io.rtcgate

import java.nio.ByteBuffer
import java.nio.ByteOrder

/**
 * The JNI fast path for encoded media (handwritten; not generated). A pipe
 * pushes samples into a [LocalTrack] or pulls frames from a [RemoteTrack]
 * through direct [ByteBuffer]s: no JNA call, no Java array, no object per
 * frame. The natives are registered by librtcgate's `JNI_OnLoad`
 * (`ffi-c/src/jni/`), so the library must be loaded by the JVM: this class
 * does it with `System.load(System.getProperty("rtcgate.library"))` when the
 * property is set, else `System.loadLibrary("rtcgate")` (Android: jniLibs).
 *
 * A pipe is used from one thread at a time; close it when done (closing
 * twice is harmless).
 */
class FramePipe private constructor(private var id: Long, private val push: Boolean) : AutoCloseable {
    /** The last pulled frame's metadata (native order): time µs, RTP time, flags. */
    private val info: ByteBuffer = ByteBuffer.allocateDirect(16).order(ByteOrder.nativeOrder())

    /** Presentation time (µs since the track's first frame) of the last pulled frame. */
    val timestampUs: Long get() = info.getLong(0)

    /** RTP timestamp of the last pulled frame. */
    val rtpTimestamp: Int get() = info.getInt(8)

    /** Whether the last pulled frame is a keyframe. */
    val keyframe: Boolean get() = info.getInt(12) and 1 != 0

    /** Whether frames were lost before the last pulled frame. */
    val discontinuity: Boolean get() = info.getInt(12) and 2 != 0

    /**
     * Sends `data`'s remaining bytes (position to limit) as one sample with
     * presentation time [timestampUs]. `data` must be direct. Blocks until
     * the sample is handed to the network.
     */
    fun push(data: ByteBuffer, timestampUs: Long) {
        check(push) { "not a push pipe" }
        nativePush(openId(), data, data.position(), data.remaining(), timestampUs)
    }

    /**
     * Waits up to [timeoutMs] for the next frame and writes it at `data`'s
     * start (position 0, limit = size). Returns its size, [TIMEOUT] or
     * [ENDED]. A frame larger than `data`'s capacity throws
     * [BufferTooSmallException] (with the size needed) and stays for the next pull.
     */
    fun pull(data: ByteBuffer, timeoutMs: Long): Int {
        check(!push) { "not a pull pipe" }
        val size = nativePull(openId(), data, info, timeoutMs)
        if (size == TOO_SMALL) throw BufferTooSmallException(info.getLong(0).toInt())
        if (size >= 0) {
            data.clear()
            data.limit(size)
        }
        return size
    }

    override fun close() {
        val pipe = synchronized(this) { id.also { id = 0 } }
        if (pipe != 0L) nativeRelease(pipe)
    }

    private fun openId(): Long = synchronized(this) { id }.also { check(it != 0L) { "FramePipe is closed" } }

    private external fun nativePush(pipe: Long, data: ByteBuffer, offset: Int, length: Int, timestampUs: Long): Int

    private external fun nativePull(pipe: Long, data: ByteBuffer, info: ByteBuffer, timeoutMs: Long): Int

    private external fun nativeRelease(pipe: Long)

    /** A frame did not fit: it needs [size] bytes. */
    class BufferTooSmallException(val size: Int) : RuntimeException("frame needs $size bytes")

    companion object {
        /** [pull]: no frame arrived in time. */
        const val TIMEOUT = -1

        /** [pull]: the track ended. */
        const val ENDED = -2

        private const val TOO_SMALL = -3

        init {
            val path = System.getProperty("rtcgate.library")
            if (path != null) System.load(path) else System.loadLibrary("rtcgate")
        }

        /**
         * Makes sure librtcgate is loaded by the JVM, not only by JNA: its
         * `JNI_OnLoad` registers the natives of [FramePipe] and [FrameReceiver]
         * and keeps the JavaVM, with which the library attaches its listener
         * threads once instead of JNA attaching and detaching them around
         * every uniffi listener call (docs/bindings.md). Call it at start-up
         * in apps that use only the uniffi API; harmless twice.
         */
        fun ensureLoaded() {}

        /** A pipe that pushes samples into [track]. */
        fun forLocal(track: LocalTrack): FramePipe = FramePipe(track.pipeId().toLong(), true)

        /** A pipe that pulls [track]'s frames (from its latest keyframe on). */
        fun forRemote(track: RemoteTrack): FramePipe = FramePipe(track.pipeId().toLong(), false)
    }
}
