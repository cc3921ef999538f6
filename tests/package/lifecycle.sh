#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# The Debian package's life on this machine: build it with cpack (version A), lint it,
# install it with dpkg, check what it put where, run it, edit the conffile, upgrade to a
# higher version B, check the edit survived, purge, and check nothing is left.
#
#   tests/package/lifecycle.sh BUILD_DIR
#
# It installs into the running system (a CI machine is disposable) and always purges at the
# end, also on failure. Needs root, dpkg and cpack; skips (77) without root only when CI is
# unset, fails under CI=true.
set -euo pipefail

build=${1:?usage: lifecycle.sh BUILD_DIR}
build=$(cd "$build" && pwd)
pkg=mxwatch
unit=/lib/systemd/system/mxwatch.service
conf=/etc/mxwatch/mxwatch.toml

say() { printf 'lifecycle: %s\n' "$*"; }
fail() {
	printf 'lifecycle: FAIL: %s\n' "$*" >&2
	exit 1
}
cannot_run() {
	if [[ "${CI:-}" == true ]]; then
		fail "$1 (CI=true: this test must run)"
	fi
	printf 'lifecycle: SKIP: %s\n' "$1"
	exit 77
}

[[ $(id -u) -eq 0 ]] || cannot_run "needs root (it installs and purges the package with dpkg)"
for tool in dpkg dpkg-deb cpack; do
	command -v "$tool" >/dev/null || cannot_run "$tool not found (scripts/install-deps.sh installs it)"
done
[[ -f "$build/CPackConfig.cmake" ]] || fail "$build/CPackConfig.cmake missing: configure the build first"
if dpkg-query -W -f='${db:Status-Abbrev}' "$pkg" 2>/dev/null | grep -q '^.i'; then
	fail "$pkg is already installed on this machine; this test would replace and purge it"
fi

