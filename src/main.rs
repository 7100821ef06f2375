fn main() -> std::process::ExitCode {
    relaysim::allocator::tune_for_runs();
    relaysim::cli::main()
}
