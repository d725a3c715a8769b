//! The one error type of the parsers.

use std::fmt;

/// What was wrong with a text handed to a parser: which file, line or field, and the offending
/// text. A plain string rather than an enum because callers only ever report it; nobody
/// branches on the kind of malformation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    pub what: String,
}

impl ParseError {
    pub fn new(what: impl Into<String>) -> Self {
        ParseError { what: what.into() }
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.what)
    }
}

impl std::error::Error for ParseError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn displays_what_was_wrong() {
        let e = ParseError::new("cpu.max: no period");
        assert_eq!(e.to_string(), "cpu.max: no period");
        let boxed: Box<dyn std::error::Error> = Box::new(e);
        assert_eq!(boxed.to_string(), "cpu.max: no period");
    }
}
