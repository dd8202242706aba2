package io.rtcgate

import java.nio.file.Files
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.delay
import kotlinx.coroutines.launch
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.assertThrows

class BindingsTest {
    @Test
    fun `errors surface as Kotlin exceptions`() = runBlocking<Unit> {
        assertTrue(version().isNotEmpty())
        assertThrows<RtcgateException.InvalidArgument> { LocalTrack(Codec.VP8, "", "stream") }
        assertThrows<RtcgateException.InvalidArgument> { SignallingServer.start("not an address", null) }
        SignallingServer.start(null, null).use { server ->
            val error = assertThrows<RtcgateException.InvalidArgument> {
                runBlocking { Call.join(server.url(), "", "nobody", CallConfig(), null) }
            }
            assertTrue(error.message!!.contains("empty"), error.message)
        }
        // Nothing listens on port 1: the signalling connection fails.
        assertThrows<RtcgateException.Signalling> {
            runBlocking { Call.join("ws://127.0.0.1:1/ws", "room", "alice", CallConfig(), null) }
        }
    }

    @Test
    fun `closing objects twice is harmless`() = runBlocking<Unit> {
        val server = SignallingServer.start(null, null)
        assertTrue(server.url().startsWith("ws://127.0.0.1:"))
        assertTrue(server.isRunning())
        server.stop()
        server.stop()
        assertTrue(!server.isRunning())
        server.close()
        server.close()
        assertThrows<IllegalStateException> { server.url() }

        val track = LocalTrack(Codec.OPUS, "mic", "me")
        assertEquals(Codec.OPUS, track.codec())
        track.close()
        track.close()
    }

