// The C stage of capsa-runtime: it runs from an ELF constructor, before the
// Go runtime has started any thread, and does what a multithreaded process
// cannot: join an existing user or mount namespace (setns(2) refuses both to
// a process with more than one thread) and become a child in a joined PID or
// time namespace. See nsenter.go for the protocol.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif
#ifndef CLONE_NEWCGROUP
#define CLONE_NEWCGROUP 0x02000000
#endif

#define MAX_NS 16

struct ns {
	int type; // CLONE_NEW* flag
	int fd;
	char path[4096];
};

static int sync_fd = -1;

// bail reports an error to the parent as a JSON message on the sync socket
// and exits. The message names the operation and the namespace path.
static void bail(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
static void bail(const char *fmt, ...)
{
	char msg[1024], out[1400];
	int err = errno;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	// Escape for JSON: the message holds paths from config.json.
	char esc[1200];
	size_t j = 0;
	for (size_t i = 0; msg[i] && j < sizeof(esc) - 8; i++) {
		unsigned char c = msg[i];
		if (c == '"' || c == '\\') {
			esc[j++] = '\\';
			esc[j++] = c;
		} else if (c < 0x20) {
			j += snprintf(esc + j, sizeof(esc) - j, "\\u%04x", c);
		} else {
			esc[j++] = c;
		}
	}
	esc[j] = 0;
	int n = snprintf(out, sizeof(out), "{\"type\":\"error\",\"error\":{\"msg\":\"%s: %s\"}}", esc, strerror(err));
	if (sync_fd >= 0 && n > 0)
		(void)!write(sync_fd, out, (size_t)n);
	else
		fprintf(stderr, "capsa-runtime nsenter: %s: %s\n", msg, strerror(err));
	_exit(1);
}

static int ns_flag(const char *name)
{
	static const struct {
		const char *name;
		int flag;
	} table[] = {
		{"user", CLONE_NEWUSER}, {"ipc", CLONE_NEWIPC},   {"uts", CLONE_NEWUTS},
		{"network", CLONE_NEWNET}, {"pid", CLONE_NEWPID}, {"cgroup", CLONE_NEWCGROUP},
		{"time", CLONE_NEWTIME}, {"mount", CLONE_NEWNS},
	};
	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
		if (!strcmp(table[i].name, name))
			return table[i].flag;
	return 0;
}

// send_msg writes one message and, if want_ack, waits for the parent's
// one-byte acknowledgement.
static void send_msg(const char *msg, int want_ack)
{
	if (write(sync_fd, msg, strlen(msg)) < 0)
		bail("nsenter: write to parent");
	if (want_ack) {
		char ack[64];
		ssize_t n = read(sync_fd, ack, sizeof(ack));
		if (n <= 0)
			bail("nsenter: wait for parent");
	}
}

// capsa_nsenter reads its orders from the environment:
//   _CAPSA_NSENTER_JOIN   lines "type path": namespaces to join, in order
//   _CAPSA_NSENTER_NEW    hex CLONE_NEW* flags of namespaces to create
//   _CAPSA_INIT_FD        the sync socket to the parent
//   _CAPSA_CGROUP_TASKS   lines: v1 cgroup "tasks" files to enter first
// and leaves the process (or its CLONE_PARENT child) in the requested
// namespaces. With neither variable set it does nothing.
__attribute__((constructor)) static void capsa_nsenter(void)
{
	const char *join = getenv("_CAPSA_NSENTER_JOIN");
	const char *newstr = getenv("_CAPSA_NSENTER_NEW");
	const char *fdstr = getenv("_CAPSA_INIT_FD");
	if (!fdstr)
		return;
	sync_fd = atoi(fdstr);

	// The init and exec processes hold host file descriptors and run the
	// host's runtime binary until they exec: no process in the container may
	// ptrace them or open their /proc entries (CVE-2016-9962).
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
		bail("nsenter: prctl(PR_SET_DUMPABLE)");

	// Enter the container's v1 cgroups by writing "0" (this thread) to
	// each hierarchy's tasks file, while the process is single-threaded
	// and still sees the host's mounts: moving oneself, one thread, skips
	// the kernel's global threadgroup lock that a move by pid takes (an
	// RCU grace period, ~10-20 ms here). Failures are left to the parent,
	// which checks /proc/PID/cgroup and moves what is not in place.
	const char *tasks = getenv("_CAPSA_CGROUP_TASKS");
	if (tasks) {
		char *buf = strdup(tasks);
		char *save = NULL;
		for (char *p = buf ? strtok_r(buf, "\n", &save) : NULL; p; p = strtok_r(NULL, "\n", &save)) {
			int fd = open(p, O_WRONLY | O_CLOEXEC);
			if (fd >= 0) {
				(void)!write(fd, "0", 1);
				close(fd);
			}
		}
		free(buf);
		send_msg("{\"type\":\"cgroup\"}", 0);
	}

	if (!join && !newstr)
		return;

	struct ns list[MAX_NS];
	int n = 0, joined = 0;
	if (join) {
		char *buf = strdup(join);
		char *save = NULL;
		for (char *line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
			char *sp = strchr(line, ' ');
			if (!sp || n == MAX_NS) {
				errno = EINVAL;
				bail("nsenter: malformed namespace list");
			}
			*sp = 0;
			list[n].type = ns_flag(line);
			if (!list[n].type) {
				errno = EINVAL;
				bail("nsenter: unknown namespace type %s", line);
			}
			snprintf(list[n].path, sizeof(list[n].path), "%s", sp + 1);
			// Open every file before joining any namespace: after setns
			// into a mount namespace the paths would resolve elsewhere.
			list[n].fd = open(list[n].path, O_RDONLY | O_CLOEXEC);
			if (list[n].fd < 0)
				bail("open %s namespace %s", line, list[n].path);
			joined |= list[n].type;
			n++;
		}
		free(buf);
	}
	int newflags = newstr ? (int)strtol(newstr, NULL, 16) : 0;

	// The user namespace first: joining it is what grants the capabilities
	// to join the namespaces it owns.
	for (int i = 0; i < n; i++)
		if (list[i].type == CLONE_NEWUSER && setns(list[i].fd, CLONE_NEWUSER) < 0)
			bail("join user namespace %s", list[i].path);
	// Then the others, mount last (its setns also resets root and cwd).
	for (int pass = 0; pass < 2; pass++)
		for (int i = 0; i < n; i++) {
			int t = list[i].type;
			if (t == CLONE_NEWUSER || (pass == 0) == (t == CLONE_NEWNS))
				continue;
			if (setns(list[i].fd, t) < 0)
				bail("join namespace %s", list[i].path);
		}
	for (int i = 0; i < n; i++)
		close(list[i].fd);

	// A new user namespace is created after the joins (so that joined
	// namespaces keep their owner) and before the other new namespaces (so
	// that it owns them). The parent writes the id maps meanwhile.
	if (newflags & CLONE_NEWUSER) {
		if (unshare(CLONE_NEWUSER) < 0)
			bail("create user namespace");
		send_msg("{\"type\":\"usermap\"}", 1);
		if (setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0)
			bail("become root in the new user namespace");
	}
	// The cgroup namespace is created later by the Go side, once the
	// process has been placed in its cgroup.
	int rest = newflags & ~(CLONE_NEWUSER | CLONE_NEWCGROUP);
	if (rest && unshare(rest) < 0)
		bail("create namespaces 0x%x", rest);

	// PID and time namespaces apply to children only: fork once more. The
	// child is made a sibling (CLONE_PARENT) so that the runtime can wait
	// for it directly; this process reports its pid and exits.
	if ((joined | rest) & (CLONE_NEWPID | CLONE_NEWTIME)) {
		pid_t pid = (pid_t)syscall(SYS_clone, CLONE_PARENT | SIGCHLD, 0, 0, 0, 0);
		if (pid < 0)
			bail("fork into the pid namespace");
		if (pid > 0) {
			char msg[64];
			snprintf(msg, sizeof(msg), "{\"type\":\"pid\",\"pid\":%d}", pid);
			send_msg(msg, 0);
			_exit(0);
		}
		// The child goes on into the Go runtime. PR_SET_DUMPABLE is
		// inherited across fork, so it stays protected until execve.
	}
}
