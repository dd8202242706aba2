package io.rtcgate

import java.nio.ByteBuffer
import java.util.concurrent.atomic.AtomicInteger
import java.util.concurrent.atomic.AtomicReference
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.Job
import kotlinx.coroutines.delay
import kotlinx.coroutines.launch
import kotlinx.coroutines.runBlocking
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertSame
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.assertThrows

/** The JNI receive path: [FrameReceiver] / [FrameSink] between two real calls. */
class FrameReceiverTest {
    private class Received(
        val data: ByteArray,
        val timestampUs: Long,
        val keyframe: Boolean,
        val discontinuity: Boolean,
        val direct: Boolean,
        val readOnly: Boolean,
        val thread: String,
    )

    private val clip = ivfFrames(repo.resolve("examples/media/testsrc-vp8.ivf"))

    /** A VP8 frame is a keyframe when bit 0 of its first byte is 0 (RFC 6386). */
    private fun vp8Key(frame: ByteArray) = frame[0].toInt() and 1 == 0

    /** Alice (sending the clip in a loop at 30 fps once connected) and Bob in one room. */
    private suspend fun CoroutineScope.withSendingPair(
        room: String,
        body: suspend (aliceCall: Call, remote: RemoteTrack, sender: Job) -> Unit,
    ) {
        SignallingServer.start(null, null).use { server ->
            val alice = CallInbox()
            val bob = CallInbox()
            Call.join(server.url(), room, "alice", CallConfig(), alice).use { aliceCall ->
                val video = LocalTrack(Codec.VP8, "alice-cam", "alice")
                aliceCall.addTrack(video)
                Call.join(server.url(), room, "bob", CallConfig(), bob).use { bobCall ->
                    alice.events.next("alice connected to bob") { e ->
                        (e as? CallEvent.ConnectionStateChanged)?.takeIf { it.state == ConnectionState.CONNECTED }
                    }
                    val sender = launch(Dispatchers.IO) {
                        for (i in 0 until 100_000) {
                            video.pushSample(clip[i % clip.size], (i * 33_333L).toULong())
                            delay(33)
                        }
                    }
                    val remote = bob.events.next("alice's track at bob") { e ->
                        (e as? CallEvent.TrackAdded)?.track
                    }
                    try {
                        body(aliceCall, remote, sender)
                    } finally {
                        sender.cancel()
                    }
                    bobCall.leave()
                }
                aliceCall.leave()
                video.close()
            }
        }
    }

    @Test
    fun `clip frames arrive byte-exact and in order through the JNI receive path`() = runBlocking<Unit> {
        requireNetns()
        withSendingPair("jni-rx") { aliceCall, remote, sender ->
            val frames = Inbox<Received>()
            val ended = Inbox<Boolean>()
            val described = AtomicReference<FrameInfo>()
            val receiver = FrameReceiver.start(remote, object : FrameSink {
                override fun onFrame(data: ByteBuffer, info: FrameInfo) {
                    val bytes = ByteArray(data.remaining()).also { data.get(it) }
                    frames.put(
                        Received(
                            bytes, info.timestampUs, info.keyframe, info.discontinuity,
                            data.isDirect, data.isReadOnly, Thread.currentThread().name,
                        ),
                    )
                    described.set(info)
                }

                override fun onEnded() = ended.put(true)
            })
            val got = (0 until 45).map { frames.next("frame $it through the JNI sink") { f -> f } }
            receiver.use {
                // Where in the clip the stream starts: a keyframe, found exactly once.
                val first = got.first()
                assertTrue(first.keyframe, "delivery starts with a keyframe")
                val starts = clip.indices.filter { clip[it].contentEquals(first.data) }
                assertEquals(1, starts.size, "the first frame is one frame of the clip")
                val start = starts.single()
                got.forEachIndexed { k, frame ->
                    val expected = clip[(start + k) % clip.size]
                    assertTrue(frame.data.contentEquals(expected), "frame $k is clip frame ${(start + k) % clip.size}, byte-exact")
                    assertEquals(vp8Key(expected), frame.keyframe, "keyframe flag of frame $k")
                    assertFalse(frame.discontinuity, "no loss on this path (frame $k)")
                    assertTrue(frame.direct && frame.readOnly, "a read-only direct buffer")
                    assertEquals("rtcgate-jni-frames", frame.thread)
                    if (k > 0) assertTrue(frame.timestampUs > got[k - 1].timestampUs, "timestamps increase ($k)")
                }
                assertTrue(got.count { it.keyframe } >= 2, "45 frames of a clip with a keyframe every 30")
                val description = described.get()
                assertEquals("alice-cam", description.trackId)
                assertEquals(aliceCall.selfId(), description.memberId)
                assertEquals(Codec.VP8, description.codec)
                assertFalse(description.isAudio)
                assertEquals(0L, receiver.failures)

                // The sender leaves: the track ends and the sink hears it.
                sender.cancel()
                aliceCall.leave()
                assertTrue(ended.next("onEnded after alice left", 30) { it })
            }
        }
    }

    @Test
    fun `a failing sink is reported and delivery goes on, a kept buffer is emptied, close stops delivery`() = runBlocking<Unit> {
        requireNetns()
        withSendingPair("jni-rx-misuse") { _, remote, _ ->
            val count = AtomicInteger()
            val boom = IllegalStateException("boom at frame 5")
            val errors = Inbox<Throwable>()
            val kept = AtomicReference<ByteBuffer>()
            val afterError = Inbox<Int>()
            val receiverRef = AtomicReference<FrameReceiver>()
            val closedInside = Inbox<Int>()
            val receiver = FrameReceiver.start(remote, object : FrameSink {
                override fun onFrame(data: ByteBuffer, info: FrameInfo) {
                    val n = count.incrementAndGet()
                    when {
                        n == 3 -> kept.set(data)
                        n == 5 -> throw boom
                        n > 5 -> afterError.put(n)
                    }
                    if (n == 20) {
                        // Closing from inside the callback neither deadlocks nor throws.
                        receiverRef.get().close()
                        closedInside.put(n)
                    }
                }

                override fun onError(error: Throwable) = errors.put(error)
            })
            receiverRef.set(receiver)
            assertSame(boom, errors.next("the exception reported") { it })
            afterError.next("frames after the exception") { n -> n.takeIf { it >= 15 } }
            // The buffer kept from frame 3 was emptied when its callback returned.
            val stale = kept.get()
            assertEquals(0, stale.limit())
            assertThrows<IndexOutOfBoundsException> { stale.get(0) }
            assertEquals(20, closedInside.next("closed from inside") { it })
            delay(1_000)
            assertEquals(20, count.get(), "no frame after close() from inside the sink")
            assertEquals(1L, receiver.failures)
            receiver.close()
            receiver.close()

            // Closed from another thread while frames flow: no callback once close() returned.
            val second = AtomicInteger()
            val other = FrameReceiver.start(remote, object : FrameSink {
                override fun onFrame(data: ByteBuffer, info: FrameInfo) {
                    second.incrementAndGet()
                    Thread.sleep(5) // a slow sink: close() has to wait for it
                }
            })
            while (second.get() < 10) delay(10)
            other.close()
            val atClose = second.get()
            delay(1_000)
            assertEquals(atClose, second.get(), "no frame after close() returned")
            other.close()
        }
    }
}
