//! Layer 4, the system around the mount: mount(8) with `-t fuse.ftpfs` and fstab lines (through
//! mount.fuse3, in a private mount namespace so that the binary under test is the one mount(8)
//! finds: see support/namespace.rs), umount(8), exit status and stderr of failing mounts,
//! `-o drop_privileges` (a `/dev/fd/N` mountpoint), credentials files, the terminal prompt, owners
//! and modes as other users see them, autofs, and the systemd units of docs/system.md (checked by systemd's
//! own tools and mounted the way systemd would; systemd itself does not run here). All against vsftpd started by the test; every
//! mount is unmounted and every process killed by a guard, also when a test fails.

mod support;

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use support::mount::{run_ftpfs, Mounted, BIN};
use support::namespace::MountNamespace;
use support::vsftpd::Vsftpd;
use support::FtpServer;

const HELLO: &str = "hello from vsftpd\n";

/// A served tree: hello.txt and sub/inner.txt.
fn served() -> (tempfile::TempDir, Vsftpd) {
    let root = tempfile::tempdir().unwrap();
    std::fs::write(root.path().join("hello.txt"), HELLO).unwrap();
    std::fs::create_dir(root.path().join("sub")).unwrap();
    std::fs::write(root.path().join("sub/inner.txt"), "inner\n").unwrap();
    let server = Vsftpd::start(root.path(), &[]);
    (root, server)
}

