// SPDX-License-Identifier: GPL-2.0

//! A device bound to `rvfio-pci`, opened through its VFIO cdev and bound to an iommufd: the
//! only I/O of the tool. It reads the config region and the PASID/ATS feature; it writes
//! nothing to the device.

use std::cell::RefCell;
use std::ffi::{c_int, c_ulong, c_void};
use std::fs::{self, File, OpenOptions};
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileExt;

use crate::config::pci_caps::ConfigSpace;
use crate::feature::{Feature, FIXED_SIZE, RANGE_SIZE};

extern "C" {
    fn ioctl(fd: c_int, request: c_ulong, ...) -> c_int;
}

/// `_IO(VFIO_TYPE, VFIO_BASE + n)` of `linux/vfio.h`.
const fn vfio_io(n: c_ulong) -> c_ulong {
    (b';' as c_ulong) << 8 | (100 + n)
}
const VFIO_DEVICE_GET_REGION_INFO: c_ulong = vfio_io(8);
const VFIO_DEVICE_FEATURE: c_ulong = vfio_io(17);
const VFIO_DEVICE_BIND_IOMMUFD: c_ulong = vfio_io(18);
const VFIO_DEVICE_FEATURE_GET: u32 = 1 << 16;
const VFIO_DEVICE_FEATURE_PROBE: u32 = 1 << 18;
const VFIO_PCI_CONFIG_REGION_INDEX: u32 = 7;
/// `RVFIO_DEVICE_FEATURE_PCI_PASID_ATS` (`include/uapi/linux/rvfio.h`).
const RVFIO_DEVICE_FEATURE_PCI_PASID_ATS: u32 = 0xf000;
const ENOTTY: i32 = 25;

/// `struct vfio_device_bind_iommufd` up to `out_devid`, its minimum size.
#[repr(C)]
struct BindIommufd {
    argsz: u32,
    flags: u32,
    iommufd: i32,
    out_devid: u32,
}

/// `struct vfio_region_info`.
#[repr(C)]
struct RegionInfo {
    argsz: u32,
    flags: u32,
    index: u32,
    cap_offset: u32,
    size: u64,
    offset: u64,
}

/// Runs one ioctl on `file` with `arg`, the argument its request number expects.
fn vfio_ioctl<T: ?Sized>(
    file: &File,
    request: c_ulong,
    arg: &mut T,
    what: &str,
) -> Result<(), Error> {
    // SAFETY: `arg` is live and exclusively borrowed, and holds the structure the request
    // reads and writes, whose argsz (its first word) is no more than `arg`'s size; the
    // descriptor is open for `file`'s life.
    let ret = unsafe { ioctl(file.as_raw_fd(), request, (arg as *mut T).cast::<c_void>()) };
    if ret < 0 {
        let err = std::io::Error::last_os_error();
        return Err(Error {
            errno: err.raw_os_error().unwrap_or(0),
            message: format!("{what}: {err}"),
        });
    }
    Ok(())
}

/// Why a device could not be read, with the errno if a call failed.
#[derive(Debug)]
pub struct Error {
    pub errno: i32,
    pub message: String,
}

fn fail(message: String) -> Error {
    Error { errno: 0, message }
}

/// A device bound to `rvfio-pci`, open and bound to an iommufd.
pub struct VfioDevice {
    file: File,
    // Held open for the device's binding.
    _iommufd: File,
}

impl VfioDevice {
    /// Opens `/dev/vfio/devices/vfioN` of `bdf` and binds it to a new iommufd.
    pub fn open(bdf: &str) -> Result<Self, Error> {
        let dir = format!("/sys/bus/pci/devices/{bdf}/vfio-dev");
        let cdev = fs::read_dir(&dir)
            .map_err(|err| fail(format!("{dir}: {err} (not bound to a VFIO driver?)")))?
            .filter_map(Result::ok)
            .map(|entry| entry.file_name().to_string_lossy().into_owned())
            .find(|name| name.starts_with("vfio"))
            .ok_or_else(|| fail(format!("{dir}: no VFIO cdev")))?;
        let path = format!("/dev/vfio/devices/{cdev}");
        let rw = |path: &str| {
            OpenOptions::new()
                .read(true)
                .write(true)
                .open(path)
                .map_err(|err| fail(format!("{path}: {err}")))
        };
        let file = rw(&path)?;
        let iommufd = rw("/dev/iommu")?;
        let mut bind = BindIommufd {
            argsz: size_of::<BindIommufd>() as u32,
            flags: 0,
            iommufd: iommufd.as_raw_fd(),
            out_devid: 0,
        };
        vfio_ioctl(
            &file,
            VFIO_DEVICE_BIND_IOMMUFD,
            &mut bind,
            "VFIO_DEVICE_BIND_IOMMUFD",
        )?;
        Ok(Self {
            file,
            _iommufd: iommufd,
        })
    }

