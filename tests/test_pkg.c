// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The Debian package as an operator gets it: `make deb` builds it with
 * dpkg-buildpackage, lintian finds no error or warning, `dpkg -i` installs
 * it on this machine, then: `portgate --version` is the VERSION file,
 * `man -w portgate` finds the page, bash-completion loads the completion
 * and completes, the configuration is a conffile, the units pass
 * `systemd-analyze verify` and the timer is enabled; `dpkg --purge`
 * leaves nothing behind (no file of the package, no /etc/portgate, no
 * unit enablement).
 *
 * dpkg runs while this process holds dpkg's frontend lock (fcntl, as apt
 * takes it; DPKG_FRONTEND_LOCKED tells dpkg so): an apt-get of another
 * process is waited for, never raced. If portgate is already installed
 * here (package or /usr/sbin/portgate), the test is skipped rather than
 * replace it.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testlib.h"

#define BIG (256 * 1024)

static char deb[256], version[64], pin[64];
static int lock_fd = -1;
static bool installed;

static void dpkg_lock(void)
{
	struct flock l = {.l_type = F_WRLCK, .l_whence = SEEK_SET};

	lock_fd = open("/var/lib/dpkg/lock-frontend", O_RDWR | O_CREAT | O_CLOEXEC, 0640);
	cr_assert(lock_fd >= 0, "open dpkg lock: %s", strerror(errno));
	while (fcntl(lock_fd, F_SETLKW, &l) && errno == EINTR)
		;
}

static void dpkg_unlock(void)
{
	if (lock_fd >= 0)
		close(lock_fd); /* releases the fcntl lock */
	lock_fd = -1;
}

static void setup(void)
{
	snprintf(pin, sizeof(pin), "/sys/fs/bpf/pgpkg%d", getpid());
	cr_assert_eq(tl_sh(version, sizeof(version), "cat VERSION"), 0);
	version[strcspn(version, "\n")] = '\0';
	cr_assert_eq(tl_sh(deb, sizeof(deb),
			   "printf build/portgate_%s_%%s.deb "
			   "$(dpkg --print-architecture)",
			   version),
		     0);
}

static void teardown(void)
{
	tl_sh(NULL, 0, "rm -rf %s", pin);
	if (installed) {
		dpkg_lock();
		tl_sh(NULL, 0, "DPKG_FRONTEND_LOCKED=1 dpkg --purge portgate >/dev/null 2>&1");
		installed = false;
	}
	dpkg_unlock();
}

TestSuite(pkg, .init = setup, .fini = teardown);

/* Files and links of the package (dpkg -c), without directories, into out. */
static void package_files(char *out, size_t cap)
{
	cr_assert_eq(
		tl_sh(out, cap, "dpkg -c %s | awk '$1 !~ /^d/ { print $6 }' | sed 's|^\\.||'", deb),
		0);
}

