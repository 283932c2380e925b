/*
 * refsup: a minimal seccomp-notify supervisor in C, the yardstick for
 * vipa-exec's Go supervisor in the benchmark. It does the same kernel work
 * per trapped connect as vipa-exec does for a matching destination
 * (process_vm_readv, pidfd_open + pidfd_getfd, getsockname,
 * IP_BIND_ADDRESS_NO_PORT, bind, close, continue) with synchronous wake-up,
 * and nothing else: no policy, one destination, one source.
 *
 *   refsup DEST_IPV4 SOURCE_IPV4 PROGRAM [ARGS...]
 *
 * PROGRAM runs in a forked child under a filter trapping connect() with a
 * 16-byte address; connects to DEST get SOURCE as their source address,
 * others continue untouched.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP
#define SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP 1
#endif
#ifndef SECCOMP_IOCTL_NOTIF_SET_FLAGS
#define SECCOMP_IOCTL_NOTIF_SET_FLAGS SECCOMP_IOW(4, __u64)
#endif
#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

static int send_fd(int s, int fd)
{
	char b = 0, c[CMSG_SPACE(sizeof(int))];
	struct iovec io = {&b, 1};
	struct msghdr m = {.msg_iov = &io, .msg_iovlen = 1, .msg_control = c, .msg_controllen = sizeof c};
	struct cmsghdr *cm = CMSG_FIRSTHDR(&m);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &fd, sizeof fd);
	return sendmsg(s, &m, 0);
}

static int recv_fd(int s)
{
	char b, c[CMSG_SPACE(sizeof(int))];
	struct iovec io = {&b, 1};
	struct msghdr m = {.msg_iov = &io, .msg_iovlen = 1, .msg_control = c, .msg_controllen = sizeof c};
	int fd;
	if (recvmsg(s, &m, 0) != 1 || !CMSG_FIRSTHDR(&m))
		return -1;
	memcpy(&fd, CMSG_DATA(CMSG_FIRSTHDR(&m)), sizeof fd);
	return fd;
}

int main(int argc, char **argv)
{
	struct in_addr dest, source;
	int sp[2];
	if (argc < 4 || inet_pton(AF_INET, argv[1], &dest) != 1 || inet_pton(AF_INET, argv[2], &source) != 1) {
		fprintf(stderr, "usage: refsup DEST_IPV4 SOURCE_IPV4 PROGRAM [ARGS...]\n");
		return 2;
	}
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sp) < 0) {
		perror("refsup: socketpair");
		return 1;
	}
	pid_t child = fork();
	if (child == 0) {
		struct sock_filter f[] = {
			BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
			BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_connect, 0, 3),
			BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[2])),
			BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 16, 0, 1),
			BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_USER_NOTIF),
			BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		};
		struct sock_fprog prog = {sizeof f / sizeof f[0], f};
		char ack;
		prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
		int l = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER, &prog);
		if (l < 0) {
			perror("refsup: seccomp");
			_exit(1);
		}
		send_fd(sp[1], l);
		close(l);
		if (read(sp[1], &ack, 1) != 1)
			_exit(1);
		close(sp[0]);
		close(sp[1]);
		execvp(argv[3], argv + 3);
		perror("refsup: exec");
		_exit(127);
	}
	int l = recv_fd(sp[0]);
	if (l < 0) {
		fprintf(stderr, "refsup: no listener\n");
		return 1;
	}
	if (ioctl(l, SECCOMP_IOCTL_NOTIF_SET_FLAGS, SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP, 0) < 0)
		perror("refsup: sync wake-up");
	if (write(sp[0], "k", 1) != 1)
		return 1;
	close(sp[0]);
	close(sp[1]);
	for (;;) {
		struct seccomp_notif n;
		struct seccomp_notif_resp r;
		struct sockaddr_in dst;
		memset(&n, 0, sizeof n);
		if (ioctl(l, SECCOMP_IOCTL_NOTIF_RECV, &n) < 0) {
			if (errno == EINTR)
				continue;
			break; /* ENOENT once the child and its descendants are gone */
		}
		struct iovec lo = {&dst, sizeof dst}, re = {(void *)n.data.args[1], sizeof dst};
		if (process_vm_readv(n.pid, &lo, 1, &re, 1, 0) == sizeof dst && dst.sin_family == AF_INET &&
		    dst.sin_addr.s_addr == dest.s_addr) {
			int pfd = syscall(SYS_pidfd_open, n.pid, 0);
			int d = pfd < 0 ? -1 : syscall(SYS_pidfd_getfd, pfd, (int)n.data.args[0], 0);
			if (pfd >= 0)
				close(pfd);
			if (d >= 0) {
				struct sockaddr_in cur, src = {.sin_family = AF_INET, .sin_addr = source};
				socklen_t sl = sizeof cur;
				int one = 1;
				if (getsockname(d, (struct sockaddr *)&cur, &sl) == 0 && cur.sin_port == 0 &&
				    cur.sin_addr.s_addr == 0) {
					setsockopt(d, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
					bind(d, (struct sockaddr *)&src, sizeof src);
				}
				close(d);
			}
		}
		memset(&r, 0, sizeof r);
		r.id = n.id;
		r.flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
		ioctl(l, SECCOMP_IOCTL_NOTIF_SEND, &r);
	}
	int status;
	if (waitpid(child, &status, 0) < 0)
		return 1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}
