// SPDX-License-Identifier: GPL-2.0-only
/*
 * mxw-randomx: real RandomX hashing through Debian's librandomx, in light mode
 * (256 MiB cache, no dataset), as a miner's worker threads do it.
 *
 *   mxw-randomx [--seconds 10] [--threads 1] [--interpreter] [--duty 100] [--pool-port P]
 *
 * --interpreter clears RANDOMX_FLAG_JIT (the portable interpreter);
 * --duty P hashes P% of each 100 ms period and sleeps the rest (a throttled miner).
 * --pool-port P first logs in to a stratum pool on 127.0.0.1:P (newline-delimited
 * JSON-RPC, see mxw-stratum), waits for its job and keeps the connection open.
 */
#include "common.h"

#include <randomx.h>

#include <arpa/inet.h>
#include <cstdint>
#include <netinet/in.h>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>
#include <vector>

namespace {

struct Settings {
	double seconds;
	double duty;
	randomx_flags flags;
};

void hash_until_deadline(const Settings &settings, randomx_cache *cache, unsigned worker)
{
	randomx_vm *vm = randomx_create_vm(settings.flags, cache, nullptr);
	if (vm == nullptr) {
		std::fprintf(stderr, "mxw-randomx: randomx_create_vm failed\n");
		std::exit(2);
	}
	std::uint64_t nonce = worker * 1000000ull;
	char hash[RANDOMX_HASH_SIZE];
	const double deadline = workload_now() + settings.seconds;
	const double period = 0.1;

	while (workload_now() < deadline) {
		const double busy_until = workload_now() + period * settings.duty / 100.0;
		do {
			randomx_calculate_hash(vm, &nonce, sizeof(nonce), hash);
			nonce++;
		} while (workload_now() < busy_until);
		if (settings.duty < 100.0) {
			const double idle = period * (100.0 - settings.duty) / 100.0;
			std::this_thread::sleep_for(std::chrono::duration<double>(idle));
		}
	}
	randomx_destroy_vm(vm);
}

// Logs in to the pool and reads its job; the socket stays open while hashing.
int join_pool(int port)
{
	const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	sockaddr_in addr{};
	addr.sin_family = AF_INET;
	addr.sin_port = htons(static_cast<std::uint16_t>(port));
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || connect(fd, reinterpret_cast<sockaddr *>(&addr), sizeof(addr)) != 0) {
		std::perror("mxw-randomx: connect to the pool");
		std::exit(2);
	}
	static const char login[] = "{\"id\":1,\"jsonrpc\":\"2.0\",\"method\":\"login\",\"params\":{\"login\":"
				    "\"wallet\",\"pass\":\"x\",\"agent\":\"mxw-randomx\",\"algo\":[\"rx/0\"]}}\n";
	char job[4096];
	if (write(fd, login, sizeof(login) - 1) != static_cast<ssize_t>(sizeof(login) - 1) || read(fd, job, sizeof(job)) <= 0) {
		std::fprintf(stderr, "mxw-randomx: the pool did not answer the login\n");
		std::exit(2);
	}
	return fd;
}

} // namespace

int main(int argc, char **argv)
{
	const int pool_port = static_cast<int>(workload_arg(argc, argv, "--pool-port", 0));
	const int pool = pool_port > 0 ? join_pool(pool_port) : -1;
	Settings settings{};
	settings.seconds = workload_arg(argc, argv, "--seconds", 10);
	settings.duty = workload_arg(argc, argv, "--duty", 100);
	const int threads = static_cast<int>(workload_arg(argc, argv, "--threads", 1));
	if (threads < 1 || threads > 64 || settings.duty <= 0 || settings.duty > 100) {
		std::fprintf(stderr, "mxw-randomx: --threads 1..64, --duty 1..100\n");
		return 2;
	}

	settings.flags = randomx_get_flags();
	if (workload_flag(argc, argv, "--interpreter"))
		settings.flags = static_cast<randomx_flags>(settings.flags & ~RANDOMX_FLAG_JIT);

	randomx_cache *cache = randomx_alloc_cache(settings.flags);
	if (cache == nullptr) {
		std::fprintf(stderr, "mxw-randomx: randomx_alloc_cache failed\n");
		return 2;
	}
	static const char key[] = "mxwatch test key";
	randomx_init_cache(cache, key, sizeof(key) - 1);

	std::vector<std::thread> workers;
	for (int i = 1; i < threads; i++)
		workers.emplace_back(hash_until_deadline, std::cref(settings), cache, i);
	hash_until_deadline(settings, cache, 0);
	for (auto &worker : workers)
		worker.join();
	randomx_release_cache(cache);
	if (pool >= 0)
		close(pool);
	return 0;
}
