//! Source files read and parsed once per check, whichever targets share them.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use super::CheckError;

pub struct Source {
    pub text: String,
    pub ast: syn::File,
}

#[derive(Default)]
pub struct Sources {
    parsed: HashMap<PathBuf, Rc<Source>>,
}

impl Sources {
    pub fn get(&mut self, path: &Path) -> Result<Rc<Source>, CheckError> {
        if let Some(source) = self.parsed.get(path) {
            return Ok(Rc::clone(source));
        }
        let text = fs::read_to_string(path).map_err(|source| CheckError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let ast = syn::parse_file(&text).map_err(|error| CheckError::Parse {
            path: path.to_path_buf(),
            line: error.span().start().line,
            message: error.to_string(),
        })?;
        let source = Rc::new(Source { text, ast });
        self.parsed.insert(path.to_path_buf(), Rc::clone(&source));
        Ok(source)
    }
}
