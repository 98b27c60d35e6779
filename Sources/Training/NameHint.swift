// NameHint: the "did you mean" of an unknown name, for clients outside this module (the
// experiment catalog) that reject names the way the configuration rejects keys.

/// " (did you mean 'x'?)" for the name in `names` nearest to `name` by Levenshtein distance,
/// when that distance is at most `within`; else "".
public func didYouMean(_ name: String, among names: [String], within: Int) -> String {
    guard let near = names.min(by: { editDistance($0, name) < editDistance($1, name) }),
          editDistance(near, name) <= within else { return "" }
    return " (did you mean '\(near)'?)"
}
