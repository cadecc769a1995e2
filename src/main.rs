// See Cargo.toml for why the binary allocates with mimalloc.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    no_transparent_huge_pages();
    std::process::exit(golive::cli::main());
}

/// mimalloc asks the kernel for transparent huge pages on its arenas, so each fresh 2 MiB of
/// heap is zeroed whole at its first touch, by whichever thread touches it. Judging a million
/// exchanges, the thread the parsers wait for spent about half its time in those faults
/// (`clear_page_erms` under `do_huge_pmd_anonymous_page`, perf) while its index and maps grew;
/// with 4 KiB pages the judge took 0.9× the time. The processes golive starts get the setting
/// back (`driver::process`): an integration runs with the machine's own.
fn no_transparent_huge_pages() {
    #[cfg(target_os = "linux")]
    // SAFETY: prctl with PR_SET_THP_DISABLE takes plain integers and touches no memory of ours.
    unsafe {
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
    }
}
