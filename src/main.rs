//! `opensoc`: the whole OpenSOC pipeline on one machine, with the lake in a
//! local folder (or on S3). A thin shell over `opensoc-lake`.

mod cli;

use std::process::ExitCode;

use clap::Parser;

/// Tune glibc's allocator for ingest's pattern of large, short-lived buffers.
///
/// - Two arenas (or `MALLOC_ARENA_MAX`): glibc gives every thread its own,
///   and Parquet writing on the runtime's worker threads then fragments
///   memory across them (peak went from 0.8 to 1.3 GiB on a capture spanning
///   415 days). One arena was tried and measured worse: the decoding thread
///   and the commit's writers (several at once) then queue on its lock.
/// - Large buffers from the heap, not fresh `mmap`s: every batch's 64 MiB
///   Arrow and Parquet buffers were mapped, faulted in and zeroed anew; reusing
///   heap memory cut system time from 5.8 s to 1.8 s on the 1 GB benchmark.
fn tune_malloc() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only adjusts allocator parameters; called before any thread starts.
    unsafe {
        let arenas = std::env::var("MALLOC_ARENA_MAX").ok().and_then(|v| v.parse().ok()).unwrap_or(2);
        libc::mallopt(libc::M_ARENA_MAX, arenas);
        libc::mallopt(libc::M_MMAP_THRESHOLD, 256 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 512 << 20);
    }
}

/// Die quietly on a closed pipe (`opensoc query … | head`), as Unix tools do,
/// instead of panicking in `println!`.
fn default_sigpipe() {
    #[cfg(unix)]
    // SAFETY: resetting a signal disposition to its default before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// Error messages without library backtraces: delta-kernel captures one in
/// every error when `RUST_BACKTRACE` is set and its `Display` prints it (80
/// frames per error). Panics keep theirs; `RUST_LIB_BACKTRACE=1` brings the
/// errors' back.
fn quiet_error_backtraces() {
    if std::env::var_os("RUST_LIB_BACKTRACE").is_none() {
        // SAFETY: called first in main, before any other thread exists.
        unsafe { std::env::set_var("RUST_LIB_BACKTRACE", "0") };
    }
}

fn main() -> ExitCode {
    quiet_error_backtraces();
    default_sigpipe();
    tune_malloc();
    let args = cli::Cli::parse();
    cli::init_tracing(args.verbose, args.log_json);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(cli::exit::FAILURE);
        }
    };
    match runtime.block_on(cli::run(args)) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(cli::exit::FAILURE)
        }
    }
}
