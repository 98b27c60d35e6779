// AvgPool2D: the mean over each window of every channel, NCHW, with its backward,
// which spreads each output gradient evenly over its window.
import NNCore

/// Average pooling: `y[n, c, oh, ow] = (1/k²) Σ_{ki,kj < k} x[n, c, oh·s + ki, ow·s + kj]`, as
/// `nn.AvgPool2d(k, stride=s)` (no padding, floor rule for the output size).
///
/// x: [batch, C, H, W], y: [batch, C, OH, OW]. Backward: dx[window] += dy / k².
public final class AvgPool2D<Scalar: NNScalar>: Layer {
    public let geometry: ConvGeometry

    /// Pools windows of `geometry.kernel` at `geometry.stride`; `geometry.padding` must be 0.
    public init(_ geometry: ConvGeometry) {
        precondition(geometry.padding == 0, "AvgPool2D has no padding, got \(geometry.padding)")
        self.geometry = geometry
    }

    public var description: String {
        "AvgPool2D(\(geometry.kernel)×\(geometry.kernel)\(geometry.stride != geometry.kernel ? ", stride \(geometry.stride)" : ""))"
    }
    public var pytorchModule: String {
        "nn.AvgPool2d(\(geometry.kernel)\(geometry.stride != geometry.kernel ? ", stride=\(geometry.stride)" : ""))"
    }
    public var inputShape: [Int] { [geometry.channels, geometry.height, geometry.width] }
    public var outputShape: [Int] { [geometry.channels, geometry.outHeight, geometry.outWidth] }

    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public func forward(_ x: UnsafePointer<Scalar>, _ y: UnsafeMutablePointer<Scalar>, batch: Int) {
        let g = geometry, H = g.height, W = g.width, k = g.kernel, s = g.stride
        let OH = g.outHeight, OW = g.outWidth, P = g.positions
        let scale = 1 / Scalar(k * k)
        for plane in 0..<(batch * g.channels) {
            let xp = x + plane * H * W, yp = y + plane * P
            for oh in 0..<OH {
                for ow in 0..<OW {
                    var sum: Scalar = 0
                    for ki in 0..<k {
                        let r = (oh * s + ki) * W + ow * s
                        for kj in 0..<k { sum += xp[r + kj] }
                    }
                    yp[oh * OW + ow] = sum * scale
                }
            }
        }
    }

    public func backward(x: UnsafePointer<Scalar>, y: UnsafePointer<Scalar>, dy: UnsafePointer<Scalar>,
                         dx: UnsafeMutablePointer<Scalar>?, batch: Int, accumulate: Bool) {
        guard let dx else { return }
        inputGradient(x: x, y: y, dy: dy, dx: dx, batch: batch)
    }

    // Separate from `backward` because generic functions with optional pointer arguments are
    // not eagerly specialized (the unspecialized body is many times slower).
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    private func inputGradient(x: UnsafePointer<Scalar>, y: UnsafePointer<Scalar>, dy: UnsafePointer<Scalar>,
                               dx: UnsafeMutablePointer<Scalar>, batch: Int) {
        let g = geometry, H = g.height, W = g.width, k = g.kernel, s = g.stride
        let OH = g.outHeight, OW = g.outWidth, P = g.positions
        let scale = 1 / Scalar(k * k)
        dx.update(repeating: 0, count: batch * g.channels * H * W)
        for plane in 0..<(batch * g.channels) {
            let dxp = dx + plane * H * W, dyp = dy + plane * P
            for oh in 0..<OH {
                for ow in 0..<OW {
                    let v = dyp[oh * OW + ow] * scale
                    for ki in 0..<k {
                        let r = (oh * s + ki) * W + ow * s
                        for kj in 0..<k { dxp[r + kj] += v }
                    }
                }
            }
        }
    }
}