/// A credentials file in `dir` with the given mode.
fn credentials(dir: &Path, user: &str, password: &str, mode: u32) -> PathBuf {
    let path = dir.join(format!("{user}.cred"));
    std::fs::write(
        &path,
        format!("# test login\nusername={user}\npassword={password}\n"),
    )
    .unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
    path
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Waits until no ftpfs process is left in the namespace.
fn ftpfs_gone(ns: &MountNamespace, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if !ns.command_lines().iter().any(|c| c.contains("ftpfs ")) {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Where the mount(8) tests start: vsftpd serving hello.txt and sub/inner.txt, a private mount
/// namespace, the test user's credentials file (0600) and an empty mountpoint. Fields drop in order:
/// the namespace (unmounting everything) before the mountpoint and the server.
struct Scene {
    ns: MountNamespace,
    mnt: tempfile::TempDir,
    cred: PathBuf,
    etc: tempfile::TempDir,
    server: Vsftpd,
    _root: tempfile::TempDir,
}

impl Scene {
    fn new() -> Scene {
        let (root, server) = served();
        let etc = tempfile::tempdir().unwrap();
        let cred = credentials(etc.path(), &server.user, &server.password, 0o600);
        Scene {
            ns: MountNamespace::new(),
            mnt: tempfile::tempdir().unwrap(),
            cred,
            etc,
            server,
            _root: root,
        }
    }

    fn mnt(&self) -> String {
        self.mnt.path().display().to_string()
    }

    /// `umount MNT` succeeds, the mount is gone and so is the ftpfs process that served it.
    fn umount(&self) {
        self.ns.ok(&format!("umount '{}'", self.mnt()));
        assert!(self.ns.mount_line(self.mnt.path()).is_none());
        assert!(
            ftpfs_gone(&self.ns, Duration::from_secs(5)),
            "ftpfs still runs after umount: {:?}",
            self.ns.command_lines()
        );
    }
}

#[test]
fn mount_t_fuse_ftpfs_mounts_and_umount_unmounts() {
    let sc = Scene::new();
    let url = sc.server.url("/");
    // mount(8)-only and systemd-only options ride along and are ignored.
    let started = Instant::now();
    let out = sc.ns.sh(&format!(
        "mount -t fuse.ftpfs '{url}' '{}' -o credentials={},nofail,_netdev,noauto,\
         x-systemd.automount,comment=test",
        sc.mnt(),
        sc.cred.display()
    ));
    assert!(
        out.status.success(),
        "mount failed ({}): {}",
        out.status,
        text(&out.stderr)
    );
    // mount(8) returned: the mount is there already, not some time later.
    let line = sc
        .ns
        .mount_line(sc.mnt.path())
        .expect("mounted when mount(8) returns");
    assert!(started.elapsed() < Duration::from_secs(15));
    let fields: Vec<&str> = line.split(' ').collect();
    assert_eq!(fields[0], url, "{line}");
    assert_eq!(fields[2], "fuse.ftpfs", "{line}");
    assert!(line.contains("nosuid") && line.contains("nodev"), "{line}");
    assert!(!line.contains(&sc.server.password), "{line}");
    let inside = sc.ns.inside(sc.mnt.path());
    assert_eq!(
        std::fs::read_to_string(inside.join("hello.txt")).unwrap(),
        HELLO
    );
    assert_eq!(
        std::fs::read_to_string(inside.join("sub/inner.txt")).unwrap(),
        "inner\n"
    );
    for cmd in sc.ns.command_lines() {
        assert!(!cmd.contains(&sc.server.password), "{cmd}");
    }
    sc.umount();
}

#[test]
fn an_fstab_line_mounts_with_mount_dir_and_shows_its_owner_and_modes() {
    let sc = Scene::new();
    let m = sc.mnt();
    let fstab = sc.etc.path().join("fstab");
    std::fs::write(
        &fstab,
        format!(
            "# the documented form\n\
             {}  {m}  fuse.ftpfs  noauto,nofail,_netdev,noexec,credentials={},allow_other,\
             uid=nobody,gid=nogroup,file_mode=0640,dir_mode=0750,x-systemd.mount-timeout=30  0 0\n",
            sc.server.url("/"),
            sc.cred.display()
        ),
    )
    .unwrap();
    // `mount /mnt/x` with this file as /etc/fstab.
    sc.ns.ok(&format!("mount -T '{}' '{m}'", fstab.display()));
    let line = sc.ns.mount_line(sc.mnt.path()).expect("mounted");
    for flag in [
        "noexec",
        "nosuid",
        "nodev",
        "allow_other",
        "default_permissions",
    ] {
        assert!(line.contains(flag), "{flag} missing: {line}");
    }
    assert_eq!(
        sc.ns
            .ok(&format!("stat -c '%U %G %a' {m}/hello.txt {m}/sub {m}")),
        "nobody nogroup 640\nnobody nogroup 750\nnobody nogroup 750\n"
    );
    // The kernel checks the modes shown (default_permissions, implied by allow_other): the owner
    // reads, a third user does not.
    let as_user = |user: &str, group: &str, cmd: &str| {
        sc.ns.sh(&format!(
            "setpriv --reuid={user} --regid={group} --clear-groups {cmd}"
        ))
    };
    let owner = as_user("nobody", "nogroup", &format!("cat {m}/hello.txt"));
    assert!(owner.status.success(), "{}", text(&owner.stderr));
    assert_eq!(text(&owner.stdout), HELLO);
    let user = &sc.server.user;
    let stranger = as_user(user, user, &format!("cat {m}/hello.txt"));
    assert!(!stranger.status.success());
    assert!(
        text(&stranger.stderr).contains("Permission denied"),
        "{}",
        text(&stranger.stderr)
    );
    sc.umount();
}

/// The first fenced block of docs/system.md after the heading `## systemd` whose language is
/// `lang` (an empty `lang`: a block without one).
fn readme_block(lang: &str) -> String {
    let readme = include_str!("../docs/system.md");
    let section = readme
        .split("\n## systemd\n")
        .nth(1)
        .expect("docs/system.md has a systemd section");
    let section = section.split("\n## ").next().unwrap();
    let fence = format!("```{lang}\n");
    let start = section.find(&fence).expect("a code block") + fence.len();
    section[start..].split("```").next().unwrap().to_string()
}

/// `key=value` of a unit file's lines.
fn unit_value(unit: &str, key: &str) -> String {
    unit.lines()
        .find_map(|l| l.strip_prefix(&format!("{key}=")))
        .unwrap_or_else(|| panic!("no {key}= in\n{unit}"))
        .to_string()
}

/// What systemd runs for a mount unit (`mount What Where -t Type -o Options`), with the docs'
/// server, mountpoint and credentials file replaced by the test's: it mounts, serves, and unmounts.
fn mount_as_systemd_would(sc: &Scene, unit: &str) {
    let options =
        unit_value(unit, "Options").replace("/etc/ftpfs/host.cred", &sc.cred.display().to_string());
    let ty = unit_value(unit, "Type");
    assert_eq!(ty, "fuse.ftpfs");
    sc.ns.ok(&format!(
        "mount '{}' '{}' -t {ty} -o '{options}'",
        sc.server.url("/"),
        sc.mnt()
    ));
    let inside = sc.ns.inside(sc.mnt.path());
    assert_eq!(
        std::fs::read_to_string(inside.join("hello.txt")).unwrap(),
        HELLO
    );
    sc.umount();
}

/// The systemd forms of docs/system.md, checked without systemd running (PID 1 here is not systemd): its
/// mount unit passes `systemd-analyze verify`; its fstab line goes through systemd-fstab-generator
/// to a mount unit and an automount unit with the idle timeout, ordered as a remote file system;
/// and both mount units' options mount the test server when run the way systemd runs them.
#[test]
fn the_readme_systemd_units_verify_and_mount() {
    let units = tempfile::tempdir().unwrap();
    let unit = readme_block("ini");
    let file = units.path().join("mnt-x.mount");
    std::fs::write(&file, &unit).unwrap();
    let out = Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(&file)
        .output()
        .expect("systemd-analyze (Debian's systemd package; scripts/test.sh installs it)");
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "systemd-analyze verify: {}\n{}",
        out.status,
        text(&out.stderr)
    );
    assert_eq!(unit_value(&unit, "Where"), "/mnt/x");

    let fstab = units.path().join("fstab");
    std::fs::write(&fstab, readme_block("")).unwrap();
    let gen = tempfile::tempdir().unwrap();
    let dirs = ["normal", "early", "late"].map(|d| gen.path().join(d));
    for d in &dirs {
        std::fs::create_dir(d).unwrap();
    }
    let out = Command::new("/lib/systemd/system-generators/systemd-fstab-generator")
        .args(&dirs)
        .env("SYSTEMD_FSTAB", &fstab)
        .env("SYSTEMD_PROC_CMDLINE", "")
        .output()
        .expect("systemd-fstab-generator (Debian's systemd package)");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let generated = std::fs::read_to_string(dirs[0].join("mnt-x.mount")).unwrap();
    assert_eq!(unit_value(&generated, "What"), "ftp://bob@host/dir");
    assert_eq!(unit_value(&generated, "Type"), "fuse.ftpfs");
    assert!(generated.contains("Before=remote-fs.target"), "{generated}");
    let automount = std::fs::read_to_string(dirs[0].join("mnt-x.automount")).unwrap();
    assert_eq!(unit_value(&automount, "TimeoutIdleSec"), "5min");
    assert!(dirs[0]
        .join("remote-fs.target.requires/mnt-x.automount")
        .exists());

    let sc = Scene::new();
    mount_as_systemd_would(&sc, &generated);
    mount_as_systemd_would(&sc, &unit);
}

#[test]
fn failing_mounts_exit_non_zero_and_say_why_on_stderr() {
    let sc = Scene::new();
    let (ns, m) = (&sc.ns, sc.mnt());
    let url = sc.server.url("/");
    let mount_with = |cred: &Path| {
        ns.sh(&format!(
            "mount -t fuse.ftpfs '{url}' '{m}' -o credentials={}",
            cred.display()
        ))
    };

    // A wrong password, through mount -t.
    let bad = credentials(sc.etc.path(), &sc.server.user, "not-the-password", 0o600);
    let started = Instant::now();
    let out = mount_with(&bad);
    assert!(!out.status.success());
    assert!(started.elapsed() < Duration::from_secs(15));
    let err = text(&out.stderr);
    assert!(
        err.contains("ftpfs:") && err.contains("login failed") && err.contains("530"),
        "{err}"
    );
    assert!(!err.contains("not-the-password"), "{err}");
    assert!(ns.mount_line(sc.mnt.path()).is_none());
    assert!(ftpfs_gone(ns, Duration::from_secs(5)));

    // The same through fstab, with nofail: `mount DIR` still reports the failure (nofail only
    // tells mount -a and systemd not to wait for or insist on this mount).
    let fstab = sc.etc.path().join("fstab");
    std::fs::write(
        &fstab,
        format!(
            "{url}  {m}  fuse.ftpfs  nofail,_netdev,credentials={}  0 0\n",
            bad.display()
        ),
    )
    .unwrap();
    let out = ns.sh(&format!("mount -T '{}' '{m}'", fstab.display()));
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("login failed"));

    // A credentials file other users can read is refused, naming the fix.
    let open = credentials(sc.etc.path(), "shared", &sc.server.password, 0o644);
    let out = mount_with(&open);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains(&format!("chmod 600 {}", open.display())),
        "{err}"
    );
    assert!(!err.contains(&sc.server.password), "{err}");

    // A closed port.
    let closed = format!(
        "ftp://{}@127.0.0.1:{}/",
        sc.server.user,
        support::free_port()
    );
    let out = ns.sh_env(
        &format!("mount -t fuse.ftpfs '{closed}' '{m}'"),
        &[("FTPFS_PASSWORD", &sc.server.password)],
    );
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("ftpfs:"),
        "{}",
        text(&out.stderr)
    );
    assert!(ns.mount_line(sc.mnt.path()).is_none());
}

