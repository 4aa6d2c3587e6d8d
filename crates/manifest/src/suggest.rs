//! "Did you mean" suggestions.

/// The candidate closest to `input`, if one is close enough to be a likely
/// typo (Damerau-Levenshtein distance at most a third of the length, and at
/// least 1; case and `-` for `_` are ignored): the manifest's "did you mean",
/// for trigger crates' messages too.
pub fn did_you_mean<'a>(
    input: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let lowered = input.to_lowercase().replace('-', "_");
    let mut best: Option<(usize, &'a str)> = None;
    for candidate in candidates {
        let distance = strsim::damerau_levenshtein(&lowered, candidate);
        let len = candidate.chars().count().max(input.chars().count());
        let max = (len / 3).max(1);
        if distance <= max && best.is_none_or(|(d, _)| distance < d) {
            best = Some((distance, candidate));
        }
    }
    best.map(|(_, c)| c)
}

/// Formats names as `"a", "b" or "c"`.
pub(crate) fn one_of(names: &[&str]) -> String {
    let quoted: Vec<String> = names.iter().map(|n| format!("{n:?}")).collect();
    match quoted.len() {
        0 => String::new(),
        1 => quoted[0].clone(),
        n => format!("{} or {}", quoted[..n - 1].join(", "), quoted[n - 1]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_names() {
        let fields = [
            "source",
            "description",
            "files",
            "memory",
            "max_concurrency",
        ];
        assert_eq!(did_you_mean("sorce", fields), Some("source"));
        assert_eq!(did_you_mean("Source", fields), Some("source"));
        assert_eq!(did_you_mean("memroy", fields), Some("memory"));
        assert_eq!(
            did_you_mean("max-concurrency", fields),
            Some("max_concurrency")
        );
        assert_eq!(did_you_mean("file", fields), Some("files"));
        assert_eq!(did_you_mean("zzz", fields), None);
        assert_eq!(did_you_mean("x", ["y"]), Some("y"));
    }

    #[test]
    fn lists_names() {
        assert_eq!(one_of(&["a"]), "\"a\"");
        assert_eq!(one_of(&["a", "b", "c"]), "\"a\", \"b\" or \"c\"");
    }
}
