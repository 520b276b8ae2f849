//! `sessiondb man [--dir DIR]`: the manual page (roff): `sessiondb.1` on stdout, or one page per command
//! (`sessiondb.1`, `sessiondb-sync.1`, …) written into DIR.

use anyhow::{Context, Result};
use std::io::Write;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Write sessiondb.1 and one page per command into this directory instead of printing sessiondb.1
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

pub fn run(args: Args, command: clap::Command, out: &mut dyn Write) -> Result<i32> {
    let Some(dir) = args.dir else {
        clap_mangen::Man::new(command).render(out)?;
        return Ok(0);
    };
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut written = 0;
    let mut pages = vec![("sessiondb".to_owned(), command.clone())];
    for sub in command.get_subcommands().filter(|s| !s.is_hide_set()) {
        pages.push((format!("sessiondb-{}", sub.get_name()), sub.clone()));
    }
    for (name, page) in pages {
        let path = dir.join(format!("{name}.1"));
        let mut file = std::fs::File::create(&path)
            .with_context(|| format!("cannot write {}", path.display()))?;
        clap_mangen::Man::new(page).title(name).render(&mut file)?;
        written += 1;
    }
    eprintln!(
        "sessiondb: wrote {written} manual pages into {}",
        dir.display()
    );
    Ok(0)
}
