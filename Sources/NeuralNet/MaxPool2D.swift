// MaxPool2D: the maximum over each window of every channel, NCHW, with its backward,
// which routes each output gradient to the input that won the window.
import NNCore

/// Max pooling: `y[n, c, oh, ow] = max_{ki,kj < k} x[n, c, oh·s + ki, ow·s + kj]`, as
/// `nn.MaxPool2d(k, stride=s)` (no padding, floor rule for the output size).
///
/// x: [batch, C, H, W], y: [batch, C, OH, OW]. Backward: dx[argmax] += dy, 0 elsewhere; ties go
/// to the first maximum in row-major window order. The argmax of every output is kept from the
/// preceding `forward` (scratch sized by `reserve(batch:)`).
public final class MaxPool2D<Scalar: NNScalar>: Layer {
    public let geometry: ConvGeometry
    private var argmax = Buffer<Int32>(count: 0)   // [batch, C, OH, OW]: index within the [H, W] plane
    private var capacity = 0

    /// Pools windows of `geometry.kernel` at `geometry.stride`; `geometry.padding` must be 0.
    public init(_ geometry: ConvGeometry) {
        precondition(geometry.padding == 0, "MaxPool2D has no padding, got \(geometry.padding)")
        self.geometry = geometry
    }

    public var description: String {
        "MaxPool2D(\(geometry.kernel)×\(geometry.kernel)\(geometry.stride != geometry.kernel ? ", stride \(geometry.stride)" : ""))"
    }
    public var pytorchModule: String {
        "nn.MaxPool2d(\(geometry.kernel)\(geometry.stride != geometry.kernel ? ", stride=\(geometry.stride)" : ""))"
    }
    public var inputShape: [Int] { [geometry.channels, geometry.height, geometry.width] }
    public var outputShape: [Int] { [geometry.channels, geometry.outHeight, geometry.outWidth] }

    public func reserve(batch: Int) {
        guard batch > capacity else { return }
        capacity = batch
        argmax = Buffer(count: batch * geometry.channels * geometry.positions)
    }

    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public func forward(_ x: UnsafePointer<Scalar>, _ y: UnsafeMutablePointer<Scalar>, batch: Int) {
        precondition(batch <= capacity, "MaxPool2D: batch \(batch) exceeds the reserved \(capacity); call reserve(batch:)")
        let g = geometry, H = g.height, W = g.width, k = g.kernel, s = g.stride
        let OH = g.outHeight, OW = g.outWidth, P = g.positions
        let am = argmax.pointer
        for plane in 0..<(batch * g.channels) {
            let xp = x + plane * H * W, yp = y + plane * P, ap = am + plane * P
            for oh in 0..<OH {
                for ow in 0..<OW {
                    var best = oh * s * W + ow * s
                    var m = xp[best]
                    for ki in 0..<k {
                        let r = (oh * s + ki) * W + ow * s
                        for kj in 0..<k where xp[r + kj] > m { m = xp[r + kj]; best = r + kj }
                    }
                    yp[oh * OW + ow] = m
                    ap[oh * OW + ow] = Int32(truncatingIfNeeded: best)
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
        let g = geometry, HW = g.height * g.width, P = g.positions
        let am = argmax.pointer
        dx.update(repeating: 0, count: batch * g.channels * HW)
        for plane in 0..<(batch * g.channels) {
            let dxp = dx + plane * HW, dyp = dy + plane * P, ap = am + plane * P
            for q in 0..<P { dxp[Int(ap[q])] += dyp[q] }
        }
    }
}
