//! Port helpers: is something listening there, and ending the processes that hold a port.

use crate::engine::error::{Error, Result};
use std::collections::HashSet;
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

/// True when a TCP connection to address:port succeeds (something listens). A wildcard address
/// is checked through loopback.
pub fn in_use(address: &str, port: u16) -> Result<bool> {
    let host = match address {
        "0.0.0.0" | "" => "127.0.0.1",
        "::" => "::1",
        other => other,
    };
    let addrs: Vec<SocketAddr> = (host.trim_matches(['[', ']']), port)
        .to_socket_addrs()
        .map_err(|e| Error::invalid(format!("cannot resolve '{address}': {e}")))?
        .collect();
    Ok(addrs
        .iter()
        .any(|a| TcpStream::connect_timeout(a, Duration::from_millis(500)).is_ok()))
}

/// Socket inodes listening on `port` (IPv4 and IPv6), read from /proc/net/tcp{,6}.
fn listening_inodes(port: u16) -> HashSet<u64> {
    let mut inodes = HashSet::new();
    for file in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(file) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let cols: Vec<&str> = line.split_whitespace().collect();
            if cols.len() < 10 || cols[3] != "0A" {
                continue; // 0A = LISTEN
            }
            let local_port = cols[1]
                .rsplit(':')
                .next()
                .and_then(|p| u16::from_str_radix(p, 16).ok());
            if local_port == Some(port) {
                if let Ok(inode) = cols[9].parse::<u64>() {
                    inodes.insert(inode);
                }
            }
        }
    }
    inodes
}

/// Pids (other than ours) holding one of `inodes` open.
fn holders(inodes: &HashSet<u64>) -> Vec<i32> {
    let me = std::process::id() as i32;
    let mut pids = Vec::new();
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return pids;
    };
    for entry in procs.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<i32>().ok())
        else {
            continue;
        };
        if pid == me {
            continue;
        }
        let Ok(fds) = std::fs::read_dir(entry.path().join("fd")) else {
            continue;
        };
        let holds = fds.flatten().any(|fd| {
            std::fs::read_link(fd.path())
                .ok()
                .and_then(|t| {
                    t.to_str()
                        .and_then(|s| s.strip_prefix("socket:["))
                        .map(String::from)
                })
                .and_then(|s| s.trim_end_matches(']').parse::<u64>().ok())
                .is_some_and(|inode| inodes.contains(&inode))
        });
        if holds {
            pids.push(pid);
        }
    }
    pids
}

fn alive(pid: i32) -> bool {
    // A zombie (our own child not yet reaped) holds no socket any more: count it as gone.
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat
            .rsplit(')')
            .next()
            .is_some_and(|rest| rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

/// Ends the processes listening on `port`: SIGTERM, then SIGKILL for those still alive after
/// `grace`. Never this process. Returns how many were ended.
pub fn kill_holders(port: u16, grace: Duration) -> Result<usize> {
    if port == 0 {
        return Err(Error::invalid("port 0 is not a port to free"));
    }
    let pids = holders(&listening_inodes(port));
    for &pid in &pids {
        // SAFETY: kill(2) with a pid read from /proc; a pid that exited meanwhile gives ESRCH.
        unsafe { libc::kill(pid, libc::SIGTERM) };
    }
    let deadline = Instant::now() + grace;
    while pids.iter().any(|&p| alive(p)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    for &pid in pids.iter().filter(|&&p| alive(p)) {
        // SAFETY: as above.
        unsafe { libc::kill(pid, libc::SIGKILL) };
    }
    let deadline = Instant::now() + Duration::from_secs(2);
    while pids.iter().any(|&p| alive(p)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    Ok(pids.iter().filter(|&&p| !alive(p)).count())
}
