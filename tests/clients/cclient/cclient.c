/*
 * cclient: the dynamically linked C test client of the end-to-end tests.
 *
 * Stress mode: THREADS pthreads each make PER connections to HOST PORT, one
 * after the other, and close each at once (the client closes first). It
 * prints, on stdout,
 *
 *	connections=N failures=F
 *	source ADDR COUNT        (one line per local address seen)
 *
 * and exits 1 if any connection failed.
 *
 *	cclient [-t THREADS] [-n PER] HOST PORT      (default 16 x 500)
 *
 * Whoami mode prints the real and effective uid and the local address of one
 * connection (run setuid-root by the setuid tests):
 *
 *	cclient -w HOST PORT     ->   uid=U euid=E local=ADDR
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_SOURCES 16

struct source {
	char addr[INET6_ADDRSTRLEN];
	long count;
};

struct worker {
	pthread_t thread;
	long per;
	long failures;
	int first_errno;
	int nsources;
	struct source sources[MAX_SOURCES];
};

static struct addrinfo *target;

/* connect_once connects to target, writes the local address into local (if
 * not NULL), and closes. It returns 0 or an errno value. */
static int connect_once(char *local, size_t len)
{
	int fd = socket(target->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return errno;
	if (connect(fd, target->ai_addr, target->ai_addrlen) < 0) {
		int e = errno;
		close(fd);
		return e;
	}
	if (local) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof ss;
		local[0] = '\0';
		if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0) {
			if (ss.ss_family == AF_INET)
				inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, local, len);
			else if (ss.ss_family == AF_INET6)
				inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, local, len);
		}
	}
	close(fd);
	return 0;
}

static void count_source(struct worker *w, const char *addr, long n)
{
	for (int i = 0; i < w->nsources; i++) {
		if (strcmp(w->sources[i].addr, addr) == 0) {
			w->sources[i].count += n;
			return;
		}
	}
	if (w->nsources == MAX_SOURCES)
		return; /* more distinct sources than any test uses: the totals still show it */
	snprintf(w->sources[w->nsources].addr, sizeof w->sources[0].addr, "%s", addr);
	w->sources[w->nsources++].count = n;
}

static void *run_worker(void *arg)
{
	struct worker *w = arg;
	char local[INET6_ADDRSTRLEN];
	for (long i = 0; i < w->per; i++) {
		int e = connect_once(local, sizeof local);
		if (e != 0) {
			if (w->failures++ == 0)
				w->first_errno = e;
			continue;
		}
		count_source(w, local, 1);
	}
	return NULL;
}

static int resolve(const char *host, const char *port)
{
	struct addrinfo hints = {
		.ai_family = AF_UNSPEC,
		.ai_socktype = SOCK_STREAM,
		.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV,
	};
	int rc = getaddrinfo(host, port, &hints, &target);
	if (rc != 0) {
		fprintf(stderr, "cclient: %s %s: %s\n", host, port, gai_strerror(rc));
		return -1;
	}
	return 0;
}

static int whoami(void)
{
	char local[INET6_ADDRSTRLEN];
	int e = connect_once(local, sizeof local);
	printf("uid=%d euid=%d", (int)getuid(), (int)geteuid());
	if (e != 0) {
		printf(" error=%s\n", strerror(e));
		return 1;
	}
	printf(" local=%s\n", local);
	return 0;
}

static int stress(long threads, long per)
{
	struct worker *w = calloc(threads, sizeof *w);
	if (!w) {
		perror("cclient: calloc");
		return 1;
	}
	for (long i = 0; i < threads; i++) {
		w[i].per = per;
		int rc = pthread_create(&w[i].thread, NULL, run_worker, &w[i]);
		if (rc != 0) {
			fprintf(stderr, "cclient: pthread_create: %s\n", strerror(rc));
			return 1;
		}
	}
	long failures = 0;
	int first_errno = 0;
	struct worker all = {0};
	for (long i = 0; i < threads; i++) {
		pthread_join(w[i].thread, NULL);
		if (w[i].failures && !first_errno)
			first_errno = w[i].first_errno;
		failures += w[i].failures;
		for (int j = 0; j < w[i].nsources; j++)
			count_source(&all, w[i].sources[j].addr, w[i].sources[j].count);
	}
	printf("connections=%ld failures=%ld\n", threads * per, failures);
	for (int j = 0; j < all.nsources; j++)
		printf("source %s %ld\n", all.sources[j].addr, all.sources[j].count);
	if (failures)
		fprintf(stderr, "cclient: %ld connections failed, the first with: %s\n", failures,
			strerror(first_errno));
	free(w);
	return failures ? 1 : 0;
}

static void usage(void)
{
	fprintf(stderr, "usage: cclient [-t THREADS] [-n PER] HOST PORT\n"
			"       cclient -w HOST PORT\n");
	exit(2);
}

int main(int argc, char **argv)
{
	long threads = 16, per = 500;
	int who = 0, opt;
	while ((opt = getopt(argc, argv, "t:n:w")) != -1) {
		switch (opt) {
		case 't':
			threads = atol(optarg);
			break;
		case 'n':
			per = atol(optarg);
			break;
		case 'w':
			who = 1;
			break;
		default:
			usage();
		}
	}
	if (argc - optind != 2 || threads < 1 || per < 1)
		usage();
	if (resolve(argv[optind], argv[optind + 1]) < 0)
		return 2;
	setvbuf(stdout, NULL, _IOLBF, 0);
	return who ? whoami() : stress(threads, per);
}
