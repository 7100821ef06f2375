fn main() -> std::process::ExitCode {
    return_large_blocks_to_the_system();
    relaysim::cli::main()
}

/// glibc raises its mmap threshold (up to 32 MiB) each time a large block is freed,
/// after which blocks up to that size come from the heap and, once freed, stay
/// resident: the parse of a large scenario and every doubling of a queue's vectors
/// would leave their old blocks behind (the 10,000-sender scenario: 119 MB peak RSS
/// for 100 MB of live data). A fixed threshold keeps blocks of 256 KiB and more in
/// their own mappings, which `realloc` grows in place and `free` returns at once.
fn return_large_blocks_to_the_system() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: `mallopt` only sets an allocator parameter; called before any thread
    // is started.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 256 * 1024);
    }
}
