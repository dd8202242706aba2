// swift-tools-version:5.9
// The Swift bindings of librtcgate: the uniffi-generated module `Rtcgate`
// over the C module `RtcgateFFI`, shipped as an XCFramework
// (build-xcframework.sh, on macOS). See docs/bindings.md.
import PackageDescription

let package = Package(
    name: "Rtcgate",
    platforms: [.iOS(.v15), .macOS(.v12)],
    products: [
        .library(name: "Rtcgate", targets: ["Rtcgate"]),
    ],
    targets: [
        // librtcgate.a per platform with Headers/RtcgateFFI.h and module.modulemap.
        .binaryTarget(name: "RtcgateFFI", path: "RtcgateFFI.xcframework"),
        .target(
            name: "Rtcgate",
            dependencies: ["RtcgateFFI"],
            path: "Sources/Rtcgate",
            linkerSettings: [.linkedFramework("SystemConfiguration"), .linkedFramework("Security")]
        ),
        .testTarget(
            name: "RtcgateTests",
            dependencies: ["Rtcgate"],
            path: "Tests/RtcgateTests"
        ),
    ]
)
