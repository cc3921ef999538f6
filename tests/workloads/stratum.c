/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * mxw-stratum: a stratum-like mining pool on loopback, for tests: answers
 * each newline-delimited JSON-RPC request (login, submit, keepalived) with a
 * job or an OK, and keeps every connection open.
 *
 *   mxw-stratum --port P [--seconds 60] [--exit-with-parent]
 *
 * --exit-with-parent: ends when the process that started it does (PR_SET_PDEATHSIG).
 * Prints "listening" once it accepts connections.
 */
#include "common.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_CLIENTS 64

int main(int argc, char **argv)
{
	const int port = (int)workload_arg(argc, argv, "--port", 0);
	const double deadline = workload_now() + workload_arg(argc, argv, "--seconds", 60);
	if (workload_flag(argc, argv, "--exit-with-parent"))
		prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (port <= 0 || port > 65535) {
		fprintf(stderr, "mxw-stratum: --port 1..65535 is required\n");
		return 2;
	}
	const int listener = socket(AF_INET, SOCK_STREAM, 0);
	const int one = 1;
	setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(listener, (struct sockaddr *)&addr, sizeof(addr)) || listen(listener, 16)) {
		perror("mxw-stratum: bind/listen");
		return 2;
	}
	printf("listening\n");
	fflush(stdout);

	struct pollfd fds[1 + MAX_CLIENTS];
	int n = 1;
	fds[0] = (struct pollfd){.fd = listener, .events = POLLIN};
	while (workload_now() < deadline) {
		if (poll(fds, (nfds_t)n, 200) <= 0)
			continue;
		if ((fds[0].revents & POLLIN) && n < 1 + MAX_CLIENTS) {
			const int client = accept(listener, NULL, NULL);
			if (client >= 0)
				fds[n++] = (struct pollfd){.fd = client, .events = POLLIN};
		}
		for (int i = 1; i < n; i++) {
			if (!(fds[i].revents & (POLLIN | POLLHUP)))
				continue;
			char buf[4096];
			const ssize_t got = read(fds[i].fd, buf, sizeof(buf));
			if (got <= 0) {
				close(fds[i].fd);
				fds[i--] = fds[--n];
				continue;
			}
			static const char job[] =
				"{\"id\":1,\"jsonrpc\":\"2.0\",\"error\":null,\"result\":{\"id\":\"mxw\",\"job\":{\"blob\":"
				"\"0707\",\"job_id\":\"1\",\"target\":\"b88d0600\",\"algo\":\"rx/0\",\"height\":1,"
				"\"seed_hash\":\"00\"},\"status\":\"OK\"}}\n";
			if (write(fds[i].fd, job, sizeof(job) - 1) < 0)
				perror("mxw-stratum: write");
		}
	}
	return 0;
}
