// Metrics: what an epoch and a run report, as JSON lines (one object per line).
import Foundation

/// One `{"event":"epoch", …}` line.
public struct EpochMetrics: Codable, Sendable, Equatable {
    public var event = "epoch"
    public var epoch: Int
    public var step: Int
    public var train_loss: Double
    public var test_loss: Double?
    public var test_accuracy: Double?
    public var lr: Double
    public var samples_per_second: Double
    public var epoch_seconds: Double
    public var world_size: Int
    public var compute_seconds: Double
    public var comm_seconds: Double
    /// The part of comm_seconds spent waiting for the slowest rank to finish its compute
    /// (measured at the shared exchange's first barrier; in the allreduce path only with
    /// NNTRAIN_SYNC_BEFORE_ALLREDUCE=1, which puts a barrier before the allreduce; else 0).
    public var comm_wait_seconds: Double = 0
    public var examples_processed: Int
}

/// The final `{"event":"done", …}` line.
public struct DoneMetrics: Codable, Sendable, Equatable {
    public var event = "done"
    public var epochs: Int
    public var steps: Int
    public var train_loss: Double?
    public var test_loss: Double?
    public var test_accuracy: Double?
    public var seconds: Double
    public var samples_per_second: Double
    public var world_size: Int
    public var reduction: String
    /// How the ranks combined their gradients: "shared NxL" (N nodes of L ranks that summed
    /// them — exact mode: their Int64 sums — in node shared memory), "factors NxL" (the same
    /// nodes sharing batch factors, each rank computing its rows of the weight gradients), or
    /// "allreduce" (one rank, no shared memory, or --exchange allreduce).
    public var exchange: String = "allreduce"
    public var parameters: Int
    public var parameters_sha256: String
    /// "completed", "stopped" (signal) or "steps" (--steps reached).
    public var status: String
}

/// Encodes a metrics value as one compact JSON line (keys sorted, `event` first by name).
public func jsonLine<T: Encodable>(_ value: T) -> String {
    let enc = JSONEncoder()
    enc.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    enc.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
    return (try? String(decoding: enc.encode(value), as: UTF8.self)) ?? "{}"
}
