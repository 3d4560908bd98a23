// SPDX-License-Identifier: GPL-2.0
//! `btt check --repair` restores a primary info block from its backup only
//! when the backup is this BTT's (issue 13 part 4, item 1).
//!
//! The case of a reused namespace: a BTT of 64 MiB is destroyed as ndctl
//! destroys one (its primary info block cleared, nothing else), a new BTT of
//! 32 MiB with another uuid is created in its place and written to. The old
//! BTT's backup info block still sits at the end of the 64 MiB. When the new
//! primary is then damaged, the backup `--repair` finds (with the default
//! `--size`, the whole file) is the old one: it must not be restored, or the
//! old BTT comes back over the new one's data.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const MIB: u64 = 1 << 20;

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
    bytes: Vec<u8>,
}

fn btt(args: &[&str], stdin: Option<&[u8]>) -> Out {
    let mut child = Command::new(env!("CARGO_BIN_EXE_btt"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    {
        let mut si = child.stdin.take().unwrap();
        if let Some(d) = stdin {
            si.write_all(d).unwrap();
        }
    }
    let o = child.wait_with_output().unwrap();
    Out {
        code: o.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        bytes: o.stdout,
    }
}

fn expect(o: &Out, code: i32, has: &[&str], what: &str) {
    assert_eq!(
        o.code, code,
        "{what}: exit {}\nstdout:\n{}\nstderr:\n{}",
        o.code, o.stdout, o.stderr
    );
    for h in has {
        assert!(
            o.stdout.contains(h),
            "{what}: no {h:?} in\n{}\nstderr:\n{}",
            o.stdout,
            o.stderr
        );
    }
}

fn path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("btt-stale-{name}.img"))
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// The reused namespace: returns the image (new primary intact) and the
/// sector written at LBA 5 of the new BTT.
fn reused(name: &str) -> (PathBuf, Vec<u8>) {
    let img = path(name);
    let _ = std::fs::remove_file(&img);
    let sz = |n: u64| (n * MIB).to_string();
    let o = btt(
        &["create", s(&img), "--size", &sz(64), "--lbasize", "4096"],
        None,
    );
    expect(&o, 0, &["created"], "old create");
    let mut b = std::fs::read(&img).unwrap();
    b[..4096].fill(0); // ndctl clears the primary only
    std::fs::write(&img, &b).unwrap();
    let o = btt(
        &["create", s(&img), "--size", &sz(32), "--lbasize", "4096"],
        None,
    );
    expect(&o, 0, &["created"], "new create");
    let data: Vec<u8> = (0..4096u32).map(|i| (i * 7 + 3) as u8).collect();
    let o = btt(&["write", s(&img), "5"], Some(&data));
    expect(&o, 0, &[], "write");
    // The old backup is there, at the end of the file.
    let b = std::fs::read(&img).unwrap();
    let at = (64 * MIB - 4096) as usize;
    assert_eq!(&b[at..at + 14], b"BTT_ARENA_INFO", "old backup gone");
    (img, data)
}

/// The uuid of the (new) BTT, from its primary info block, as `--uuid` takes it.
fn uuid_of(b: &[u8]) -> String {
    b[16..32].iter().map(|x| format!("{x:02x}")).collect()
}

fn primary(img: &Path) -> Vec<u8> {
    std::fs::read(img).unwrap()[..4096].to_vec()
}

#[test]
fn a_cleared_primary_is_not_restored_from_an_old_btts_backup() {
    let (img, _) = reused("cleared");
    let mut b = std::fs::read(&img).unwrap();
    let new = uuid_of(&b);
    b[..4096].fill(0);
    std::fs::write(&img, &b).unwrap();
    let o = btt(&["check", s(&img), "--repair"], None);
    expect(
        &o,
        1,
        &["not repaired: primary info block", "refused"],
        "cleared",
    );
    assert!(
        primary(&img).iter().all(|&x| x == 0),
        "the old backup was restored"
    );
    // --uuid of the new BTT: the old backup is not even taken for one.
    let o = btt(&["check", s(&img), "--repair", "--uuid", &new], None);
    expect(&o, 1, &[], "cleared --uuid");
    assert!(
        primary(&img).iter().all(|&x| x == 0),
        "restored under --uuid"
    );
}

#[test]
fn a_damaged_primary_is_not_restored_from_another_btts_backup() {
    let (img, _) = reused("flipped");
    let mut b = std::fs::read(&img).unwrap();
    b[200] ^= 0x40; // padding: only the checksum is wrong, the uuid is readable
    std::fs::write(&img, &b).unwrap();
    let o = btt(&["check", s(&img), "--repair"], None);
    expect(&o, 1, &["refused", "belongs to another BTT"], "flipped");
    assert_eq!(primary(&img), b[..4096], "the old backup was restored");
}

#[test]
fn the_right_backup_is_restored_on_the_users_word() {
    let (img, data) = reused("right");
    let size = (32 * MIB).to_string();
    let mut b = std::fs::read(&img).unwrap();
    let good = b[..4096].to_vec();
    let new = uuid_of(&b);
    b[..4096].fill(0);
    std::fs::write(&img, &b).unwrap();
    // The right --size finds the new backup, but a cleared single-arena
    // primary leaves nothing to tell it from a destroyed BTT's.
    let o = btt(&["check", s(&img), "--size", &size, "--repair"], None);
    expect(&o, 1, &["refused", "--trust-backup"], "right, no word");
    assert!(primary(&img).iter().all(|&x| x == 0));
    let o = btt(
        &[
            "check",
            s(&img),
            "--size",
            &size,
            "--repair",
            "--uuid",
            &new,
        ],
        None,
    );
    expect(
        &o,
        0,
        &["primary info block restored", "clean"],
        "right --uuid",
    );
    assert_eq!(primary(&img), good);
    let r = btt(&["read", s(&img), "5"], None);
    assert!(r.code == 0 && r.bytes == data, "sector 5 after the restore");
    // --trust-backup, the user's word without a uuid.
    std::fs::write(&img, &b).unwrap();
    let o = btt(
        &[
            "check",
            s(&img),
            "--size",
            &size,
            "--repair",
            "--trust-backup",
        ],
        None,
    );
    expect(
        &o,
        0,
        &["primary info block restored", "clean"],
        "right --trust-backup",
    );
    assert_eq!(primary(&img), good);
    let _ = std::fs::remove_file(&img);
}
