//! Writing to stdout and stderr without ever panicking.
//!
//! `print!` panics when the stream is closed (`relaysim limits | head -1` closes it
//! after one line: "failed printing to stdout: Broken pipe", exit 101). Like ripgrep,
//! relaysim ends quietly instead: once a stream is closed its output is dropped, and
//! the command carries on to its normal exit code (so `relaysim test | grep -q FAIL`
//! still runs every scenario and exits non-zero when one fails).

use std::fmt;
use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering};

static STDOUT_CLOSED: AtomicBool = AtomicBool::new(false);
static STDERR_CLOSED: AtomicBool = AtomicBool::new(false);

/// Which stream to write to.
#[derive(Clone, Copy)]
pub enum Stream {
    Out,
    Err,
}

/// Writes `args` to `stream`; a closed or failing stream swallows this and every later
/// write to it.
pub fn write(stream: Stream, args: fmt::Arguments<'_>) {
    let (closed, result) = match stream {
        Stream::Out => (&STDOUT_CLOSED, write_to(io::stdout().lock(), args)),
        Stream::Err => (&STDERR_CLOSED, write_to(io::stderr().lock(), args)),
    };
    if result.is_err() {
        closed.store(true, Ordering::Relaxed);
    }
}

fn write_to(mut w: impl Write, args: fmt::Arguments<'_>) -> io::Result<()> {
    w.write_fmt(args)?;
    w.flush()
}

/// `print!` that never panics.
macro_rules! out {
    ($($arg:tt)*) => { $crate::cli::output::write($crate::cli::output::Stream::Out, format_args!($($arg)*)) };
}
/// `println!` that never panics.
macro_rules! outln {
    () => { $crate::cli::output::write($crate::cli::output::Stream::Out, format_args!("\n")) };
    ($($arg:tt)*) => { $crate::cli::output::write($crate::cli::output::Stream::Out, format_args!("{}\n", format_args!($($arg)*))) };
}
/// `eprint!` that never panics.
macro_rules! err {
    ($($arg:tt)*) => { $crate::cli::output::write($crate::cli::output::Stream::Err, format_args!($($arg)*)) };
}
/// `eprintln!` that never panics.
macro_rules! errln {
    () => { $crate::cli::output::write($crate::cli::output::Stream::Err, format_args!("\n")) };
    ($($arg:tt)*) => { $crate::cli::output::write($crate::cli::output::Stream::Err, format_args!("{}\n", format_args!($($arg)*))) };
}
pub(crate) use {err, errln, out, outln};