    /// Gets the PASID/ATS feature with all its free ranges; a device that is not bound to
    /// `rvfio-pci` answers the probe ENOTTY.
    pub fn feature(&self) -> Result<Feature, Error> {
        let mut probe = [0u32; 2];
        probe[0] = 8;
        probe[1] = VFIO_DEVICE_FEATURE_PROBE
            | VFIO_DEVICE_FEATURE_GET
            | RVFIO_DEVICE_FEATURE_PCI_PASID_ATS;
        vfio_ioctl(&self.file, VFIO_DEVICE_FEATURE, &mut probe, "probe").map_err(|err| {
            if err.errno == ENOTTY {
                fail("no PCI_PASID_ATS feature: the device is not bound to rvfio-pci".into())
            } else {
                err
            }
        })?;
        // First with no room for free ranges, to learn how many there are, then with room
        // for them all: their number does not change while the device is open.
        let mut ranges = 0;
        for _ in 0..2 {
            // The vfio_device_feature header (argsz, flags), then the payload; u32 words keep
            // it aligned. Input fields (flags, reserved) are zero.
            let payload = FIXED_SIZE + ranges * RANGE_SIZE;
            let mut buf = vec![0u32; 2 + payload.div_ceil(4)];
            buf[0] = (8 + payload) as u32;
            buf[1] = VFIO_DEVICE_FEATURE_GET | RVFIO_DEVICE_FEATURE_PCI_PASID_ATS;
            vfio_ioctl(
                &self.file,
                VFIO_DEVICE_FEATURE,
                &mut buf[..],
                "VFIO_DEVICE_FEATURE(GET PCI_PASID_ATS)",
            )?;
            let bytes: Vec<u8> = buf[2..].iter().flat_map(|w| w.to_le_bytes()).collect();
            match Feature::decode(&bytes[..payload]) {
                Some(feature) => return Ok(feature),
                None => ranges = Feature::announced_ranges(&bytes),
            }
        }
        Err(fail(format!(
            "PCI_PASID_ATS: {ranges} free ranges announced, fewer returned"
        )))
    }

    /// The VFIO config region, read a dword at a time as the walks ask.
    pub fn config(&self) -> Result<ConfigRegion<'_>, Error> {
        let mut info = RegionInfo {
            argsz: size_of::<RegionInfo>() as u32,
            flags: 0,
            index: VFIO_PCI_CONFIG_REGION_INDEX,
            cap_offset: 0,
            size: 0,
            offset: 0,
        };
        vfio_ioctl(
            &self.file,
            VFIO_DEVICE_GET_REGION_INFO,
            &mut info,
            "VFIO_DEVICE_GET_REGION_INFO(config)",
        )?;
        Ok(ConfigRegion {
            file: &self.file,
            offset: info.offset,
            size: info.size.min(0x1000) as u16,
            read: RefCell::new(vec![None; 0x400]),
        })
    }
}

/// The config region of an open device. Each dword is read once: a walk and the fingerprint
/// after it see the same bytes, and a device behind vfio-user is asked no more than needed.
pub struct ConfigRegion<'a> {
    file: &'a File,
    offset: u64,
    size: u16,
    read: RefCell<Vec<Option<Option<u32>>>>,
}

impl ConfigSpace for ConfigRegion<'_> {
    fn size(&self) -> u16 {
        self.size
    }

    fn read_dword(&self, offset: u16) -> Option<u32> {
        let slot = usize::from(offset / 4);
        if let Some(known) = self.read.borrow().get(slot).copied().flatten() {
            return known;
        }
        let mut bytes = [0u8; 4];
        let value = self
            .file
            .read_exact_at(&mut bytes, self.offset + u64::from(offset))
            .ok()
            .map(|()| u32::from_le_bytes(bytes));
        if let Some(entry) = self.read.borrow_mut().get_mut(slot) {
            *entry = Some(value);
        }
        value
    }
}
