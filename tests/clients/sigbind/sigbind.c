/*
 * sigbind: bind(0.0.0.0:PORT) N times on fresh sockets while another thread
 * sends the binding thread a signal (handler with SA_RESTART) as fast as it
 * can, as Go's runtime does with SIGURG. A signal that restarts a bind the
 * supervisor has already made would make the restarted bind fail with
 * EINVAL; vipa-exec must not let that happen.
 *
 *   sigbind PORT N
 *
 * Prints "ok=N einval=N other=N addrs=A[,B...]" with the distinct local
 * addresses the binds got, and exits 0.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

static atomic_int done;
static atomic_long signals;
static pid_t target;

static void on_signal(int sig) { (void)sig; atomic_fetch_add(&signals, 1); }

static void *bombard(void *arg)
{
	(void)arg;
	while (!atomic_load(&done))
		syscall(SYS_tgkill, getpid(), target, SIGUSR1);
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: sigbind PORT N\n");
		return 2;
	}
	int port = atoi(argv[1]);
	long n = atol(argv[2]), ok = 0, einval = 0, other = 0;
	char addrs[8][INET_ADDRSTRLEN];
	int naddrs = 0;
	struct sigaction sa = {.sa_handler = on_signal, .sa_flags = SA_RESTART};
	sigemptyset(&sa.sa_mask);
	sigaction(SIGUSR1, &sa, NULL);
	target = syscall(SYS_gettid);
	pthread_t th;
	pthread_create(&th, NULL, bombard, NULL);
	for (long i = 0; i < n; i++) {
		int s = socket(AF_INET, SOCK_STREAM, 0);
		int one = 1;
		setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
		struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
		if (bind(s, (struct sockaddr *)&a, sizeof a) == 0) {
			struct sockaddr_in got;
			socklen_t len = sizeof got;
			char buf[INET_ADDRSTRLEN];
			ok++;
			getsockname(s, (struct sockaddr *)&got, &len);
			inet_ntop(AF_INET, &got.sin_addr, buf, sizeof buf);
			int seen = 0;
			for (int j = 0; j < naddrs; j++)
				seen |= strcmp(addrs[j], buf) == 0;
			if (!seen && naddrs < 8)
				strcpy(addrs[naddrs++], buf);
		} else if (errno == EINVAL) {
			einval++;
		} else {
			other++;
			if (other == 1)
				fprintf(stderr, "sigbind: bind: %s\n", strerror(errno));
		}
		close(s);
	}
	atomic_store(&done, 1);
	pthread_join(th, NULL);
	printf("ok=%ld einval=%ld other=%ld addrs=", ok, einval, other);
	for (int j = 0; j < naddrs; j++)
		printf("%s%s", j ? "," : "", addrs[j]);
	printf("\n");
	fprintf(stderr, "sigbind: %ld signals\n", atomic_load(&signals));
	return 0;
}
