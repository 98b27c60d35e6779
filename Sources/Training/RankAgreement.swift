// RankAgreement: the cross-rank fingerprint check. It runs before the model is built: a rank
// with another model would otherwise take part in the parameter broadcast with a buffer of
// another size (under mpirun's MPMD form that corrupted the heap before any check could speak).
import Collectives
import NNCore
import NNData

/// A 64-bit FNV-1a digest of what must agree across ranks: the configuration (everything but
/// output paths; it includes the model spec) and the train and test data (sizes, shapes,
/// features, labels). The model's shape is a function of these, so it needs no term of its own.
func rankFingerprint(config: TrainConfig, data: DataSplit) -> UInt64 {
    var h: UInt64 = 0xcbf2_9ce4_8422_2325
    for b in config.fingerprintText.utf8 { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
    for d in data.train.sampleShape + [-1] + data.test.sampleShape { h = (h ^ UInt64(bitPattern: Int64(d))) &* 0x100_0000_01b3 }
    h ^= data.train.checksum &* 31
    h ^= data.test.checksum &* 17
    return h
}

/// Checks that every rank of `comm` has the same configuration and data, with one allgather
/// of a fixed-size digest (safe whatever the ranks disagree on). Call it on every rank before
/// anything whose size depends on the rank's settings is allocated or exchanged.
///
/// - Throws: UserError naming the ranks that differ from rank 0; CommunicatorError.
public func verifyRanksAgree(config: TrainConfig, data: DataSplit, comm: Communicator) throws {
    let all = try comm.allGather(rankFingerprint(config: config, data: data))
    let differing = all.indices.filter { all[$0] != all[0] }
    if !differing.isEmpty {
        throw UserError("ranks disagree on configuration, model or data: rank(s) \(differing.map(String.init).joined(separator: ", ")) differ from rank 0 (check that every host has the same dataset files and nntrain arguments)")
    }
}
