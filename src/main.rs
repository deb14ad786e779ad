//! The `blockorch` command line.

fn main() {
    std::process::exit(blockorch::cli::main());
}
