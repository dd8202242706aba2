package io.rtcgate

import java.nio.ByteBuffer
import java.util.concurrent.atomic.AtomicLong

/**
 * Receives a remote track's frames pushed by the library ([FrameReceiver],
 * the JNI receive path). Every method runs on the receiver's library thread
 * (`rtcgate-jni-frames`), one call at a time, frames in order.
 */
interface FrameSink {
    /**
     * One frame. [data] is a **read-only direct buffer over the library's
     * memory, valid only until this method returns** (position 0, limit =
     * the frame's size). Hand it to a decoder that copies (e.g.
     * `MediaCodec` input buffers: `put(data)`) or copy what you need; a
     * reference kept past the return is emptied (`limit(0)`), so reading it
     * later throws instead of reading freed memory — but slices or
     * duplicates made of it are not protected. [info] is reused for every
     * frame with the same rule.
     */
    fun onFrame(data: ByteBuffer, info: FrameInfo)

    /** The track ended: no frame follows. */
    fun onEnded() {}

    /**
     * [onFrame] or [onEnded] threw [error]. Delivery goes on with the next
     * frame; the library logs it too. Exceptions thrown here are dropped.
     */
    fun onError(error: Throwable) {}
}

/** What a [FrameSink] gets with each frame (one instance per receiver, reused). */
class FrameInfo internal constructor(
    /** The track id (the sender's `msid` track id). */
    val trackId: String,
    /** The member sending the track. */
    val memberId: String,
    /** The track's codec (its kind: [Codec.OPUS] is audio, the others video). */
    val codec: Codec,
) {
    /** Presentation time in µs since the track's first frame. */
    var timestampUs: Long = 0
        internal set

    /** The RTP timestamp (codec clock). */
    var rtpTimestamp: Int = 0
        internal set

    /** Decodable on its own (always true for audio). */
    var keyframe: Boolean = false
        internal set

    /** Frames before this one were lost (video: request a keyframe). */
    var discontinuity: Boolean = false
        internal set

    /** Whether the track is audio (Opus) rather than video. */
    val isAudio: Boolean get() = codec == Codec.OPUS
}

/**
 * The JNI receive path (handwritten; not generated): a library thread of
 * its own calls [FrameSink.onFrame] for every frame of a [RemoteTrack],
 * with the frame in a direct buffer over the library's memory (no copy, no
 * Java array, no JNA). For video, delivery starts with the frames since the
 * latest keyframe. The thread is attached to the JVM once, as a daemon, and
 * ends with the receiver. See docs/bindings.md.
 *
 * [close] stops delivery and waits for a callback in progress, so after it
 * returns the sink is not called again; it may be called from inside the
 * sink (then it does not wait), and twice.
 */
class FrameReceiver private constructor(
    private var pipe: Long,
    private val sink: FrameSink,
    /** The track's description, updated before each frame. */
    private val info: FrameInfo,
) : AutoCloseable {
    private val failureCount = AtomicLong()

    /** How many times the sink threw (each was passed to [FrameSink.onError]). */
    val failures: Long get() = failureCount.get()

    /** Stops delivery (see the class documentation). */
    override fun close() {
        val id = synchronized(this) { pipe.also { pipe = 0 } }
        if (id != 0L) nativeStop(id)
    }

    /** Called by the library for each frame (ffi-c/src/jni/sink.rs). */
    @Suppress("unused")
    private fun deliver(data: ByteBuffer, timestampUs: Long, rtpTimestamp: Int, flags: Int) {
        info.timestampUs = timestampUs
        info.rtpTimestamp = rtpTimestamp
        info.keyframe = flags and 1 != 0
        info.discontinuity = flags and 2 != 0
        val view = data.asReadOnlyBuffer()
        try {
            sink.onFrame(view, info)
        } finally {
            view.limit(0)
        }
    }

    /** Called by the library when the track has ended. */
    @Suppress("unused")
    private fun ended() = sink.onEnded()

    /** Called by the library with what [deliver] or [ended] threw. */
    @Suppress("unused")
    private fun failed(error: Throwable) {
        failureCount.incrementAndGet()
        sink.onError(error)
    }

    private external fun nativeStart(pipe: Long)

    private external fun nativeStop(pipe: Long)

    companion object {
        init {
            // Loads librtcgate through the JVM: its JNI_OnLoad registers our natives.
            FramePipe.ensureLoaded()
        }

        /** Starts delivering [track]'s frames to [sink]. */
        fun start(track: RemoteTrack, sink: FrameSink): FrameReceiver {
            val info = FrameInfo(track.id(), track.memberId(), track.codec())
            val receiver = FrameReceiver(track.pipeId().toLong(), sink, info)
            try {
                receiver.nativeStart(receiver.pipe)
            } catch (e: Throwable) {
                receiver.close()
                throw e
            }
            return receiver
        }
    }
}
