// Im2col: the geometry of a 2-D sliding window and the two copies that turn a convolution
// into a matrix product (im2col) and its adjoint back (col2im). Shared by Conv2D and
// LocallyConnected2D, which differ only in how they lay the patch matrix out.
import NNCore

/// The geometry of a square kernel sliding over one [C, H, W] sample.
///
/// OH = ⌊(H + 2·padding − kernel) / stride⌋ + 1, OW likewise (PyTorch's floor rule).
public struct ConvGeometry: Sendable, Equatable {
    public let channels: Int, height: Int, width: Int
    public let kernel: Int, stride: Int, padding: Int
    public let outHeight: Int, outWidth: Int

    /// Nil when the window does not fit (kernel larger than the padded input, or non-positive sizes).
    public init?(channels: Int, height: Int, width: Int, kernel: Int, stride: Int, padding: Int) {
        guard channels > 0, height > 0, width > 0, kernel > 0, stride > 0, padding >= 0,
              height + 2 * padding >= kernel, width + 2 * padding >= kernel else { return nil }
        self.channels = channels; self.height = height; self.width = width
        self.kernel = kernel; self.stride = stride; self.padding = padding
        outHeight = (height + 2 * padding - kernel) / stride + 1
        outWidth = (width + 2 * padding - kernel) / stride + 1
    }

    /// Patch length K = C · kernel²: one row of the weight matrix.
    public var patch: Int { channels * kernel * kernel }
    /// Output positions per channel, P = OH · OW.
    public var positions: Int { outHeight * outWidth }
    /// Input values per sample, C · H · W.
    public var inputSize: Int { channels * height * width }

    /// The output columns `ow` whose input column `ow·stride − padding + kj` lies inside [0, W).
    @inline(__always)
    func validColumns(_ kj: Int) -> Range<Int> {
        // ow·s ≥ padding − kj  and  ow·s ≤ W − 1 + padding − kj
        let lo = max(0, ceilDiv(padding - kj, stride))
        let hi = min(outWidth, floorDiv(width - 1 + padding - kj, stride) + 1)
        return lo..<max(lo, hi)
    }

    /// Copies every patch of x: [batch, C, H, W] into `col`, zero where the window hangs over
    /// the padding. Element (k, n, p), with k = (c·kernel + ki)·kernel + kj the patch index and
    /// p = oh·OW + ow the output position, goes to `col[k·sK + n·sN + p·sP]`.
    ///
    /// Conv2D uses sK = batch·P, sN = P, sP = 1 (col: [K, batch·P]);
    /// LocallyConnected2D uses sP = batch·K, sN = K, sK = 1 (col: [P, batch, K]).
    @_specialize(where T == Float)
    @_specialize(where T == Double)
    func im2col<T: NNScalar>(_ x: UnsafePointer<T>, batch: Int, _ col: UnsafeMutablePointer<T>, sK: Int, sN: Int, sP: Int) {
        let C = channels, H = height, W = width, k = kernel, s = stride, p = padding
        let OH = outHeight, OW = outWidth
        for c in 0..<C {
            for ki in 0..<k {
                for kj in 0..<k {
                    let kk = (c * k + ki) * k + kj
                    let cols = validColumns(kj)
                    for n in 0..<batch {
                        let xc = x + (n * C + c) * H * W
                        let base = col + kk * sK + n * sN
                        for oh in 0..<OH {
                            let dst = base + oh * OW * sP
                            let ih = oh * s - p + ki
                            if ih < 0 || ih >= H || cols.isEmpty {
                                for ow in 0..<OW { dst[ow * sP] = 0 }
                                continue
                            }
                            let r = ih * W + kj - p   // x index of ow = 0 (may be left of the row)
                            for ow in 0..<cols.lowerBound { dst[ow * sP] = 0 }
                            if sP == 1 && s == 1 {
                                (dst + cols.lowerBound).update(from: xc + (r + cols.lowerBound), count: cols.count)
                            } else {
                                for ow in cols { dst[ow * sP] = xc[r + ow * s] }
                            }
                            for ow in cols.upperBound..<OW { dst[ow * sP] = 0 }
                        }
                    }
                }
            }
        }
    }

    /// The adjoint of `im2col`: dx = Σ over patches of dcol, scattered back to the input
    /// positions they were copied from (padding positions are dropped). Overwrites dx.
    @_specialize(where T == Float)
    @_specialize(where T == Double)
    func col2im<T: NNScalar>(_ col: UnsafePointer<T>, batch: Int, _ dx: UnsafeMutablePointer<T>, sK: Int, sN: Int, sP: Int) {
        let C = channels, H = height, W = width, k = kernel, s = stride, p = padding
        let OH = outHeight, OW = outWidth
        dx.update(repeating: 0, count: batch * C * H * W)
        for c in 0..<C {
            for ki in 0..<k {
                for kj in 0..<k {
                    let kk = (c * k + ki) * k + kj
                    let cols = validColumns(kj)
                    if cols.isEmpty { continue }
                    for n in 0..<batch {
                        let xc = dx + (n * C + c) * H * W
                        let base = col + kk * sK + n * sN
                        for oh in 0..<OH {
                            let ih = oh * s - p + ki
                            if ih < 0 || ih >= H { continue }
                            let src = base + oh * OW * sP
                            let r = ih * W + kj - p
                            if sP == 1 && s == 1 {
                                for ow in cols { xc[r + ow] += src[ow] }
                            } else {
                                for ow in cols { xc[r + ow * s] += src[ow * sP] }
                            }
                        }
                    }
                }
            }
        }
    }
}

@inline(__always) func floorDiv(_ a: Int, _ b: Int) -> Int { a >= 0 ? a / b : -((-a + b - 1) / b) }
@inline(__always) func ceilDiv(_ a: Int, _ b: Int) -> Int { -floorDiv(-a, b) }
