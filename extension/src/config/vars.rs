//! The lookup and the warnings so far, shared by every setting family's reader.

/// What the family readers share: the lookup, and the warnings so far.
pub(super) struct Vars<'a> {
    env: &'a dyn Fn(&str) -> Option<String>,
    warnings: Vec<String>,
    /// Values taken but clamped: warned after the others.
    clamped: Vec<String>,
}

impl<'a> Vars<'a> {
    pub(super) fn new(env: &'a dyn Fn(&str) -> Option<String>) -> Self {
        Vars {
            env,
            warnings: Vec::new(),
            clamped: Vec::new(),
        }
    }

    /// The variable's value, trimmed.
    pub(super) fn get(&self, name: &str) -> Option<String> {
        (self.env)(name).map(|v| v.trim().to_string())
    }

    /// `name` has a value coldmark cannot use: the default applies.
    pub(super) fn bad(&mut self, name: &str, expected: &str) {
        self.warnings.push(format!(
            "{name} is not valid (expected {expected}); using the default"
        ));
    }

    pub(super) fn clamped(&mut self, warning: String) {
        self.clamped.push(warning);
    }

    pub(super) fn into_warnings(mut self) -> Vec<String> {
        self.warnings.append(&mut self.clamped);
        self.warnings
    }
}
