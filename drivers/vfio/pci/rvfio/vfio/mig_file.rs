// SPDX-License-Identifier: GPL-2.0

//! The data fd of a migration session: an anonymous file whose `read` streams the device
//! state out of a saving session and whose `write` takes a stream into a resuming one.

use kernel::{
    bindings,
    error::from_result,
    ffi::{c_long, c_uint, c_ulong},
    prelude::*,
    sync::Arc,
    uaccess::{UserPtr, UserSlice},
};

use super::bindings as vfio;

/// `VFIO_MIG_GET_PRECOPY_INFO`: `_IO(VFIO_TYPE, VFIO_BASE + 21)`, a macro bindgen cannot
/// evaluate.
const MIG_GET_PRECOPY_INFO: c_uint =
    kernel::ioctl::_IO(vfio::VFIO_TYPE as u32, vfio::VFIO_BASE + 21);

/// Most bytes one `read` or `write` of a data fd moves.
///
/// They go through a kernel buffer of this size: a session's lock is never held while user
/// memory is touched, because a fault on the user's BAR mapping takes the core's
/// `memory_lock`, which a device reset holds while it ends the sessions.
const CHUNK: usize = 4096;

/// What a data fd gives access to.
pub(crate) trait DataSession: Send + Sync + 'static {
    /// Copies the next bytes of a saving session's stream to `out`; 0 at end of stream.
    fn read(&self, out: &mut [u8]) -> Result<usize>;

    /// Takes the bytes of `input`, the next part of a stream, into a resuming session.
    fn write(&self, input: &[u8]) -> Result;

    /// `initial_bytes` and `dirty_bytes` of `struct vfio_precopy_info`; `EINVAL` unless the
    /// session is in a pre-copy state.
    fn precopy_info(&self) -> Result<(u64, u64)>;
}

/// Which way a data fd streams.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Direction {
    /// Read-only: a saving session.
    Save,
    /// Write-only: a resuming session.
    Resume,
}

/// A data fd not yet handed to the user: dropping it closes it.
///
/// # Invariants
///
/// `file` is a file opened by [`DataFd::open`] whose one reference this owns.
pub(crate) struct DataFd {
    file: *mut bindings::file,
}

impl DataFd {
    /// Opens a data fd on `session`, with `precopy_info_v2` the device's opt-in to the v2
    /// layout of `VFIO_MIG_GET_PRECOPY_INFO` at this moment.
    pub(crate) fn open<S: DataSession>(
        session: Arc<S>,
        direction: Direction,
        precopy_info_v2: bool,
    ) -> Result<Self> {
        let (fops, flags) = match direction {
            Direction::Save => (&DataFile::<S>::SAVE_FOPS, bindings::O_RDONLY),
            Direction::Resume => (&DataFile::<S>::RESUME_FOPS, bindings::O_WRONLY),
        };
        let private = KBox::new(
            DataFile {
                session,
                precopy_info_v2,
            },
            GFP_KERNEL,
        )?;
        let private = KBox::into_raw(private);
        // SAFETY: The name is a C string, `fops` is 'static, and `private` is valid until the
        // file's `release`, which frees it.
        let file = unsafe {
            vfio::anon_inode_getfile(
                c"rvfio_pci_mig".as_char_ptr(),
                fops,
                private.cast(),
                flags as c_int,
            )
        };
        if let Err(err) = kernel::error::from_err_ptr(file) {
            // SAFETY: The file was not created, so `private` is still ours.
            drop(unsafe { KBox::from_raw(private) });
            return Err(err);
        }
        // SAFETY: `file` is a new file with a valid inode; a data fd has no file position.
        unsafe { bindings::stream_open((*file).f_inode, file) };
        Ok(Self { file })
    }

    /// Gives up the file and its reference, for VFIO to install as the user's fd.
    pub(crate) fn into_raw(self) -> *mut bindings::file {
        let this = core::mem::ManuallyDrop::new(self);
        this.file
    }
}

impl Drop for DataFd {
    fn drop(&mut self) {
        // SAFETY: By the type invariant, the reference is ours.
        unsafe { bindings::fput(self.file) };
    }
}

/// The private data of a data fd.
struct DataFile<S: DataSession> {
    session: Arc<S>,
    precopy_info_v2: bool,
}

impl<S: DataSession> DataFile<S> {
    const SAVE_FOPS: bindings::file_operations = bindings::file_operations {
        owner: kernel::module::this_module::<crate::LocalModule>().as_ptr(),
        read: Some(Self::read_callback),
        unlocked_ioctl: Some(Self::ioctl_callback),
        compat_ioctl: bindings::compat_ptr_ioctl,
        release: Some(Self::release_callback),
        ..pin_init::zeroed()
    };

