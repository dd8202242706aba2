// Mirrors bindings-kotlin's BindingsTest for those with a Swift toolchain
// (macOS, after build-xcframework.sh): `swift test` in bindings-swift/.
// The call tests need two non-loopback interfaces (any Mac on a network).
// CI here only parses this file (tree-sitter-swift): no Swift compiler.
import Foundation
import XCTest
@testable import Rtcgate

/// Collects what a listener delivers on library threads.
final class Inbox<T>: @unchecked Sendable {
    private var items: [T] = []
    private let lock = NSLock()

    func put(_ item: T) {
        lock.lock()
        items.append(item)
        lock.unlock()
    }

    /// The first item for which `pick` returns non-nil, within `seconds`.
    func next<R>(_ what: String, seconds: Double = 30, _ pick: (T) -> R?) async throws -> R {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            lock.lock()
            let index = items.firstIndex { pick($0) != nil }
            let found = index.map { items.remove(at: $0) }
            lock.unlock()
            if let item = found, let value = pick(item) {
                return value
            }
            try await Task.sleep(nanoseconds: 20_000_000)
        }
        XCTFail("timed out waiting for \(what)")
        throw CancellationError()
    }
}

final class CallInbox: CallListener, @unchecked Sendable {
    let events = Inbox<CallEvent>()
    func onEvent(event: CallEvent) { events.put(event) }
}

final class FrameInbox: FrameListener, @unchecked Sendable {
    let frames = Inbox<Frame>()
    func onFrame(frame: Frame) { frames.put(frame) }
    func onEnded() {}
}

final class MessageInbox: DataChannelListener, @unchecked Sendable {
    let messages = Inbox<DataMessage>()
    func onMessage(message: DataMessage) { messages.put(message) }
    func onClosed() {}
}

final class LowInbox: BufferedAmountLowListener, @unchecked Sendable {
    let amounts = Inbox<UInt64>()
    func onBufferedAmountLow(bufferedAmount: UInt64) { amounts.put(bufferedAmount) }
}

final class RecorderInbox: RecorderListener, @unchecked Sendable {
    let events = Inbox<RecorderEvent>()
    func onEvent(event: RecorderEvent) { events.put(event) }
}

/// A synthetic frame as core's tests make them: key bit in byte 0 (keyframe
/// every 30 frames), the index big-endian in bytes 1..5, then a pattern.
func syntheticFrame(_ index: Int) -> Data {
    let size = 500 + (index % 7) * 900
    var bytes = [UInt8](repeating: 0, count: size)
    bytes[0] = index % 30 == 0 ? 0x10 : 0x11
    withUnsafeBytes(of: UInt32(index).bigEndian) { raw in
        for (i, byte) in raw.enumerated() { bytes[1 + i] = byte }
    }
    for i in 5..<size {
        bytes[i] = UInt8(truncatingIfNeeded: i &* 31 &+ index)
    }
    return Data(bytes)
}

func syntheticIndex(_ data: Data) -> Int? {
    guard data.count >= 5 else { return nil }
    let index = data[data.startIndex + 1..<data.startIndex + 5].reduce(0) { ($0 << 8) | Int($1) }
    return syntheticFrame(index) == data ? index : nil
}

final class RtcgateTests: XCTestCase {
    func testErrorsAreSwiftErrors() async throws {
        XCTAssertFalse(version().isEmpty)
        XCTAssertThrowsError(try LocalTrack(codec: .vp8, id: "", streamId: "stream")) { error in
            guard case RtcgateError.InvalidArgument = error else {
                return XCTFail("unexpected \(error)")
            }
        }
        XCTAssertThrowsError(try SignallingServer.start(bindAddress: "not an address", webRoot: nil))
        do {
            _ = try await Call.join(url: "ws://127.0.0.1:1/ws", room: "room", displayName: "alice",
                                    config: CallConfig(), listener: nil)
            XCTFail("joined a dead server")
        } catch RtcgateError.Signalling {
            // expected
        }
    }

    func testStoppingTwiceIsHarmless() async throws {
        let server = try SignallingServer.start(bindAddress: nil, webRoot: nil)
        XCTAssertTrue(server.url().hasPrefix("ws://127.0.0.1:"))
        try await server.stop()
        try await server.stop()
        XCTAssertFalse(server.isRunning())
    }

    func testRoomTokenRefusesAWrongTokenAndAdmitsTheRightOne() async throws {
        let server = try SignallingServer.start(bindAddress: nil, webRoot: nil)
        // The first join creates the room and sets its token.
        let alice = try await Call.join(url: server.url(), room: "locked", displayName: "alice",
                                        config: CallConfig(token: "s3cret"), listener: nil)
        for config in [CallConfig(token: "wrong"), CallConfig()] {
            do {
                _ = try await Call.join(url: server.url(), room: "locked", displayName: "mallory",
                                        config: config, listener: nil)
                XCTFail("joined without the room's token")
            } catch RtcgateError.SignallingRejected(let code, _) {
                XCTAssertEqual(code, "wrong-token")
            }
        }
        let bob = try await Call.join(url: server.url(), room: "locked", displayName: "bob",
                                      config: CallConfig(token: "s3cret"), listener: nil)
        let names = try await bob.members().map { $0.name }
        XCTAssertEqual(names, ["alice"])
        try await bob.leave()
        try await alice.leave()
        try await server.stop()
    }

