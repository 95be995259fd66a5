//! Looking up local users and groups by name (for `-o uid=NAME,gid=NAME`), through the C library so
//! that every configured name service (files, LDAP, systemd-userdb...) answers, as for `chown`.

use std::ffi::CString;

/// The uid of user `name`, if the system knows one.
pub fn user_id(name: &str) -> Option<u32> {
    let name = CString::new(name).ok()?;
    let mut buf = vec![0u8; 16 * 1024];
    // SAFETY: every pointer is to a live local; getpwnam_r writes only into `pwd`, `buf` (of the
    // length given) and `found`.
    unsafe {
        let mut pwd: libc::passwd = std::mem::zeroed();
        let mut found: *mut libc::passwd = std::ptr::null_mut();
        let rc = libc::getpwnam_r(
            name.as_ptr(),
            &mut pwd,
            buf.as_mut_ptr().cast(),
            buf.len(),
            &mut found,
        );
        (rc == 0 && !found.is_null()).then_some(pwd.pw_uid)
    }
}

/// The gid of group `name`, if the system knows one.
pub fn group_id(name: &str) -> Option<u32> {
    let name = CString::new(name).ok()?;
    let mut buf = vec![0u8; 16 * 1024];
    // SAFETY: as in `user_id`, with getgrnam_r.
    unsafe {
        let mut grp: libc::group = std::mem::zeroed();
        let mut found: *mut libc::group = std::ptr::null_mut();
        let rc = libc::getgrnam_r(
            name.as_ptr(),
            &mut grp,
            buf.as_mut_ptr().cast(),
            buf.len(),
            &mut found,
        );
        (rc == 0 && !found.is_null()).then_some(grp.gr_gid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_and_its_group_are_found_and_strangers_are_not() {
        assert_eq!(user_id("root"), Some(0));
        assert_eq!(group_id("root"), Some(0));
        assert_eq!(user_id("no-such-user-ftpfs"), None);
        assert_eq!(group_id("no-such-group-ftpfs"), None);
        assert_eq!(user_id("nul\0inside"), None);
    }
}