    const RESUME_FOPS: bindings::file_operations = bindings::file_operations {
        owner: kernel::module::this_module::<crate::LocalModule>().as_ptr(),
        write: Some(Self::write_callback),
        release: Some(Self::release_callback),
        ..pin_init::zeroed()
    };

    /// # Safety
    ///
    /// `file` must be a data fd opened by [`open`] with this `S`, not yet released.
    unsafe fn of<'a>(file: *mut bindings::file) -> &'a Self {
        // SAFETY: `open` set `private_data` to a `DataFile<S>` freed only at release.
        unsafe { &*(*file).private_data.cast::<Self>() }
    }

    /// # Safety
    ///
    /// Called by the VFS only, for a `read` on a data fd.
    unsafe extern "C" fn read_callback(
        file: *mut bindings::file,
        buf: *mut u8,
        len: usize,
        _pos: *mut bindings::loff_t,
    ) -> isize {
        // SAFETY: The VFS passes a live data fd.
        let this = unsafe { Self::of(file) };
        let mut out = UserSlice::new(UserPtr::from_ptr(buf.cast()), len).writer();
        from_result(|| {
            let mut bytes = KVec::from_elem(0u8, len.min(CHUNK), GFP_KERNEL)?;
            let len = this.session.read(&mut bytes)?;
            out.write_slice(&bytes[..len])?;
            Ok(len as isize)
        })
    }

    /// # Safety
    ///
    /// Called by the VFS only, for a `write` on a data fd.
    unsafe extern "C" fn write_callback(
        file: *mut bindings::file,
        buf: *const u8,
        len: usize,
        _pos: *mut bindings::loff_t,
    ) -> isize {
        // SAFETY: The VFS passes a live data fd.
        let this = unsafe { Self::of(file) };
        let len = len.min(CHUNK);
        let mut input = UserSlice::new(UserPtr::from_ptr(buf.cast_mut().cast()), len).reader();
        from_result(|| {
            let mut bytes = KVec::from_elem(0u8, len, GFP_KERNEL)?;
            input.read_slice(&mut bytes)?;
            this.session.write(&bytes)?;
            Ok(len as isize)
        })
    }

    /// # Safety
    ///
    /// Called by the VFS only, for an `ioctl` on a data fd.
    unsafe extern "C" fn ioctl_callback(
        file: *mut bindings::file,
        cmd: c_uint,
        arg: c_ulong,
    ) -> c_long {
        // SAFETY: The VFS passes a live data fd.
        let this = unsafe { Self::of(file) };
        from_result(|| {
            if cmd != MIG_GET_PRECOPY_INFO {
                return Err(ENOTTY);
            }
            this.precopy_info(UserSlice::new(
                UserPtr::from_addr(arg),
                size_of::<vfio::vfio_precopy_info>(),
            ))?;
            Ok(0)
        })
    }

    /// Answers `VFIO_MIG_GET_PRECOPY_INFO` as `vfio_check_precopy_ioctl` checks it: `argsz`
    /// must cover the structure; `flags` is output only once the user opted in to v2.
    fn precopy_info(&self, arg: UserSlice) -> Result {
        let (mut reader, mut writer) = arg.reader_writer();
        let mut info = [0u8; size_of::<vfio::vfio_precopy_info>()];
        reader.read_slice(&mut info)?;
        let argsz = u32::from_ne_bytes([info[0], info[1], info[2], info[3]]);
        if (argsz as usize) < info.len() {
            return Err(EINVAL);
        }
        let (initial, dirty) = self.session.precopy_info()?;
        let flags = if self.precopy_info_v2 {
            0
        } else {
            u32::from_ne_bytes([info[4], info[5], info[6], info[7]])
        };
        let out = vfio::vfio_precopy_info {
            argsz,
            flags,
            initial_bytes: initial,
            dirty_bytes: dirty,
        };
        // SAFETY: `vfio_precopy_info` is plain data without padding (two u32, two u64).
        let bytes = unsafe {
            core::slice::from_raw_parts((&raw const out).cast::<u8>(), size_of_val(&out))
        };
        writer.write_slice(bytes)
    }

    /// # Safety
    ///
    /// Called by the VFS only, once, when the last reference to a data fd goes.
    unsafe extern "C" fn release_callback(
        _inode: *mut bindings::inode,
        file: *mut bindings::file,
    ) -> c_int {
        // SAFETY: `open` made `private_data` with `KBox::into_raw`; nothing uses it any more.
        drop(unsafe { KBox::from_raw((*file).private_data.cast::<Self>()) });
        0
    }
}
