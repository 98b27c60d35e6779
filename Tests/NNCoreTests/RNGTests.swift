import Testing
@testable import NNCore
