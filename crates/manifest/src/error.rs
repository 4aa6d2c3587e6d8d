//! Errors and source positions.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

/// A 1-based line and column in the manifest text.
///
/// Columns count characters (Unicode scalar values), not bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Location {
    /// 1-based line number.
    pub line: usize,
    /// 1-based column number, in characters.
    pub column: usize,
}

impl Location {
    /// The start of the file (1:1).
    pub const START: Location = Location { line: 1, column: 1 };

    /// Computes the location of byte `offset` in `text`.
    ///
    /// Offsets past the end (or inside a multi-byte character) are clamped.
    pub fn from_offset(text: &str, offset: usize) -> Location {
        let mut offset = offset.min(text.len());
        while !text.is_char_boundary(offset) {
            offset -= 1;
        }
        let before = &text[..offset];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let column = before[line_start..].chars().count() + 1;
        Location { line, column }
    }
}

impl Default for Location {
    fn default() -> Self {
        Location::START
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

/// A secondary message attached to a [`Diagnostic`], pointing at a related place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    /// Where the note points.
    pub location: Location,
    /// The note text (printed after `note: `).
    pub message: String,
}

/// One problem found in a manifest: where it is, what is wrong and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// Where the problem is.
    pub location: Location,
    /// What is wrong and how to fix it (a single line).
    pub message: String,
    /// Related places, e.g. the first definition of a duplicate.
    pub notes: Vec<Note>,
}

impl Diagnostic {
    /// Creates a diagnostic without notes.
    pub fn new(location: Location, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            location,
            message: message.into(),
            notes: Vec::new(),
        }
    }

    /// Adds a note pointing at `location`.
    pub fn with_note(mut self, location: Location, message: impl Into<String>) -> Diagnostic {
        self.notes.push(Note {
            location,
            message: message.into(),
        });
        self
    }
}

/// Why a manifest could not be loaded or checked.
///
/// Every variant's `Display` is one or more lines, each starting with
/// `path:line:col: `, where `path` is the manifest path as it was given.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ManifestError {
    /// The manifest file could not be read.
    #[error("{}:1:1: cannot read the manifest: {error}{}", path.display(), read_hint(error))]
    Read {
        /// The manifest path, as given.
        path: PathBuf,
        /// The underlying I/O error.
        error: io::Error,
    },
    /// The manifest was read but is invalid (syntax or validation errors), or
    /// [`Manifest::check_sources`](crate::Manifest::check_sources) found missing files.
    #[error("{}", render(path, diagnostics))]
    Invalid {
        /// The manifest path, as given.
        path: PathBuf,
        /// The problems found, sorted by location.
        diagnostics: Vec<Diagnostic>,
    },
}

impl ManifestError {
    /// The manifest path this error is about, as it was given.
    pub fn path(&self) -> &Path {
        match self {
            ManifestError::Read { path, .. } | ManifestError::Invalid { path, .. } => path,
        }
    }

    /// The individual problems (empty for [`ManifestError::Read`]).
    pub fn diagnostics(&self) -> &[Diagnostic] {
        match self {
            ManifestError::Read { .. } => &[],
            ManifestError::Invalid { diagnostics, .. } => diagnostics,
        }
    }

    pub(crate) fn invalid(path: &Path, mut diagnostics: Vec<Diagnostic>) -> ManifestError {
        diagnostics.sort_by_key(|d| d.location);
        ManifestError::Invalid {
            path: path.to_path_buf(),
            diagnostics,
        }
    }

    /// An [`Invalid`](ManifestError::Invalid) error listing `diagnostics` (in
    /// file order) for the manifest at `path`: how a trigger crate reports
    /// problems in its sections.
    pub fn from_diagnostics(path: &Path, diagnostics: Vec<Diagnostic>) -> ManifestError {
        ManifestError::invalid(path, diagnostics)
    }

