// swift-tools-version: 6.0
// nntrain: a data-parallel neural-network trainer. Targets are split where their
// dependencies differ (see docs/architecture.md).
import PackageDescription

/// Hot loops are generic over the scalar (Float for training, Double for gradient checks);
/// cross-module optimization lets the trainer's module specialize them for Float.
let optimized: [SwiftSetting] = [.unsafeFlags(["-cross-module-optimization"])]

let package = Package(
    name: "nntrain",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "nntrain", targets: ["nntrain"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "5.0.1"),
        .package(url: "https://github.com/apple/swift-crypto", "3.0.0"..<"5.0.0"),
    ],
    targets: [
        // System libraries, found through pkg-config (Debian: libopenblas-dev, libopenmpi-dev, zlib1g-dev).
        .systemLibrary(name: "CBLAS", pkgConfig: "openblas",
                       providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CMPI", pkgConfig: "ompi-c",
                       providers: [.apt(["libopenmpi-dev"])]),
        .systemLibrary(name: "CZlib", pkgConfig: "zlib",
                       providers: [.apt(["zlib1g-dev"])]),

        // Loops built for the CPU's vector width (AVX2 when it has it), where BLAS has no fast
        // routine; optimized in debug builds too, so that the tests run the vectorized bodies.
        .target(name: "CKernels", cSettings: [.unsafeFlags(["-O2"])]),
        // Tensors, BLAS-backed products, seeded RNG.
        .target(name: "NNCore", dependencies: ["CBLAS"], swiftSettings: optimized),
        // Layers, losses, model, optimizers, schedules, gradient check, checkpoints.
        .target(name: "NeuralNet", dependencies: [
            "NNCore", .product(name: "Crypto", package: "swift-crypto"),
        ], swiftSettings: optimized),
        // IDX, CSV, synthetic sets, sampler.
        .target(name: "NNData", dependencies: ["NNCore", "CZlib"], swiftSettings: optimized),
        // Communicator protocol, in-process threads and size-1 implementations.
        .target(name: "Collectives", swiftSettings: optimized),
        // The MPI communicator.
        .target(name: "MPICollectives", dependencies: ["CMPI", "Collectives"], swiftSettings: optimized),
        // Trainer loop, run layer (launcher, checkpointer, preemption, reporters), metrics.
        // Its launcher is the only importer of MPICollectives.
        .target(name: "Training", dependencies: [
            "NNCore", "NeuralNet", "NNData", "Collectives", "MPICollectives", "CKernels",
        ], swiftSettings: optimized),
        // The lecture's experiments and the perceptron run: clients of Training's public API.
        .target(name: "Experiments", dependencies: [
            "NNCore", "NeuralNet", "NNData", "Collectives", "Training",
        ], swiftSettings: optimized),
        // Commands and options.
        .target(name: "NNTrainCLI", dependencies: [
            "Training", "Experiments", .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Yams", package: "Yams"),
        ]),
        .executableTarget(name: "nntrain", dependencies: ["NNTrainCLI"]),

        // libFuzzer harnesses (launch/fuzz.sh builds them with -sanitize=fuzzer,address -DFUZZING;
        // a plain build makes replay tools that run each over the files named).
        .target(name: "FuzzSupport"),
        .executableTarget(name: "FuzzIDX", dependencies: ["FuzzSupport", "NNData"]),
        .executableTarget(name: "FuzzCSV", dependencies: ["FuzzSupport", "NNData"]),
        .executableTarget(name: "FuzzSafetensors", dependencies: ["FuzzSupport", "NeuralNet"]),
        .executableTarget(name: "FuzzConfig", dependencies: [
            "FuzzSupport", "Training", .product(name: "Yams", package: "Yams"),
        ]),

        .testTarget(name: "NNCoreTests", dependencies: ["NNCore"]),
        .testTarget(name: "NeuralNetTests", dependencies: ["NeuralNet"]),
        .testTarget(name: "NNDataTests", dependencies: ["NNData", "CZlib"]),
        .testTarget(name: "CollectivesTests", dependencies: ["Collectives"]),
        .testTarget(name: "TrainingTests", dependencies: ["Training", "CKernels"]),
        .testTarget(name: "ExperimentsTests", dependencies: ["Experiments", "Training", "NNData"]),
        .testTarget(name: "EndToEndTests", dependencies: ["NNTrainCLI"]),
    ],
    // Swift 5 language mode: the trainer's concurrency is explicit threads and MPI ranks,
    // whose safety the Swift 6 checker cannot see through raw buffers.
    swiftLanguageModes: [.v5]
)
