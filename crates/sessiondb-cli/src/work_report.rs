//! What the process did, counted by the kernel: bytes read and written through system calls (`/proc/self/io`)
//! and the peak resident set (`VmHWM`). Written as JSON at exit when `SESSIONDB_WORK_REPORT` names a file, so
//! the performance gate can count work (a sync that reads nothing, an append that reads only itself) instead of
//! timing it.

use std::path::Path;

/// The counters of `/proc/self/io` and the peak RSS, as JSON.
fn report() -> serde_json::Value {
    let mut value = serde_json::Map::new();
    if let Ok(io) = std::fs::read_to_string("/proc/self/io") {
        for line in io.lines() {
            if let Some((name, number)) = line.split_once(':') {
                if let Ok(n) = number.trim().parse::<u64>() {
                    value.insert(name.trim().to_owned(), n.into());
                }
            }
        }
    }
    if let Ok(status) = std::fs::read_to_string("/proc/self/status") {
        let peak_kb = status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok());
        if let Some(kb) = peak_kb {
            value.insert("peak_rss_bytes".into(), (kb * 1024).into());
        }
    }
    serde_json::Value::Object(value)
}

/// Writes the report to `path`; a failure is logged, never fatal.
pub fn write(path: &Path) {
    let text = report().to_string();
    if let Err(err) = std::fs::write(path, text) {
        tracing::warn!(path = %path.display(), %err, "cannot write the work report");
    }
}