    /// `value` when `diagnostics` is empty, else the error listing them
    /// (see [`ManifestError::from_diagnostics`]): the end of a trigger
    /// crate's reading of its sections.
    pub fn or_ok<T>(
        path: &Path,
        diagnostics: Vec<Diagnostic>,
        value: T,
    ) -> Result<T, ManifestError> {
        if diagnostics.is_empty() {
            Ok(value)
        } else {
            Err(ManifestError::from_diagnostics(path, diagnostics))
        }
    }

    /// `result`'s value, or `None` with its problems moved into
    /// `diagnostics` (to report every problem at once).
    pub fn collect_into<T>(
        result: Result<T, ManifestError>,
        diagnostics: &mut Vec<Diagnostic>,
    ) -> Option<T> {
        result
            .map_err(|e| diagnostics.extend(e.into_diagnostics()))
            .ok()
    }

    /// The individual problems, owned; a [`Read`](ManifestError::Read) error
    /// becomes one at 1:1.
    pub fn into_diagnostics(self) -> Vec<Diagnostic> {
        match self {
            ManifestError::Read { error, .. } => vec![Diagnostic::new(
                Location::START,
                format!("cannot read the manifest: {error}{}", read_hint(&error)),
            )],
            ManifestError::Invalid { diagnostics, .. } => diagnostics,
        }
    }

    /// One error listing the problems of every failed check, in file order
    /// (`Ok` when all passed), so that a user sees them all at once.
    pub fn combine(
        results: impl IntoIterator<Item = Result<(), ManifestError>>,
    ) -> Result<(), ManifestError> {
        let mut path = None;
        let mut diagnostics = Vec::new();
        for error in results.into_iter().filter_map(Result::err) {
            path.get_or_insert_with(|| error.path().to_path_buf());
            diagnostics.extend(error.into_diagnostics());
        }
        match path {
            None => Ok(()),
            Some(path) => Err(ManifestError::invalid(&path, diagnostics)),
        }
    }
}

fn read_hint(error: &io::Error) -> &'static str {
    if error.kind() == io::ErrorKind::NotFound {
        "; check the path, or run the command in the directory that holds spin.toml or nimbus.toml"
    } else {
        ""
    }
}

fn render(path: &Path, diagnostics: &[Diagnostic]) -> String {
    let path = path.display();
    let mut out = String::new();
    for d in diagnostics {
        if !out.is_empty() {
            out.push('\n');
        }
        out.push_str(&format!("{path}:{}: {}", d.location, d.message));
        for n in &d.notes {
            out.push_str(&format!("\n{path}:{}: note: {}", n.location, n.message));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_to_locations() {
        let text = "ab\nc\u{e9}d\n\nx";
        assert_eq!(
            Location::from_offset(text, 0),
            Location { line: 1, column: 1 }
        );
        assert_eq!(
            Location::from_offset(text, 2),
            Location { line: 1, column: 3 }
        );
        assert_eq!(
            Location::from_offset(text, 3),
            Location { line: 2, column: 1 }
        );
        // 'd' comes after a two-byte character: byte 6, column 3.
        assert_eq!(
            Location::from_offset(text, 6),
            Location { line: 2, column: 3 }
        );
        // Inside the two-byte character: clamped to its start.
        assert_eq!(
            Location::from_offset(text, 5),
            Location { line: 2, column: 2 }
        );
        assert_eq!(
            Location::from_offset(text, 9),
            Location { line: 4, column: 1 }
        );
        assert_eq!(
            Location::from_offset(text, 99),
            Location { line: 4, column: 2 }
        );
    }

    #[test]
    fn renders_every_line_with_a_prefix() {
        let err = ManifestError::invalid(
            Path::new("app/spin.toml"),
            vec![
                Diagnostic::new(Location { line: 9, column: 1 }, "second"),
                Diagnostic::new(Location { line: 2, column: 5 }, "first")
                    .with_note(Location { line: 1, column: 1 }, "here"),
            ],
        );
        assert_eq!(
            err.to_string(),
            "app/spin.toml:2:5: first\napp/spin.toml:1:1: note: here\napp/spin.toml:9:1: second"
        );
    }
}
