//! The one table layout every list and matrix uses: aligned columns for a terminal, a pipe
//! table for markdown. Callers decide what goes in the cells; this module only lays them out.

/// Rows of cells under an optional heading.
#[derive(Debug, Clone, Default)]
pub struct Table {
    head: Option<Vec<String>>,
    rows: Vec<Vec<String>>,
    min_widths: Vec<usize>,
}

/// Two spaces: wide enough to tell columns apart, narrow enough for a terminal.
const GAP: &str = "  ";

impl Table {
    pub fn with_head<S: Into<String>>(head: impl IntoIterator<Item = S>) -> Table {
        Table {
            head: Some(head.into_iter().map(Into::into).collect()),
            ..Table::default()
        }
    }

    /// A table whose rows speak for themselves (the feature list's `name  yes  how`).
    pub fn without_head() -> Table {
        Table::default()
    }

    /// Keeps column `col` at least `width` wide, so that its alignment does not depend on
    /// which values happened to occur.
    pub fn min_width(mut self, col: usize, width: usize) -> Table {
        if self.min_widths.len() <= col {
            self.min_widths.resize(col + 1, 0);
        }
        self.min_widths[col] = width;
        self
    }

    pub fn push<S: Into<String>>(&mut self, row: impl IntoIterator<Item = S>) {
        self.rows.push(row.into_iter().map(Into::into).collect());
    }

    /// Whether no row was pushed (a heading alone does not count).
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    fn lines(&self) -> impl Iterator<Item = &Vec<String>> {
        self.head.iter().chain(&self.rows)
    }

    /// Widths in characters, not bytes: cells hold marks such as `✓`.
    fn widths(&self) -> Vec<usize> {
        let mut widths = self.min_widths.clone();
        for line in self.lines() {
            if widths.len() < line.len() {
                widths.resize(line.len(), 0);
            }
            for (w, cell) in widths.iter_mut().zip(line) {
                *w = (*w).max(cell.chars().count());
            }
        }
        widths
    }

    /// Columns padded to their widest cell, two spaces apart, no trailing spaces.
    pub fn text(&self) -> String {
        let widths = self.widths();
        let mut out = String::new();
        for line in self.lines() {
            let mut l = String::new();
            for (i, (cell, w)) in line.iter().zip(&widths).enumerate() {
                if i > 0 {
                    l.push_str(GAP);
                }
                l.push_str(cell);
                l.extend(std::iter::repeat_n(' ', w - cell.chars().count()));
            }
            out.push_str(l.trim_end());
            out.push('\n');
        }
        out
    }

    /// A markdown pipe table. An empty heading cell is written `| |`: the kernel matrix's
    /// corner has always looked like that, and the README compares it byte for byte.
    pub fn markdown(&self) -> String {
        let mut out = String::new();
        if let Some(head) = &self.head {
            out.push('|');
            for cell in head {
                if cell.is_empty() {
                    out.push_str(" |");
                } else {
                    out.push_str(&format!(" {cell} |"));
                }
            }
            out.push_str("\n|");
            out.push_str(&" --- |".repeat(head.len()));
            out.push('\n');
        }
        for row in &self.rows {
            out.push_str(&format!("| {} |\n", row.join(" | ")));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_aligns_columns_without_trailing_spaces() {
        let mut t = Table::with_head(["A", "BB"]);
        t.push(["xyz", "1"]);
        t.push(["q", ""]);
        assert_eq!(t.text(), "A    BB\nxyz  1\nq\n");
    }

    #[test]
    fn text_counts_characters_not_bytes() {
        let mut t = Table::with_head(["", "x"]);
        t.push(["a", "pass ✓"]);
        t.push(["bb", "FAIL"]);
        assert_eq!(t.text(), "    x\na   pass ✓\nbb  FAIL\n");
    }

    #[test]
    fn min_width_holds_when_every_value_is_narrower() {
        let mut t = Table::without_head().min_width(1, 3);
        t.push(["n", "no", "how"]);
        assert_eq!(t.text(), "n  no   how\n");
    }

    #[test]
    fn markdown_has_a_separator_and_an_empty_corner() {
        let mut t = Table::with_head(["", "5.10 v2"]);
        t.push(["`a`", "pass ✓"]);
        t.push(["b", ""]);
        assert_eq!(
            t.markdown(),
            "| | 5.10 v2 |\n| --- | --- |\n| `a` | pass ✓ |\n| b |  |\n"
        );
    }
}
