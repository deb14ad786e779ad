//! "Did you mean …?": the closest known name to a misspelt one.

/// Returns the candidate closest to `input` if it is close enough to be a plausible typo.
///
/// Accepts a candidate within a small edit distance (transpositions count once) or with a high
/// Jaro-Winkler similarity (which favours common prefixes, e.g. `upstream` → `upstream_tasks`).
pub(crate) fn closest<'a, I>(input: &str, candidates: I) -> Option<&'a str>
where
    I: IntoIterator<Item = &'a str>,
{
    let max_edits = (input.chars().count() / 4).max(1);
    let lowered = input.to_lowercase();
    candidates
        .into_iter()
        .filter_map(|candidate| {
            let edits = strsim::damerau_levenshtein(&lowered, &candidate.to_lowercase());
            let similarity = strsim::jaro_winkler(&lowered, &candidate.to_lowercase());
            (edits <= max_edits || similarity >= 0.85).then_some((edits, candidate))
        })
        .min_by_key(|&(edits, _)| edits)
        .map(|(_, candidate)| candidate)
}

#[cfg(test)]
mod tests {
    use super::closest;

    const FIELDS: &[&str] = &[
        "name",
        "total_roi",
        "read_roi",
        "write_roi",
        "upstream_tasks",
        "timeout",
    ];

    #[test]
    fn suggests_plausible_typos() {
        assert_eq!(
            closest("wirte_roi", FIELDS.iter().copied()),
            Some("write_roi")
        );
        assert_eq!(closest("timout", FIELDS.iter().copied()), Some("timeout"));
        assert_eq!(
            closest("upstream", FIELDS.iter().copied()),
            Some("upstream_tasks")
        );
        assert_eq!(closest("Name", FIELDS.iter().copied()), Some("name"));
        assert_eq!(closest("qso", ["qos", "mem"].into_iter()), Some("qos"));
    }

    #[test]
    fn stays_quiet_for_unrelated_names() {
        assert_eq!(closest("colour", FIELDS.iter().copied()), None);
        assert_eq!(closest("x", FIELDS.iter().copied()), None);
    }
}