#[test]
fn drop_privileges_hands_ftpfs_a_dev_fd_mountpoint() {
    let sc = Scene::new();
    sc.ns.ok(&format!(
        "mount -t fuse.ftpfs '{}' '{}' -o credentials={},drop_privileges,nosuid,nodev",
        sc.server.url("/"),
        sc.mnt(),
        sc.cred.display()
    ));
    assert!(sc.ns.mount_line(sc.mnt.path()).is_some());
    assert_eq!(
        std::fs::read_to_string(sc.ns.inside(sc.mnt.path()).join("hello.txt")).unwrap(),
        HELLO
    );
    // ftpfs got the descriptor mount.fuse3 mounted, and runs without capabilities.
    let pid = sc
        .ns
        .processes()
        .into_iter()
        .find(|p| {
            std::fs::read(format!("/proc/{p}/cmdline"))
                .map(|c| text(&c).contains("/dev/fd/"))
                .unwrap_or(false)
        })
        .unwrap_or_else(|| panic!("no ftpfs serving /dev/fd/N: {:?}", sc.ns.command_lines()));
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    assert!(
        status.lines().any(|l| l == "CapEff:\t0000000000000000"),
        "{status}"
    );
    sc.umount();
}

/// Unmounts `dir` on drop if something is mounted there (for mounts made without `Mounted`).
struct UnmountOnDrop<'a>(&'a Path);
impl Drop for UnmountOnDrop<'_> {
    fn drop(&mut self) {
        let _ = Command::new("fusermount3")
            .args(["-u", "-z"])
            .arg(self.0)
            .output();
    }
}

