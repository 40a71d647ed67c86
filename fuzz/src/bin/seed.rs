//! Build seed corpora from captures: `cargo run --bin seed -- OUT_DIR CAPTURE...`.
//! Writes small whole captures to OUT/capture, single frames (prefixed with
//! their link-type selector) to OUT/decode, and transport payloads to
//! OUT/app_protocols.

use std::path::{Path, PathBuf};

use opensoc_net::{CaptureReader, decode};

const LINKTYPES: [u32; 16] = [0, 1, 9, 10, 12, 14, 50, 101, 105, 108, 113, 127, 228, 229, 239, 276];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let out = PathBuf::from(args.next().ok_or("usage: seed OUT_DIR CAPTURE...")?);
    for t in ["capture", "decode", "app_protocols"] {
        std::fs::create_dir_all(out.join(t))?;
    }
    let mut n = 0usize;
    for path in args {
        let path = Path::new(&path);
        if std::fs::metadata(path)?.len() <= 64 * 1024 {
            std::fs::copy(path, out.join("capture").join(format!("{n}.cap")))?;
        }
        let Ok(mut r) = CaptureReader::open(path) else { continue };
        let mut kept = 0;
        while let Ok(Some(p)) = r.next_packet() {
            if kept >= 20 {
                break;
            }
            let Some(sel) = LINKTYPES.iter().position(|l| *l == p.linktype.0) else { break };
            let mut frame = vec![sel as u8];
            frame.extend_from_slice(p.data);
            std::fs::write(out.join("decode").join(format!("{n}-{kept}")), &frame)?;
            let d = decode(p.linktype, p.data);
            if !d.payload.is_empty() {
                std::fs::write(out.join("app_protocols").join(format!("{n}-{kept}")), d.payload)?;
            }
            kept += 1;
        }
        n += 1;
    }
    println!("seeded from {n} captures into {}", out.display());
    Ok(())
}
