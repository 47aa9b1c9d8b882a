//! The tar readers drag's archives must satisfy: GNU tar, busybox tar and Python's `tarfile`.
//!
//! They disagree on the edges of the format (the ustar prefix, PAX and GNU long names), so an
//! archive is only right when all three list and extract the same thing. Tests that check
//! this share one description of how to drive each reader.

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::tools::{require_tool, stdout_of};

/// One tar reader: how to list an archive and how to extract it.
pub struct TarReader {
    pub name: &'static str,
    program: PathBuf,
    list: fn(&Path) -> Vec<OsString>,
    extract: fn(&Path, &Path) -> Vec<OsString>,
}

const PYTHON_LIST: &str =
    "import tarfile,sys\nfor n in tarfile.open(sys.argv[1]).getnames(): print(n)";
/// No filter: `fully_trusted` where Python has filters, the plain call where it has not.
const PYTHON_EXTRACT: &str = "import tarfile,sys\nt=tarfile.open(sys.argv[1])\nkw={'filter':'fully_trusted'} if hasattr(tarfile,'fully_trusted_filter') else {}\nt.extractall(sys.argv[2],**kw)";

fn os(args: &[&dyn AsRef<OsStr>]) -> Vec<OsString> {
    args.iter().map(|a| a.as_ref().to_owned()).collect()
}

/// GNU tar, busybox tar and Python's tarfile, or `None` (after a visible skip, or a panic
/// under `DRAG_REQUIRE_REAL_TOOLS=1`) when one is missing.
pub fn tar_readers() -> Option<Vec<TarReader>> {
    Some(vec![
        TarReader {
            name: "GNU tar",
            program: require_tool("tar")?,
            list: |a| os(&[&"-tf", &a]),
            extract: |a, to| os(&[&"-xf", &a, &"-C", &to]),
        },
        TarReader {
            name: "busybox tar",
            program: require_tool("busybox")?,
            list: |a| os(&[&"tar", &"-tf", &a]),
            extract: |a, to| os(&[&"tar", &"-xf", &a, &"-C", &to]),
        },
        TarReader {
            name: "Python tarfile",
            program: require_tool("python3")?,
            list: |a| os(&[&"-c", &PYTHON_LIST, &a]),
            extract: |a, to| os(&[&"-c", &PYTHON_EXTRACT, &a, &to]),
        },
    ])
}

impl TarReader {
    /// `archive`'s entry names as this reader lists them, in order, without the trailing `/`
    /// of directories. Panics unless the reader succeeds.
    pub fn list(&self, archive: &Path) -> Vec<String> {
        stdout_of(&mut self.command((self.list)(archive)))
            .lines()
            .map(|l| l.trim_end_matches('/').to_string())
            .collect()
    }

    /// Extracts `archive` into the existing directory `into`. Panics unless the reader succeeds.
    pub fn extract(&self, archive: &Path, into: &Path) {
        stdout_of(&mut self.command((self.extract)(archive, into)));
    }

    /// This reader's program with `args`, for what [`TarReader::list`] and
    /// [`TarReader::extract`] do not cover (`tar -tvf`).
    pub fn command(&self, args: Vec<OsString>) -> Command {
        let mut c = Command::new(&self.program);
        c.args(args);
        c
    }
}