fn is_mounted(dir: &Path) -> bool {
    let me = dir.to_str().unwrap();
    std::fs::read_to_string("/proc/mounts")
        .unwrap()
        .lines()
        .any(|l| l.split(' ').nth(1) == Some(me))
}

#[test]
fn the_password_prompt_reads_from_the_terminal() {
    let (_root, server) = served();
    let mnt = tempfile::tempdir().unwrap();
    let _guard = UnmountOnDrop(mnt.path());
    let home = tempfile::tempdir().unwrap(); // no ~/.netrc
                                             // script(1) gives ftpfs a terminal; what we pipe into script is what is "typed" there.
    let mut child = Command::new("script")
        .args(["-q", "-e", "-c"])
        .arg(format!(
            "{BIN} {} {}",
            server.url("/"),
            mnt.path().display()
        ))
        .arg("/dev/null")
        .env_remove("FTPFS_PASSWORD")
        .env("HOME", home.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("script(1) from util-linux");
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{}\n", server.password).as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let shown = text(&out.stdout);
    assert!(out.status.success(), "{shown}{}", text(&out.stderr));
    assert!(
        shown.contains(&format!("Password for {}@127.0.0.1: ", server.user)),
        "{shown}"
    );
    assert!(is_mounted(mnt.path()));
    assert_eq!(
        std::fs::read_to_string(mnt.path().join("hello.txt")).unwrap(),
        HELLO
    );
}

#[test]
fn without_a_terminal_a_missing_password_is_an_error_not_a_prompt() {
    let (_root, server) = served();
    let mnt = tempfile::tempdir().unwrap();
    let _guard = UnmountOnDrop(mnt.path());
    let home = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let out = Command::new(BIN)
        .arg(server.url("/"))
        .arg(mnt.path())
        .env_remove("FTPFS_PASSWORD")
        .env("HOME", home.path())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(started.elapsed() < Duration::from_secs(5));
    let err = text(&out.stderr);
    assert!(
        err.contains(&format!("no password for {}@127.0.0.1", server.user))
            && err.contains("credentials=FILE"),
        "{err}"
    );
    assert!(!is_mounted(mnt.path()));
}

#[test]
fn a_password_in_the_url_works_with_a_warning_and_stays_out_of_proc_mounts() {
    let (_root, server) = served();
    let mnt = tempfile::tempdir().unwrap();
    let _guard = UnmountOnDrop(mnt.path());
    let out = run_ftpfs(&server.url_with_password("/"), mnt.path(), "", "");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(
        err.contains("ps"),
        "no warning about the process list: {err}"
    );
    assert!(!err.contains(&server.password), "{err}");
    let mounts = std::fs::read_to_string("/proc/mounts").unwrap();
    let me = mnt.path().to_str().unwrap();
    let line = mounts
        .lines()
        .find(|l| l.split(' ').nth(1) == Some(me))
        .expect("mounted");
    assert!(!line.contains(&server.password), "{line}");
}

/// Runs `cmd` as user nobody.
fn as_nobody(cmd: &str) -> std::process::Output {
    Command::new("setpriv")
        .args([
            "--reuid=nobody",
            "--regid=nogroup",
            "--clear-groups",
            "sh",
            "-c",
            cmd,
        ])
        .output()
        .unwrap()
}

#[test]
fn allow_other_checks_modes_unless_told_not_to_and_without_it_others_stay_out() {
    let (_root, server) = served();
    let checked = Mounted::new(
        &server.url("/"),
        &server.password,
        "allow_other,file_mode=0600,dir_mode=0755",
    );
    let file = checked.path().join("hello.txt");
    let out = as_nobody(&format!("cat {}", file.display()));
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("Permission denied"),
        "{}",
        text(&out.stderr)
    );
    let out = as_nobody(&format!("ls {}", checked.path().display()));
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("hello.txt"));

    let unchecked = Mounted::new(
        &server.url("/"),
        &server.password,
        "allow_other,no_default_permissions,file_mode=0600",
    );
    assert!(!unchecked
        .mounts_line()
        .unwrap()
        .contains("default_permissions"));
    let out = as_nobody(&format!("cat {}/hello.txt", unchecked.path().display()));
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), HELLO);

    let private = Mounted::new(&server.url("/"), &server.password, "");
    let out = as_nobody(&format!("ls {}", private.path().display()));
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("Permission denied"),
        "{}",
        text(&out.stderr)
    );
}

