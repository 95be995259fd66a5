//! A scripted FTP server for the hostile-server tests: a `std::net` listener on 127.0.0.1 whose
//! sessions (one thread each) speak just enough FTP for a login, a listing and a download, and
//! misbehave where the `Script` says: endless or dripping replies, garbage, a line that never
//! ends, a listing that never ends, a `PASV` reply that names another address. It records every
//! command it receives, and counts connections made to the address it announced in `PASV` (a
//! listener on 127.0.0.2, which is loopback on Linux). Dropping `Fake` stops it; session threads
//! end when their client goes away.
#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Where the server misbehaves, and how.
#[derive(Clone, Debug, Default)]
pub enum Hostile {
    /// It behaves.
    #[default]
    None,
    /// Its greeting is a multi-line reply that never ends, sent as fast as the client reads.
    EndlessGreeting,
    /// Its greeting is a multi-line reply that never ends, one line every 200 ms.
    DrippingGreeting,
    /// Its greeting is bytes that are not FTP.
    GarbageGreeting,
    /// Its greeting is one line that never ends (no line break, ever).
    HugeGreeting,
    /// It accepts the connection and never says anything.
    SilentGreeting,
    /// The reply to LIST/MLSD is a multi-line `150-` that never ends, one line every 200 ms.
    DrippingListReply,
    /// LIST/MLSD gets no reply at all, nor does anything after it: a server that froze.
    SilentListReply,
    /// LIST/MLSD gets its `150` and its data connection, then nothing more on either: a server
    /// that froze mid-listing.
    SilentListing,
    /// STOR/APPE gets its `150` and its data connection, then the server reads nothing and says
    /// nothing more: a server that froze mid-upload.
    SilentUpload,
    /// The listing's data never ends, as fast as the client reads.
    EndlessListing,
    /// The listing's data is one line that never ends.
    EndlessListingLine,
    /// The listing's data never ends, one line every 100 ms.
    DrippingListing,
}

/// What the server serves.
#[derive(Clone, Debug, Default)]
pub struct Script {
    pub hostile: Hostile,
    /// Offer MLSD in FEAT (else only LIST). EPSV is never offered, so clients use PASV.
    pub mlsd: bool,
    /// The lines of every listing (MLSD or LIST form, as the client will ask).
    pub listing: Vec<String>,
    /// Files for RETR and SIZE, by path as the client sends it.
    pub files: HashMap<String, Vec<u8>>,
    /// Announce 127.0.0.2 in PASV replies instead of 127.0.0.1 (the data is served on 127.0.0.1
    /// at the same port).
    pub pasv_elsewhere: bool,
    /// Whether FEAT offers EPSV, and what EPSV then does.
    pub epsv: Epsv,
    /// MDTM answers (`YYYYMMDDHHMMSS`, UTC), by path as the client sends it; others get 550.
    pub mdtm: HashMap<String, String>,
    /// The greeting's text after `220 ` (default "fake ftp ready").
    pub greeting: Option<String>,
    /// REST is refused (`502`); a RETR after it sends the file from its start.
    pub rest_refused: bool,
    /// Any command other than a transfer closes the passive listener (a data connection made
    /// for it is reset; the transfer then gets `425`), as a server may.
    pub passive_for_next_command_only: bool,
    /// The whole reply to `PWD` (default `257 "/"`).
    pub pwd: Option<String>,
    /// A `REST` that arrives in one packet with the next command is carried out (and answered)
    /// after that command, as a server that runs commands concurrently may: a `RETR` behind it
    /// sends the file from its start, and its `150` comes before the `350`.
    pub rest_after_next: bool,
    /// A drop box (a directory, as the client sends its path): its listing, and `RNFR`, `RNTO`,
    /// `DELE` and `SIZE` of anything in it, answer "550 Permission denied."; `STOR` works.
    pub drop_box: Option<String>,
    /// In the drop box, `STOR` of a name that starts with `.` answers "553 Prohibited file name"
    /// (as Pure-FTPd does for dotfiles).
    pub no_dot_names: bool,
    /// The drop box lists as empty (as vsftpd lists a directory it cannot read) instead of
    /// refusing its listing.
    pub drop_box_lists: bool,
    /// `PASV` and `EPSV` answer 502; `PORT` works (the server connects to the client).
    pub passive_refused: bool,
    /// No `SIZE` in FEAT, and `SIZE` answers 502.
    pub no_size: bool,
    /// No `MDTM` in FEAT, and `MDTM` answers 502.
    pub no_mdtm: bool,
    /// `LIST -a PATH` answers "550 -a: No such file or directory" (the option taken for a name).
    pub list_a_rejected: bool,
    /// The whole reply to `SYST` (default: `502`, unknown).
    pub syst: Option<String>,
    /// After a `STOR`'s `226`, the session is busy this long before it reads its next command
    /// (vsftpd pushing a big file's pages to its disk as it closes it), then records
    /// `closed PATH` among the commands.
    pub slow_close: Option<Duration>,
    /// Downloads and listings end as vsftpd ends them: the `226` only once the client has closed
    /// its side of the data connection. Before sending, the server looks (100 ms after the
    /// connection is there) whether the client's side is closed already, and records
    /// `closed early` or `open` among the commands.
    pub lingering_close: bool,
    /// `PASS` and `TYPE I` get vsftpd's words ("230 Login successful.", "200 Switching to Binary
    /// mode."), by which ftpfs knows a server that reads no command during a transfer: a
    /// listing's command then carries the next data connection's passive command behind it.
    pub vsftpd_replies: bool,
}