Test(pkg, build_install_use_purge, .timeout = 900)
{
	static char out[BIG], files[BIG];
	char *f, *save;
	int bad = 0;

	if (!tl_sh(NULL, 0,
		   "dpkg-query -W -f '${Status}' portgate 2>/dev/null | "
		   "grep -q 'install ok installed'") ||
	    !access("/usr/sbin/portgate", F_OK))
		cr_skip_test("portgate is already installed on this machine: not replaced");

	cr_assert_eq(tl_sh(out, sizeof(out), "make --no-print-directory deb 2>&1"), 0,
		     "make deb failed:\n%s", out);
	cr_assert_eq(access(deb, R_OK), 0, "make deb made no %s", deb);

	/* what it declares and holds */
	cr_assert_eq(tl_sh(out, sizeof(out), "dpkg-deb -f %s Version Depends", deb), 0);
	cr_assert(strstr(out, version) && strstr(out, "libbpf1"), "control: %s", out);
	package_files(files, sizeof(files));
	for (f = "/usr/sbin/portgate\n/usr/share/man/man8/portgate.8.gz\n"
		 "/usr/share/bash-completion/completions/portgate\n/etc/portgate/portgate.conf\n"
		 "/lib/systemd/system/portgate-metrics.service\n"
		 "/lib/systemd/system/portgate-metrics.timer\n"
		 "/lib/systemd/system/portgate.service\n"
		 "/usr/share/doc/portgate/examples/portgate.rules.yml\n";
	     *f; f = strchr(f, '\n') + 1) {
		char want[128];

		snprintf(want, sizeof(want), "%.*s", (int)strcspn(f, "\n"), f);
		if (!strstr(files, want)) {
			cr_log_error("the package has no %s", want);
			bad++;
		}
	}
	cr_assert_eq(bad, 0, "package contents:\n%s", files);

	/* lintian: no error, no warning */
	cr_assert_eq(tl_sh(out, sizeof(out), "lintian --fail-on error,warning %s 2>&1", deb), 0,
		     "lintian:\n%s", out);

	dpkg_lock();
	installed = true;
	cr_assert_eq(tl_sh(out, sizeof(out), "DPKG_FRONTEND_LOCKED=1 dpkg -i %s 2>&1", deb), 0,
		     "dpkg -i:\n%s", out);

	cr_assert_eq(
		tl_sh(out, sizeof(out), "PATH=/usr/sbin:/usr/bin:/sbin:/bin portgate --version"),
		0);
	cr_assert_eq(tl_sh(NULL, 0, "command -v portgate | grep -qx /usr/sbin/portgate"), 0);
	out[strcspn(out, "\n")] = '\0';
	cr_assert_str_eq(out + (strncmp(out, "portgate ", 9) ? 0 : 9), version,
			 "installed --version: '%s'", out);

	cr_assert_eq(tl_sh(out, sizeof(out), "man -w portgate"), 0, "man -w portgate failed");
	cr_assert_str_eq(out, "/usr/share/man/man8/portgate.8.gz\n");
	cr_assert_eq(tl_sh(out, sizeof(out), "MANWIDTH=120 man -P cat portgate 2>/dev/null"), 0);
	cr_assert(strstr(out, "EXIT STATUS") && strstr(out, "metrics"), "man portgate: %.400s",
		  out);

	/* bash-completion finds it by name, and it completes */
	cr_assert_eq(tl_sh(out, sizeof(out),
			   "bash -c '. /usr/share/bash-completion/bash_completion && "
			   "_completion_loader portgate; complete -p portgate && "
			   "COMP_WORDS=(portgate sta) COMP_CWORD=1 && _portgate && "
			   "echo \"${COMPREPLY[*]}\"'"),
		     0, "completion did not load: %s", out);
	cr_assert(strstr(out, "complete -F _portgate portgate") && strstr(out, "stats") &&
			  strstr(out, "status"),
		  "completion: %s", out);

	/* the configuration is a conffile; the units are valid, the timer enabled */
	cr_assert_eq(tl_sh(out, sizeof(out), "dpkg-query -W -f '${Conffiles}' portgate"), 0);
	cr_assert(strstr(out, "/etc/portgate/portgate.conf"), "conffiles: %s", out);
	cr_assert_eq(tl_sh(out, sizeof(out),
			   "systemd-analyze verify /lib/systemd/system/portgate-metrics.service "
			   "/lib/systemd/system/portgate-metrics.timer "
			   "/lib/systemd/system/portgate.service 2>&1"),
		     0, "systemd-analyze verify: %s", out);
	cr_assert_eq(access("/etc/systemd/system/timers.target.wants/portgate-metrics.timer", F_OK),
		     0, "portgate-metrics.timer is not enabled");

	/* the installed binary runs: state, metrics, gone */
	cr_assert_eq(tl_sh(out, sizeof(out),
			   "/usr/sbin/portgate --pin-path %s defaults && "
			   "/usr/sbin/portgate --pin-path %s metrics 2>&1",
			   pin, pin),
		     0, "%s", out);
	cr_assert(strstr(out, "portgate_loaded 1"), "%s", out);

	cr_assert_eq(tl_sh(out, sizeof(out), "DPKG_FRONTEND_LOCKED=1 dpkg --purge portgate 2>&1"),
		     0, "dpkg --purge:\n%s", out);
	installed = false;
	dpkg_unlock();

	/* nothing left: no file of the package, no enablement, no dpkg record */
	for (f = strtok_r(files, "\n", &save); f; f = strtok_r(NULL, "\n", &save))
		if (!access(f, F_OK)) {
			cr_log_error("left after purge: %s", f);
			bad++;
		}
	cr_assert_eq(tl_sh(out, sizeof(out),
			   "find /etc /lib/systemd /usr/sbin /usr/share /var/lib/systemd "
			   "/var/lib/dpkg/info -name '*portgate*' 2>/dev/null"),
		     0);
	cr_assert_str_empty(out, "left after purge:\n%s", out);
	cr_assert_neq(tl_sh(NULL, 0, "dpkg -s portgate >/dev/null 2>&1"), 0,
		      "dpkg still knows portgate");
	cr_assert_eq(bad, 0);
}
