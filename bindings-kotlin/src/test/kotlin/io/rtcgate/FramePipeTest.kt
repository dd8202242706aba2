package io.rtcgate

import java.nio.ByteBuffer
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.delay
import kotlinx.coroutines.launch
import kotlinx.coroutines.runBlocking
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.assertThrows

class FramePipeTest {
    @Test
    fun `misuse throws Java exceptions and closing twice is harmless`() {
        LocalTrack(Codec.VP8, "cam", "me").use { track ->
            val pipe = FramePipe.forLocal(track)
            // A heap buffer has no native address.
            assertThrows<IllegalArgumentException> { pipe.push(ByteBuffer.allocate(16), 0) }
            // Empty sample: refused by the track.
            assertThrows<IllegalArgumentException> { pipe.push(ByteBuffer.allocateDirect(0), 0) }
            val sample = ByteBuffer.allocateDirect(100)
            sample.put(0, 0x10)
            pipe.push(sample, 0)
            assertEquals(1uL, track.samplesWritten())
            pipe.close()
            pipe.close()
            assertThrows<IllegalStateException> { pipe.push(sample, 0) }
            assertThrows<IllegalStateException> { pipe.pull(sample, 0) }
        }
    }

    @Test
    fun `frames go through direct buffers from one call to another`() = runBlocking<Unit> {
        requireNetns()
        SignallingServer.start(null, null).use { server ->
            val bob = CallInbox()
            Call.join(server.url(), "pipe-room", "alice", CallConfig(), null).use { alice ->
                val video = LocalTrack(Codec.VP8, "alice-cam", "alice")
                alice.addTrack(video)
                Call.join(server.url(), "pipe-room", "bob", CallConfig(), bob).use { bobCall ->
                    val push = FramePipe.forLocal(video)
                    val sender = launch(Dispatchers.IO) {
                        val buffer = ByteBuffer.allocateDirect(64 * 1024)
                        for (i in 0 until 300) {
                            val frame = syntheticFrame(i)
                            buffer.clear()
                            buffer.put(frame).flip()
                            push.push(buffer, i * 33_333L)
                            delay(33)
                        }
                    }
                    val remote = bob.events.next("alice's track") { (it as? CallEvent.TrackAdded)?.track }
                    FramePipe.forRemote(remote).use { pull ->
                        // Too small: the frame waits for a bigger buffer.
                        val tiny = ByteBuffer.allocateDirect(8)
                        val needed = assertThrows<FramePipe.BufferTooSmallException> {
                            while (pull.pull(tiny, 10_000) == FramePipe.TIMEOUT) { /* wait */ }
                        }.size
                        assertTrue(needed > 8)
                        val buffer = ByteBuffer.allocateDirect(64 * 1024)
                        val seen = sortedSetOf<Int>()
                        var keyframes = 0
                        while (seen.size < 40) {
                            val size = pull.pull(buffer, 10_000)
                            assertTrue(size > 0, "pull returned $size")
                            val bytes = ByteArray(size).also { buffer.get(it) }
                            val index = syntheticIndex(bytes)
                            assertTrue(index != null, "frame of $size bytes is corrupted")
                            assertEquals(index!! % 30 == 0, pull.keyframe, "keyframe flag of frame $index")
                            if (pull.keyframe) keyframes++
                            seen += index
                        }
                        assertTrue(keyframes >= 1)
                    }
                    sender.cancel()
                    push.close()
                    bobCall.leave()
                }
                alice.leave()
            }
        }
    }
}