/// A child process killed (by its PID) and reaped on drop.
struct Daemon(Child);
impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// autofs needs the kernel's autofs file system, which the development machine's kernel lacks: this
/// test runs in the VM test layer (scripts/vm/run.sh, which scripts/test.sh runs), whose Debian
/// kernel has it, with `--include-ignored`.
#[test]
#[ignore = "needs a kernel with autofs: the VM layer (scripts/vm/run.sh) runs it"]
fn autofs_mounts_on_first_access_and_unmounts_after_the_timeout() {
    let filesystems = std::fs::read_to_string("/proc/filesystems").unwrap();
    assert!(
        filesystems.lines().any(|l| l.ends_with("\tautofs")),
        "this kernel has no autofs file system (CONFIG_AUTOFS_FS)"
    );
    assert!(
        Path::new("/usr/sbin/automount").exists(),
        "automount is missing: apt-get install autofs (scripts/test.sh does)"
    );
    let sc = Scene::new();
    let (ns, etc, server) = (&sc.ns, &sc.etc, &sc.server);
    // The autofs mountpoint; the map's key `ftp` appears under it.
    let auto = &sc.mnt;
    let map = etc.path().join("auto.ftp");
    // The map entry of docs/system.md: the leading ':' says "no NFS host"; the colons inside the URL are
    // escaped so autofs does not take them for host:path separators.
    std::fs::write(
        &map,
        format!(
            "ftp  -fstype=fuse.ftpfs,credentials={}  :ftp\\://{}@127.0.0.1\\:{}/\n",
            sc.cred.display(),
            server.user,
            server.port
        ),
    )
    .unwrap();
    let master = etc.path().join("auto.master");
    std::fs::write(
        &master,
        format!(
            "{} file:{} --timeout=3\n",
            auto.path().display(),
            map.display()
        ),
    )
    .unwrap();
    let log = std::fs::File::create(etc.path().join("automount.log")).unwrap();
    // In a process group of its own: autofs serves every process but those of its daemon's group
    // (the daemon's own mounts must not trigger it), and a foreground automount would otherwise
    // share this test's group, with the `ls` below in it, which would then find nothing.
    let _automount = Daemon(
        ns.command(&format!("exec automount -f -d '{}'", master.display()))
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("cannot start automount"),
    );
    let automount_log = || std::fs::read_to_string(etc.path().join("automount.log")).unwrap();
    assert!(
        ns.wait_mounted(auto.path(), true, Duration::from_secs(10)),
        "automount did not mount its autofs: {}",
        automount_log()
    );
    let target = auto.path().join("ftp");
    let listing = ns.sh(&format!("ls '{}'", target.display()));
    assert!(
        listing.status.success(),
        "{}\n{}",
        text(&listing.stderr),
        automount_log()
    );
    assert!(text(&listing.stdout).contains("hello.txt"));
    let line = ns.mount_line(&target).expect("the map entry is mounted");
    assert!(line.contains(" fuse.ftpfs "), "{line}");
    assert!(
        ns.wait_mounted(&target, false, Duration::from_secs(30)),
        "still mounted after the timeout: {}",
        automount_log()
    );
}
