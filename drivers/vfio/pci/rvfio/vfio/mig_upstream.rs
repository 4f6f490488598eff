// SPDX-License-Identifier: GPL-2.0

//! A KUnit cross-check of the pure state machine against the running kernel's own: the path
//! [`next_step`] takes must be the one `vfio_mig_get_next_state` gives, for every pair of
//! states and every set of migration features. The pure tests check `next_step` against
//! upstream's table as written; this checks it against the table the kernel was built with.

#[kernel::prelude::kunit_tests(rvfio_pci_mig_upstream)]
mod tests {
    use kernel::prelude::*;

    use crate::migration::state::{next_step, Features, MigState};
    use crate::vfio::bindings as vfio;

    #[test]
    fn next_step_is_the_kernels_next_state() {
        let sets = [
            Features::STOP_COPY,
            Features::STOP_COPY.with(Features::P2P),
            Features::STOP_COPY.with(Features::PRE_COPY),
            Features::STOP_COPY
                .with(Features::P2P)
                .with(Features::PRE_COPY),
        ];
        // `vfio_mig_get_next_state` reads only `migration_flags` of the device.
        let mut device = KBox::<vfio::vfio_device>::new_uninit(GFP_KERNEL).unwrap();
        // SAFETY: A zeroed `vfio_device` is valid plain data for a function that reads one
        // field of it.
        let mut device = unsafe {
            device.as_mut_ptr().write_bytes(0, 1);
            device.assume_init()
        };
        let mut checked = 0;
        for features in sets {
            device.migration_flags = features.bits();
            // The kernel warns about a current state the device lacks, as it never should
            // be in one; those are not asked.
            for current in MigState::ALL.into_iter().filter(|s| features.has(*s)) {
                for target in MigState::ALL {
                    let mut next: vfio::vfio_device_mig_state = 0;
                    // SAFETY: `device` is a valid `vfio_device`, `next` a valid place.
                    let ret = unsafe {
                        vfio::vfio_mig_get_next_state(
                            &mut *device,
                            current as vfio::vfio_device_mig_state,
                            target as vfio::vfio_device_mig_state,
                            &mut next,
                        )
                    };
                    match next_step(current, target, features) {
                        Ok(step) => {
                            assert_eq!(ret, 0);
                            assert_eq!(next, step as vfio::vfio_device_mig_state);
                        }
                        Err(_) => assert_eq!(ret, EINVAL.to_errno()),
                    }
                    checked += 1;
                }
            }
        }
        // 4 states without optional features, 5 with P2P, 5 with pre-copy, 7 with both,
        // each toward every one of the 8 states (ERROR included).
        assert_eq!(checked, (4 + 5 + 5 + 7) * 8);
    }
}