    @Test
    fun `two calls exchange data channel messages and frames`() = runBlocking<Unit> {
        requireNetns()
        SignallingServer.start(null, null).use { server ->
            val alice = CallInbox()
            val bob = CallInbox()
            Call.join(server.url(), "kotlin-room", "alice", CallConfig(), alice).use { aliceCall ->
                val video = LocalTrack(Codec.VP8, "alice-cam", "alice")
                aliceCall.addTrack(video)
                Call.join(server.url(), "kotlin-room", "bob", CallConfig(), bob).use { bobCall ->
                    val bobId = alice.events.next("bob joined") { e ->
                        (e as? CallEvent.MemberJoined)?.member?.takeIf { it.name == "bob" }?.id
                    }
                    assertEquals(bobCall.selfId(), bobId)

                    // Data channel, both ways, text and binary.
                    val channel = aliceCall.createDataChannel(bobId, "chat", DataChannelConfig())
                    val atBob = bob.events.next("channel open at bob") { e ->
                        (e as? CallEvent.DataChannelOpened)?.channel?.takeIf { it.label() == "chat" }
                    }
                    assertEquals(aliceCall.selfId(), atBob.memberId())
                    val bobMessages = MessageInbox()
                    atBob.setListener(bobMessages)
                    withTimeout(10_000) { while (!channel.isOpen()) delay(20) }
                    channel.sendText("hello bob")
                    channel.send(byteArrayOf(1, 2, 3, 255.toByte()))
                    assertEquals(
                        DataMessage.Text("hello bob"),
                        bobMessages.messages.next("text at bob") { it },
                    )
                    val binary = bobMessages.messages.next("binary at bob") { it as? DataMessage.Binary }
                    assertTrue(binary.data.contentEquals(byteArrayOf(1, 2, 3, 255.toByte())))
                    atBob.sendText("hello alice")
                    assertEquals(DataMessage.Text("hello alice"), channel.nextMessage())
                    // Everything sent so far is acknowledged soon.
                    withTimeout(10_000) { while (channel.bufferedAmount() > 0uL) delay(10) }

                    // Buffered-amount-low: one listener call per downward crossing.
                    // Bob stops reading, so the queue builds up behind his closed
                    // receive window; when he reads again it drains through the threshold.
                    val threshold = 64uL * 1024uL
                    channel.setBufferedAmountLowThreshold(threshold)
                    assertEquals(threshold, channel.bufferedAmountLowThreshold())
                    atBob.setListener(null)
                    val chunk = ByteArray(16 * 1024)
                    var sent = 0
                    withTimeout(60_000) {
                        while (channel.bufferedAmount() <= 4uL * threshold) {
                            channel.send(chunk)
                            sent++
                        }
                    }
                    // From here the amount only falls: exactly one crossing.
                    val lows = LowInbox()
                    channel.setBufferedAmountLowListener(lows)
                    atBob.setListener(bobMessages)
                    val amount = lows.amounts.next("buffered amount low", seconds = 60) { it }
                    assertTrue(amount <= threshold, "the event fired at $amount bytes")
                    withTimeout(60_000) { while (channel.bufferedAmount() > 0uL) delay(10) }
                    delay(200)
                    assertEquals(1, lows.count.get(), "exactly one event: draining on to 0 crosses nothing")
                    channel.setBufferedAmountLowListener(null)
                    for (i in 0 until sent) {
                        val got: DataMessage.Binary = bobMessages.messages.next("chunk $i of $sent at bob") { m ->
                            (m as? DataMessage.Binary)?.takeIf { b -> b.data.size == chunk.size }
                        }
                        assertEquals(chunk.size, got.data.size)
                    }
                    // Used again so that it stays reachable while its listener runs:
                    // a collected DataChannel stops its listener (JNA's cleaner frees it).
                    assertTrue(atBob.isOpen())

                    // Frames: alice pushes synthetic VP8 frames, bob receives them byte-exact.
                    val sender = launch(Dispatchers.IO) {
                        for (i in 0 until 300) {
                            video.pushSample(syntheticFrame(i), (i * 33_333L).toULong())
                            delay(33)
                        }
                    }
                    val remote = bob.events.next("alice's track at bob") { e ->
                        (e as? CallEvent.TrackAdded)?.track
                    }
                    assertEquals("alice-cam", remote.id())
                    assertEquals(Codec.VP8, remote.codec())
                    assertEquals(aliceCall.selfId(), remote.memberId())
                    val frames = FrameInbox()
                    remote.setListener(frames)
                    val seen = sortedSetOf<Int>()
                    var keyframes = 0
                    while (seen.size < 40) {
                        val frame = frames.frames.next("frames at bob") { it }
                        val index = syntheticIndex(frame.data)
                        assertTrue(index != null, "frame of ${frame.data.size} bytes is corrupted")
                        assertEquals(index!! % 30 == 0, frame.keyframe, "keyframe flag of frame $index")
                        if (frame.keyframe) keyframes++
                        seen += index
                    }
                    assertTrue(keyframes >= 1, "a keyframe among ${seen.size} frames")
                    // A keyframe request reaches the sender's application.
                    val before = video.keyframeRequests()
                    remote.requestKeyframe()
                    withTimeout(20_000) { while (video.keyframeRequests() == before) delay(20) }
                    remote.setListener(null)
                    sender.cancel()

                    val stats = aliceCall.statsJson()
                    assertTrue(stats.contains(bobId), stats)
                    // The selected pair names both candidates (type, address, port, protocol).
                    assertTrue(stats.contains("\"candidate_type\":\"host\""), stats)
                    assertTrue(stats.contains("\"address\":\"10.99.0."), stats)
                    assertTrue(stats.contains("\"protocol\":\"udp\""), stats)
                    channel.closeChannel()
                    channel.closeChannel()
                    bobCall.leave()
                    bobCall.leave()
                }
                aliceCall.leave()
                video.close()
            }
        }
    }