/// Where a transfer's data connection comes from: a passive listener, or (after `PORT`) the
/// address the client listens on.
enum DataEnd {
    Passive(TcpListener),
    Active(std::net::SocketAddr),
}

impl DataEnd {
    fn open(self) -> std::io::Result<TcpStream> {
        match self {
            DataEnd::Passive(listener) => {
                listener.set_nonblocking(false)?;
                listener.accept().map(|(s, _)| s)
            }
            DataEnd::Active(addr) => TcpStream::connect_timeout(&addr, Duration::from_secs(5)),
        }
    }
}

/// The address a `PORT h1,h2,h3,h4,p1,p2` argument names.
fn port_addr(arg: &str) -> Option<std::net::SocketAddr> {
    let n: Vec<u8> = arg
        .split(',')
        .map(|x| x.trim().parse().ok())
        .collect::<Option<_>>()?;
    let [a, b, c, d, hi, lo] = n[..] else {
        return None;
    };
    let ip = Ipv4Addr::new(a, b, c, d);
    Some((ip, u16::from(hi) << 8 | u16::from(lo)).into())
}

/// EPSV as the server does it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Epsv {
    /// Not in FEAT, and unknown (502).
    #[default]
    Absent,
    /// In FEAT, and it works.
    Works,
    /// In FEAT, but refused with "500 EPSV not understood", as some servers behind old
    /// firewalls do.
    Refused,
}

/// A running scripted server.
pub struct Fake {
    pub port: u16,
    commands: Arc<Mutex<Vec<String>>>,
    uploads: Arc<Mutex<HashMap<String, Vec<u8>>>>,
    elsewhere: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
}

pub const USER: &str = "fakeuser";
pub const PASSWORD: &str = "fake-pw";