work=$(mktemp -d /tmp/mxwatch-lifecycle.XXXXXX)
cleanup() {
	local status=$?
	if dpkg-query -W "$pkg" >/dev/null 2>&1; then
		dpkg_retry --purge "$pkg" >/dev/null 2>&1 || echo "lifecycle: cleanup: dpkg --purge $pkg failed" >&2
	fi
	rm -rf "$work"
	exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Other sessions may run apt at the same moment; dpkg does not wait for its lock by itself.
dpkg_retry() {
	local attempt
	for attempt in $(seq 60); do
		if dpkg "$@" </dev/null 2>"$work/dpkg.err"; then
			cat "$work/dpkg.err" >&2
			return 0
		fi
		if ! grep -q 'lock' "$work/dpkg.err"; then
			cat "$work/dpkg.err" >&2
			return 1
		fi
		sleep 5
	done
	cat "$work/dpkg.err" >&2
	return 1
}

make_deb() { # DIR [cpack -D ...]: prints the path of the .deb
	local dir=$1
	shift
	cpack -G DEB --config "$build/CPackConfig.cmake" -B "$dir" "$@" >"$dir.log" 2>&1 ||
		{ cat "$dir.log" >&2; fail "cpack failed"; }
	local debs=("$dir"/*.deb)
	[[ ${#debs[@]} -eq 1 && -f "${debs[0]}" ]] || fail "cpack made no single .deb in $dir"
	echo "${debs[0]}"
}

installed_version() { dpkg-query -W -f='${Version}' "$pkg"; }
must_exist() { for f in "$@"; do [[ -e "$f" ]] || fail "$f missing"; done; }
must_be_gone() { for f in "$@"; do [[ ! -e "$f" && ! -L "$f" ]] || fail "$f left behind"; done; }

start=$SECONDS

# --- Version A: build, inspect, lint -------------------------------------------------------
deb_a=$(make_deb "$work/a")
version_a=$(dpkg-deb -f "$deb_a" Version)
version_b="$version_a+lifecycle1"
say "built $(basename "$deb_a") (version $version_a)"

dpkg --compare-versions "$version_b" gt "$version_a" || fail "$version_b does not sort after $version_a"
depends=$(dpkg-deb -f "$deb_a" Depends)
for lib in libc6 libbpf1 libsystemd0 libssl3; do
	[[ "$depends" == *"$lib"* ]] || fail "Depends lacks $lib (dpkg-shlibdeps): $depends"
done
dpkg-deb -I "$deb_a" conffiles | grep -qx "$conf" || fail "$conf is not a conffile"
contents=$(dpkg-deb -c "$deb_a")
for path in ./usr/sbin/mxwatch ".$unit" ".$conf" ./usr/share/man/man8/mxwatch.8.gz \
	./usr/share/doc/mxwatch/copyright; do
	grep -q " $path\$" <<<"$contents" || fail "$path not in the package"
done
grep -qE ' ./usr/share/doc/mxwatch/changelog(\.Debian)?\.gz$' <<<"$contents" || fail "no changelog in the package"
if command -v lintian >/dev/null; then
	# Errors fail the test; warnings and info are printed for the record.
	lintian --fail-on error "$deb_a" ||
		fail "lintian found errors"
	say "lintian: no errors"
elif [[ "${CI:-}" == true ]]; then
	fail "lintian not found (scripts/install-deps.sh installs it)"
fi

# --- Install A -------------------------------------------------------------------------------
dpkg_retry -i "$deb_a" || fail "dpkg -i $deb_a failed"
[[ $(installed_version) == "$version_a" ]] || fail "installed version is not $version_a"
must_exist /usr/sbin/mxwatch "$unit" "$conf" /usr/share/man/man8/mxwatch.8.gz \
	/usr/share/doc/mxwatch/copyright
[[ -x /usr/sbin/mxwatch ]] || fail "/usr/sbin/mxwatch is not executable"
dpkg-query -W -f='${Conffiles}\n' "$pkg" | grep -q "^ $conf " || fail "dpkg does not list $conf as a conffile"
# Enabled even though no systemd manager runs here (deb-systemd-helper writes the symlink).
[[ -L /etc/systemd/system/multi-user.target.wants/mxwatch.service ]] ||
	fail "postinst did not enable mxwatch.service"
zcat /usr/share/man/man8/mxwatch.8.gz | grep -q '^\.TH MXWATCH 8' || fail "man page is not mxwatch(8)"
man -l /usr/share/man/man8/mxwatch.8.gz 2>&1 | grep -q 'cryptominers' || fail "man -l cannot render mxwatch.8.gz"
if command -v systemd-analyze >/dev/null; then
	verify=$(systemd-analyze verify "$unit" 2>&1) || fail "systemd-analyze verify: $verify"
	[[ -z "$verify" ]] || fail "systemd-analyze verify is not clean: $verify"
	say "systemd-analyze verify $unit: clean"
fi

/usr/sbin/mxwatch version | grep -q "^mxwatch " || fail "mxwatch version"
/usr/sbin/mxwatch doctor || fail "mxwatch doctor failed on this host"
say "installed $version_a: files, conffile, man page, unit enabled, version and doctor OK"

# --- Edit the conffile, upgrade to B ---------------------------------------------------------
edit="# edited by the lifecycle test $$"
echo "$edit" >>"$conf"
deb_b=$(make_deb "$work/b" -D CPACK_DEBIAN_PACKAGE_VERSION="$version_b")
[[ $(dpkg-deb -f "$deb_b" Version) == "$version_b" ]] || fail "cpack -D did not set version $version_b"
# A changed conffile is a question only when the package's copy changed too; never ask.
dpkg_retry -i --force-confdef --force-confold "$deb_b" || fail "upgrade to $version_b failed"
[[ $(installed_version) == "$version_b" ]] || fail "installed version is not $version_b after the upgrade"
grep -qxF "$edit" "$conf" || fail "the upgrade lost the edit of $conf"
must_be_gone "$conf.dpkg-new" "$conf.dpkg-dist"
[[ -L /etc/systemd/system/multi-user.target.wants/mxwatch.service ]] || fail "upgrade disabled the unit"
/usr/sbin/mxwatch version >/dev/null || fail "mxwatch version after the upgrade"
say "upgraded to $version_b: the edit of $conf was kept"

# --- Purge -----------------------------------------------------------------------------------
mkdir -p /var/lib/mxwatch /var/log/mxwatch
touch /var/log/mxwatch/alerts.json
dpkg_retry --purge "$pkg" || fail "dpkg --purge failed"
if dpkg -s "$pkg" >/dev/null 2>&1; then
	fail "dpkg still knows $pkg after purge: $(dpkg-query -W -f='${db:Status-Abbrev}' "$pkg")"
fi
must_be_gone /etc/mxwatch /usr/sbin/mxwatch "$unit" /usr/share/man/man8/mxwatch.8.gz \
	/usr/share/doc/mxwatch /var/lib/mxwatch /var/log/mxwatch \
	/etc/systemd/system/multi-user.target.wants/mxwatch.service \
	/etc/systemd/system/mxwatch.service \
	/var/lib/systemd/deb-systemd-helper-enabled/mxwatch.service.dsh-also \
	/var/lib/systemd/deb-systemd-helper-masked/mxwatch.service
say "purged: nothing left"
say "PASS in $((SECONDS - start)) s"
