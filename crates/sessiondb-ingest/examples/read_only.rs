//! Reads every transcript under a directory the way a sync does, without a store (profiling aid).
use sessiondb_core::FileKind;
use sessiondb_ingest::reader::{read_file, FileStat, ReadBuffers, ReadLimits, ReadStart};
use sessiondb_ingest::SourceFile;

fn main() {
    let root = std::env::args().nth(1).expect("dir");
    let mut lines = 0usize;
    let buffers = ReadBuffers::default();
    for entry in walkdir::WalkDir::new(&root) {
        let entry = entry.expect("walk");
        if entry.path().extension().is_none_or(|e| e != "jsonl") {
            continue;
        }
        let source = SourceFile {
            path: entry.path().to_path_buf(),
            root: root.clone().into(),
            kind: FileKind::Transcript,
            owner_session: None,
        };
        let stat = FileStat {
            inode: None,
            size: entry.metadata().map_or(0, |m| m.len()),
            mtime_ns: 0,
            ..FileStat::default()
        };
        let start = ReadStart {
            offset: 0,
            rewrite: false,
            head_hash: 0,
            head_len: 0,
            ..ReadStart::default()
        };
        read_file(
            &source,
            stat,
            start,
            ReadLimits::default(),
            false,
            &buffers,
            &mut |batch| {
                lines += batch.lines.len();
                true
            },
        );
    }
    println!("{lines} lines");
}
