# Helpers shared by tools/guest and tools/lab: fetching Debian packages into a cache
# outside the repository, and staging files into an initramfs tree.
# shellcheck shell=bash
#
# Cache: ${VIRIDIAN_CACHE:-~/.cache/viridian}. Nothing fetched is ever put in the
# repository. Delete the cache directory to force fresh downloads.
#   kernel/<release>/    the unpacked linux-image-<release> package, depmod'ed
#   deb/<package>/       other unpacked packages (hyperv-daemons)

VIRIDIAN_CACHE=${VIRIDIAN_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/viridian}

img_die() { echo "$(basename "$0"): $*" >&2; exit 1; }

# Prints the kernel release used by the lab and the guest, e.g. 6.1.0-56-cloud-amd64:
# $VIRIDIAN_KERNEL_RELEASE if set, else the newest cloud kernel apt knows (running
# apt-get update once if it knows none).
kernel_release() {
    if [[ -n ${VIRIDIAN_KERNEL_RELEASE:-} ]]; then echo "$VIRIDIAN_KERNEL_RELEASE"; return; fi
    local newest
    newest=$(apt-cache pkgnames linux-image-6.1.0- 2>/dev/null | grep -E -- '^linux-image-6\.1\.0-[0-9]+-cloud-amd64$' \
             | sort -V | tail -n 1)
    if [[ -z $newest ]]; then
        apt-get update -q >&2 || img_die "apt-get update failed"
        newest=$(apt-cache pkgnames linux-image-6.1.0- | grep -E -- '^linux-image-6\.1\.0-[0-9]+-cloud-amd64$' \
                 | sort -V | tail -n 1)
    fi
    [[ -n $newest ]] || img_die "apt knows no linux-image-6.1.0-NN-cloud-amd64 package"
    echo "${newest#linux-image-}"
}

# fetch_deb PACKAGE DIR: downloads PACKAGE with apt-get and unpacks it into DIR, once.
# Concurrent callers (parallel lab runs) wait for each other on a lock in the cache.
fetch_deb() {
    local pkg=$1 dir=$2
    [[ -f $dir/.unpacked ]] && return 0
    mkdir -p "$VIRIDIAN_CACHE"
    exec {lock_fd}>"$VIRIDIAN_CACHE/.lock"
    flock "$lock_fd"
    if [[ -f $dir/.unpacked ]]; then exec {lock_fd}>&-; return 0; fi
    rm -rf "$dir" "$dir.dl"
    mkdir -p "$dir.dl"
    echo "fetching $pkg into $dir" >&2
    (cd "$dir.dl" && apt-get download -q "$pkg" >&2 2>/dev/null) \
        || (cd "$dir.dl" && apt-get download -q "$pkg" >&2) || img_die "apt-get download $pkg failed"
    mkdir -p "$dir"
    dpkg-deb -x "$dir.dl"/*.deb "$dir" || img_die "dpkg-deb -x failed for $pkg"
    rm -rf "$dir.dl"
    touch "$dir/.unpacked"
    exec {lock_fd}>&-
}

# kernel_dir: prints the directory holding the unpacked kernel package (boot/vmlinuz-*,
# lib/modules/<release>/ with modules.dep), fetching it on first use.
kernel_dir() {
    local rel dir
    rel=$(kernel_release) || exit 1
    dir=$VIRIDIAN_CACHE/kernel/$rel
    if [[ ! -f $dir/.depmod ]]; then
        fetch_deb "linux-image-$rel" "$dir"
        # The package ships no modules.dep (its postinst makes it); make one for modprobe.
        exec {lock_fd}>"$VIRIDIAN_CACHE/.lock"
        flock "$lock_fd"
        if [[ ! -f $dir/.depmod ]]; then
            depmod -b "$dir" "$rel" || img_die "depmod failed on $dir"
            touch "$dir/.depmod"
        fi
        exec {lock_fd}>&-
    fi
    echo "$dir"
}

# deb_dir PACKAGE: prints the directory holding PACKAGE unpacked, fetching it once.
deb_dir() {
    local dir=$VIRIDIAN_CACHE/deb/$1
    fetch_deb "$1" "$dir"
    echo "$dir"
}

# stage_busybox ROOT: the static busybox at ROOT/bin/busybox with a link per applet.
stage_busybox() {
    local root=$1 bb=/bin/busybox applet
    [[ -x $bb ]] && ! ldd "$bb" >/dev/null 2>&1 \
        || img_die "$bb is not the static busybox (apt-get install busybox-static)"
    mkdir -p "$root/bin" "$root/sbin" "$root/usr/bin" "$root/usr/sbin"
    cp "$bb" "$root/bin/busybox"
    for applet in $("$bb" --list); do
        [[ -e $root/bin/$applet ]] || ln -s busybox "$root/bin/$applet"
    done
}

# stage_binary ROOT BINARY [DEST]: copies an executable to ROOT/DEST (default: its own
# path) and every shared library ldd names, plus the dynamic loader, at their own paths.
stage_binary() {
    local root=$1 bin=$2 dest=${3:-$2} lib
    mkdir -p "$root/$(dirname "$dest")"
    cp -L "$bin" "$root/$dest"
    for lib in $(ldd "$bin" 2>/dev/null | grep -oE '/[^ ]+' | sort -u); do
        [[ -e $root/$lib ]] && continue
        mkdir -p "$root/$(dirname "$lib")"
        cp -L "$lib" "$root/$lib"
    done
}

# stage_modules ROOT KDIR RELEASE MODULE...: copies MODULEs and everything they depend on
# from the unpacked kernel KDIR into ROOT/lib/modules/RELEASE and makes its modules.dep,
# so busybox modprobe works there.
stage_modules() {
    local root=$1 kdir=$2 rel=$3; shift 3
    local m path
    for m in "$@"; do
        for path in $(modprobe -d "$kdir" -S "$rel" --show-depends "$m" | awk '$1 == "insmod" {print $2}'); do
            path=${path#"$kdir"}
            mkdir -p "$root/$(dirname "$path")"
            cp "$kdir/$path" "$root/$path"
        done
    done
    cp "$kdir/lib/modules/$rel/modules.order" "$kdir/lib/modules/$rel/modules.builtin" \
       "$kdir/lib/modules/$rel/modules.builtin.modinfo" "$root/lib/modules/$rel/" 2>/dev/null
    depmod -b "$root" "$rel" || img_die "depmod failed on $root"
}

# make_cpio ROOT OUT: an uncompressed newc archive of ROOT (uncompressed, because the
# lab and the guest run under emulation, where unpacking is cheap and decompressing is not).
make_cpio() {
    (cd "$1" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc --quiet -R 0:0) > "$2.tmp" \
        || img_die "cpio failed for $1"
    mv "$2.tmp" "$2"
}
