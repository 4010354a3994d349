"""The small init every guest can run, and the per-host runtime layer that carries it.

The runtime layer is a directory used as the top-most (read-only) overlay lower layer of every guest.
It only adds ``/.onestack/``: a copy of the host's static busybox, its applet links and ``init``. A
rootfs without ``/sbin/init`` boots with ``/.onestack/busybox sh /.onestack/init``; the busybox test
image ships the same script as its ``/sbin/init``.

What the init does, like a tiny cloud-init reading a config drive mounted at ``/mnt/config``
(``openstack/latest/{meta_data.json,user_data,network_data.json}`` for real cloud-init, plus flat
files under ``onestack/`` that a shell can read): mounts /proc, /run, /tmp; sets the hostname;
installs the SSH key for root; starts the image's SSH server (dropbear: key logins only, host keys made
at the first login) unless the image's /etc/rc.local starts what it needs; configures each NIC (static
address or DHCP with udhcpc, the script itself acting as udhcpc's hook); runs ``user_data`` when it is a
script; prints markers on the console (``onestack-init: ready``); on SIGTERM/SIGPWR/SIGINT/SIGUSR2 stops
every process and exits.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from .errors import ContainerError

INIT_SCRIPT = r"""#!/bin/sh
# onestack guest init (pid 1), and its own udhcpc hook when called as "init bound|renew|deconfig"
PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/.onestack/bin
export PATH
# a link is up (IFF_UP in its flags, read by the shell: no process)
isup() { read -r f 2>/dev/null < "/sys/class/net/$1/flags" && [ $((f & 1)) = 1 ]; }
# what a lease gave a NIC, recorded for the next hook call: an empty record (the init makes one per NIC it
# runs DHCP on) means nothing to undo; without one (a NIC hot-plugged later) the hook flushes, to be sure,
# and keeps no record
L=/run/onestack-lease.$interface
case "$1" in
deconfig)
  old=""; [ -e $L ] && read -r old < $L
  { [ ! -e $L ] || [ -n "$old" ]; } && ip -4 addr flush dev "$interface"
  [ -e $L ] && : > $L
  isup "$interface" || ip link set "$interface" up
  exit 0 ;;
