//! The process's open-file limit: read it, and raise the soft limit to what
//! the configured bounds need (never above the hard limit).

/// (soft, hard) `RLIMIT_NOFILE`.
pub fn get() -> (u64, u64) {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we own.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) } != 0 {
        return (0, 0);
    }
    (r.rlim_cur, r.rlim_max)
}

/// Raises the soft limit towards `need` (capped at the hard limit); returns
/// the soft limit now in force.
pub fn raise_to(need: u64) -> u64 {
    let (soft, hard) = get();
    if soft >= need {
        return soft;
    }
    let want = need.min(hard);
    let r = libc::rlimit {
        rlim_cur: want,
        rlim_max: hard,
    };
    // SAFETY: setrlimit reads the struct we own.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &r) } == 0 {
        want
    } else {
        soft
    }
}