    @Test
    fun `a room token refuses a wrong token and admits the right one`() = runBlocking<Unit> {
        requireNetns()
        SignallingServer.start(null, null).use { server ->
            val alice = CallInbox()
            // The first join creates the room and sets its token.
            Call.join(server.url(), "locked", "alice", CallConfig(token = "s3cret"), alice).use { aliceCall ->
                for (config in listOf(CallConfig(token = "wrong"), CallConfig())) {
                    val refused = assertThrows<RtcgateException.SignallingRejected> {
                        runBlocking { Call.join(server.url(), "locked", "mallory", config, null) }
                    }
                    assertEquals("wrong-token", refused.code)
                    // The recorder joins the same way and is refused the same way.
                    assertThrows<RtcgateException.SignallingRejected> {
                        runBlocking {
                            Recorder.join(
                                server.url(), "locked", "rec", config,
                                RecorderConfig(System.getProperty("java.io.tmpdir"), 200u), null,
                            )
                        }
                    }
                }
                Call.join(server.url(), "locked", "bob", CallConfig(token = "s3cret"), null).use { bobCall ->
                    assertEquals(listOf("alice"), bobCall.members().map { it.name })
                    val joined = alice.events.next("bob joined") { e ->
                        (e as? CallEvent.MemberJoined)?.member?.takeIf { it.name == "bob" }
                    }
                    assertEquals(bobCall.selfId(), joined.id)
                    // Nobody refused ever appeared in the room.
                    assertEquals(listOf("bob"), aliceCall.members().map { it.name })
                    bobCall.leave()
                }
                aliceCall.leave()
            }
        }
    }

    @Test
    fun `a recorder writes a file that demuxes`() = runBlocking<Unit> {
        requireNetns()
        val folder = Files.createTempDirectory("rtcgate-kotlin-rec").toFile()
        val clip = ivfFrames(repo.resolve("examples/media/testsrc-vp8.ivf"))
        SignallingServer.start(null, null).use { server ->
            val events = Inbox<RecorderEvent>()
            val listener = object : RecorderListener {
                override fun onEvent(event: RecorderEvent) = events.put(event)
            }
            val recorder = Recorder.join(
                server.url(), "kotlin-rec", "recorder", CallConfig(),
                RecorderConfig(folder.path, 200u), listener,
            )
            val cam = CallInbox()
            Call.join(server.url(), "kotlin-rec", "cam", CallConfig(), cam).use { call ->
                val video = LocalTrack(Codec.VP8, "cam-video", "cam")
                call.addTrack(video)
                cam.events.next("connected to the recorder") { e ->
                    (e as? CallEvent.ConnectionStateChanged)?.takeIf { it.state == ConnectionState.CONNECTED }
                }
                // Four seconds of the clip in real time (keyframes every 30 frames).
                for (i in 0 until 120) {
                    video.pushSample(clip[i % clip.size], (i * 33_333L).toULong())
                    delay(33)
                }
                val started = events.next("file started") { it as? RecorderEvent.FileStarted }
                assertEquals(listOf(Codec.VP8), started.codecs)
                val summaries = recorder.stop()
                assertEquals(emptyList<RecordingSummary>(), recorder.stop())
                val summary = summaries.single { it.name == "cam" }
                assertEquals(call.selfId(), summary.memberId)
                assertTrue(summary.frames > 30uL, "frames written: ${summary.frames}")
                val file = java.io.File(summary.files.last())
                assertTrue(file.isFile && file.length() > 0, "recording $file")
                assertEquals(started.path, file.path)
                // FFmpeg reads it back: one VP8 stream with the frames.
                val probe = run(
                    "ffprobe", "-v", "error", "-count_packets",
                    "-show_entries", "stream=codec_name,nb_read_packets", "-of", "csv=p=0",
                    file.path,
                ).trim()
                val (codec, packets) = probe.split(",")
                assertEquals("vp8", codec)
                assertTrue(packets.toInt() > 30, "packets in the file: $probe")
                events.next("finished event") { it as? RecorderEvent.Finished }
                call.leave()
            }
            recorder.close()
            recorder.close()
        }
        folder.deleteRecursively()
    }
}
