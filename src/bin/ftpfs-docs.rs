//! Writes ftpfs's man page and shell completions from the clap definition in `ftpfs::cli`, so they
//! never drift from the program: `ftpfs-docs man DIR` writes DIR/ftpfs.1, `ftpfs-docs completions DIR`
//! writes DIR/ftpfs.bash, DIR/_ftpfs (zsh) and DIR/ftpfs.fish. scripts/install.sh runs it.

use std::io::Write;
use std::path::Path;

use clap::CommandFactory;
use clap_complete::Shell;
use clap_mangen::roff::{bold, italic, roman, Roff};

use ftpfs::cli::{Cli, IGNORED_OPTIONS, MOUNT_OPTIONS};

/// The parts of the man page that clap does not describe: every -o option, where the password
/// comes from, fstab and autofs lines, the exit status.
fn extra_sections() -> Roff {
    let mut r = Roff::new();
    r.control("SH", ["MOUNT OPTIONS"]);
    r.text([roman(
        "Given with -o as a comma-separated list (repeatable), or in the options field of an \
         fstab line or an autofs map entry. An unknown option is an error that names it.",
    )]);
    for o in MOUNT_OPTIONS {
        r.control("TP", []);
        r.text([bold(o.name)]);
        r.text([roman(format!("{} (default: {}).", o.meaning, o.default))]);
    }
    r.control("TP", []);
    r.text([bold(IGNORED_OPTIONS.join(", ") + ", x-*, comment=*")]);
    r.text([roman(
        "Accepted and ignored: they concern mount(8), fstab or systemd (mount.fuse3 adds dev and \
         suid on its own). ftpfs always mounts nodev,nosuid and keeps no access times.",
    )]);

    r.control("SH", ["PASSWORD"]);
    r.text([roman("From the first source that has one:")]);
    for (i, source) in [
        "the URL, ftp://user:password@host/ (with a warning: other users see it in ps);",
        "-o credentials=FILE: lines username=NAME and password=PASS (the format of mount.cifs; \
         # starts a comment); the file must be private to its owner, or ftpfs refuses it and says \
         to run chmod 600 FILE;",
        "the environment variable FTPFS_PASSWORD;",
        "~/.netrc: machine HOST login USER password PASS, or default;",
        "a prompt on the terminal, without echo, when standard input is a terminal (never under \
         fstab at boot or autofs).",
    ]
    .iter()
    .enumerate()
    {
        r.control("IP", [format!("{}.", i + 1).as_str(), "4"]);
        r.text([roman(*source)]);
    }
    r.control("PP", []);
    r.text([roman(
        "Without a user, or for anonymous and ftp, the login is anonymous with password \
         anonymous@. The password never appears in logs, in /proc/mounts or in error messages.",
    )]);
    r.control("PP", []);
    r.text([roman(
        "The proxy of -o proxy= takes its user from its URL (socks5://USER@HOST:PORT) or from a \
         proxy_username= line of the credentials file, and its password from a proxy_password= \
         line there, or from the URL (with a warning: ftpfs hides it from ps once started, but \
         not before).",
    )]);

    r.control("SH", ["EXAMPLES"]);
    for (what, example) in [
        (
            "Mount and unmount:",
            "ftpfs ftp://user@host/dir /mnt/x -o credentials=/etc/ftpfs/host.cred\numount /mnt/x",
        ),
        (
            "Through mount(8):",
            "mount -t fuse.ftpfs ftp://user@host/dir /mnt/x -o credentials=/etc/ftpfs/host.cred",
        ),
        (
            "An /etc/fstab line, then mount /mnt/x:",
            "ftp://user@host/dir  /mnt/x  fuse.ftpfs  noauto,credentials=/etc/ftpfs/host.cred,allow_other  0 0",
        ),
        (
            "An autofs map entry (the colons after the first are escaped):",
            "ftp  -fstype=fuse.ftpfs,credentials=/etc/ftpfs/host.cred  :ftp\\://user@host\\:21/dir",
        ),
    ] {
        r.control("PP", []);
        r.text([roman(what)]);
        r.control("nf", []);
        r.control("RS", ["4"]);
        for line in example.lines() {
            r.text([italic(line)]);
        }
        r.control("RE", []);
        r.control("fi", []);
    }

    r.control("SH", ["EXIT STATUS"]);
    r.text([roman(
        "0 once the mount is ready (ftpfs then serves it in the background); 1 with one line on \
         standard error naming the cause when it cannot be made (bad URL or option, refused \
         login, unreachable server, bad mountpoint). mount -a and nofail rely on this.",
    )]);
    r
}

/// The whole man page.
fn man_page() -> std::io::Result<Vec<u8>> {
    let man = clap_mangen::Man::new(Cli::command());
    let mut out = Vec::new();
    man.render_title(&mut out)?;
    man.render_name_section(&mut out)?;
    man.render_synopsis_section(&mut out)?;
    man.render_description_section(&mut out)?;
    man.render_options_section(&mut out)?;
    extra_sections().to_writer(&mut out)?;
    man.render_version_section(&mut out)?;
    Ok(out)
}

fn write_completions(dir: &Path) -> std::io::Result<()> {
    for (shell, name) in [
        (Shell::Bash, "ftpfs.bash"),
        (Shell::Zsh, "_ftpfs"),
        (Shell::Fish, "ftpfs.fish"),
    ] {
        let mut buf = Vec::new();
        clap_complete::generate(shell, &mut Cli::command(), "ftpfs", &mut buf);
        std::fs::write(dir.join(name), buf)?;
    }
    Ok(())
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["man", dir] => man_page().and_then(|p| std::fs::write(Path::new(dir).join("ftpfs.1"), p)),
        ["completions", dir] => write_completions(Path::new(dir)),
        _ => {
            eprintln!("usage: ftpfs-docs man DIR | ftpfs-docs completions DIR");
            std::process::exit(2);
        }
    };
    if let Err(e) = result {
        let _ = writeln!(std::io::stderr(), "ftpfs-docs: {e}");
        std::process::exit(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_man_page_lists_every_option_and_the_credentials_format() {
        let page = String::from_utf8(man_page().unwrap()).unwrap();
        assert!(
            page.starts_with(".ie") || page.contains(".TH ftpfs 1"),
            "{page}"
        );
        for o in MOUNT_OPTIONS {
            // roff writes a hyphen as "\-".
            let shown = o.name.replace('-', "\\-");
            assert!(page.contains(&shown), "man page lacks {}", o.name);
        }
        for needed in [
            "MOUNT OPTIONS",
            "PASSWORD",
            "chmod 600",
            "fuse.ftpfs",
            "EXIT STATUS",
        ] {
            assert!(page.contains(needed), "man page lacks {needed}");
        }
    }

    #[test]
    fn completions_are_written_for_three_shells() {
        let dir = tempfile::tempdir().unwrap();
        write_completions(dir.path()).unwrap();
        let bash = std::fs::read_to_string(dir.path().join("ftpfs.bash")).unwrap();
        assert!(
            bash.contains("complete") && bash.contains("ftpfs"),
            "{bash}"
        );
        assert!(std::fs::metadata(dir.path().join("_ftpfs")).unwrap().len() > 0);
        assert!(
            std::fs::metadata(dir.path().join("ftpfs.fish"))
                .unwrap()
                .len()
                > 0
        );
    }
}
