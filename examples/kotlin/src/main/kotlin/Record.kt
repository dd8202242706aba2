// Joins a room and records it: the main job of rtcgate from a JVM program,
// through the Kotlin bindings (bindings-kotlin). See README.md beside this file.
//
//   record URL|embedded ROOM FOLDER [SECONDS]
//
// With `embedded`, an embedded signalling server is started on 127.0.0.1 and
// its URL printed, so that other members (examples/c/send, a browser on
// examples/web) can join it. Stops after SECONDS (default: until Ctrl-C).

import io.rtcgate.CallConfig
import io.rtcgate.Recorder
import io.rtcgate.RecorderConfig
import io.rtcgate.RecorderEvent
import io.rtcgate.RecorderListener
import io.rtcgate.SignallingServer
import kotlin.system.exitProcess
import kotlinx.coroutines.CompletableDeferred
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeoutOrNull

fun main(args: Array<String>) = runBlocking<Unit> {
    if (args.size !in 3..4) {
        System.err.println("usage: record URL|embedded ROOM FOLDER [SECONDS]")
        exitProcess(2)
    }
    val (target, room, folder) = args
    val seconds = args.getOrNull(3)?.toLong()
    val server = if (target == "embedded") SignallingServer.start("127.0.0.1:8080", null) else null
    val url = server?.url() ?: target
    server?.let { println("server: ${it.url()}") }

    val listener = object : RecorderListener {
        override fun onEvent(event: RecorderEvent) {
            when (event) {
                is RecorderEvent.FileStarted -> println("recording ${event.memberId} into ${event.path} (${event.codecs})")
                is RecorderEvent.Gap -> println("gap in ${event.memberId}/${event.trackId} at ${event.atMs} ms")
                is RecorderEvent.WriteFailed -> println("write failed for ${event.memberId}: ${event.message}")
                is RecorderEvent.TrackStalled -> println("stalled: ${event.report.message}")
                is RecorderEvent.Finished -> println("finished ${event.summary.name}: ${event.summary.files}")
                else -> {}
            }
        }
    }
    val recorder = Recorder.join(url, room, "recorder", CallConfig(), RecorderConfig(folder, 200u), listener)
    println("recording room '$room' into $folder" + (seconds?.let { " for $it s" } ?: " (Ctrl-C stops)"))

    val interrupted = CompletableDeferred<Unit>()
    Runtime.getRuntime().addShutdownHook(Thread {
        interrupted.complete(Unit)
        // Give the main coroutine time to stop the recorder and close the files.
        Thread.sleep(3000)
    })
    withTimeoutOrNull((seconds ?: Long.MAX_VALUE / 1000) * 1000) { interrupted.await() }

    for (summary in recorder.stop()) {
        println("${summary.name}: ${summary.frames} frames, ${summary.durationMs} ms, ${summary.files}")
    }
    recorder.close()
    server?.stop()
    server?.close()
}