    func testTwoCallsExchangeMessagesAndFrames() async throws {
        let server = try SignallingServer.start(bindAddress: nil, webRoot: nil)
        let alice = CallInbox()
        let bob = CallInbox()
        let aliceCall = try await Call.join(url: server.url(), room: "swift-room", displayName: "alice",
                                            config: CallConfig(), listener: alice)
        let video = try LocalTrack(codec: .vp8, id: "alice-cam", streamId: "alice")
        try await aliceCall.addTrack(track: video)
        let bobCall = try await Call.join(url: server.url(), room: "swift-room", displayName: "bob",
                                          config: CallConfig(), listener: bob)
        let bobId: String = try await alice.events.next("bob joined") { event in
            if case let .memberJoined(member) = event, member.name == "bob" { return member.id }
            return nil
        }
        XCTAssertEqual(bobCall.selfId(), bobId)

        let channel = try await aliceCall.createDataChannel(memberId: bobId, label: "chat", config: DataChannelConfig())
        let atBob: DataChannel = try await bob.events.next("channel at bob") { event in
            if case let .dataChannelOpened(channel) = event, channel.label() == "chat" { return channel }
            return nil
        }
        let messages = MessageInbox()
        try atBob.setListener(listener: messages)
        while !channel.isOpen() { try await Task.sleep(nanoseconds: 20_000_000) }
        try await channel.sendText(text: "hello bob")
        try await channel.send(data: Data([1, 2, 3, 255]))
        let text: String = try await messages.messages.next("text") { message in
            if case let .text(text) = message { return text }
            return nil
        }
        XCTAssertEqual(text, "hello bob")
        let binary: Data = try await messages.messages.next("binary") { message in
            if case let .binary(data) = message { return data }
            return nil
        }
        XCTAssertEqual(binary, Data([1, 2, 3, 255]))

        // Buffered-amount-low (mirrors the Kotlin test): bob pauses, alice's
        // queue builds up, bob resumes, the queue drains through the threshold.
        let threshold: UInt64 = 64 * 1024
        try await channel.setBufferedAmountLowThreshold(bytes: threshold)
        XCTAssertEqual(channel.bufferedAmountLowThreshold(), threshold)
        try atBob.setListener(listener: nil)
        let chunk = Data(count: 16 * 1024)
        var sent = 0
        while channel.bufferedAmount() <= 4 * threshold {
            try await channel.send(data: chunk)
            sent += 1
        }
        let lows = LowInbox()
        try channel.setBufferedAmountLowListener(listener: lows)
        try atBob.setListener(listener: messages)
        let amount: UInt64 = try await lows.amounts.next("buffered amount low", seconds: 60) { $0 }
        XCTAssertLessThanOrEqual(amount, threshold)
        for i in 0..<sent {
            let _: Data = try await messages.messages.next("chunk \(i)") { message in
                if case let .binary(data) = message, data.count == chunk.count { return data }
                return nil
            }
        }
        try channel.setBufferedAmountLowListener(listener: nil)

        let sender = Task {
            for i in 0..<300 {
                try await video.pushSample(data: syntheticFrame(i), timestampUs: UInt64(i * 33_333))
                try await Task.sleep(nanoseconds: 33_000_000)
            }
        }
        let remote: RemoteTrack = try await bob.events.next("alice's track") { event in
            if case let .trackAdded(track) = event { return track }
            return nil
        }
        XCTAssertEqual(remote.codec(), .vp8)
        let frames = FrameInbox()
        try remote.setListener(listener: frames)
        var seen = Set<Int>()
        while seen.count < 40 {
            let frame: Frame = try await frames.frames.next("frames") { $0 }
            let index = try XCTUnwrap(syntheticIndex(frame.data), "corrupted frame")
            XCTAssertEqual(frame.keyframe, index % 30 == 0)
            seen.insert(index)
        }
        sender.cancel()
        try await channel.closeChannel()
        try await bobCall.leave()
        try await aliceCall.leave()
        try await server.stop()
    }

    func testRecorderWritesAFile() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("rtcgate-swift-rec-\(UUID())")
        let server = try SignallingServer.start(bindAddress: nil, webRoot: nil)
        let events = RecorderInbox()
        let recorder = try await Recorder.join(url: server.url(), room: "swift-rec", displayName: "recorder",
                                               callConfig: CallConfig(), config: RecorderConfig(folder: folder.path),
                                               listener: events)
        let cam = CallInbox()
        let call = try await Call.join(url: server.url(), room: "swift-rec", displayName: "cam",
                                       config: CallConfig(), listener: cam)
        let video = try LocalTrack(codec: .vp8, id: "cam-video", streamId: "cam")
        try await call.addTrack(track: video)
        _ = try await cam.events.next("connected") { event -> Bool? in
            if case let .connectionStateChanged(_, state) = event, state == .connected { return true }
            return nil
        }
        // Synthetic frames are enough for the container (the Kotlin test pushes a real VP8 clip).
        for i in 0..<120 {
            try await video.pushSample(data: syntheticFrame(i), timestampUs: UInt64(i * 33_333))
            try await Task.sleep(nanoseconds: 33_000_000)
        }
        let summaries = try await recorder.stop()
        let stoppedAgain = try await recorder.stop()
        XCTAssertTrue(stoppedAgain.isEmpty)
        let summary = try XCTUnwrap(summaries.first { $0.name == "cam" })
        let file = try XCTUnwrap(summary.files.last)
        XCTAssertTrue(FileManager.default.fileExists(atPath: file))
        XCTAssertGreaterThan(summary.frames, 30)
        try await call.leave()
        try await server.stop()
        try? FileManager.default.removeItem(at: folder)
    }
}
