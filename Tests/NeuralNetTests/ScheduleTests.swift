// Schedule values pinned at their boundaries: warmup end, milestones, plateau trigger,
// cooldown, minimum lr, and past the end of the run.
import Foundation
import Testing
@testable import NeuralNet

@Suite struct ScheduleTests {
    func config(_ kind: ScheduleKind, base: Double = 1, _ edit: (inout ScheduleConfig) -> Void = { _ in }) -> ScheduleConfig {
        var c = ScheduleConfig()
        c.kind = kind
        c.baseLR = base
        edit(&c)
        return c
    }

    @Test func constantIsConstant() {
        let s = Schedule(config(.constant, base: 0.1))
        #expect(s.lr(step: 0, epoch: 0) == 0.1)
        #expect(s.lr(step: 1_000_000, epoch: 500) == 0.1)
    }

    @Test func warmupRampsLinearlyAndEndsAtTheBaseRate() {
        let s = Schedule(config(.constant, base: 0.1) { $0.warmupSteps = 4 })
        #expect(s.lr(step: 0, epoch: 0) == 0.1 * 0.25)
        #expect(s.lr(step: 1, epoch: 0) == 0.1 * 0.5)
        #expect(s.lr(step: 2, epoch: 0) == 0.1 * 0.75)
        // The last warmup step already runs at the full rate; after it nothing changes.
        #expect(s.lr(step: 3, epoch: 0) == 0.1)
        #expect(s.lr(step: 4, epoch: 0) == 0.1)
        #expect(s.lr(step: 400, epoch: 9) == 0.1)
    }

    @Test func stepDecayChangesExactlyAtMilestones() {
        let s = Schedule(config(.step) { $0.milestones = [2, 4]; $0.gamma = 0.1 })
        #expect(s.lr(step: 0, epoch: 0) == 1)
        #expect(s.lr(step: 99, epoch: 1) == 1)          // last epoch before the first milestone
        #expect(s.lr(step: 100, epoch: 2) == 0.1)       // the milestone epoch itself is decayed
        #expect(s.lr(step: 199, epoch: 3) == 0.1)
        #expect(s.lr(step: 200, epoch: 4) == pow(0.1, 2))
        #expect(s.lr(step: 10_000, epoch: 100) == pow(0.1, 2))  // past the end: stays at the last value
    }

    @Test func exponentialDecaysPerEpoch() {
        let s = Schedule(config(.exponential) { $0.gamma = 0.5 })
        #expect(s.lr(step: 5, epoch: 0) == 1)
        #expect(s.lr(step: 50, epoch: 1) == 0.5)
        #expect(s.lr(step: 500, epoch: 3) == 0.125)
    }

    @Test func cosineRunsFromBaseToMinimumAfterWarmup() {
        let s = Schedule(config(.cosine) { $0.warmupSteps = 10; $0.totalSteps = 110; $0.minLR = 0 })
        #expect(s.lr(step: 0, epoch: 0) == 0.1)          // warmup: 1/10 of the base rate
        #expect(s.lr(step: 9, epoch: 0) == 1)            // warmup end: full rate
        #expect(s.lr(step: 10, epoch: 0) == 1)           // cosine starts at the base rate
        #expect(s.lr(step: 60, epoch: 0) == 0.5)         // half way
        #expect(s.lr(step: 110, epoch: 0) == 0)          // end of the run
        #expect(s.lr(step: 500, epoch: 0) == 0)          // past the end: the minimum
        let floor = Schedule(config(.cosine) { $0.totalSteps = 100; $0.minLR = 0.01 })
        #expect(floor.lr(step: 0, epoch: 0) == 1)
        #expect(floor.lr(step: 100, epoch: 0) == 0.01)
        #expect(floor.lr(step: 1000, epoch: 0) == 0.01)
    }

    @Test func plateauReducesAfterPatienceThenCoolsDown() {
        // PyTorch ReduceLROnPlateau(mode=min, factor=0.5, patience=2, cooldown=1, threshold=0):
        // the 3rd epoch without improvement (bad epochs > patience) reduces.
        var s = Schedule(config(.plateau) { $0.factor = 0.5; $0.patience = 2; $0.cooldown = 1; $0.threshold = 0 })
        #expect(s.observe(loss: 1.0) == false)   // first value: an improvement on +∞
        #expect(s.best == 1.0)
        #expect(s.observe(loss: 1.0) == false)   // bad 1
        #expect(s.observe(loss: 1.0) == false)   // bad 2 = patience: not yet
        #expect(s.lr(step: 0, epoch: 3) == 1)
        #expect(s.observe(loss: 1.0) == true)    // bad 3 > patience: reduce
        #expect(s.lr(step: 0, epoch: 4) == 0.5)
        #expect(s.cooldownLeft == 1)
        #expect(s.observe(loss: 1.0) == false)   // cooldown epoch: bad epochs not counted
        #expect(s.badEpochs == 0 && s.cooldownLeft == 0)
        #expect(s.observe(loss: 1.0) == false)   // bad 1
        #expect(s.observe(loss: 1.0) == false)   // bad 2
        #expect(s.observe(loss: 1.0) == true)    // bad 3: reduce again
        #expect(s.lr(step: 0, epoch: 9) == 0.25)
    }

    @Test func plateauImprovementMustBeatTheRelativeThreshold() {
        var s = Schedule(config(.plateau) { $0.factor = 0.1; $0.patience = 0; $0.threshold = 0.1 })
        s.observe(loss: 1.0)
        #expect(s.observe(loss: 0.95) == true)   // 0.95 ≥ 1.0·(1 − 0.1): not better, patience 0 → reduce
        #expect(s.best == 1.0)
        #expect(s.lr(step: 0, epoch: 2) == 0.1)
        #expect(s.observe(loss: 0.89) == false)  // 0.89 < 0.9: better
        #expect(s.best == 0.89)
    }

    @Test func plateauStopsAtTheMinimumRate() {
        var s = Schedule(config(.plateau) { $0.factor = 0.1; $0.patience = 0; $0.minLR = 0.05 })
        s.observe(loss: 1)
        #expect(s.observe(loss: 2) == true)
        #expect(s.lr(step: 0, epoch: 0) == 0.1)
        #expect(s.observe(loss: 2) == true)      // 0.01 would undercut the floor: 0.05
        #expect(s.lr(step: 0, epoch: 0) == 0.05)
        #expect(s.observe(loss: 2) == false)     // at the floor: no further change reported
        #expect(s.lr(step: 0, epoch: 0) == 0.05)
    }

    @Test func plateauComposesWithWarmup() {
        let s = Schedule(config(.plateau, base: 0.2) { $0.warmupSteps = 2 })
        #expect(s.lr(step: 0, epoch: 0) == 0.1)
        #expect(s.lr(step: 1, epoch: 0) == 0.2)
    }

    @Test func scheduleStateSurvivesJSON() throws {
        var s = Schedule(config(.plateau) { $0.patience = 0 })
        s.observe(loss: 0.123456789012345)
        s.observe(loss: 0.2)
        let enc = JSONEncoder()
        enc.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        let dec = JSONDecoder()
        dec.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        #expect(try dec.decode(Schedule.self, from: enc.encode(s)) == s)
        let fresh = Schedule(config(.plateau))
        #expect(try dec.decode(Schedule.self, from: enc.encode(fresh)) == fresh)   // best = +∞
    }
}
