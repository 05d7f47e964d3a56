#!/usr/bin/env bash
# Run a command as root in a VM booted on Debian 12's own kernel (the one
# linux-image-amd64 depends on), with this machine's /usr, /etc, /var and
# this source tree shared read-only over 9p (the guest writes into tmpfs
# overlays, nothing comes back). Prints the command's output and exits
# with its status.
#
#   tools/vm/run.sh [--] COMMAND...     e.g. tools/vm/run.sh uname -r
#
# The kernel package is downloaded (apt-get download), unpacked with
# dpkg-deb -x (never installed) and cached with its initramfs under
# $PG_VM_CACHE (default build/vm). Environment:
#   PG_VM_KERNEL_PKG  kernel package (default: what linux-image-amd64 depends on)
#   PG_VM_ACCEL       auto (KVM if a probe boot works, else TCG), kvm or tcg
#   PG_VM_MEM         guest memory in MiB (default 3072)
#   PG_VM_TIMEOUT     seconds before the VM is killed (default 3600)
set -euo pipefail
cd "$(dirname "$0")/../.."
src=$(pwd)
cache=${PG_VM_CACHE:-build/vm}
mem=${PG_VM_MEM:-3072}
tmo=${PG_VM_TIMEOUT:-3600}
[ "${1:-}" = "--" ] && shift
[ $# -gt 0 ] || { echo "usage: tools/vm/run.sh [--] COMMAND..." >&2; exit 2; }
[ "$(id -u)" -eq 0 ] || { echo "vm: run as root (apt-get download, 9p shares of /etc and /var)" >&2; exit 1; }

# The modules the initramfs loads before it can mount anything.
boot_mods="virtio_pci 9pnet_virtio 9p overlay"

say() { echo "vm: $*" >&2; }

pkg=${PG_VM_KERNEL_PKG:-}
if [ -z "$pkg" ]; then
	dep() { apt-cache depends linux-image-amd64 2>/dev/null |
		awk '$1 == "Depends:" && $2 ~ /^linux-image-[0-9]/ { print $2; exit }'; }
	pkg=$(dep)
	[ -n "$pkg" ] || { apt-get update -qq && pkg=$(dep); }
	[ -n "$pkg" ] || { say "cannot resolve linux-image-amd64's kernel package"; exit 1; }
fi
kdir=$cache/$pkg
mkdir -p "$cache"

# Download and unpack once; depmod so that the guest's modprobe finds veth, sch_*, nft_*.
if [ ! -e "$kdir/.unpacked" ]; then
	say "downloading $pkg"
	rm -rf "$kdir" && mkdir -p "$kdir/deb"
	dl() { (cd "$kdir/deb" && apt-get download -q -o APT::Sandbox::User=root "$pkg" >/dev/null); }
	dl || { apt-get update -qq && dl; } # stale lists: the mirror moved on
	dpkg-deb -x "$kdir"/deb/*.deb "$kdir/root"
	rm -rf "$kdir/deb"
	kver=$(ls "$kdir/root/lib/modules")
	depmod -b "$kdir/root" "$kver"
	touch "$kdir/.unpacked"
fi
kver=$(ls "$kdir/root/lib/modules")
vmlinuz=$kdir/root/boot/vmlinuz-$kver
mods=$kdir/root/lib/modules/$kver

# The initramfs: static busybox, /init, the boot modules in dependency order.
initrd=$kdir/initrd.cpio.gz
if [ ! -e "$initrd" ] || [ tools/vm/init -nt "$initrd" ] || [ tools/vm/run.sh -nt "$initrd" ]; then
	say "building the initramfs for $kver"
	ird=$(mktemp -d)
	trap 'rm -rf "$ird"' EXIT
	mkdir -p "$ird"/{bin,ctl,newroot,proc,sys,dev,mods}
	cp /bin/busybox "$ird/bin/busybox"
	cp tools/vm/init "$ird/init"
	chmod 0755 "$ird/init"
	: >"$ird/modules.order"
	for m in $boot_mods; do
		modprobe -d "$kdir/root" -S "$kver" --show-depends "$m" | awk '$1 == "insmod" { print $2 }'
	done | awk '!seen[$0]++' | while read -r ko; do
		b=$(basename "$ko")
		# Debian 12 ships them uncompressed (busybox insmod takes only those)
		case $b in
		*.ko) cp "$ko" "$ird/mods/$b" ;;
		*) say "unexpected module file $ko"; exit 1 ;;
		esac
		echo "/mods/$b" >>"$ird/modules.order"
	done
	(cd "$ird" && find . | cpio -o -H newc --quiet | gzip -1) >"$initrd.tmp"
	mv "$initrd.tmp" "$initrd"
	rm -rf "$ird"
	trap - EXIT
fi

ctl=$(mktemp -d "${TMPDIR:-/tmp}/pgvm.XXXXXX")
trap 'rm -rf "$ctl"' EXIT
{
	printf 'PG_VM_SRC=%q\nPG_VM_KVER=%q\nPG_VM_HOST=%q\n' "$src" "$kver" "pgvm-$$"
} >"$ctl/env"
printf '%q ' "$@" >"$ctl/cmd"
echo >>"$ctl/cmd"

share() { echo "-virtfs local,path=$1,mount_tag=$2,security_model=none${3:+,$3}"; }

qemu() {
	# shellcheck disable=SC2046
	timeout --foreground -k 10 "$1" qemu-system-x86_64 -nodefaults -no-reboot \
		-display none -monitor none -serial stdio \
		"${@:2}" -m "$mem" -smp "$(nproc)" \
		-kernel "$vmlinuz" -initrd "$initrd" \
		-append "console=ttyS0 quiet loglevel=3 panic=-1 rdinit=/init" \
		$(share /usr usr readonly=on) $(share /etc etc readonly=on) \
		$(share /var var readonly=on) $(share "$src" src readonly=on) \
		$(share "$(realpath "$mods")" mods readonly=on) $(share "$ctl" ctl)
}

# KVM where it boots this kernel (some hosts' nested KVM does not), else TCG.
accel=${PG_VM_ACCEL:-auto}
if [ "$accel" = auto ]; then
	accel=tcg
	probe=$cache/accel-$(uname -r)-$kver
	if [ -e "$probe" ]; then
		accel=$(cat "$probe")
	elif [ -w /dev/kvm ]; then
		printf 'true\n' >"$ctl/cmd.real"
		mv "$ctl/cmd" "$ctl/cmd.keep" && mv "$ctl/cmd.real" "$ctl/cmd"
		if qemu 60 -accel kvm -cpu host </dev/null >/dev/null 2>&1 && [ "$(cat "$ctl/rc" 2>/dev/null)" = 0 ]; then
			accel=kvm
		fi
		rm -f "$ctl/rc" && mv "$ctl/cmd.keep" "$ctl/cmd"
		echo "$accel" >"$probe"
	fi
fi
case $accel in
kvm) aopts=(-accel kvm -cpu host) ;;
tcg) aopts=(-accel tcg,thread=multi -cpu max) ;;
*) say "PG_VM_ACCEL: expected auto, kvm or tcg, not '$accel'"; exit 2 ;;
esac

say "booting $pkg ($kver, $accel)"
qemu "$tmo" "${aopts[@]}" </dev/null | sed -u 's/\r$//' || true
if [ ! -e "$ctl/rc" ]; then
	say "the VM ended without an exit status (kernel panic, timeout after ${tmo}s, or qemu failed)"
	exit 1
fi
exit "$(cat "$ctl/rc")"