bound|renew)
  old=""; [ -e $L ] && read -r old < $L
  if [ "$old" != "$ip/${mask:-24}" ]; then
    { [ ! -e $L ] || [ -n "$old" ]; } && ip -4 addr flush dev "$interface"
    ip addr add "$ip/${mask:-24}" dev "$interface"
    [ -e $L ] && echo "$ip/${mask:-24}" > $L
  fi
  # a route (the default one too) stays with the lowest-numbered NIC that has it: a NIC hot-plugged later,
  # or leased later at boot, does not take the default route (and the floating IP's replies) away from eth0
  # (which always has it: no lookup)
  route() {
    if [ "$interface" != eth0 ]; then
      cur=""; set -- "$1" "$2" $(ip route show exact "$1" 2>/dev/null)
      dst=$1 via=$2; shift 2
      while [ $# -gt 1 ]; do [ "$1" = dev ] && { cur=$2; break; }; shift; done
      set -- "$dst" "$via"
      n=${interface#eth}; c=${cur#eth}
      [ -z "$cur" ] || [ "$cur" = "$interface" ] || { [ "$n" -lt "$c" ] 2>/dev/null; } || return 0
    fi
    ip route replace "$1" via "$2" dev "$interface"
  }
  if [ -n "$staticroutes" ]; then
    set -- $staticroutes
    while [ $# -ge 2 ]; do route "$1" "$2"; shift 2; done
  elif [ -n "$router" ]; then
    for r in $router; do route 0.0.0.0/0 "$r"; break; done
  fi
  [ -n "$dns" ] && { for d in $dns; do echo "nameserver $d"; done > /etc/resolv.conf; }
  # announce the address: a router still caching the MAC of a deleted server that had this IP would
  # otherwise keep sending there until its neighbour entry expires (up to ~30 s)
  arping -U -c 1 -I "$interface" "$ip" >/dev/null 2>&1 &
  echo "onestack-init: dhcp $interface $ip/${mask:-24}" > /dev/console
  exit 0 ;;
?*) exit 0 ;;  # leasefail, nak...: udhcpc keeps trying; never fall through into a second init
esac
exec </dev/null >/dev/console 2>&1
say() { echo "onestack-init: $*"; }
stop() { say "stopping"; kill -TERM -1 2>/dev/null; exit 0; }
trap stop TERM INT USR2 PWR
say "starting"
# shell builtins where they do (read, echo, case, redirections): every other command is a process, and a
# boot's processes are most of the guest's CPU before it answers on the network
copy() { while IFS= read -r l || [ -n "$l" ]; do printf '%s\n' "$l"; done < "$1" > "$2"; }
[ -e /proc/self ] || mount -t proc proc /proc
# /run and /tmp: tmpfs, mounted by the container runtime when it says so, else here (no other mount is there:
# the shell's read of /proc/mounts to check was one byte per system call, ~3,500 of them)
if [ -z "$ONESTACK_TMPFS" ]; then
  for d in /run /tmp; do
    [ -d $d ] || mkdir -p $d; mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs $d
  done
fi
unset ONESTACK_TMPFS
C=/mnt/config/onestack
[ -s $C/resolv.conf ] && copy $C/resolv.conf /etc/resolv.conf  # before DHCP's, which wins
isup lo || ip link set lo up 2>/dev/null  # LXC brings lo (and each NIC) up
if [ -r $C/net ]; then
  while read ifname mac mode addr gw; do
    dev=$ifname
    for n in /sys/class/net/*; do
      read -r a 2>/dev/null < $n/address && [ "$a" = "$mac" ] && dev=${n##*/}
    done
    isup "$dev" || ip link set "$dev" up
    if [ "$mode" = static ]; then
      ip addr add "$addr" dev "$dev" 2>/dev/null
      [ -n "$gw" ] && [ "$gw" != "-" ] && ip route replace default via "$gw" dev "$dev"
      say "static $dev $addr"
    else
      : > /run/onestack-lease.$dev
      udhcpc -f -T 1 -t 5 -A 2 -O staticroutes -i "$dev" -s "$0" >/dev/null 2>&1 &
    fi
  done < $C/net
fi
# the network first (DHCP has round trips to wait for), then what runs meanwhile
read -r host < /proc/sys/kernel/hostname
if [ -s $C/hostname ]; then
  read -r want < $C/hostname
  [ "$want" = "$host" ] || hostname "$want"
  host=$want
  echo "$host" > /etc/hostname 2>/dev/null
fi
say "hostname $host"
if [ -s $C/authorized_keys ]; then
  umask 077
  [ -d /root/.ssh ] || mkdir -p /root/.ssh
  copy $C/authorized_keys /root/.ssh/authorized_keys
  umask 022
  say "ssh key installed for root"
fi
if [ -x /usr/sbin/dropbear ] && [ ! -x /etc/rc.local ]; then  # an image with an rc.local starts its own
  [ -d /etc/dropbear ] || mkdir -p /etc/dropbear
  dropbear -R -s -p 22 && say "sshd: dropbear on port 22"
fi
U=/mnt/config/openstack/latest/user_data
first=""; [ -s $U ] && read -r -n 2 first < $U  # its first two bytes, not a whole (maybe long) line
if [ "${first#\#!}" != "$first" ]; then
  cp $U /run/user-data && chmod 700 /run/user-data
  ( /run/user-data; say "user_data exited $?" ) &
fi
[ -x /etc/rc.local ] && /etc/rc.local &
say "ready"
# idle: wait for the children (udhcpc runs for good), a sleep only when there are none (a trapped signal ends
# either wait); the DHCP client is the usual child, so no sleep process runs
while :; do wait; sleep 3600 & wait $!; done
"""

INIT_HEADER = b"#!/bin/sh\n# onestack guest init"
"""How every version of the init script starts: the runtime recognises an image's /sbin/init by it."""
RUNTIME_DIR = ".onestack"


def _version() -> str:
    busybox = shutil.which("busybox") or "/bin/busybox"
    h = hashlib.sha256(INIT_SCRIPT.encode())
    h.update(str(os.stat(busybox).st_mtime_ns).encode())
    return h.hexdigest()[:16]


def ensure_runtime_layer(parent: Path) -> Path:
    """The runtime layer directory under ``parent`` (built once per host and init version)."""
    layer = parent / f"runtime-{_version()}"
    if (layer / RUNTIME_DIR / "init").exists():
        return layer
    parent.mkdir(parents=True, exist_ok=True)
    busybox = shutil.which("busybox") or "/bin/busybox"
    r = subprocess.run([busybox, "--list"], capture_output=True, text=True)
    if r.returncode != 0 or "sh" not in r.stdout.split():
        raise ContainerError("busybox (Debian busybox-static) is needed for the guest init")
    tmp = Path(tempfile.mkdtemp(prefix=".runtime-", dir=parent))
    base = tmp / RUNTIME_DIR
    (base / "bin").mkdir(parents=True)
    shutil.copy2(busybox, base / "busybox")
    for applet in r.stdout.split():
        if "/" not in applet:
            os.symlink(f"/{RUNTIME_DIR}/busybox", base / "bin" / applet)
    (base / "init").write_text(INIT_SCRIPT)
    (base / "init").chmod(0o755)
    os.chmod(tmp, 0o755)
    try:
        tmp.rename(layer)
    except OSError:  # built concurrently by another worker
        shutil.rmtree(tmp)
    return layer


BUILTIN_INIT = (f"/{RUNTIME_DIR}/busybox", "sh", f"/{RUNTIME_DIR}/init")
