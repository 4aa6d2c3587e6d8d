//! WASI 0.3 release candidates that are the same interfaces as WASI 0.3.0.
//!
//! Wasmtime 48 implements WASI 0.3.0. Guests built with the release
//! candidate `0.3.0-rc-2026-03-15` (spin-sdk 6, the `wasip3` crate 0.5 and
//! 0.6) import and export the same interfaces under that version; their WIT
//! is identical to 0.3.0's (every function, type and resource, compared
//! file by file). Pre-release versions never match each other in the
//! component model, so such a guest would fail to link. The loader renames
//! the version in the component's own (outermost) import and export names
//! before compiling, and only for the `wasi:` packages and versions listed
//! in [`SAME_AS_0_3_0`]; nothing else in the component changes.

use std::borrow::Cow;

use wasm_encoder::reencode::ReencodeComponent;

/// Release candidates whose WIT is identical to WASI 0.3.0.
pub const SAME_AS_0_3_0: &[&str] = &["0.3.0-rc-2026-03-15"];

/// `Some(bytes)` with the renamed component when `component` imports or
/// exports a `wasi:` interface at a version in [`SAME_AS_0_3_0`]; `None`
/// when there is nothing to rename (the common case: a cheap scan of the
/// import and export names).
pub fn normalize(component: &[u8]) -> anyhow::Result<Option<Vec<u8>>> {
    if !mentions_candidate(component) {
        return Ok(None);
    }
    let mut renamer = Renamer { depth: 0 };
    let mut out = wasm_encoder::Component::new();
    renamer
        .parse_component(&mut out, wasmparser::Parser::new(0), component)
        .map_err(|err| anyhow::anyhow!("cannot rewrite the component's WASI versions: {err:?}"))?;
    Ok(Some(out.finish()))
}

/// Whether any candidate version string appears in the bytes at all.
fn mentions_candidate(bytes: &[u8]) -> bool {
    SAME_AS_0_3_0.iter().any(|version| {
        let needle = version.as_bytes();
        bytes.windows(needle.len()).any(|window| window == needle)
    })
}

/// `wasi:http/types@0.3.0-rc-2026-03-15` → `wasi:http/types@0.3.0`.
fn rename(name: &str) -> Option<String> {
    let (interface, version) = name.rsplit_once('@')?;
    (interface.starts_with("wasi:") && SAME_AS_0_3_0.contains(&version))
        .then(|| format!("{interface}@0.3.0"))
}

struct Renamer {
    /// 0 in the outermost component; nested components (and modules) keep
    /// their names, which their parent's instantiation arguments refer to.
    depth: usize,
}

impl Renamer {
    fn renamed<'a>(
        &self,
        name: wasmparser::ComponentExternName<'a>,
    ) -> wasm_encoder::ComponentExternName<'a> {
        let mut name = wasm_encoder::ComponentExternName::from(name);
        if self.depth == 0 {
            if let Some(new) = rename(&name.name) {
                name.name = Cow::Owned(new);
            }
        }
        name
    }
}

impl wasm_encoder::reencode::Reencode for Renamer {
    type Error = std::convert::Infallible;
}

impl ReencodeComponent for Renamer {
    fn push_depth(&mut self) {
        self.depth += 1;
    }

    fn pop_depth(&mut self) {
        self.depth -= 1;
    }

    fn parse_component_import_section(
        &mut self,
        imports: &mut wasm_encoder::ComponentImportSection,
        section: wasmparser::ComponentImportSectionReader<'_>,
    ) -> Result<(), wasm_encoder::reencode::Error<Self::Error>> {
        for import in section {
            let import = import?;
            let ty = self.component_type_ref(import.ty)?;
            imports.import(self.renamed(import.name), ty);
        }
        Ok(())
    }

    fn parse_component_export(
        &mut self,
        exports: &mut wasm_encoder::ComponentExportSection,
        export: wasmparser::ComponentExport<'_>,
    ) -> Result<(), wasm_encoder::reencode::Error<Self::Error>> {
        let ty = export
            .ty
            .map(|ty| self.component_type_ref(ty))
            .transpose()?;
        let index = self.component_external_index(export.kind, export.index);
        exports.export(self.renamed(export.name), export.kind.into(), index, ty);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renames_only_wasi_candidates_that_match_0_3_0() {
        assert_eq!(
            rename("wasi:http/types@0.3.0-rc-2026-03-15").as_deref(),
            Some("wasi:http/types@0.3.0")
        );
        assert_eq!(rename("wasi:http/types@0.3.0-rc-2025-09-16"), None);
        assert_eq!(rename("spin:key-value/key-value@3.0.0"), None);
        assert_eq!(rename("wasi:cli/run@0.2.6"), None);
        assert_eq!(rename("example:foo/bar@0.3.0-rc-2026-03-15"), None);
    }

    #[test]
    fn rewrites_outer_imports_and_exports_and_nothing_else() {
        let wat = r#"(component
            (import "wasi:cli/environment@0.3.0-rc-2026-03-15" (instance
                (export "get-arguments" (func (result (list string))))))
            (import "spin:variables/variables@3.0.0" (instance))
            (component $inner
                (import "wasi:random/random@0.3.0-rc-2026-03-15" (instance)))
            (instance $i (instantiate $inner
                (with "wasi:random/random@0.3.0-rc-2026-03-15" (instance))))
            (export "wasi:cli/run@0.3.0-rc-2026-03-15" (instance $i))
        )"#;
        let bytes = wat::parse_str(wat).unwrap();
        let renamed = normalize(&bytes).unwrap().expect("something to rename");
        wasmparser::Validator::new_with_features(wasmparser::WasmFeatures::all())
            .validate_all(&renamed)
            .unwrap();
        let text = wasmprinter::print_bytes(&renamed).unwrap();
        assert!(text.contains("\"wasi:cli/environment@0.3.0\""), "{text}");
        assert!(text.contains("\"wasi:cli/run@0.3.0\""), "{text}");
        assert!(
            text.contains("\"spin:variables/variables@3.0.0\""),
            "{text}"
        );
        // The nested component and its instantiation keep their names.
        assert_eq!(
            text.matches("wasi:random/random@0.3.0-rc-2026-03-15")
                .count(),
            2,
            "{text}"
        );
        // A component without candidates is left alone.
        let plain = wat::parse_str("(component)").unwrap();
        assert!(normalize(&plain).unwrap().is_none());
    }
}
