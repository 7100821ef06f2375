fn main() -> std::process::ExitCode {
    relaysim::cli::main()
}
