"""The QEMU guest driver (``driver.QemuGuestDriver``) and the small modules it is built on: ``accel``
(KVM or TCG, by a real boot probe), ``cmdline`` (the QEMU command line of a persisted ``VmSpec``),
``qmp`` (a synchronous QMP client), ``process`` (daemonized QEMU found again by pidfile), ``disks``
(qemu-img overlays, snapshots, the config drive ISO), ``vif`` (tap devices) and ``vmimage`` (the
kernel + initramfs + root disk test image)."""