impl Fake {
    pub fn start(script: Script) -> Fake {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind 127.0.0.1:0");
        let port = listener.local_addr().unwrap().port();
        let fake = Fake {
            port,
            commands: Arc::default(),
            uploads: Arc::default(),
            elsewhere: Arc::default(),
            stop: Arc::default(),
        };
        let uploads = Arc::clone(&fake.uploads);
        let (commands, elsewhere, stop) = (
            Arc::clone(&fake.commands),
            Arc::clone(&fake.elsewhere),
            Arc::clone(&fake.stop),
        );
        let script = Arc::new(script);
        listener.set_nonblocking(true).unwrap();
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((sock, _)) => {
                        sock.set_nonblocking(false).unwrap();
                        let session = Session {
                            script: Arc::clone(&script),
                            commands: Arc::clone(&commands),
                            uploads: Arc::clone(&uploads),
                            elsewhere: Arc::clone(&elsewhere),
                            stop: Arc::clone(&stop),
                        };
                        std::thread::spawn(move || session.run(sock));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        fake
    }

    /// Every command received so far, in order, as sent (PASS included).
    pub fn commands(&self) -> Vec<String> {
        self.commands.lock().unwrap().clone()
    }

    /// The files uploaded (`STOR`, `APPE`; renamed by `RNFR`/`RNTO`), by path as the client sent it.
    pub fn uploads(&self) -> HashMap<String, Vec<u8>> {
        self.uploads.lock().unwrap().clone()
    }

    /// Connections that arrived at the address announced in PASV when it was not ours.
    pub fn elsewhere_connections(&self) -> usize {
        self.elsewhere.load(Ordering::SeqCst)
    }
}

impl Drop for Fake {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

impl super::FtpServer for Fake {
    fn port(&self) -> u16 {
        self.port
    }
    fn user(&self) -> &str {
        USER
    }
    fn password(&self) -> &str {
        PASSWORD
    }
}

struct Session {
    script: Arc<Script>,
    commands: Arc<Mutex<Vec<String>>>,
    uploads: Arc<Mutex<HashMap<String, Vec<u8>>>>,
    elsewhere: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
}

/// Writes `chunk` again and again (sleeping `pause` between) until the peer goes away or the
/// server stops.
fn forever(out: &mut TcpStream, chunk: &[u8], pause: Duration, stop: &AtomicBool) {
    while !stop.load(Ordering::Relaxed) {
        if out.write_all(chunk).is_err() {
            return;
        }
        if !pause.is_zero() {
            std::thread::sleep(pause);
        }
    }
}

impl Session {
    fn run(self, sock: TcpStream) {
        let mut out = sock.try_clone().unwrap();
        let stop = &self.stop;
        match self.script.hostile {
            Hostile::EndlessGreeting => {
                return forever(&mut out, b"220-welcome, and more\r\n", Duration::ZERO, stop)
            }
            Hostile::DrippingGreeting => {
                return forever(
                    &mut out,
                    b"220-still welcoming\r\n",
                    Duration::from_millis(200),
                    stop,
                )
            }
            Hostile::GarbageGreeting => {
                let _ = out.write_all(b"\x00\xff\xfeHELLO this is not ftp\r\n\x1b[2J?!\r\n");
                std::thread::sleep(Duration::from_secs(2));
                return;
            }
            Hostile::HugeGreeting => {
                let _ = out.write_all(b"220 ");
                return forever(&mut out, &[b'A'; 4096], Duration::ZERO, stop);
            }
            Hostile::SilentGreeting => {
                while !stop.load(Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_millis(50));
                }
                return;
            }
            _ => {}
        }
        let greeting = self.script.greeting.as_deref().unwrap_or("fake ftp ready");
        let _ = out.write_all(format!("220 {greeting}\r\n").as_bytes());
        let mut pending_data: Option<DataEnd> = None;
        let mut rest = 0usize;
        let mut renaming: Option<String> = None;
        // A REST held back until the command after it was carried out (`rest_after_next`).
        let mut held_rest: Option<usize> = None;
        let mut reader = BufReader::new(sock);
        loop {
            if let Some(offset) = held_rest.take().filter(|_| reader.buffer().is_empty()) {
                rest = offset;
                if out.write_all(b"350 restarting\r\n").is_err() {
                    return;
                }
            }
            let mut raw = Vec::new();
            match reader.read_until(b'\n', &mut raw) {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
            let together = !reader.buffer().is_empty();
            let line = String::from_utf8_lossy(&raw)
                .trim_end_matches(['\r', '\n'])
                .to_string();
            self.commands.lock().unwrap().push(line.clone());
            let (verb, arg) = match line.split_once(' ') {
                Some((v, a)) => (v.to_ascii_uppercase(), a.to_string()),
                None => (line.to_ascii_uppercase(), String::new()),
            };
            let transfer = ["LIST", "MLSD", "RETR", "STOR", "APPE"].contains(&verb.as_str());
            if self.script.passive_for_next_command_only && !transfer {
                pending_data = None;
            }
            let mut rename_from = None;
            let named = arg.strip_prefix("-a ").unwrap_or(&arg);
            let in_drop_box = self.script.drop_box.as_ref().is_some_and(|d| {
                named == d
                    || named
                        .strip_prefix(d.as_str())
                        .is_some_and(|r| r.starts_with('/'))
            });
            let lists_drop_box = in_drop_box && ["LIST", "MLSD"].contains(&verb.as_str());
            let listing_refused = lists_drop_box && !self.script.drop_box_lists;
            let dot_name = arg.rsplit('/').next().is_some_and(|n| n.starts_with('.'));
            let reply: String = match verb.as_str() {
                _ if listing_refused => {
                    pending_data = None;
                    "550 Permission denied.".into()
                }
                "RNFR" | "RNTO" | "DELE" | "SIZE" if in_drop_box => "550 Permission denied.".into(),
                "PASV" | "EPSV" if self.script.passive_refused => {
                    "502 passive mode is not available".into()
                }
                "PORT" => match port_addr(&arg) {
                    Some(addr) => {
                        pending_data = Some(DataEnd::Active(addr));
                        "200 PORT ok".into()
                    }
                    None => "501 bad PORT".into(),
                },
                "SIZE" if self.script.no_size => "502 SIZE not implemented".into(),
                "MDTM" if self.script.no_mdtm => "502 MDTM not implemented".into(),
                "LIST" if self.script.list_a_rejected && arg.starts_with("-a") => {
                    pending_data = None;
                    "550 -a: No such file or directory".into()
                }
                "STOR" if in_drop_box && dot_name && self.script.no_dot_names => {
                    pending_data = None;
                    "553 Prohibited file name".into()
                }
                "USER" => "331 password please".into(),
                "PASS" if arg == PASSWORD && self.script.vsftpd_replies => {
                    "230 Login successful.".into()
                }
                "PASS" if arg == PASSWORD => "230 logged in".into(),
                "TYPE" if self.script.vsftpd_replies => "200 Switching to Binary mode.".into(),
                "PASS" => "530 wrong".into(),
                "TYPE" | "OPTS" | "NOOP" => "200 ok".into(),
                "FEAT" => {
                    let mlst = if self.script.mlsd {
                        " MLST type*;size*;modify*;\r\n"
                    } else {
                        ""
                    };
                    let epsv = if self.script.epsv == Epsv::Absent {
                        ""
                    } else {
                        " EPSV\r\n"
                    };
                    let size = if self.script.no_size { "" } else { " SIZE\r\n" };
                    let mdtm = if self.script.no_mdtm { "" } else { " MDTM\r\n" };
                    let rest = if self.script.rest_refused {
                        ""
                    } else {
                        " REST STREAM\r\n"
                    };
                    format!("211-Features:\r\n{mlst}{epsv}{size}{mdtm}{rest}211 End")
                }
                "PWD" => self.script.pwd.clone().unwrap_or("257 \"/\"".into()),
                "SYST" => self.script.syst.clone().unwrap_or("502 not here".into()),
                "CWD" => "250 ok".into(),
                "QUIT" => {
                    let _ = out.write_all(b"221 bye\r\n");
                    return;
                }
                "EPSV" if self.script.epsv == Epsv::Works => {
                    let (listener, port) = self.data_listener();
                    pending_data = Some(DataEnd::Passive(listener));
                    format!("229 Entering Extended Passive Mode (|||{port}|)")
                }
                "EPSV" if self.script.epsv == Epsv::Refused => "500 EPSV not understood".into(),
                "MDTM" => match self.script.mdtm.get(&arg) {
                    Some(t) => format!("213 {t}"),
                    None => "550 no such file".into(),
                },
                "PASV" => {
                    let (listener, port) = self.data_listener();
                    pending_data = Some(DataEnd::Passive(listener));
                    let host = if self.script.pasv_elsewhere {
                        "127,0,0,2"
                    } else {
                        "127,0,0,1"
                    };
                    format!(
                        "227 Entering Passive Mode ({host},{},{})",
                        port >> 8,
                        port & 0xff
                    )
                }
                "REST" if self.script.rest_refused => "502 REST not here".into(),
                "REST" if self.script.rest_after_next && together => {
                    held_rest = Some(arg.parse().unwrap_or(0));
                    continue;
                }
                "REST" => {
                    rest = arg.parse().unwrap_or(0);
                    "350 restarting".into()
                }
                "SIZE" => {
                    let up = self.uploads.lock().unwrap();
                    match self.script.files.get(&arg).or(up.get(&arg)) {
                        Some(f) => format!("213 {}", f.len()),
                        None => "550 no such file".into(),
                    }
                }
                "RNFR" if self.uploads.lock().unwrap().contains_key(&arg) => {
                    rename_from = Some(arg);
                    "350 go on".into()
                }
                "RNTO" => match renaming.take() {
                    Some(from) => {
                        let mut up = self.uploads.lock().unwrap();
                        let f = up.remove(&from).expect("renamed from an upload");
                        up.insert(arg, f);
                        "250 renamed".into()
                    }
                    None => "503 RNFR first".into(),
                },
                "STOR" | "APPE" => {
                    let Some(end) = pending_data.take() else {
                        let _ = out.write_all(b"425 use PASV first\r\n");
                        continue;
                    };
                    if out.write_all(b"150 send it\r\n").is_err() {
                        return;
                    }
                    let Ok(mut data) = end.open() else {
                        return;
                    };
                    if let Hostile::SilentUpload = self.script.hostile {
                        while !self.stop.load(Ordering::SeqCst) {
                            std::thread::sleep(Duration::from_millis(25));
                        }
                        return;
                    }
                    let mut got = Vec::new();
                    let _ = data.read_to_end(&mut got);
                    let mut up = self.uploads.lock().unwrap();
                    let file = up.entry(arg.clone()).or_default();
                    if verb == "STOR" {
                        file.clear();
                    }
                    file.extend_from_slice(&got);
                    drop(up);
                    if let Some(busy) = self.script.slow_close {
                        if out.write_all(b"226 stored\r\n").is_err() {
                            return;
                        }
                        std::thread::sleep(busy);
                        self.commands.lock().unwrap().push(format!("closed {arg}"));
                        continue;
                    }
                    "226 stored".into()
                }
                "LIST" | "MLSD" | "RETR" => {
                    let Some(end) = pending_data.take() else {
                        let _ = out.write_all(b"425 use PASV first\r\n");
                        continue;
                    };
                    let body = if verb == "RETR" {
                        match self.script.files.get(&arg) {
                            Some(f) => Some(f[rest.min(f.len())..].to_vec()),
                            None => {
                                let _ = out.write_all(b"550 no such file\r\n");
                                continue;
                            }
                        }
                    } else if lists_drop_box {
                        // Listed as empty, as vsftpd does for a directory it cannot read.
                        Some(Vec::new())
                    } else {
                        None
                    };
                    rest = 0;
                    if !self.transfer(&mut out, end, body) {
                        return;
                    }
                    continue;
                }
                _ => "502 not here".into(),
            };
            renaming = rename_from;
            if out.write_all(format!("{reply}\r\n").as_bytes()).is_err() {
                return;
            }
        }
    }

