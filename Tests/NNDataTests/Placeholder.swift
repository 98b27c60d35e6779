import Testing
@testable import NNData
