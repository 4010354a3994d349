"""The container guest driver (LXC system containers) and its runtime library.

``driver.ContainerGuestDriver`` implements ``drivers.base.GuestDriver``; the other modules are the runtime
it is built on and do not depend on the compute package: ``rootfs`` (untrusted image content),
``imagecache``, ``overlay``, ``cgroups``, ``guestinit``, ``runtime`` and ``imagebuild``.
"""
