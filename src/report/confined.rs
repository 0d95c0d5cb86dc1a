//! The loader of templates a user's template includes: only files inside the template's own
//! folder, after symbolic links are resolved (minijinja's `path_loader` checks the name, not
//! where a link inside the folder points: `{% include "link" %}` rendered `/etc/hostname`), and
//! of a template's size.

use std::path::{Component, Path, PathBuf};

use minijinja::{Error, ErrorKind};

/// The largest template file read.
const MAX_TEMPLATE_BYTES: u64 = 4 << 20;

/// A loader for `Environment::set_loader` that reads `name` from inside `dir` only.
pub fn loader(
    dir: &Path,
) -> impl Fn(&str) -> Result<Option<String>, Error> + Send + Sync + 'static {
    let root = dir.canonicalize().ok();
    move |name| {
        let Some(root) = &root else {
            return Ok(None);
        };
        let Some(path) = inside(root, name) else {
            return Ok(None);
        };
        let meta = match std::fs::metadata(&path) {
            Ok(m) if m.is_file() => m,
            _ => return Ok(None),
        };
        if meta.len() > MAX_TEMPLATE_BYTES {
            return Err(Error::new(
                ErrorKind::InvalidOperation,
                format!("template `{name}` is larger than {MAX_TEMPLATE_BYTES} bytes"),
            ));
        }
        std::fs::read_to_string(&path).map(Some).map_err(|e| {
            Error::new(ErrorKind::InvalidOperation, "could not read template").with_source(e)
        })
    }
}

/// `root/name` with links resolved, if it names plain components and stays under `root`.
fn inside(root: &Path, name: &str) -> Option<PathBuf> {
    let relative = Path::new(name);
    let plain = relative
        .components()
        .all(|c| matches!(c, Component::Normal(part) if !part.to_string_lossy().starts_with('.')));
    if !plain {
        return None;
    }
    let resolved = root.join(relative).canonicalize().ok()?;
    resolved.starts_with(root).then_some(resolved)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_link_out_of_the_folder_and_a_climbing_name_load_nothing() {
        let dir = std::env::temp_dir().join(format!("benchplan-confined-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("t/parts")).unwrap();
        std::fs::write(dir.join("secret.txt"), "secret").unwrap();
        std::fs::write(dir.join("t/parts/row.md"), "row").unwrap();
        #[cfg(unix)]
        std::os::unix::fs::symlink(dir.join("secret.txt"), dir.join("t/link.md")).unwrap();
        let load = loader(&dir.join("t"));
        assert_eq!(load("parts/row.md").unwrap().as_deref(), Some("row"));
        assert_eq!(load("../secret.txt").unwrap(), None);
        assert_eq!(load("/etc/hostname").unwrap(), None);
        #[cfg(unix)]
        assert_eq!(load("link.md").unwrap(), None);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
