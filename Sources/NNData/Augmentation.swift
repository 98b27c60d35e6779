// Augmentation: random translation and horizontal flip of training images, as AlexNet (and
// torchvision's RandomCrop(padding: k) + RandomHorizontalFlip) use them. Applied to the gathered,
// normalized rows of a training batch; never to test data.
//
// Spec: `none`, or a comma list of `crop:K` (pad by K on every side, then crop back to H×W at a
// uniformly random offset: a shift (dy, dx) ∈ [−K, K]²) and `flip` (mirror left–right with
// probability ½). The draws of row r come from `NoiseKey.rng(row: r, stream: Augmentation.stream)`:
// a function of (seed, epoch, the sample's position), so every world size sees the same images.
import NNCore

/// A parsed `--augment` spec.
public struct Augmentation: Sendable, Equatable, CustomStringConvertible {
    /// Largest shift in pixels (0: no translation).
    public var crop: Int
    /// Whether images are mirrored left–right half of the time.
    public var flip: Bool

    /// The random stream of augmentation (layers use their index, ≥ 0).
    public static let stream = -1
    /// The largest crop padding a spec may name.
    public static let maxCrop = 1 << 16

    public init(crop: Int = 0, flip: Bool = false) { self.crop = crop; self.flip = flip }

    /// Whether the spec changes anything.
    public var isIdentity: Bool { crop == 0 && !flip }

    public var description: String {
        if isIdentity { return "none" }
        return ([crop > 0 ? "crop:\(crop)" : nil, flip ? "flip" : nil] as [String?]).compactMap { $0 }.joined(separator: ",")
    }

    /// Parses `none`, `crop:K`, `flip` or `crop:K,flip`; nil if malformed.
    public init?(parsing text: String) {
        let t = text.lowercased().trimmingCharacters(in: .whitespaces)
        self.init()
        if t == "none" || t.isEmpty { return }
        for part in t.split(separator: ",", omittingEmptySubsequences: false) {
            let p = part.trimmingCharacters(in: .whitespaces)
            if p == "flip", !flip {
                flip = true
            } else if p.hasPrefix("crop:"), crop == 0, let k = Int(p.dropFirst(5)), k > 0, k <= Augmentation.maxCrop {
                crop = k
            } else {
                return nil
            }
        }
    }

    public static let syntax = "none, crop:K (random shifts of up to K pixels, zero padding), flip (random left-right mirror), or both: crop:2,flip"

    /// Checks that `shape` is an image this spec can transform.
    public func check(shape: [Int], dataset: String) throws {
        guard !isIdentity else { return }
        guard shape.count == 3 else {
            throw UserError("--augment \(self): needs image data [C, H, W]; dataset '\(dataset)' has samples of shape \(shape)")
        }
        guard crop < shape[1] && crop < shape[2] else {
            throw UserError("--augment \(self): a shift of \(crop) pixels does not fit \(shape[1])×\(shape[2]) images; use crop:K with K < \(min(shape[1], shape[2]))")
        }
    }

    /// One image's draws: a shift (dy, dx) ∈ [−crop, crop]² (uniform; the modulo bias is below
    /// 2⁻⁴⁸) and whether it is mirrored (probability ½ when `flip`).
    public func draw(_ rng: inout RNG) -> (dy: Int, dx: Int, mirrored: Bool) {
        let span = UInt64(2 * crop + 1)
        let dy = crop > 0 ? Int(rng.next() % span) - crop : 0
        let dx = crop > 0 ? Int(rng.next() % span) - crop : 0
        return (dy, dx, flip && rng.next() >> 63 == 1)
    }

    /// Transforms the `n` rows of `x` ([n, C·H·W], images [C, H, W]) in place, row r with the
    /// draws of `key.rng(row: r, stream: Augmentation.stream)`. `padding[j]` is what a pixel
    /// shifted in from outside takes at feature j (the value a raw 0 has after normalization);
    /// `scratch` holds at least C·H·W values.
    public func apply<T: NNScalar>(_ x: UnsafeMutablePointer<T>, rows n: Int, shape: [Int], key: NoiseKey,
                                   padding: UnsafePointer<Float>, scratch: UnsafeMutablePointer<T>) {
        guard !isIdentity else { return }
        let size = shape.reduce(1, *)
        for r in 0..<n {
            var rng = key.rng(row: r, stream: Augmentation.stream)
            let (dy, dx, mirrored) = draw(&rng)
            Augmentation.transform(x + r * size, shape: shape, dy: dy, dx: dx, mirrored: mirrored, padding: padding, scratch: scratch)
        }
    }

    /// One image [C, H, W] in place: y[c, h, w] = x[c, h + dy, w' + dx], w' = W−1−w when
    /// mirrored (else w); `padding[j]` where the source lies outside the image.
    public static func transform<T: NNScalar>(_ row: UnsafeMutablePointer<T>, shape: [Int], dy: Int, dx: Int, mirrored: Bool,
                                              padding: UnsafePointer<Float>, scratch: UnsafeMutablePointer<T>) {
        if dy == 0 && dx == 0 && !mirrored { return }
        let C = shape[0], H = shape[1], W = shape[2]
        scratch.update(from: row, count: C * H * W)
        for c in 0..<C {
            for h in 0..<H {
                let sh = h + dy
                for w in 0..<W {
                    let j = (c * H + h) * W + w
                    let sw = (mirrored ? W - 1 - w : w) + dx
                    row[j] = sh >= 0 && sh < H && sw >= 0 && sw < W ? scratch[(c * H + sh) * W + sw] : T(padding[j])
                }
            }
        }
    }
}

extension Augmentation {
    /// Mirrors one image [C, H, W] left–right in place: y[c, h, w] = x[c, h, W−1−w].
    /// `scratch` holds at least W values.
    public static func mirror<T: NNScalar>(_ row: UnsafeMutablePointer<T>, shape: [Int], scratch: UnsafeMutablePointer<T>) {
        let W = shape[2]
        for line in 0..<(shape[0] * shape[1]) {
            let p = row + line * W
            scratch.update(from: p, count: W)
            for w in 0..<W { p[w] = scratch[W - 1 - w] }
        }
    }
}