    /// A listener for one data connection on 127.0.0.1; with `pasv_elsewhere`, also one on
    /// 127.0.0.2 at the same port, counting whoever connects there.
    fn data_listener(&self) -> (TcpListener, u16) {
        loop {
            let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
            let port = l.local_addr().unwrap().port();
            if !self.script.pasv_elsewhere {
                return (l, port);
            }
            let Ok(trap) = TcpListener::bind((Ipv4Addr::new(127, 0, 0, 2), port)) else {
                continue;
            };
            let (count, stop) = (Arc::clone(&self.elsewhere), Arc::clone(&self.stop));
            trap.set_nonblocking(true).unwrap();
            std::thread::spawn(move || {
                // Listens for a while after the transfer, too: a client that went there would
                // have done so by then.
                for _ in 0..200 {
                    if stop.load(Ordering::Relaxed) {
                        return;
                    }
                    if trap.accept().is_ok() {
                        count.fetch_add(1, Ordering::SeqCst);
                    }
                    std::thread::sleep(Duration::from_millis(25));
                }
            });
            return (l, port);
        }
    }

    /// Sends a listing (or `body`, for RETR) on the data connection; false if the control
    /// connection is gone.
    fn transfer(&self, out: &mut TcpStream, end: DataEnd, body: Option<Vec<u8>>) -> bool {
        let stop = &self.stop;
        if let Hostile::SilentListReply = self.script.hostile {
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(25));
            }
            return false;
        }
        if let Hostile::DrippingListReply = self.script.hostile {
            forever(
                out,
                b"150-here it comes\r\n",
                Duration::from_millis(200),
                stop,
            );
            return false;
        }
        if out.write_all(b"150 here it comes\r\n").is_err() {
            return false;
        }
        let Ok(mut data) = end.open() else {
            return false;
        };
        if let Hostile::SilentListing = self.script.hostile {
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(25));
            }
            drop(data);
            return false;
        }
        if self.script.lingering_close {
            std::thread::sleep(Duration::from_millis(100));
            let _ = data.set_nonblocking(true);
            let mut probe = [0u8; 1];
            let early = matches!(data.peek(&mut probe), Ok(0));
            let _ = data.set_nonblocking(false);
            let seen = if early { "closed early" } else { "open" };
            self.commands.lock().unwrap().push(seen.into());
        }
        match (&self.script.hostile, body) {
            (_, Some(bytes)) => {
                let _ = data.write_all(&bytes);
            }
            (Hostile::EndlessListing, None) => {
                let line = b"-rw-r--r-- 1 u g 3 Jan 01 2024 one-more-file-in-a-listing-that-never-ends\r\n";
                forever(&mut data, line, Duration::ZERO, stop);
            }
            (Hostile::EndlessListingLine, None) => {
                let _ = data.write_all(b"-rw-r--r-- 1 u g 3 Jan 01 2024 ");
                forever(&mut data, &[b'x'; 4096], Duration::ZERO, stop);
            }
            (Hostile::DrippingListing, None) => {
                let line = b"-rw-r--r-- 1 u g 3 Jan 01 2024 slowly\r\n";
                forever(&mut data, line, Duration::from_millis(100), stop);
            }
            (_, None) => {
                for l in &self.script.listing {
                    let _ = data.write_all(l.as_bytes());
                    let _ = data.write_all(b"\r\n");
                }
            }
        }
        if self.script.lingering_close {
            let _ = data.shutdown(Shutdown::Write);
            let _ = data.set_read_timeout(Some(Duration::from_secs(5)));
            let _ = data.read_to_end(&mut Vec::new());
        }
        let _ = data.shutdown(Shutdown::Both);
        drop(data);
        out.write_all(b"226 done\r\n").is_ok()
    }
}
