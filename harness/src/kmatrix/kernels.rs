//! The kernels of the matrix as `isoprobe kernels` shows them, and the one place the CLI and
//! the tests reach them through: the catalogue (`catalogue.rs`), the cache (`cache.rs`) and
//! fetching (`fetch.rs`).

pub use super::cache::{cache_dir, cache_size, vmlinuz_path};
pub use super::catalogue::{known, known_names, select, KernelSpec};
pub use super::error::KernelError;
pub use super::fetch::{fetch, KernelFiles};

use super::cache::is_nonempty_file;
use crate::report::Table;

/// The list as a table, and where the cache is and how much it holds.
pub fn render_text(specs: &[KernelSpec]) -> String {
    let mut t = Table::with_head(["NAME", "SUITE", "RELEASE", "PACKAGE", "VERSION", "FETCHED"]);
    for k in specs {
        let fetched = if is_nonempty_file(&vmlinuz_path(k)) {
            "yes"
        } else {
            "no"
        };
        t.push([
            k.name.as_str(),
            &k.suite,
            &k.release,
            &k.package,
            &k.version,
            fetched,
        ]);
    }
    let mut out = t.text();
    out.push_str(&format!(
        "cache: {} ({:.0} MB)\n",
        cache_dir().display(),
        cache_size() as f64 / 1e6
    ));
    out
}

/// The specs as a JSON array, each with `vmlinuz`: its cached path, or null before `fetch`.
pub fn render_json(specs: &[KernelSpec]) -> String {
    let v: Vec<serde_json::Value> = specs
        .iter()
        .map(|k| {
            let mut o = serde_json::to_value(k).unwrap_or_default();
            let p = vmlinuz_path(k);
            o["vmlinuz"] = if is_nonempty_file(&p) {
                serde_json::Value::String(p.display().to_string())
            } else {
                serde_json::Value::Null
            };
            o
        })
        .collect();
    serde_json::to_string_pretty(&v).unwrap_or_default()
}
